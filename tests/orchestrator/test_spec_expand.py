"""Grid × seeds expansion, scale overrides and --set overrides."""
from __future__ import annotations

from orchestrator.cli import main
from orchestrator.spec import load_sweep, parse_set

SWEEP = """
name: expand
workload: toy_quadratic
params: {offset: 2.0, steps: 10}
grid: {x: [0.0, 1.0, 2.0], n_layers: [1, 2]}
seeds: [0, 1, 2]
scales:
  smoke: {params: {steps: 2}, grid: {x: [5.0]}, seeds: [7]}
  paper: {params: {offset: 3}, resources: {cpu: 2, gpu: 0.5}}
"""


def test_grid_times_seeds(write_sweep):
    s = load_sweep(write_sweep(SWEEP), "mini")
    trials = s.trials()
    assert len(trials) == 3 * 2 * 3
    assert {(t.params["x"], t.params["n_layers"], t.seed) for t in trials} == {
        (x, n, seed) for x in (0.0, 1.0, 2.0) for n in (1, 2) for seed in (0, 1, 2)}
    # every trial is fully resolved: defaults filled in, types from the dataclass
    assert all(t.params["lr"] == 0.1 and t.params["steps"] == 10 and t.params["offset"] == 2.0 for t in trials)
    assert len({t.config_hash for t in trials}) == len(trials)


def test_scale_overrides(write_sweep):
    smoke = load_sweep(write_sweep(SWEEP), "smoke")
    assert [(t.params["x"], t.params["n_layers"], t.seed, t.params["steps"]) for t in smoke.trials()] == [
        (5.0, 1, 7, 2), (5.0, 2, 7, 2)]
    paper = load_sweep(write_sweep(SWEEP), "paper")
    assert paper.trials()[0].params["offset"] == 3.0 and isinstance(paper.trials()[0].params["offset"], float)
    assert paper.resources.cpu == 2 and paper.resources.gpu == 0.5
    assert len(paper.trials()) == 18


def test_set_overrides_fix_grid_and_params(write_sweep):
    s = load_sweep(write_sweep(SWEEP), "mini", parse_set(["x=1.5", "lr=1e-3", "mode=artifact"]))
    trials = s.trials()
    assert len(trials) == 2 * 3  # x no longer gridded
    assert all(t.params["x"] == 1.5 and t.params["lr"] == 1e-3 and t.params["mode"] == "artifact" for t in trials)


def test_parse_set_types():
    assert parse_set(["a=1", "b=0.5", "c=true", "d=hello", "e=[1, 2]", "f=1e-4"]) == {
        "a": 1, "b": 0.5, "c": True, "d": "hello", "e": [1, 2], "f": 1e-4}


def test_config_hash_stable_and_sensitive(write_sweep):
    a = load_sweep(write_sweep(SWEEP), "mini").trials()
    b = load_sweep(write_sweep(SWEEP), "mini").trials()
    assert [t.config_hash for t in a] == [t.config_hash for t in b]
    c = load_sweep(write_sweep(SWEEP), "mini", {"lr": 0.2}).trials()
    assert a[0].config_hash != c[0].config_hash


def test_show_prints_trials(write_sweep, capsys):
    assert main(["show", str(write_sweep(SWEEP)), "--scale", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "2 trial(s)" in out and "n_layers" in out and "expand" in out
