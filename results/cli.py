"""The ``tables`` and ``reproduce`` sub-commands and the table listing of ``orchestrator list``."""
from __future__ import annotations

import argparse

SCALES = ("smoke", "mini", "paper")


def cmd_tables(args: argparse.Namespace) -> int:
    from results.report import write_report
    from results.reproduce import render_tables, report_links, select_tables

    specs = select_tables(args.ids or ["all"])
    rendered = render_tables(specs, args.scale, args.tracking_uri, fmt=args.format)
    # the report accumulates: rendering one table adds it without dropping the others already there
    print(report_links(write_report(rendered, args.scale)))
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from results.reproduce import reproduce

    launches, _ = reproduce([args.target], args.scale, args.tracking_uri, storage_path=args.storage_path)
    return 1 if any(r.n_failed for r in launches) else 0


def add_commands(sub) -> None:
    sp = sub.add_parser("tables", help="render paper tables from MLflow (stdout and results/out/)")
    sp.add_argument("ids", nargs="*", help="table ids (default: all)")
    sp.add_argument("--scale", choices=SCALES, default="mini")
    sp.add_argument("--format", choices=("md", "csv", "latex"), default="md")
    sp.add_argument("--tracking-uri", default=None)
    sp.set_defaults(fn=cmd_tables)

    sp = sub.add_parser("reproduce", help="run what a table needs (skipping finished trials), then render")
    sp.add_argument("target", help="a table id, 'all' or 'quickstart'")
    sp.add_argument("--scale", choices=SCALES, default="mini")
    sp.add_argument("--tracking-uri", default=None)
    sp.add_argument("--storage-path", default=None, help="Ray Tune storage: a path, NFS, or s3://, gs://, hdfs:// "
                                                         "(default: $ORCHESTRATOR_STORAGE or ./ray_results)")
    sp.set_defaults(fn=cmd_reproduce)


def list_tables(scale: str | None = None, tracking_uri: str | None = None):
    from rich.table import Table

    from results.producible import producing_scales
    from results.spec import all_tables
    from results.status import status_rows

    table = Table(title="Tables")
    for col in ("table", "paper", "quickstart", "scales", "status"):
        table.add_column(col)
    specs = all_tables()
    for row in status_rows(tracking_uri):
        # which scales fill cells (sweep files and config defaults only: no torch at list time)
        scales = ", ".join(producing_scales(specs[row[0]])) or "paper only"
        table.add_row(*row[:3], scales, *row[3:])
    return table
