"""Bad input -> one paragraph naming cause and fix, exit code 2, no traceback, the MLflow store untouched.

Each case runs the real CLI in-process (``orchestrator.cli.main``); none of them starts Ray or a trial.
"""
from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import time
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.context import LocalContext

BASE = "name: bad-input\nworkload: toy_quadratic\n"


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith((".yaml", ".bin", ".lock"))}


def _fails_cleanly(capsys, argv: list[str], store_dir: Path, *needles: str, max_s: float = 10.0) -> str:
    before = _snapshot(store_dir)
    capsys.readouterr()  # drop what the fixtures printed
    t0 = time.monotonic()
    rc = main(argv)
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: ") and err.strip().count("\nerror:") == 0
    assert took < max_s, f"took {took:.1f} s"
    for needle in needles:
        assert needle in err, err
    assert _snapshot(store_dir) == before, "the store changed"
    return err


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    """One store holding one experiment, made once (MLflow's schema creation takes seconds)."""
    from orchestrator.store_preflight import open_recorder

    db = tmp_path_factory.mktemp("template") / "mlruns.db"
    open_recorder(f"sqlite:///{db}", "already-here")
    return db


@pytest.fixture
def store(tmp_path: Path, template_db: Path) -> tuple[str, Path]:
    """A copy of the template store, so 'unchanged' is a real check."""
    db = tmp_path / "mlruns.db"
    db.write_bytes(template_db.read_bytes())
    return f"sqlite:///{db}", tmp_path


def _run(path: Path, uri: str, *extra: str) -> list[str]:
    return ["run", str(path), "--scale", "smoke", "--tracking-uri", uri, *extra]


SPEC_CASES = {
    "duplicate key": (BASE + "params: {x: 1.0}\nparams: {x: 2.0}\n", ["appears twice", "line 3", "line 4"]),
    "duplicate nested key": (BASE + "params:\n  x: 1.0\n  x: 2.0\n", ["'x' appears twice"]),
    "unknown nested search key": (BASE + "search: {metrik: objective, mode: min, num_samples: 2, "
                                         "space: {x: {uniform: [0, 1]}}}\n",
                                  ["search/metrik", "valid fields under search: algorithm, metric, mode"]),
    "unknown asha key": (BASE + "scheduler: {asha: {metric: loss, mode: min, grace: 2}}\n",
                         ["scheduler/asha/grace", "grace_period"]),
    "unknown scale key": (BASE + "scales: {smoke: {parms: {x: 1.0}}}\n", ["scales/smoke/parms", "params, grid, seeds"]),
    "choice outside Literal": (BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                      "space: {mode: {choice: [plain, fancy]}}}\n",
                               ["search/space/mode", "'plain', 'artifact'", "'fancy'"]),
    "float range on int field": (BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                        "space: {n_layers: {uniform: [1, 4]}}}\n",
                                 ["search/space/n_layers", "floats"]),
    "search metric never reported": (BASE + "search: {metric: acc, mode: max, num_samples: 2, "
                                            "space: {x: {uniform: [0, 1]}}}\n",
                                     ["search/metric", "never reports a metric 'acc'", "objective"]),
    "asha metric never reported": (BASE + "grid: {x: [0.0, 1.0]}\nscheduler: {asha: {metric: eror, mode: min}}\n",
                                   ["scheduler/asha/metric", "'eror'"]),
    "huge grid": (BASE + "grid: {" + ", ".join(f"p{i}: [{', '.join(str(j) for j in range(10))}]"
                                               for i in range(7)).replace("p0", "x").replace("p1", "lr")
                  .replace("p2", "offset").replace("p3", "n_layers").replace("p4", "steps")
                  .replace("p5", "sleep").replace("p6", "x2") + "}\n", None),
    "resources negative gpu": (BASE + "resources: {gpu: -1}\n", ["resources/gpu"]),
    "inf cpu": (BASE + "resources: {cpu: .inf}\n", ["resources/cpu"]),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_spec_is_one_paragraph_exit_2(case, capsys, store, write_sweep):
    uri, folder = store
    text, needles = SPEC_CASES[case]
    if case == "huge grid":  # 10^7 points, refused before they are expanded
        text = BASE + "grid: {x: [" + ", ".join(f"{i}.0" for i in range(100)) + "], lr: [" + \
            ", ".join(f"0.{i:03d}" for i in range(100)) + "], offset: [" + ", ".join(f"{i}.5" for i in range(100)) + \
            "], n_layers: [" + ", ".join(str(i) for i in range(10)) + "]}\n"
        needles = ["10,000,000 trials", "max_trials: 10000000"]
    path = write_sweep(text)
    for argv in (_run(path, uri), ["show", str(path), "--scale", "smoke"]):
        _fails_cleanly(capsys, argv, folder, *needles, max_s=5.0)


def test_huge_grid_runs_when_allowed(write_sweep):
    from orchestrator.spec import load_sweep

    path = write_sweep(BASE + "grid: {x: [" + ", ".join(f"{i}.0" for i in range(120)) + "]}\nseeds: [0, 1]\nmax_trials: 240\n")
    assert len(load_sweep(path, "smoke").trials()) == 240
    path = write_sweep(BASE + "grid: {x: [" + ", ".join(f"{i}.0" for i in range(120)) + "]}\nseeds: [0, 1]\nmax_trials: 239\n")
    with pytest.raises(Exception, match="240 trials"):
        load_sweep(path, "smoke")


def test_binary_and_non_utf8_sweep_files(capsys, store, tmp_path):
    uri, folder = store
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64))
    _fails_cleanly(capsys, _run(binary, uri), folder, "binary file, not a YAML sweep")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(BASE.encode() + b"description: caf\xe9\n")
    _fails_cleanly(capsys, _run(latin, uri), folder, "not UTF-8")


