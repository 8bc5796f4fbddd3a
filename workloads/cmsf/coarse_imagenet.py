"""ImageNet-coarse (dissertation Sec. 2.1.4.2, App. A.1.4.1, Tables 2.5 / A.9) from the WordNet noun hierarchy.

The authors did not release their 93-class map (UCDvision/CMSF has no coarse-label file), so it is generated here
from WordNet 3.0's ``data.noun`` (the hierarchy ImageNet was built from) by the text's two rules:

1. every ImageNet-1k class is merged into its parent node (its first hypernym in WordNet order);
2. "no two of the newly obtained super-classes are in the same path in the graph": a super-class with another
   super-class among its ancestors (over every hypernym path) is merged into that ancestor, transitively.

A class with more than one parent (WordNet has a few) joins its parents into one super-class when
``link_all_parents`` is true. That reading gives 92 super-classes, one fewer than the paper's 93 (without it: 115);
docs/FIDELITY.md records it. The map shipped next to this module (``imagenet_coarse.json``) was generated with
``python -m workloads.cmsf.coarse_imagenet --wordnet /usr/share/wordnet`` (Debian's ``wordnet-base``, WordNet 3.0,
whose licence allows redistribution with its notice) and timm's ``imagenet_synsets.txt`` class order.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

SHIPPED_MAP = Path(__file__).with_name("imagenet_coarse.json")
# the WordNet 3.0 licence asks that its notice travel with every copy of derived data
WORDNET_NOTICE = ("Derived from WordNet 3.0. WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. "
                  "THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS "
                  "OR WARRANTIES, EXPRESS OR IMPLIED. Licence: https://wordnet.princeton.edu/license-and-commercial-use")


def read_noun_hypernyms(data_noun: Path) -> dict[int, list[int]]:
    """synset offset -> offsets of its noun hypernyms (pointers ``@`` and instance hypernyms ``@i``), in file
    order, parsed from a WordNet ``data.noun`` (format: wndb(5WN): offset lex_filenum ss_type w_cnt
    [word lex_id]... p_cnt [symbol offset pos source/target]... | gloss)."""
    out: dict[int, list[int]] = {}
    with open(data_noun, encoding="latin-1") as fh:
        for line in fh:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            words = int(fields[3], 16)
            i = 4 + 2 * words
            pointers = int(fields[i])
            i += 1
            hyper = []
            for _ in range(pointers):
                symbol, offset, pos = fields[i], fields[i + 1], fields[i + 2]
                i += 4
                if symbol in ("@", "@i") and pos == "n":
                    hyper.append(int(offset))
            out[int(fields[0])] = hyper
    return out


def ancestors(node: int, hypernyms: dict[int, list[int]]) -> set[int]:
    """Every node above ``node`` on any hypernym path (``node`` itself excluded)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        for h in hypernyms.get(stack.pop(), []):
            if h not in seen:
                seen.add(h)
                stack.append(h)
    return seen


def coarse_classes(leaves: list[int], hypernyms: dict[int, list[int]], *, link_all_parents: bool = True
                   ) -> list[int]:
    """Coarse class id (0..C-1, numbered by first appearance) of each leaf synset offset, by the two rules of
    the module docstring (union-find over the parents)."""
    missing = [leaf for leaf in leaves if not hypernyms.get(leaf)]
    if missing:
        raise ValueError(f"{len(missing)} ImageNet synsets have no hypernym in this WordNet (first: n{missing[0]:08d}); "
                         "use WordNet 3.0's data.noun, the version ImageNet's wnids refer to.")
    parents = {leaf: hypernyms[leaf] for leaf in leaves}
    nodes = {p for ps in parents.values() for p in (ps if link_all_parents else ps[:1])}
    root = {n: n for n in nodes}

    def find(n: int) -> int:
        while root[n] != n:
            root[n] = root[root[n]]
            n = root[n]
        return n

    for n in nodes:
        for a in ancestors(n, hypernyms) & nodes:
            root[find(n)] = find(a)
    if link_all_parents:
        for ps in parents.values():
            for p in ps[1:]:
                root[find(p)] = find(ps[0])
    ids: dict[int, int] = {}
    return [ids.setdefault(find(parents[leaf][0]), len(ids)) for leaf in leaves]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k wnids in class-index order (sorted, as torchvision's ImageFolder numbers them),
    from timm's bundled ``imagenet_synsets.txt``."""
    import timm.data

    path = Path(timm.data.__file__).parent / "_info" / "imagenet_synsets.txt"
    wnids = path.read_text().split()
    if len(wnids) != 1000 or wnids != sorted(wnids):
        raise ValueError(f"{path} should list the 1000 ImageNet wnids in sorted order; got {len(wnids)} entries.")
    return wnids


def load_coarse_map(path: Path) -> list[int]:
    """A coarse map file: a JSON list (fine class -> coarse class) or an object with a ``coarse`` list."""
    data = json.loads(Path(path).read_text())
    table = data["coarse"] if isinstance(data, dict) else data
    if not isinstance(table, list) or not all(isinstance(v, int) and v >= 0 for v in table):
        raise ValueError(f"coarse map {path} must be a JSON list of non-negative class ids (or an object whose "
                         "'coarse' key holds one), one entry per fine class.")
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate the ImageNet-coarse map (CMSF Table 2.5) from WordNet 3.0.")
    ap.add_argument("--wordnet", required=True, help="WordNet 3.0 dict folder holding data.noun")
    ap.add_argument("--out", default=str(SHIPPED_MAP), help="JSON file to write")
    ap.add_argument("--first-parent-only", action="store_true", help="do not join a class's several parents")
    args = ap.parse_args(argv)
    wnids = imagenet_wnids()
    hyper = read_noun_hypernyms(Path(args.wordnet) / "data.noun")
    coarse = coarse_classes([int(w[1:]) for w in wnids], hyper, link_all_parents=not args.first_parent_only)
    Path(args.out).write_text(json.dumps({
        "source": "WordNet 3.0 data.noun; rules of dissertation App. A.1.4.1 (workloads/cmsf/coarse_imagenet.py)",
        "notice": WORDNET_NOTICE, "link_all_parents": not args.first_parent_only, "num_coarse": max(coarse) + 1,
        "wnids": wnids, "coarse": coarse}) + "\n")
    print(f"{args.out}: {len(wnids)} classes -> {max(coarse) + 1} super-classes")


if __name__ == "__main__":
    main()
