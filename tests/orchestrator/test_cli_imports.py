"""The answers a user waits for at the prompt (``list``, ``show``, every spec error) import neither torch nor
ray nor mlflow, nor any workload's run module: each would cost seconds (issue 16 item 12). Timing is
measured by ``benchmarks/cli_latency.py``; here only what gets imported is checked, in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "mlflow", "timm", "torchvision")

# Runs the CLI in-process, then reports its exit code and which heavy modules got imported.
PROBE = """
import json, sys
from orchestrator.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or
               (m.startswith('workloads.') and m.endswith('.workload')))
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def probe(tmp_path: Path, *args: str) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_PLUGINS"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'absent.db'}"  # no store yet: list must not make one
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_list_imports_no_heavy_module_and_creates_no_store(tmp_path):
    result, err = probe(tmp_path, "list", "--scale", "smoke")
    assert result == {"code": 0, "heavy": []}, err
    assert not (tmp_path / "absent.db").exists()


def test_list_reads_an_existing_sqlite_store_without_mlflow(tmp_path):
    from mlflow.tracking import MlflowClient

    store = tmp_path / "store.db"
    MlflowClient(f"sqlite:///{store}").create_experiment("palm-quickstart")  # a store with its schema
    result, err = probe(tmp_path, "list", "--scale", "smoke", "--tracking-uri", f"sqlite:///{store}")
    assert result == {"code": 0, "heavy": []}, err


def test_show_imports_no_heavy_module(tmp_path):
    result, err = probe(tmp_path, "show", "palm/quickstart", "--scale", "smoke")
    assert result == {"code": 0, "heavy": []}, err


@pytest.mark.parametrize("body, expected", [
    # a misspelt parameter: named, with the valid ones listed
    ("name: bad\nworkload: palm\nparams: {alpah: 0.5}\n", ["'alpah'", "Valid parameters:", "alpha"]),
    # a wrong type for a real parameter
    ("name: bad\nworkload: tts\ngrid: {policy: [1.5]}\n", ["policy", "expected str"]),
    # an unknown workload: the built-in ones listed
    ("name: bad\nworkload: plam\n", ["unknown workload 'plam'", "palm", "slowformer"]),
    # a misspelt sweep field
    ("name: bad\nworkload: palm\nseed: [0]\n", ["seed", "unknown field", "seeds"]),
])
def test_spec_errors_import_no_heavy_module(tmp_path, body, expected):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(body)
    result, err = probe(tmp_path, "show", str(sweep))
    assert result == {"code": 2, "heavy": []}, err
    for text in expected:
        assert text in err, err


def test_unknown_sweep_imports_no_heavy_module(tmp_path):
    result, err = probe(tmp_path, "show", "no/such/sweep")
    assert result == {"code": 2, "heavy": []}
    assert "not found" in err and "orchestrator list" in err
