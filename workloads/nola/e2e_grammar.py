"""E2E-format text made here (mini/smoke scale of Table 3.10): MRs and references from a fixed slot grammar.

This is *not* the E2E NLG Challenge data: it is a small deterministic corpus in the same format (MRs
like ``name[Aromi], eatType[pub], food[Chinese]`` with one or more human-style references each),
written as the official CSV layout (``mr,ref``) so the same loader (``e2e.load_e2e``) reads it.

Two phrasing *styles* share the slot grammar. The pre-training corpus of the small GPT-2 holds MRs
verbalised in the ``source`` style plus ``target``-style sentences without their MR (an empty prompt),
so the model knows the words of both and how to copy slot values from an MR. The adaptation task that
LoRA / NOLA learn is MR -> ``target``-style reference: conditioning the known target phrasing on the MR,
as fine-tuning GPT-2 on E2E conditions English it already knows on the MR.
"""
from __future__ import annotations

import csv
import os
import random
import uuid
from pathlib import Path

GRAMMAR_VERSION = 2  # bump when sentences change, so cached CSVs/models are rebuilt

NAMES = ["Aromi", "The Eagle", "Bibimbap House", "The Mill", "Zizzi", "Green Man", "Cotto", "Wildwood",
         "Strada", "The Punter", "Giraffe", "Alimentum", "Fitzbillies", "The Vaults", "Loch Fyne", "Clowns"]
NEAR = ["Burger King", "the Rice Boat", "Crowne Plaza Hotel", "Raja Indian Cuisine", "the Sorrento", "All Bar One"]
SLOTS = {
    "eatType": ["restaurant", "coffee shop", "pub"],
    "food": ["French", "Italian", "Chinese", "Indian", "English", "Japanese", "Fast food"],
    "priceRange": ["cheap", "moderate", "high"],
    "customer rating": ["low", "average", "high"],
    "area": ["riverside", "city centre"],
    "familyFriendly": ["yes", "no"],
    "near": NEAR,
}
ORDER = ["eatType", "food", "priceRange", "customer rating", "area", "familyFriendly", "near"]

# Clause templates per style and slot; each slot has two phrasings so an MR gets two distinct references.
CLAUSES = {
    "target": {
        "eatType": ["{n} is a {v}", "{n} is a {v}"],
        "food": ["serving {v} food", "that offers {v} food"],
        "priceRange": ["with {v} prices", "in the {v} price range"],
        "customer rating": ["It has a {v} customer rating", "Customers rate it {v}"],
        "area": ["located in the {v}", "in the {v} area"],
        "familyFriendly": {"yes": ["It is family friendly", "Children are welcome"],
                           "no": ["It is not family friendly", "It is not suitable for children"]},
        "near": ["near {v}", "close to {v}"],
    },
    "source": {
        "eatType": ["There is a {v} called {n}", "A {v} named {n} exists"],
        "food": ["the food is {v}", "they cook {v} dishes"],
        "priceRange": ["the cost is {v}", "prices are {v}"],
        "customer rating": ["the rating is {v}", "reviews say {v}"],
        "area": ["you find it at the {v}", "it sits at the {v}"],
        "familyFriendly": {"yes": ["kids are fine", "families go there"],
                           "no": ["no kids", "adults only"]},
        "near": ["it is by {v}", "walk from {v}"],
    },
}


def make_mr(rng: random.Random) -> dict[str, str]:
    """One meaning representation: a name plus 2-5 other slots (eatType always present, as its head noun)."""
    mr = {"name": rng.choice(NAMES), "eatType": rng.choice(SLOTS["eatType"])}
    others = [s for s in ORDER if s != "eatType"]
    for slot in rng.sample(others, rng.randint(1, 4)):
        mr[slot] = rng.choice(SLOTS[slot])
    return {s: mr[s] for s in ["name"] + ORDER if s in mr}


def mr_string(mr: dict[str, str]) -> str:
    """The official E2E MR syntax: ``slot[value], slot[value]``."""
    return ", ".join(f"{k}[{v}]" for k, v in mr.items())


def realise(mr: dict[str, str], style: str, variant: int) -> str:
    """One reference sentence pair for ``mr`` in ``style`` ('target' or 'source'); ``variant`` picks phrasings."""
    table = CLAUSES[style]
    n = mr["name"]

    def clause(slot: str) -> str:
        options = table[slot][mr[slot]] if slot == "familyFriendly" else table[slot]
        return options[variant % 2].format(n=n, v=mr[slot])

    head = [clause("eatType")] + [clause(s) for s in ("food", "priceRange", "area", "near") if s in mr]
    tail = [clause(s) for s in ("customer rating", "familyFriendly") if s in mr]
    if style == "source":  # a run-on list of short statements: a different surface form from the target style
        return ", ".join([head[0]] + head[1:] + tail) + "."
    sentences = [" ".join(head) + "."] + [t + "." for t in tail]
    return " ".join(sentences)


def make_split(style: str, count: int, seed: int, exclude: set[str] = frozenset(), refs: int = 2) -> list[tuple[str, str]]:
    """``count`` distinct MRs (none in ``exclude``) with ``refs`` references each, as (mr, ref) rows."""
    rng = random.Random(f"e2e-grammar-{GRAMMAR_VERSION}-{style}-{seed}")
    rows, seen, tries = [], set(exclude), 0
    while len(seen) - len(exclude) < count:
        tries += 1
        if tries > 100 * count:
            raise ValueError(f"the slot grammar cannot produce {count} distinct MRs outside the excluded ones.")
        mr = make_mr(rng)
        text = mr_string(mr)
        if text in seen:
            continue
        seen.add(text)
        rows += [(text, realise(mr, style, v)) for v in range(refs)]
    return rows


def write_e2e_csv(rows: list[tuple[str, str]], path: Path) -> Path:
    """Write rows in the official E2E CSV layout (header ``mr,ref``), atomically (safe with concurrent writers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A per-process temporary name: parallel trials write the same content and the last rename wins.
    tmp = path.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["mr", "ref"])
        w.writerows(rows)
    tmp.replace(path)
    return path


def build_grammar_corpus(folder: Path, *, pretrain_mrs: int, train_mrs: int, test_mrs: int) -> dict[str, Path]:
    """Write pretrain (source-style pairs + MR-less target sentences), train and test (target style; test MRs
    disjoint from all others) CSVs into ``folder``."""
    folder = Path(folder)
    test = make_split("target", test_mrs, seed=2)
    test_set = {mr for mr, _ in test}
    train = make_split("target", train_mrs, seed=1, exclude=test_set)
    pretrain = make_split("source", pretrain_mrs, seed=0, exclude=test_set)
    # Target-style sentences of other MRs, with the MR dropped: the style is known, its conditioning is not.
    pretrain += [("", ref) for _, ref in make_split("target", pretrain_mrs, seed=3, exclude=test_set, refs=1)]
    return {"pretrain": write_e2e_csv(pretrain, folder / "pretrain.csv"),
            "train": write_e2e_csv(train, folder / "trainset.csv"),
            "test": write_e2e_csv(test, folder / "testset_w_refs.csv")}
