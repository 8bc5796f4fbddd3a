"""A rendered table as Markdown, CSV (numbers), LaTeX (booktabs, compiles with pdflatex) and HTML."""
from __future__ import annotations

import html
import re
import unicodedata

import pandas as pd

from results.render import MISSING, Block, Rendered


def title_of(r: Rendered) -> str:
    return f"{r.spec.title} — ours at {r.scale} scale"


# -- Markdown -------------------------------------------------------------------------------------
def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def _md_block(b: Block, heading: bool) -> list[str]:
    frame = b.frame if len(b.frame.columns) else pd.DataFrame({"(no rows)": [MISSING]})
    cols = list(frame.columns)
    lines = [f"**{b.title}**", ""] if heading else []
    lines += ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_md_cell(row[c]) for c in cols) + " |")
    return lines + [""]


def to_markdown(r: Rendered) -> str:
    lines = [f"### {title_of(r)}", ""]
    for b in r.blocks or [Block(r.spec.title, r.frame)]:
        lines += _md_block(b, heading=len(r.blocks) > 1 or b.transposed)
    lines += [r.footer().replace("\n", "  \n")]
    if r.png is not None:
        lines += ["", f"![{r.spec.id}]({r.png.name})"]
    return "\n".join(lines) + "\n"


# -- CSV ------------------------------------------------------------------------------------------
def to_csv(r: Rendered) -> str:
    """One row per cell with numbers in their own columns: mean, std, n, paper (and delta at paper scale)."""
    keys = list(r.spec.rows)
    cols = [*keys, "label", "metric", "mean", "std", "n", "paper", *(["delta"] if r.compares else []), "status"]
    if r.cells.empty:
        return ",".join(cols) + "\n"
    frame = r.cells[cols].copy()
    if not r.spec.published:
        frame = frame.drop(columns=["paper"])
    digits = re.search(r"\.(\d+)f", r.spec.fmt)
    if digits:  # the table's rounding, one more digit: numbers a spreadsheet reads, no float noise
        nd = int(digits.group(1)) + 1
        for c in ("mean", "std", "paper", "delta"):
            if c in frame:
                frame[c] = frame[c].round(nd)
    return frame.to_csv(index=False)


# -- LaTeX ----------------------------------------------------------------------------------------
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_UNICODE = {"±": r"$\pm$", "Δ": r"$\Delta$", "—": "---", "–": "--", "−": "$-$", "→": r"$\rightarrow$",
                "←": r"$\leftarrow$", "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$", "≈": r"$\approx$",
                "·": r"$\cdot$", "µ": r"$\mu$", "²": r"$^2$", "³": r"$^3$", "°": r"$^\circ$", "…": r"\ldots{}",
                "‖": r"$\|$", "∞": r"$\infty$", "√": r"$\surd$", "“": "``", "”": "''", "‘": "`", "’": "'"}
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
          "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "π": "pi",
          "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
          "Γ": "Gamma", "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Φ": "Phi",
          "Ψ": "Psi", "Ω": "Omega"}