@pytest.mark.parametrize("item, needle", [
    ("gpu=abc", "'abc' is not a number"), ("gpu=-1", "gpu"), ("cpu=-2", "cpu"), ("cpu=0", "cpu"),
    ("cpu=nan", "cpu"), ("gpu=1.5", "fraction of one GPU"), ("disk=1", "expected cpu=N or gpu=N"), ("gpu", "expected"),
])
def test_bad_set_resources(item, needle, capsys, store, write_sweep):
    uri, folder = store
    path = write_sweep(BASE)
    _fails_cleanly(capsys, _run(path, uri, "--set-resources", item), folder, "--set-resources", needle)


def test_good_set_resources_are_applied(write_sweep):
    from orchestrator.spec import apply_resource_overrides, load_sweep

    sweep = load_sweep(write_sweep(BASE), "smoke")
    apply_resource_overrides(sweep, ["cpu=2", "gpu=0.25"])
    assert (sweep.resources.cpu, sweep.resources.gpu) == (2.0, 0.25)


# -- tracking store ----------------------------------------------------------------------------
def test_unknown_scheme(capsys, tmp_path, write_sweep):
    _fails_cleanly(capsys, _run(write_sweep(BASE), "sqllite:///mlruns.db"), tmp_path, "unknown scheme 'sqllite'",
                   "sqlite:///mlruns.db")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "http://no-such-host.invalid:5000"])
def test_unreachable_server_within_10_s(uri, capsys, tmp_path, write_sweep):
    # Behind an HTTP proxy the second one is answered by the proxy (an error status), else it does not resolve.
    _fails_cleanly(capsys, _run(write_sweep(BASE), uri), tmp_path, "MLflow tracking server", "--tracking-uri",
                   max_s=10.0)


def test_corrupt_database(capsys, tmp_path, write_sweep):
    db = tmp_path / "mlruns.db"
    db.write_bytes(b"this is not sqlite" + os.urandom(256))
    _fails_cleanly(capsys, _run(write_sweep(BASE), f"sqlite:///{db}"), tmp_path, "not a SQLite database", "Move it away")


def test_truncated_database(capsys, store, write_sweep):
    uri, folder = store
    db = folder / "mlruns.db"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    _fails_cleanly(capsys, _run(write_sweep(BASE), uri), folder, "corrupt")


def _read_only_dir(tmp_path: Path) -> Path:
    """A folder nobody (root included) can write: /sys is mounted read-only; else chmod for a normal user."""
    if os.geteuid() == 0:
        if os.access("/sys/kernel", os.F_OK) and not _can_write(Path("/sys/kernel")):
            return Path("/sys/kernel")
        pytest.skip("running as root without a read-only folder to point at")
    d = tmp_path / "read-only"
    d.mkdir()
    d.chmod(0o555)
    return d


def _can_write(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_unwritable_store_folder(capsys, tmp_path, write_sweep):
    ro = _read_only_dir(tmp_path)
    _fails_cleanly(capsys, _run(write_sweep(BASE), f"sqlite:///{ro}/mlruns.db"), tmp_path, "not writable")


def test_unwritable_working_directory(capsys, tmp_path, write_sweep, monkeypatch):
    ro = _read_only_dir(tmp_path)
    path = write_sweep(BASE)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(ro)
    _fails_cleanly(capsys, ["run", str(path), "--scale", "smoke"], tmp_path, "not writable", "writable folder")


def test_read_only_artifact_folder(capsys, store, write_sweep):
    uri, folder = store
    target = _read_only_dir(folder)
    (folder / "mlartifacts").symlink_to(target, target_is_directory=True)
    _fails_cleanly(capsys, _run(write_sweep(BASE), uri), folder, "artifact folder", "not writable")


def test_sqlite_uri_without_three_slashes(capsys, tmp_path, write_sweep):
    _fails_cleanly(capsys, _run(write_sweep(BASE), "sqlite:mlruns.db"), tmp_path, "three or four slashes")


# -- values a trial reports --------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_summary_is_refused(bad, tmp_path):
    ctx = LocalContext(seed=0, scale="smoke", work_dir=tmp_path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ctx.summary(objective=bad)
    ctx.summary(objective=1.5)
    assert ctx.summaries == {"objective": 1.5}


def test_sqlite_schema_check_is_read_only(store):
    uri, folder = store
    from orchestrator.store_preflight import preflight

    db = folder / "mlruns.db"
    before = db.read_bytes()
    preflight(uri)
    assert db.read_bytes() == before
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from experiments where name = 'already-here'").fetchone()[0] == 1
