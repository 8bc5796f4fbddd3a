"""Every bad input of tests/support/bad_inputs.py: exit 2, one paragraph naming the cause, no traceback, the
store unchanged, in seconds (the same catalogue benchmarks/reliability.py counts for docs/RELIABILITY.md)."""
from __future__ import annotations

import pytest

from support.bad_inputs import CASES, check, make_template


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("template"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_precise(case, template, tmp_path):
    outcome = check(case, tmp_path, template)
    if "skipped" in outcome:
        pytest.skip(outcome["skipped"])
    for r in outcome["results"]:
        assert r["exit2"], r
        assert not r["traceback"], r["stderr"]
        assert r["one_paragraph"], r["stderr"]
        assert r["names_cause"], (case.needles, r["stderr"])
        assert r["store_unchanged"], r
        assert r["in_time"], r
    assert outcome["precise"]


def test_catalogue_is_large_and_distinct():
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)
    assert all(c.needles for c in CASES)  # each case says what its message must name
