"""``results/out/report.md`` and ``report.html``: every table rendered so far, grouped by paper.

Each render leaves its own ``<table id>-<scale>.md`` and ``.html`` fragment in the output folder; the
report is rebuilt from all fragments there, so one ``reproduce`` adds its tables instead of replacing
the others'. The HTML report shows the tables with their figures (PNG beside it).
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from results.render import Rendered
from results.spec import OUT_DIR, all_tables

PAPER_ORDER = ("TTS", "PALM", "CMSF", "SimReg", "CompGS", "NOLA", "SlowFormer")
SCALE_ORDER = ("smoke", "mini", "paper")
FRAGMENT = re.compile(r"^(?P<id>.+)-(?P<scale>smoke|mini|paper)\.(?P<ext>md|html)$")

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:0.6em 0 0.3em;font-size:13px}
caption{text-align:left;font-weight:600;padding:0.3em 0}
th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f4f4f4} th.group{text-align:center;border-bottom:2px solid #999}
td:first-child,th:first-child{text-align:left}
.footer{color:#555;font-size:12px} img{max-width:600px;display:block;margin:0.5em 0}
section{margin-bottom:2.5em} nav a{margin-right:1em}"""


def write_fragments(r: Rendered, out_dir: Path = OUT_DIR) -> None:
    """The table's Markdown and HTML fragments, read back by ``write_report``."""
    from results.formats import to_html, to_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{r.spec.id}-{r.scale}.md").write_text(to_markdown(r))
    (out_dir / f"{r.spec.id}-{r.scale}.html").write_text(to_html(r))


def _fragments(out_dir: Path, ext: str) -> dict[str, list[tuple[str, str, Path]]]:
    """``{paper: [(table id, scale, path), ...]}`` for every fragment of a known table in ``out_dir``."""
    tables = all_tables()
    by_paper: dict[str, list[tuple[str, str, Path]]] = {}
    for path in sorted(out_dir.glob(f"*.{ext}")):
        m = FRAGMENT.match(path.name)
        if not m or m["id"] not in tables:
            continue
        by_paper.setdefault(tables[m["id"]].paper, []).append((m["id"], m["scale"], path))
    for items in by_paper.values():
        items.sort(key=lambda t: (t[0], SCALE_ORDER.index(t[1])))
    return by_paper


def _paper_order(papers) -> list[str]:
    return [p for p in PAPER_ORDER if p in papers] + sorted(set(papers) - set(PAPER_ORDER))


def write_report(rendered: list[Rendered], scale: str, out_dir: Path = OUT_DIR) -> Path:
    """Write this call's fragments, then rebuild ``report.md`` and ``report.html`` from all of them.
    Returns the Markdown report's path (the HTML one is beside it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in rendered:
        write_fragments(r, out_dir)
    md = _fragments(out_dir, "md")
    lines = ["# Reproduced tables and figures", "",
             "Ours next to the published numbers; `—` marks a cell with no finished run, "
             "`paper only` a row the sweeps do not run at that scale. Latest render: "
             f"{scale} scale.", ""]
    for paper in _paper_order(md):
        lines += [f"## {paper}", ""]
        lines += [path.read_text() for _, _, path in md[paper]]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    write_html_report(out_dir)
    return path


def write_html_report(out_dir: Path = OUT_DIR) -> Path:
    frags = _fragments(out_dir, "html")
    papers = _paper_order(frags)
    body = ["<h1>Reproduced tables and figures</h1>",
            "<nav>" + "".join(f'<a href="#{html.escape(p)}">{html.escape(p)}</a>' for p in papers) + "</nav>"]
    for paper in papers:
        body.append(f'<h2 id="{html.escape(paper)}">{html.escape(paper)}</h2>')
        body += [path.read_text() for _, _, path in frags[paper]]
    page = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Reproduced tables</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out_dir / "report.html"
    path.write_text(page)
    return path
