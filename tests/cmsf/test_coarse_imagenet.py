"""ImageNet-coarse (Table 2.5 / A.9): the WordNet parser, the merge rules and the shipped map."""
import json

import torch

from workloads.cmsf.coarse_imagenet import (SHIPPED_MAP, ancestors, coarse_classes, imagenet_wnids, load_coarse_map,
                                            read_noun_hypernyms)
from workloads.cmsf.labels import coarse_labels

# a tiny data.noun in WordNet's format: 1 entity <- 2 animal <- 3 dog <- {10 husky, 11 pug}; 2 <- 4 cat <- 12 tabby;
# 5 tool <- 13 hammer (also under 4 via a second hypernym: the linking case); 2 <- 6 bird, 3 <- 14 under 6 too
LINES = {
    1: [], 2: [1], 3: [2], 4: [2], 5: [1], 6: [2],
    10: [3], 11: [3], 12: [4], 13: [5, 4], 14: [6],
}


def write_data_noun(path):
    rows = ["  1 This is a licence header line"]
    for off, hyps in LINES.items():
        ptrs = " ".join(f"@ {h:08d} n 0000" for h in hyps) + (" ~ 00000099 n 0000" if off == 1 else "")
        count = len(hyps) + (1 if off == 1 else 0)
        rows.append(f"{off:08d} 05 n 01 word{off} 0 {count:03d} {ptrs} | gloss of {off}")
    path.write_text("\n".join(rows) + "\n")


def test_parser_reads_hypernym_pointers_only(tmp_path):
    f = tmp_path / "data.noun"
    write_data_noun(f)
    hyp = read_noun_hypernyms(f)
    assert hyp[13] == [5, 4] and hyp[1] == [] and hyp[10] == [3]
    assert ancestors(10, hyp) == {3, 2, 1}


def test_merge_rules_parent_then_ancestor():
    # parents: 10,11 -> 3; 12 -> 4; 13 -> 5 (first parent); 14 -> 6. None of 3,4,5,6 is an ancestor of another,
    # so without linking there are 4 super-classes
    leaves = [10, 11, 12, 13, 14]
    alone = coarse_classes(leaves, LINES, link_all_parents=False)
    assert alone == [0, 0, 1, 2, 3]
    # linking: 13's second parent 4 joins 5 and 4 into one super-class
    linked = coarse_classes(leaves, LINES, link_all_parents=True)
    assert linked[2] == linked[3] and len(set(linked)) == 3
    # a parent below another parent is merged into the ancestor: add leaf 15 under 2 directly
    hyp = {**LINES, 15: [2]}
    merged = coarse_classes(leaves + [15], hyp, link_all_parents=False)
    # 3, 4 and 6 lie under the new parent 2 and merge into it; 13's first parent 5 (under 1 only) stays apart
    assert merged == [0, 0, 0, 1, 0, 0]


def test_shipped_map_covers_imagenet_in_class_order():
    data = json.loads(SHIPPED_MAP.read_text())
    table = load_coarse_map(SHIPPED_MAP)
    assert data["wnids"] == imagenet_wnids() and len(table) == 1000
    assert data["num_coarse"] == max(table) + 1 == 92
    assert "Princeton" in data["notice"]
    out = coarse_labels(torch.tensor([0, 1, 999]), "imagenet")
    assert out.tolist() == [table[0], table[1], table[999]]
    # tench and goldfish (both teleost fishes) share a super-class; tench and a toilet tissue do not
    assert table[0] == table[1] and table[0] != table[999]
