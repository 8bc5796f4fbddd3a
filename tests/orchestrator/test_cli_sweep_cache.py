"""Sweeps are parsed once per process (``orchestrator list`` loads each at three scales), but never stale and
never shared between callers."""
from __future__ import annotations

import support.toy_workloads  # noqa: F401  (toy_quadratic)
from orchestrator.spec import load_sweep


def test_a_rewritten_sweep_is_read_afresh_even_within_one_timestamp_tick(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: cache-a\nworkload: toy_quadratic\ngrid: {x: [1.0, 2.0]}\n")
    first = load_sweep(path, "smoke")
    path.write_text("name: cache-b\nworkload: toy_quadratic\ngrid: {x: [3.0, 4.0]}\n")  # same size
    second = load_sweep(path, "smoke")
    assert (first.name, second.name) == ("cache-a", "cache-b")
    assert [t.params["x"] for t in second.trials()] == [3.0, 4.0]


def test_callers_get_their_own_copies(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: cache-c\nworkload: toy_quadratic\nparams: {offset: 2.0}\ngrid: {x: [1.0, 2.0]}\n")
    one = load_sweep(path, "smoke")
    one.params["offset"] = 9.0
    one.grid["x"].append(5.0)
    one.trials()[0].params["x"] = -1.0
    other = load_sweep(path, "smoke")
    assert other.params == {"offset": 2.0} and other.grid == {"x": [1.0, 2.0]}
    assert [t.params["x"] for t in other.trials()] == [1.0, 2.0]
    assert [t.params["x"] for t in one.trials()] == [1.0, 2.0, 5.0]  # the changed sweep expands afresh