def tex_escape(text: object) -> str:
    """Plain text to LaTeX that pdflatex compiles without extra packages: specials escaped, ±/Δ/greek as
    math, any other non-ASCII character reduced to its ASCII base letter (é → e) or dropped."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ch in _GREEK:
            out.append(f"$\\{_GREEK[ch]}$")
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


def _header_spans(cols: list[str], grouped: dict) -> list[tuple[int, int, str | None]]:
    """The top header row of a grouped table, shared by LaTeX and HTML: (first column, span, group name), one
    entry per run of adjacent columns of one group and one (i, 1, None) per ungrouped column."""
    spans, i = [], 0
    while i < len(cols):
        g = grouped.get(cols[i])
        span = 1
        if g is not None:
            while i + span < len(cols) and grouped.get(cols[i + span], ("",))[0] == g[0]:
                span += 1
        spans.append((i, span, None if g is None else g[0]))
        i += span
    return spans


def _tex_block(b: Block) -> list[str]:
    frame = b.frame if len(b.frame.columns) else pd.DataFrame({"(no rows)": [MISSING]})
    cols = list(frame.columns)
    grouped = {g[2]: g for g in b.groups if g[1]}
    align = "".join("r" if c in grouped else "l" for c in cols)  # numbers right-aligned under their group
    lines = [f"% {tex_escape(b.title)}", r"\begin{tabular}{" + align + "}", r"\toprule"]
    if grouped:
        top, rules = [], []
        for i, span, group in _header_spans(cols, grouped):
            if group is None:
                top.append("")  # ungrouped columns carry their name in the second header row
                continue
            top.append(rf"\multicolumn{{{span}}}{{c}}{{{tex_escape(group)}}}")
            rules.append(rf"\cmidrule(lr){{{i + 1}-{i + span}}}")
        lines.append(" & ".join(top) + r" \\")
        lines.append(" ".join(rules))
        sub = [tex_escape(grouped[c][1]) if c in grouped else tex_escape(c) for c in cols]
    else:
        sub = [tex_escape(c) for c in cols]
    lines += [" & ".join(sub) + r" \\", r"\midrule"]
    for _, row in frame.iterrows():
        lines.append(" & ".join(tex_escape(row[c]) for c in cols) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


def to_latex(r: Rendered) -> str:
    """``tabular`` blocks for ``\\usepackage{booktabs}``; title and footer as ``%`` comments."""
    lines = [f"% {tex_escape(title_of(r))}", "% needs \\usepackage{booktabs}"]
    for b in r.blocks or [Block(r.spec.title, r.frame)]:
        lines += _tex_block(b) + [""]
    lines += [f"% {tex_escape(ln)}" for ln in r.footer().splitlines()]
    return "\n".join(lines) + "\n"


def latex_document(bodies: list[str]) -> str:
    """A standalone document around exported tables (what the compile test builds)."""
    return "\n".join([r"\documentclass{article}", r"\usepackage[margin=1cm,landscape]{geometry}",
                      r"\usepackage{booktabs}", r"\begin{document}", r"\scriptsize", *bodies, r"\end{document}", ""])


# -- HTML -----------------------------------------------------------------------------------------
def _html_block(b: Block) -> list[str]:
    frame = b.frame if len(b.frame.columns) else pd.DataFrame({"(no rows)": [MISSING]})
    cols = list(frame.columns)
    grouped = {g[2]: g for g in b.groups if g[1]}
    out = [f"<table><caption>{html.escape(b.title)}</caption><thead>"]
    if grouped:
        row = []
        for i, span, group in _header_spans(cols, grouped):
            if group is None:
                row.append(f'<th rowspan="2">{html.escape(cols[i])}</th>')
            else:
                row.append(f'<th colspan="{span}" class="group">{html.escape(group)}</th>')
        out.append("<tr>" + "".join(row) + "</tr>")
        out.append("<tr>" + "".join(f"<th>{html.escape(grouped[c][1])}</th>" for c in cols if c in grouped) + "</tr>")
    else:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>")
    out.append("</thead><tbody>")
    for _, r in frame.iterrows():
        out.append("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>")
    out.append("</tbody></table>")
    return out


def to_html(r: Rendered) -> str:
    """An HTML fragment (``<section>``) with the table blocks, the footer and the figure."""
    out = [f'<section id="{html.escape(r.spec.id)}-{r.scale}"><h3>{html.escape(title_of(r))}</h3>']
    for b in r.blocks or [Block(r.spec.title, r.frame)]:
        out += _html_block(b)
    out.append("<p class=\"footer\">" + "<br>".join(html.escape(ln) for ln in r.footer().splitlines()) + "</p>")
    if r.png is not None:
        out.append(f'<img src="{html.escape(r.png.name)}" alt="{html.escape(r.spec.id)}">')
    out.append("</section>")
    return "\n".join(out) + "\n"
