"""E2E NLG Challenge data (official CSV: columns ``mr``, ``ref``) and its text metrics (Table 3.10).

Each meaning representation (MR) may appear on several rows, one per human reference; evaluation groups
the references of one MR, as the challenge's scorer does. BLEU comes from ``sacrebleu`` and ROUGE-L
from ``rouge_score`` (the kept libraries), so the numbers follow their reference implementations.
"""
from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path


class E2EDataMissingError(FileNotFoundError):
    """The E2E CSV file is absent or lacks the ``mr``/``ref`` columns."""


def load_e2e(path: str | Path) -> "OrderedDict[str, list[str]]":
    """MR -> its references, in file order."""
    p = Path(path)
    if not p.is_file():
        raise E2EDataMissingError(
            f"E2E file {p} not found. Put the official E2E NLG Challenge CSVs (trainset.csv, devset.csv, "
            "testset_w_refs.csv, columns 'mr,ref') under the data root, e.g. data/e2e/, from "
            "github.com/tuetschek/e2e-dataset.")
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"mr", "ref"} <= set(reader.fieldnames):
            raise E2EDataMissingError(f"{p} has columns {reader.fieldnames}; an E2E CSV needs 'mr' and 'ref' columns.")
        out: OrderedDict[str, list[str]] = OrderedDict()
        for row in reader:
            out.setdefault(row["mr"].strip(), []).append(row["ref"].strip())
    return out


def bleu(hypotheses: list[str], references: list[list[str]]) -> float:
    """Corpus BLEU (0-100) with a variable number of references per hypothesis."""
    import sacrebleu

    width = max(len(r) for r in references)
    # sacrebleu wants one stream per reference slot; missing references are None-padded.
    streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
    return float(sacrebleu.corpus_bleu(hypotheses, streams).score)


def rouge_l(hypotheses: list[str], references: list[list[str]]) -> float:
    """Mean over hypotheses of the best ROUGE-L F-measure against its references (0-100)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    best = [max(scorer.score(ref, hyp)["rougeL"].fmeasure for ref in refs) for hyp, refs in zip(hypotheses, references)]
    return 100.0 * sum(best) / max(1, len(best))
