"""``orchestrator reproduce``: run the sweeps a table needs (finished trials skipped), then render."""
from __future__ import annotations

import time

from results.render import Rendered, render, to_text
from results.report import write_fragments, write_report
from results.spec import OUT_DIR, TableSpec, all_tables, get_table

EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex"}


def select_tables(ids: list[str]) -> list[TableSpec]:
    tables = all_tables()
    if ids in (["all"], []):
        return list(tables.values())
    if ids == ["quickstart"]:
        return [t for t in tables.values() if t.quickstart]
    return [get_table(i) for i in ids]


def run_table_sweeps(specs: list[TableSpec], scale: str, tracking_uri: str | None = None, **launch_kw) -> list:
    """Every sweep the tables need, each once, in one Ray session: every sweep is validated before the first
    runs, Ray starts once (beside the MLflow store's creation) and shuts down once after the last sweep."""
    from orchestrator.launch import run_sweep
    from orchestrator.spec import SWEEPS_DIR, load_sweep
    from orchestrator.tracking import resolve_tracking_uri
    from orchestrator.warm_start import launch_session

    sweeps = {rel: load_sweep(SWEEPS_DIR / rel, scale) for spec in specs for rel in spec.sweeps}
    results = []
    with launch_session(resolve_tracking_uri(tracking_uri), [s.name for s in sweeps.values()],
                        address=launch_kw.get("address"), num_cpus=launch_kw.get("num_cpus")):
        for rel, sweep in sweeps.items():
            t0 = time.time()
            res = run_sweep(sweep, tracking_uri=tracking_uri, skip_finished=True, **launch_kw)
            print(f"{rel}: {res.n_trials} trial(s) run, {res.n_skipped} already finished, {res.n_failed} failed "
                  f"({time.time() - t0:.0f}s)")
            results.append(res)
    return results


def render_tables(specs: list[TableSpec], scale: str, tracking_uri: str | None = None, fmt: str = "md",
                  write: bool = True, out_dir=None) -> list[Rendered]:
    """Render, print, and (``write``) keep each table in the output folder and on its sweeps' parent run."""
    from results.parent_record import attach_table

    out = out_dir or OUT_DIR
    rendered = []
    for spec in specs:
        r = render(spec, scale, tracking_uri)
        rendered.append(r)
        text = to_text(r, fmt)
        print(text)
        if write:
            out.mkdir(parents=True, exist_ok=True)
            write_fragments(r, out)
            if fmt != "md":
                (out / f"{spec.id}-{scale}.{EXTENSIONS[fmt]}").write_text(text)
            attach_table(r, tracking_uri)
    return rendered


def report_links(md_path) -> str:
    html = md_path.with_suffix(".html")
    return f"report: {md_path}\nHTML report (tables with figures): {html.resolve().as_uri()}"


def reproduce(ids: list[str], scale: str, tracking_uri: str | None = None, out_dir=None,
              **launch_kw) -> tuple[list, list[Rendered]]:
    """Run the sweeps of the tables that fill a cell at ``scale``, then render every table: one whose sweeps
    run nothing it keeps at this scale (``results.producible.scale_produces``) shows the published numbers as
    "paper only" without starting its sweeps (``reproduce all``: every numbered table and figure renders)."""
    from results.producible import scale_produces

    specs = select_tables(ids)
    producing = [s for s in specs if scale_produces(s, scale)]
    paper_only = [s.id for s in specs if s not in producing]
    if paper_only:
        print(f"paper only at {scale} scale (no sweep trial fills a cell; shown with the published numbers): "
              f"{', '.join(paper_only)}")
    launches = run_table_sweeps(producing, scale, tracking_uri, **launch_kw) if producing else []
    rendered = render_tables(specs, scale, tracking_uri, out_dir=out_dir)
    path = write_report(rendered, scale) if out_dir is None else write_report(rendered, scale, out_dir=out_dir)
    print(report_links(path))
    return launches, rendered
