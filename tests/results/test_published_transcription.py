"""Cells of every transcribed table agree with the paper text they were copied from.

The paper texts (``../shared/papers`` beside the checkout, or ``$ORCHESTRATOR_PAPERS``) print tables as lines of
tab- or space-separated cells. For each published CSV we look for the paper line that holds one CSV row: the line
whose numbers contain at least three of that row's values (a row's "signature"). On that line, three randomly
chosen cells of the row (seeded by the file name, so a failure reproduces) must be printed exactly. A CSV cell that
the paper does not print verbatim (a unit conversion, a transposed or melted layout) leaves its row unlocated; such
rows are skipped (a CSV of one value per row is checked through its columns), but every CSV with a printed table must locate at least one row, and across all CSVs most rows
must be located, so a wholesale wrong transcription cannot pass as "not printed".
"""
from __future__ import annotations

import io
import os
import random
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from results.spec import PUBLISHED_DIR
from tests.results.test_published_shapes import SPEC_KEYS, UNRENDERED_KEYS

FILES = sorted(p.name for p in PUBLISHED_DIR.glob("*.csv"))
# A printed number, with a unit suffix when it has one ("0.35M", "809K", "33.35GB", "99%").
NUMBER = re.compile(r"(?<![\w.,])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)([KMG]?)")
PAPER_OF = {"palm": "palm_continual_tta.md", "tts": "tts_test_time_specialization.md"}
DISSERTATION = "dissertation_cmsf_simreg_compgs_nola_slowformer.md"
# CSVs whose values are derived from the printed table (units converted, cells split), not copied: none of their
# rows can be found verbatim. Each entry says why.
DERIVED: dict[str, str] = {}
WINDOW = 2  # lines either side of a located row where its cells may be printed


def _papers_dir() -> Path | None:
    env = os.environ.get("ORCHESTRATOR_PAPERS")
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[2]
    candidates += [root.parent / "shared" / "papers", root / "papers"]
    return next((p for p in candidates if (p / DISSERTATION).exists()), None)


PAPERS = _papers_dir()
pytestmark = pytest.mark.skipif(PAPERS is None, reason="paper texts not found (set ORCHESTRATOR_PAPERS)")


@lru_cache(maxsize=None)
def _paper_lines(paper: str) -> tuple[tuple[float, ...], ...]:
    """The numbers printed on every table line (cells separated by tabs) of a paper text; prose lines are empty."""
    text = (PAPERS / paper).read_text(encoding="utf-8")
    return tuple(tuple(_printed_values(line)) if "\t" in line else () for line in text.splitlines())


def _printed_values(line: str):
    """Each number as printed, and for "M"-suffixed counts also in thousands (the CSVs' ``*_k`` columns)."""
    for number, unit in NUMBER.findall(line):
        value = float(number.replace(",", ""))
        yield value
        if unit == "M":
            yield round(value * 1000, 6)


def _csv(name: str) -> pd.DataFrame:
    text = "".join(line for line in (PUBLISHED_DIR / name).open(encoding="utf-8") if not line.startswith("#"))
    frame = pd.read_csv(io.StringIO(text))
    keys = SPEC_KEYS[name] if name in SPEC_KEYS else frame.columns[:UNRENDERED_KEYS[name]]
    return frame.drop(columns=list(keys))


def _numbers(series: pd.Series, label) -> list[tuple[str, float]]:
    out = []
    for key, value in series.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number == number:  # not NaN: an empty cell is "not printed"
            out.append((label(key), number))
    return out


def _series(frame: pd.DataFrame, by: str):
    """The CSV's rows, or its columns (a transposed CSV prints the paper's rows as its columns): (CSV rows, values)."""
    if by == "rows":
        for index, row in frame.iterrows():
            yield [index], _numbers(row, lambda column, i=index: f"row {i}, column {column!r}")
        return
    for column in frame.columns:
        values = _numbers(frame[column], lambda i, c=column: f"row {i}, column {c!r}")
        yield list(frame.index[frame[column].notna()]), values


def _locate(values: list[tuple[str, float]], lines: tuple[tuple[float, ...], ...]) -> int | None:
    """Index of the paper line printing the most of these values: at least 3 (2 for a 2-value series) and at
    least half of them."""
    distinct = {v for _, v in values}
    best, best_hits = None, 0
    for i, numbers in enumerate(lines):
        hits = len(distinct & set(numbers))
        if hits > best_hits:
            best, best_hits = i, hits
    enough = best_hits >= min(3, len(distinct)) and 2 * best_hits >= len(distinct)
    return best if len(distinct) >= 2 and enough else None


def _check(name: str) -> tuple[int, int, list[str]]:
    """(CSV rows located in the paper, CSV rows with >= 2 values, mismatching cells) for one CSV.

    A sampled cell must be printed on its series' paper line or on the lines right around it (text extraction
    sometimes breaks a printed row over a few lines)."""
    method = name.split("-")[0]
    lines = _paper_lines(PAPER_OF.get(method, DISSERTATION))
    rng = random.Random(name)
    frame = _csv(name)
    eligible = {i for i, row in frame.iterrows() if len(set(_numbers(row, str))) >= 2}
    for by in ("rows", "columns"):  # columns only where the rows are mostly not printed as rows
        located: set = set()
        wrong = []
        for rows, values in _series(frame, by):
            at = _locate(values, lines)
            if at is None:
                continue
            located.update(r for r in rows if r in eligible)
            nearby = {v for line in lines[max(0, at - WINDOW):at + WINDOW + 1] for v in line}
            for label, value in rng.sample(values, min(3, len(values))):
                if value not in nearby:
                    wrong.append(f"{label}: CSV has {value:g}; the paper's line {at + 1} prints {lines[at]}")
        if eligible and 2 * len(located) >= len(eligible):
            break
    return len(located), len(eligible), wrong


@pytest.mark.parametrize("name", FILES)
def test_sampled_cells_are_printed_on_their_rows_paper_line(name):
    located, eligible, wrong = _check(name)
    assert not wrong, f"{name} disagrees with the paper:\n" + "\n".join(wrong)
    if eligible and name not in DERIVED:
        assert located, (f"{name}: none of its {eligible} rows was found in the paper text; if its values are "
                         f"derived (units, melted layout) list it in DERIVED with the reason")


def test_most_rows_of_all_tables_are_found_in_the_paper():
    totals = [_check(name)[:2] for name in FILES]
    located, eligible = sum(t[0] for t in totals), sum(t[1] for t in totals)
    assert located >= 0.6 * eligible, f"only {located} of {eligible} CSV rows were found in the paper texts"


def test_a_corrupted_cell_is_caught(tmp_path, monkeypatch):
    text = "".join(l for l in (PUBLISHED_DIR / "palm-table1.csv").open() if not l.startswith("#"))
    source = pd.read_csv(io.StringIO(text))
    source.loc[source["method"] == "palm", "mean_error"] = 99.9
    source.to_csv(tmp_path / "palm-table1.csv", index=False)
    monkeypatch.setattr(f"{__name__}.PUBLISHED_DIR", tmp_path)
    random_sample = random.Random.sample
    # Force the corrupted column into the sample so the check must see it.
    monkeypatch.setattr(random.Random, "sample",
                        lambda self, pop, k: [c for c in pop if "'mean_error'" in c[0]] + random_sample(self, pop, k)[:k - 1])
    _, _, wrong = _check("palm-table1.csv")
    assert any("mean_error" in w and "99.9" in w for w in wrong), wrong
