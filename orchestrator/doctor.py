"""``orchestrator doctor [SWEEP] --scale paper``: before anything runs, every data set and checkpoint the sweep's
trials will read, found or missing, with the expected path and layout (exit code 1 when something is missing).

Each workload says what it reads through ``workloads.<name>.requirements.requirements(cfg, data_root, scale)``
(paths only, no training, no torch of its own); this module expands the sweep's points, asks it for every distinct
config and merges the answers into one table. A workload without such a module (a plugin) is listed as undeclared.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

SHOWN_MISSING = 3  # missing files printed per row; the rest are counted


@dataclass
class Row:
    """One requirement, merged over every trial and sweep that reads it."""

    kind: str
    name: str
    path: Path
    layout: str
    missing: tuple[Path, ...]
    hint: str
    sweeps: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return not self.missing


@dataclass
class Report:
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)
    undeclared: list[str] = field(default_factory=list)   # sweeps whose workload declares no requirements
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (sweep, first line of its error)
    sweeps: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[Row]:
        return [r for r in self.rows.values() if not r.found]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.invalid


def requirements_function(workload) -> Callable | None:
    """``requirements`` of the workload's package (``workloads.palm`` -> ``workloads.palm.requirements``)."""
    package = workload.fn.__module__.rsplit(".", 1)[0]
    try:
        module = importlib.import_module(f"{package}.requirements")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.requirements":
            raise
        return None
    return getattr(module, "requirements", None)


def distinct_configs(sweep) -> list[Any]:
    """The typed config of every distinct point of the sweep (seeds do not change what a trial reads)."""
    from orchestrator.registry import build_config, get_workload

    wl = get_workload(sweep.workload)
    seen, out = set(), []
    for trial in sweep.trials():
        key = json.dumps(trial.params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(build_config(wl, trial.params, where=f"{sweep.path}: params/grid"))
    return out


def add_sweep(report: Report, sweep, data_root: Path) -> None:
    from orchestrator.registry import get_workload

    report.sweeps.append(sweep.rel_path)
    fn = requirements_function(get_workload(sweep.workload))
    if fn is None:
        report.undeclared.append(sweep.rel_path)
        return
    for cfg in distinct_configs(sweep):
        try:
            reqs = fn(cfg, data_root, sweep.scale)
        except ValueError as exc:  # e.g. a data set without a known on-disk layout: the trial would fail the same way
            report.invalid.append((sweep.rel_path, str(exc).splitlines()[0]))
            continue
        for req in reqs:
            key = (req.kind, req.name, str(req.path))
            row = report.rows.get(key)
            if row is None:
                row = report.rows[key] = Row(req.kind, req.name, req.path, req.layout, tuple(req.missing), req.hint)
            else:  # another config of the same data set may ask for more of it (other corruptions, severities)
                row.missing = tuple(dict.fromkeys(row.missing + tuple(req.missing)))
            if sweep.rel_path not in row.sweeps:
                row.sweeps.append(sweep.rel_path)


def check(sweep_names: list[str], scale: str, data_root: Path, sets: dict[str, Any] | None = None) -> Report:
    """The report for the named sweeps (every sweep file when none is named) at ``scale``."""
    from orchestrator.registry import ConfigError
    from orchestrator.spec import SweepError, all_sweep_files, load_sweep

    report = Report()
    targets = sweep_names or [str(p) for p in all_sweep_files()]
    for name in targets:
        try:
            sweep = load_sweep(name, scale, sets)
        except (SweepError, ConfigError) as exc:
            if sweep_names:  # a sweep the user named: its own error, as every command gives it
                raise
            report.invalid.append((name, str(exc).splitlines()[0]))
            continue
        add_sweep(report, sweep, data_root)
    return report


def _missing_text(row: Row, data_root: Path) -> str:
    shown = [_short(p, data_root) for p in row.missing[:SHOWN_MISSING]]
    more = len(row.missing) - len(shown)
    return "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")


def _short(path: Path, data_root: Path) -> str:
    try:
        return f"$DATA/{Path(path).relative_to(data_root)}"
    except ValueError:
        return str(path)


def render(report: Report, scale: str, data_root: Path, console) -> None:
    from rich.table import Table

    table = Table(title=f"What {len(report.sweeps)} sweep(s) read at scale {scale} ($DATA = {data_root})",
                  show_lines=True)
    for col in ("status", "kind", "what", "path", "layout", "missing", "sweeps"):
        table.add_column(col, overflow="fold")
    rows = sorted(report.rows.values(), key=lambda r: (r.found, r.kind, r.name, str(r.path)))
    for r in rows:
        sweeps = ", ".join(r.sweeps) if len(r.sweeps) <= 2 else f"{r.sweeps[0]} and {len(r.sweeps) - 1} more"
        table.add_row("[green]found[/green]" if r.found else "[red]MISSING[/red]", r.kind, r.name,
                      _short(r.path, data_root), r.layout, _missing_text(r, data_root), sweeps)
    console.print(table)
    for r in [r for r in rows if not r.found and r.hint]:
        console.print(f"[red]missing[/red] {r.name}: {r.path} — get it from {r.hint}")
    for name in report.undeclared:
        console.print(f"{name}: its workload declares no requirements (no <package>.requirements module)")
    for name, err in report.invalid:
        console.print(f"[red]invalid[/red] {name}: {err}")
    n_missing = len(report.missing)
    console.print(f"{len(rows) - n_missing} of {len(rows)} found" + (f", {n_missing} missing" if n_missing else "")
                  + (f", {len(report.invalid)} sweep(s) invalid" if report.invalid else "")
                  + ("" if rows else " (nothing to read from disk at this scale)"))


def cmd_doctor(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.context import default_data_root
    from orchestrator.spec import parse_set

    data_root = Path(args.data_root).expanduser().resolve() if args.data_root else default_data_root()
    report = check([args.sweep] if args.sweep else [], args.scale, data_root, parse_set(args.set))
    # piped output (CI logs, `| tee`) would be cut at 80 columns and crush the paths
    console = Console() if sys.stdout.isatty() else Console(width=int(os.environ.get("COLUMNS", 200)))
    render(report, args.scale, data_root, console)
    return 0 if report.ok else 1


def add_doctor_command(sub) -> None:
    from orchestrator.context import SCALES

    sp = sub.add_parser("doctor", help="list the data sets and checkpoints a sweep needs, found or missing")
    sp.add_argument("sweep", nargs="?", default=None, help="sweep path or name under sweeps/ (default: every sweep)")
    sp.add_argument("--scale", choices=SCALES, default="paper")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    sp.add_argument("--data-root", default=None, help="data folder (default: $ORCHESTRATOR_DATA or ./data)")
    sp.set_defaults(fn=cmd_doctor)
