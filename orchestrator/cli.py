"""``orchestrator`` command line: list, show, run, reproduce, tables, ui, submit."""
from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

from orchestrator.context import SCALES
from orchestrator.registry import ConfigError
from orchestrator.cleanup import add_clean_command
from orchestrator.doctor import add_doctor_command
from orchestrator.server import add_server_command
from orchestrator.spec import DEFAULT_SCALE, SweepError, all_sweep_files, apply_resource_overrides, load_sweep, parse_set
from orchestrator.submit import STORAGE_HELP, add_submit_options


class UserError(Exception):
    """Printed as one paragraph, no traceback, exit code 2."""


def _import_plugins() -> None:
    """``ORCHESTRATOR_PLUGINS=pkg.mod,other.mod`` registers extra workloads (tests, private methods)."""
    import importlib

    for name in filter(None, (os.environ.get("ORCHESTRATOR_PLUGINS") or "").split(",")):
        importlib.import_module(name.strip())


def _console():
    import sys

    from rich.console import Console

    # Piped output (ray job logs, CI, `| tee`) would otherwise be cut at 80 columns, which crushes wide
    # summary tables (PALM: one column per corruption) into ellipses.
    return Console() if sys.stdout.isatty() else Console(width=int(os.environ.get("COLUMNS", 240)))


def _load(args: argparse.Namespace):
    sets = parse_set(getattr(args, "set", None))
    sweep = load_sweep(args.sweep, args.scale, sets)
    apply_resource_overrides(sweep, getattr(args, "set_resources", None))  # validated like `resources:`
    return sweep


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    console = _console()
    table = Table(title="Sweeps", show_lines=False)
    for col in ("sweep", "workload", "reproduces", f"trials @ {args.scale}"):
        table.add_column(col)
    for path in all_sweep_files():
        rel = str(path)
        try:
            sweep = load_sweep(path, args.scale)
            n = sweep.search.num_samples if sweep.search else len(sweep.trials())
            table.add_row(sweep.rel_path, sweep.workload, sweep.reproduces or "", str(n))
        except (SweepError, ConfigError) as exc:
            table.add_row(rel, "?", "", f"invalid: {str(exc).splitlines()[0][:80]}")
    console.print(table)
    try:
        from results.cli import list_tables
    except ImportError:
        return 0
    console.print(list_tables(scale=None, tracking_uri=getattr(args, "tracking_uri", None)))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    sweep = _load(args)
    trials = sweep.trials()
    console = _console()
    console.print(f"[bold]{sweep.name}[/bold]  workload={sweep.workload}  scale={sweep.scale}  "
                  f"reproduces={sweep.reproduces or '-'}  resources=cpu {sweep.resources.cpu:g}, gpu {sweep.resources.gpu_text()}")
    if sweep.search:
        s = sweep.search
        console.print(f"Optuna search: {s.num_samples} samples, {s.mode} {s.metric}, space: "
                      + ", ".join(f"{k}~{d.kind}{list(getattr(d, d.kind))}" for k, d in s.space.items()))
    keys = [k for k in trials[0].params if len({json.dumps(t.params[k], default=str) for t in trials}) > 1]
    table = Table(title=f"{len(trials)} trial(s)" + (" per search sample (grid and seeds are searched)" if sweep.search else ""))
    for col in ["#", *keys, "seed", "config_hash"]:
        table.add_column(col)
    for i, t in enumerate(trials):
        table.add_row(str(i), *[str(t.params[k]) for k in keys], str(t.seed), t.config_hash)
    console.print(table)
    if args.verbose:
        console.print_json(json.dumps(trials[0].params, default=str))
    return 0


def print_summary(result, sweep=None) -> None:
    """One row per trial: its name, status, the headline metric, then as many other summary metrics as the console
    fits (a PALM table carries ~50: per-task errors and adaptation rates); the caption counts those left out."""
    from rich.table import Table

    from orchestrator.sweep_record import headline_metric

    rows = result.rows or []
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    head = headline_metric(sweep) if sweep is not None else None
    if head in cols:
        cols.remove(head)
        cols.insert(min(2, len(cols)), head)
    console = _console()
    shown, width = [], 4
    for col in cols:
        need = max(len(col), *(len(_fmt(r.get(col, ""))) for r in rows)) + 3 if rows else len(col) + 3
        if len(shown) >= 2 and width + need > console.width:
            continue
        shown.append(col)
        width += need
    left_out = len(cols) - len(shown)
    table = Table(title=f"{result.experiment_name}: {result.n_trials} trial(s), {result.n_failed} failed"
                        + (f", {result.n_skipped} already finished (skipped)" if result.n_skipped else ""),
                  caption=(f"{left_out} more summary metric(s) on each run: the parent run's table and "
                           f"`orchestrator ui` show them all" if left_out else None))
    for col in shown:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_fmt(row.get(c, "")) for c in shown])
    console.print(table)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def cmd_run(args: argparse.Namespace) -> int:
    sweep = _load(args)
    if args.local:
        from orchestrator.local import run_local

        result = run_local(sweep, tracking_uri=args.tracking_uri)
    else:
        from contextlib import nullcontext

        from orchestrator.launch import run_sweep
        from orchestrator.tracking import resolve_tracking_uri
        from orchestrator.warm_start import launch_session

        # Ray and the MLflow store start side by side; a resume is checked against the store first (a launch
        # with nothing to resume, or one still running, is refused before Ray starts). Ray shuts down while
        # the summary is printed and the tables are put on the parent run (they read MLflow only).
        session = nullcontext() if args.resume else launch_session(resolve_tracking_uri(args.tracking_uri),
                                                                   [sweep.name], address=args.address,
                                                                   background_shutdown=True)
        with session:
            result = run_sweep(sweep, resume=args.resume, tracking_uri=args.tracking_uri,
                               storage_path=args.storage_path, address=args.address,
                               skip_finished=args.skip_finished, verbose=args.tune_verbose)
    try:
        print_summary(result, sweep)
        _after_launch(sweep, result, args.tracking_uri)
    finally:
        from orchestrator.warm_start import finish_shutdown

        finish_shutdown()
    return 1 if result.n_failed else 0


