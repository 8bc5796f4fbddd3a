"""``orchestrator clean``: what finished or killed launches leave behind, removed.

* Ray processes of drivers that died (SIGKILL, OOM) and the session folders (/tmp/ray/session_*) of our
  private clusters whose driver is gone (``orchestrator.ray_sessions``);
* Ray Tune experiment folders under the storage of launches that ended, or whose driver died. ``--resume``
  reads MLflow, not these folders, so they only matter while their launch runs. A folder whose launch could
  not move an artifact to MLflow is kept (it holds the only copy) and named in the output.

Launches mark their folder: ``LAUNCH_MARKER`` (driver, parent run) when they start, ``status`` when they end.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

from orchestrator.launch_state import driver_alive
from orchestrator.ray_sessions import reap_orphans
from orchestrator.storage import filesystem, join, read_text, resolve_storage, write_text

LAUNCH_MARKER = ".orchestrator-launch.json"


def mark_launch(run_dir: str, **state) -> None:
    """Write (or update) the marker of a launch's Tune folder: driver, parent run, status, kept artifacts."""
    location = join(run_dir, LAUNCH_MARKER)
    try:
        current = json.loads(read_text(location) or "{}")
    except ValueError:
        current = {}
    write_text(location, json.dumps({**current, **state}))


@dataclass
class CleanReport:
    processes: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)   # "folder: why"
    files_removed: int = 0


def _launch_folders(storage: str):
    import pyarrow.fs

    fs, root = filesystem(storage)
    try:
        entries = fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=False))
    except (FileNotFoundError, OSError):
        return fs, []
    return fs, [e.path for e in entries if e.type == pyarrow.fs.FileType.Directory]


def _count_files(fs, folder: str) -> int:
    import pyarrow.fs

    infos = fs.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True))
    return sum(i.type == pyarrow.fs.FileType.File for i in infos)


def clean(storage_path: str | None = None, dry_run: bool = False) -> CleanReport:
    """Remove what ended launches left; ``dry_run``: only say what would go."""
    report = CleanReport()
    if not dry_run:
        report.processes = reap_orphans(remove_session_dirs=True)
    storage = resolve_storage(storage_path)
    fs, folders = _launch_folders(storage)
    for folder in folders:
        text = read_text(join(folder, LAUNCH_MARKER))
        if text is None:
            continue  # not a folder of ours (or a launch from before markers): left alone
        try:
            state = json.loads(text)
        except ValueError:
            continue
        if state.get("missing_artifacts"):
            report.kept.append(f"{folder}: holds artifacts MLflow did not get ({state['missing_artifacts']})")
            continue
        if "status" not in state and driver_alive(state.get("driver")):
            report.kept.append(f"{folder}: its launch is running")
            continue
        report.files_removed += _count_files(fs, folder)
        report.removed.append(folder)
        if not dry_run:
            fs.delete_dir(folder)
    return report


def cmd_clean(args: argparse.Namespace) -> int:
    report = clean(args.storage_path, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(report.removed)} launch folder(s) ({report.files_removed} files)"
          + ("" if args.dry_run else f"; ended {len(report.processes)} orphaned Ray process(es)"))
    for folder in report.removed:
        print(f"  {folder}")
    for line in report.kept:
        print(f"  kept {line}")
    return 0


def add_clean_command(sub) -> None:
    sp = sub.add_parser("clean", help="remove ended launches' Ray Tune folders and dead drivers' Ray processes")
    sp.add_argument("--storage-path", default=None, help="Ray Tune storage (default: $ORCHESTRATOR_STORAGE or ./ray_results)")
    sp.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    sp.set_defaults(fn=cmd_clean)
