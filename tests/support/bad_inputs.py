"""A catalogue of bad inputs and the check each must pass: exit code 2, one paragraph naming the cause (the
case's ``needles``), no traceback, the MLflow store byte-for-byte unchanged, within ``max_s`` seconds.

Used by tests/orchestrator/test_validation_catalogue.py and benchmarks/reliability.py (docs/RELIABILITY.md).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE = "name: bad-input\nworkload: toy_quadratic\n"
SEARCH = "search: {metric: objective, mode: min, num_samples: 2, space: {x: {uniform: [0, 1]}}}\n"


@dataclass(frozen=True)
class BadInput:
    name: str
    sweep: str | bytes | None = BASE        # file content (None: the path does not exist)
    extra: tuple[str, ...] = ()              # more CLI arguments
    store: str = "template"                  # template | corrupt | truncated | unwritable | read_only_artifacts | URI
    needles: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("run", "show")
    max_s: float = 5.0
    env: dict = field(default_factory=dict)


def _huge_grid() -> str:
    values = lambda fmt, n: ", ".join(fmt.format(i) for i in range(n))  # noqa: E731
    return (BASE + f"grid: {{x: [{values('{}.0', 100)}], lr: [{values('0.{:03d}', 100)}], "
                   f"offset: [{values('{}.5', 100)}], n_layers: [{values('{}', 10)}]}}\n")


CASES: list[BadInput] = [
    # -- the YAML file itself
    BadInput("duplicate key", BASE + "params: {x: 1.0}\nparams: {x: 2.0}\n", needles=("appears twice", "line 3")),
    BadInput("duplicate nested key", BASE + "params:\n  x: 1.0\n  x: 2.0\n", needles=("'x' appears twice",)),
    BadInput("YAML syntax error", BASE + "params: {x: [1, 2}\n", needles=("YAML syntax error",)),
    BadInput("not a mapping", "- name: a\n- workload: b\n", needles=("must be a YAML mapping",)),
    BadInput("empty file", "", needles=("must be a YAML mapping",)),
    BadInput("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), needles=("binary file",)),
    BadInput("not UTF-8", BASE.encode() + b"description: caf\xe9\n", needles=("not UTF-8",)),
    BadInput("missing file", None, needles=("not found",)),
    # -- fields
    BadInput("unknown top-level field", BASE + "seed: [0]\n", needles=("field seed", "valid sweep fields")),
    BadInput("missing workload", "name: x\n", needles=("field workload", "missing")),
    BadInput("unknown workload", "name: x\nworkload: palmm\n", needles=("unknown workload 'palmm'",)),
    BadInput("bad name", "name: 'a b/c'\nworkload: toy_quadratic\n", needles=("field name",)),
    BadInput("unknown nested search key", BASE + "search: {metrik: objective, mode: min, num_samples: 2, "
                                                 "space: {x: {uniform: [0, 1]}}}\n",
             needles=("search/metrik", "valid fields under search: algorithm, metric, mode")),
    BadInput("unknown asha key", BASE + "scheduler: {asha: {metric: loss, mode: min, grace: 2}}\n",
             needles=("scheduler/asha/grace", "grace_period")),
    BadInput("unknown scale key", BASE + "scales: {smoke: {parms: {x: 1.0}}}\n",
             needles=("scales/smoke/parms", "params, grid, seeds")),
    BadInput("unknown scale name", BASE + "scales: {tiny: {params: {x: 1.0}}}\n", needles=("scales/tiny",)),
    BadInput("unknown parameter", BASE + "params: {xx: 1.0}\n", needles=("unknown parameter(s) 'xx'", "Valid parameters")),
    BadInput("wrong parameter type", BASE + "params: {steps: three}\n", needles=("steps", "expected int")),
    BadInput("bool for a number", BASE + "params: {x: true}\n", needles=("expected float",)),
    BadInput("Literal value", BASE + "params: {mode: fancy}\n", needles=("'plain', 'artifact'",)),
    BadInput("unknown grid parameter", BASE + "grid: {y: [1, 2]}\n", needles=("field grid", "'y'")),
    BadInput("wrong type in grid", BASE + "grid: {n_layers: [1, two]}\n", needles=("n_layers", "expected int")),
    BadInput("empty grid list", BASE + "grid: {x: []}\n", needles=("grid/x: empty list",)),
    BadInput("param and grid", BASE + "params: {x: 1.0}\ngrid: {x: [1.0, 2.0]}\n", needles=("both params and grid",)),
    BadInput("empty seeds", BASE + "seeds: []\n", needles=("seeds is empty",)),
    BadInput("duplicate seeds", BASE + "seeds: [0, 0]\n", needles=("duplicates",)),
    BadInput("huge grid", _huge_grid(), needles=("10,000,000 trials", "max_trials: 10000000")),
    # -- search and scheduler
    BadInput("uniform bounds reversed", BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                               "space: {x: {uniform: [1, 0]}}}\n", needles=("lower bound",)),
    BadInput("loguniform from zero", BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                            "space: {lr: {loguniform: [0, 1]}}}\n", needles=("positive",)),
    BadInput("two distributions", BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                         "space: {x: {uniform: [0, 1], choice: [1]}}}\n", needles=("exactly one",)),
    BadInput("zero samples", BASE + "search: {metric: objective, mode: min, num_samples: 0, "
                                    "space: {x: {uniform: [0, 1]}}}\n", needles=("num_samples",)),
    BadInput("bad mode", BASE + "search: {metric: objective, mode: minimum, num_samples: 2, "
                                "space: {x: {uniform: [0, 1]}}}\n", needles=("search/mode",)),
    BadInput("searched and fixed", BASE + "params: {x: 1.0}\n" + SEARCH, needles=("must be free",)),
    BadInput("choice outside Literal", BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                              "space: {mode: {choice: [plain, fancy]}}}\n",
             needles=("search/space/mode", "'fancy'")),
    BadInput("float range on int field", BASE + "search: {metric: objective, mode: min, num_samples: 2, "
                                                "space: {n_layers: {uniform: [1, 4]}}}\n",
             needles=("search/space/n_layers", "floats")),
    BadInput("search metric never reported", BASE + SEARCH.replace("objective", "acc"),
             needles=("search/metric", "never reports a metric 'acc'")),
    BadInput("ASHA metric never reported", BASE + "grid: {x: [0.0, 1.0]}\nscheduler: {asha: {metric: eror, mode: min}}\n",
             needles=("scheduler/asha/metric", "'eror'")),
    BadInput("ASHA grace 0", BASE + "scheduler: {asha: {metric: loss, mode: min, grace_period: 0}}\n",
             needles=("grace_period",)),
    # -- resources
    BadInput("negative GPU in YAML", BASE + "resources: {gpu: -1}\n", needles=("resources/gpu",)),
    BadInput("infinite CPU in YAML", BASE + "resources: {cpu: .inf}\n", needles=("resources/cpu",)),
    BadInput("1.5 GPUs in YAML", BASE + "resources: {gpu: 1.5}\n", needles=("fraction of one GPU",)),
    *[BadInput(f"--set-resources {item}", extra=("--set-resources", item), needles=("--set-resources", needle))
      for item, needle in [("gpu=abc", "not a number"), ("gpu=-1", "gpu"), ("cpu=-2", "cpu"), ("cpu=0", "cpu"),
                           ("cpu=nan", "cpu"), ("gpu=1.5", "fraction"), ("disk=1", "expected cpu=N"), ("gpu", "expected")]],
    # -- --set
    BadInput("--set unknown key", extra=("--set", "xx=1"), needles=("'xx'",)),
    BadInput("--set wrong type", extra=("--set", "steps=many"), needles=("steps", "expected int")),
    BadInput("--set without =", extra=("--set", "steps"), needles=("expected key=value",)),
    # -- the tracking store (run only)
    BadInput("unknown tracking scheme", store="sqllite:///mlruns.db", commands=("run",), needles=("unknown scheme",)),
    BadInput("sqlite URI with two slashes", store="sqlite://mlruns.db", commands=("run",), needles=("three or four",)),
    BadInput("tracking server refusing", store="http://127.0.0.1:9", commands=("run",), max_s=10.0,
             needles=("MLflow tracking server", "--tracking-uri")),
    BadInput("tracking server unresolvable", store="http://no-such-host.invalid:5000", commands=("run",), max_s=10.0,
             needles=("MLflow tracking server", "--tracking-uri")),
    BadInput("corrupt database", store="corrupt", commands=("run",), needles=("not a SQLite database",)),
    BadInput("truncated database", store="truncated", commands=("run",), needles=("corrupt",)),
    BadInput("unwritable store folder", store="unwritable", commands=("run",), needles=("not writable",)),
    BadInput("unwritable working directory", store="unwritable_cwd", commands=("run",), needles=("not writable",)),
    BadInput("read-only artifact folder", store="read_only_artifacts", commands=("run",),
             needles=("artifact folder", "not writable")),
]


def read_only_dir(tmp: Path) -> Path | None:
    """A folder nobody can write, root included (/sys is read-only); for a normal user a chmod 555 folder."""
    if os.geteuid() == 0:
        probe = Path("/sys/kernel")
        try:
            (probe / ".probe").write_text("x")
        except OSError:
            return probe
        return None
    d = tmp / "read-only"
    d.mkdir(exist_ok=True)
    d.chmod(0o555)
    return d


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "sweep.yaml"}


def make_template(folder: Path) -> Path:
    """A store holding one experiment (so 'unchanged' is a real check); made once, copied per case."""
    from orchestrator.store_preflight import open_recorder

    db = folder / "template.db"
    if not db.exists():
        open_recorder(f"sqlite:///{db}", "already-here")
    return db


def check(case: BadInput, tmp: Path, template: Path) -> dict[str, object]:
    """Run the case's commands through the CLI in-process; what happened, and whether it was precise."""
    from orchestrator.cli import main

    tmp.mkdir(parents=True, exist_ok=True)
    store_dir = tmp / "store"
    store_dir.mkdir(exist_ok=True)
    db = store_dir / "mlruns.db"
    db.write_bytes(template.read_bytes())
    cwd = None
    if case.store in ("template", "truncated", "read_only_artifacts"):
        uri = f"sqlite:///{db}"
        if case.store == "truncated":
            data = db.read_bytes()
            db.write_bytes(data[: len(data) // 3])
        if case.store == "read_only_artifacts":
            ro = read_only_dir(tmp)
            if ro is None:
                return {"name": case.name, "skipped": "no read-only folder available"}
            (store_dir / "mlartifacts").symlink_to(ro, target_is_directory=True)
    elif case.store == "corrupt":
        db.write_bytes(b"this is not sqlite" + bytes(range(256)) * 4)
        uri = f"sqlite:///{db}"
    elif case.store in ("unwritable", "unwritable_cwd"):
        ro = read_only_dir(tmp)
        if ro is None:
            return {"name": case.name, "skipped": "no read-only folder available"}
        uri = None if case.store == "unwritable_cwd" else f"sqlite:///{ro}/mlruns.db"
        cwd = ro if case.store == "unwritable_cwd" else None
    else:
        uri = case.store
    path = tmp / "sweep.yaml"
    if case.sweep is None:
        path = tmp / "no-such-sweep.yaml"
    elif isinstance(case.sweep, bytes):
        path.write_bytes(case.sweep)
    else:
        path.write_text(case.sweep)
    results = []
    for command in case.commands:
        argv = [command, str(path), "--scale", "smoke", *case.extra]
        if command == "run" and uri:
            argv += ["--tracking-uri", uri]
        before = snapshot(store_dir)
        err_buf, out_buf = io.StringIO(), io.StringIO()
        old_cwd, old_uri = os.getcwd(), os.environ.pop("MLFLOW_TRACKING_URI", None)
        t0 = time.monotonic()
        try:
            if cwd:
                os.chdir(cwd)
            with contextlib.redirect_stderr(err_buf), contextlib.redirect_stdout(out_buf):
                try:
                    rc = main(argv)
                except SystemExit as exc:  # argparse
                    rc = exc.code
                except Exception as exc:  # a traceback the user would have seen
                    import traceback

                    rc = "raised"
                    err_buf.write("Traceback (most recent call last):\n" + traceback.format_exc() + repr(exc))
        finally:
            os.chdir(old_cwd)
            if old_uri is not None:
                os.environ["MLFLOW_TRACKING_URI"] = old_uri
        took = time.monotonic() - t0
        err = err_buf.getvalue()
        lines = [x for x in err.strip().splitlines() if x.strip()]
        results.append({
            "command": command, "rc": rc, "seconds": round(took, 2), "stderr": err.strip(),
            "exit2": rc == 2, "traceback": "Traceback" in err,
            "one_paragraph": bool(lines) and lines[0].startswith("error: ") and not any(
                x.startswith("error: ") for x in lines[1:]),
            "names_cause": all(n in err for n in case.needles),
            "store_unchanged": snapshot(store_dir) == before,
            "in_time": took < case.max_s,
        })
    precise = all(r["exit2"] and not r["traceback"] and r["one_paragraph"] and r["names_cause"]
                  and r["store_unchanged"] and r["in_time"] for r in results)
    return {"name": case.name, "precise": precise, "results": results}