def _after_launch(sweep, result, tracking_uri: str | None) -> None:
    """Put the tables this sweep feeds on its parent run, then say where everything is."""
    from orchestrator.progress import closing_line
    from orchestrator.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if result.parent_run_id:
        try:
            from results.parent_record import attach_aggregates, attach_table
            from results.render import render
            from results.spec import all_tables
        except ImportError:  # an orchestrator without the results package
            attach_table = None
        if attach_table is not None:
            tables = [t for t in all_tables().values() if sweep.rel_path in t.sweeps]
            for spec in tables:
                attach_table(render(spec, sweep.scale, uri), uri)
            if not tables:
                attach_aggregates(sweep.name, result.parent_run_id, uri)
    if sweep.search:
        from orchestrator.optuna_study import dashboard_hint

        print(dashboard_hint(sweep, uri))
    print(closing_line(sweep.name, result.parent_run_id, uri))


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestrator.tracking import resolve_tracking_uri

    from orchestrator.ports import busy_port_message, port_is_free

    uri = resolve_tracking_uri(args.tracking_uri)
    if not port_is_free("127.0.0.1", args.port):  # mlflow would fail after our exec, and exit 0
        raise UserError(busy_port_message("127.0.0.1", args.port))
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)]
    print(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri}); Ctrl-C stops it.")
    os.execvp(cmd[0], cmd)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from orchestrator.submit import submit

    sweep = _load(args)  # validate locally before anything is sent
    job_id = submit(sweep, address=args.address, scale=args.scale, sets=args.set or [], follow=args.follow,
                    tracking_uri=args.tracking_uri, extra_args=["--set-resources", *args.set_resources] if args.set_resources else [],
                    storage_path=args.storage_path, resume=args.resume, pip=args.pip, uv=args.uv)
    print(job_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orchestrator", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def sweep_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("sweep", help="sweep YAML path, or a name under sweeps/ (e.g. palm/table1)")
        sp.add_argument("--scale", choices=SCALES, default=DEFAULT_SCALE)
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
        sp.add_argument("--set-resources", action="append", metavar="cpu=N|gpu=N", help="override per-trial resources")
        sp.add_argument("--tracking-uri", default=None, help="MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns.db)")

    sp = sub.add_parser("list", help="sweeps and tables with their status")
    sp.add_argument("--scale", choices=SCALES, default=DEFAULT_SCALE)
    sp.add_argument("--tracking-uri", default=None)
    sp.set_defaults(fn=cmd_list)

    sp = sub.add_parser("show", help="print the resolved trials of a sweep without running")
    sweep_args(sp)
    sp.add_argument("-v", "--verbose", action="store_true", help="also print the first trial's full config")
    sp.set_defaults(fn=cmd_show)

    sp = sub.add_parser("run", help="run a sweep on Ray Tune (or in-process with --local)")
    sweep_args(sp)
    sp.add_argument("--resume", action="store_true", help="continue the last interrupted launch of this sweep/scale")
    sp.add_argument("--local", action="store_true", help="run trials sequentially in this process (no Ray)")
    sp.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)")
    sp.add_argument("--storage-path", default=None, help=STORAGE_HELP)
    sp.add_argument("--skip-finished", action="store_true", help="skip trials already FINISHED in MLflow")
    sp.add_argument("--tune-verbose", type=int, default=0, choices=(0, 1, 2),
                    help="Ray Tune's own status tables (0: off; one line per trial event is printed instead)")
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1")
    sp.add_argument("--port", type=int, default=5000)
    sp.add_argument("--tracking-uri", default=None)
    sp.set_defaults(fn=cmd_ui)

    sp = sub.add_parser("submit", help="submit `orchestrator run` as a Ray job to a cluster")
    sweep_args(sp)
    sp.add_argument("--address", required=True, help="Ray dashboard address, e.g. http://HEAD:8265")
    sp.add_argument("--follow", action="store_true", help="stream the job's logs until it ends")
    add_submit_options(sp)
    sp.set_defaults(fn=cmd_submit)
    add_server_command(sub)
    add_clean_command(sub)  # orchestrator.cleanup
    add_doctor_command(sub)  # orchestrator.doctor

    try:
        from results.cli import add_commands
    except ImportError:
        add_commands = None
    if add_commands is not None:
        add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # At exit the interpreter's last garbage collection walks every object left (Ray, MLflow, SQLAlchemy,
    # pydantic: ~1 s of a `run`, after all output). Frozen objects are skipped by it; atexit handlers (logging's
    # flush, Ray's shutdown) still run after this one, and in-process callers (tests) are unaffected until exit.
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process
    atexit.register(gc.freeze)
    _import_plugins()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (SweepError, ConfigError, UserError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # orchestrator.interrupts.SweepInterrupted names the exact resume command
        print(str(exc) or "interrupted; `orchestrator run SWEEP --resume` continues where it stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
