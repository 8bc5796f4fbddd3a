"""Malformed sweep specs: each gives its own message, exit code 2 and no traceback."""
from __future__ import annotations

import pytest

from orchestrator.cli import main

BASE = "name: t\nworkload: toy_quadratic\n"

CASES = {
    "unknown_workload": ("name: t\nworkload: nope\n", ["unknown workload 'nope'", "Known workloads"]),
    "unknown_param": (BASE + "params: {xx: 1.0}\n", ["unknown parameter(s) 'xx'", "Valid parameters", "offset"]),
    "wrong_type": (BASE + "params: {x: abc}\n", ["x: expected float", "'abc'"]),
    "int_given_fraction": (BASE + "params: {n_layers: 1.5}\n", ["n_layers: expected int", "1.5"]),
    "int_given_bool": (BASE + "params: {n_layers: true}\n", ["n_layers: expected int", "True"]),
    "bad_literal": (BASE + "params: {mode: fancy}\n", ["mode: expected one of 'plain', 'artifact'"]),
    "empty_grid": (BASE + "grid: {x: []}\n", ["grid/x: empty list"]),
    "grid_unknown_param": (BASE + "grid: {xx: [1, 2]}\n", ["field grid: unknown parameter(s) ['xx']"]),
    "param_and_grid": (BASE + "params: {x: 1.0}\ngrid: {x: [1.0, 2.0]}\n", ["appear in both params and grid"]),
    "bad_search_space": (BASE + "search: {metric: objective, mode: min, num_samples: 2, space: {x: {loguniform: [-1, 1]}}}\n",
                         ["search/space/x", "bounds must be positive"]),
    "search_two_kinds": (BASE + "search: {metric: objective, mode: min, num_samples: 2, space: {x: {uniform: [0, 1], choice: [1]}}}\n",
                         ["give exactly one of"]),
    "search_bounds_reversed": (BASE + "search: {metric: objective, mode: min, num_samples: 2, space: {x: {uniform: [3, 1]}}}\n",
                               ["lower bound 3.0 must be below upper bound 1.0"]),
    "search_unknown_algorithm": (BASE + "search: {algorithm: hyperopt, metric: objective, mode: min, num_samples: 2, space: {x: {uniform: [0, 1]}}}\n",
                                 ["search/algorithm", "'optuna'"]),
    "search_bad_mode": (BASE + "search: {metric: objective, mode: lowest, num_samples: 2, space: {x: {uniform: [0, 1]}}}\n",
                        ["search/mode"]),
    "search_param_fixed": (BASE + "params: {x: 1.0}\nsearch: {metric: objective, mode: min, num_samples: 2, space: {x: {uniform: [0, 1]}}}\n",
                           ["search/space", "also fixed"]),
    "search_unknown_param": (BASE + "search: {metric: objective, mode: min, num_samples: 2, space: {zz: {uniform: [0, 1]}}}\n",
                             ["field search/space: unknown parameter(s) ['zz']"]),
    "negative_resources": (BASE + "resources: {cpu: -1}\n", ["resources/cpu", "greater than 0"]),
    "gpu_fraction_over_one": (BASE + "resources: {gpu: 1.5}\n", ["resources/gpu", "fraction of one GPU"]),
    "yaml_syntax": ("name: t\nworkload: [toy_quadratic\n", ["YAML syntax error"]),
    "not_a_mapping": ("- a\n- b\n", ["must be a YAML mapping"]),
    "missing_name": ("workload: toy_quadratic\n", ["field name: this required field is missing"]),
    "missing_workload": ("name: t\n", ["field workload: this required field is missing"]),
    "unknown_field": (BASE + "grids: {x: [1]}\n", ["field grids: unknown field"]),
    "empty_seeds": (BASE + "seeds: []\n", ["seeds is empty"]),
    "duplicate_seeds": (BASE + "seeds: [0, 0]\n", ["seeds has duplicates"]),
    "unknown_scale": (BASE + "scales: {large: {params: {x: 1.0}}}\n", ["scales/large"]),
    "scale_override_bad_type": (BASE + "scales: {smoke: {params: {steps: many}}}\n", ["steps: expected int", "'many'"]),
    "asha_missing_metric": (BASE + "scheduler: {asha: {mode: min}}\n", ["scheduler/asha/metric", "missing"]),
    "bad_name": ("name: 'has space'\nworkload: toy_quadratic\n", ["field name", "pattern"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_sweep_is_one_clear_error(case, write_sweep, capsys):
    text, expected = CASES[case]
    path = write_sweep(text)
    rc = main(["show", str(path), "--scale", "smoke"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for fragment in expected:
        assert fragment in err, f"{case}: {fragment!r} not in {err!r}"
    if case not in ("yaml_syntax", "not_a_mapping", "unknown_workload"):
        assert str(path) in err  # names the file


def test_missing_file(capsys, tmp_path):
    rc = main(["show", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert rc == 2 and "not found" in err and "nope.yaml" in err and "Traceback" not in err


def test_bad_set_override(write_sweep, capsys):
    path = write_sweep(BASE)
    assert main(["show", str(path), "--set", "lr"]) == 2
    assert "expected key=value" in capsys.readouterr().err
    assert main(["show", str(path), "--set", "lrr=0.1"]) == 2
    assert "unknown parameter(s) 'lrr'" in capsys.readouterr().err
