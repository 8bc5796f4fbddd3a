"""``results/out/report.md``: every rendered table and figure, grouped by paper."""
from __future__ import annotations

from pathlib import Path

from results.render import Rendered, to_text
from results.spec import OUT_DIR

PAPER_ORDER = ("TTS", "PALM", "CMSF", "SimReg", "CompGS", "NOLA", "SlowFormer")


def write_report(rendered: list[Rendered], scale: str, out_dir: Path = OUT_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    by_paper: dict[str, list[Rendered]] = {}
    for r in rendered:
        by_paper.setdefault(r.spec.paper, []).append(r)
    lines = [f"# Reproduced tables and figures ({scale} scale)", "",
             "Ours next to the published numbers; `—` marks a cell with no finished run.", ""]
    order = [p for p in PAPER_ORDER if p in by_paper] + sorted(set(by_paper) - set(PAPER_ORDER))
    for paper in order:
        lines += [f"## {paper}", ""]
        for r in sorted(by_paper[paper], key=lambda r: r.spec.id):
            lines.append(to_text(r, "md"))
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
