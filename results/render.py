"""Render a TableSpec from MLflow runs, side by side with the published numbers. Never invents a cell.

What a reader sees (issue 16): the headline metric first; a table too wide to read is transposed and the
other metrics go to a details block; ours / paper (and Δ only at paper scale, where the numbers compare)
as grouped columns; the number of runs in one ``n`` column, not on every cell; rows the sweeps cannot
produce at this scale marked "paper only" and never counted as missing. Text formats live in
``results.formats``.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from results.producible import key_text, producible_points
from results.spec import OUT_DIR, PUBLISHED_DIR, TableSpec

MISSING = "—"
PAPER_ONLY = "paper only"
ROLE = "tags.orchestrator.role"
SUMMARY_TAG = "orchestrator.summary"  # orchestrator.tracking.SUMMARY_TAG: set once a run's summary is logged
# Value columns beyond which a block is transposed (labels become rows) when that makes it narrower.
WIDE_MAX = 8

_key_value = key_text  # kept for callers that compare keys the way the renderer does


def sweep_name(rel_path: str) -> str:
    """The MLflow experiment name (the sweep's ``name:``) of a sweep file under ``sweeps/``."""
    from orchestrator.spec import SWEEPS_DIR, read_sweep_file

    path = SWEEPS_DIR / rel_path
    if not path.is_file():
        raise FileNotFoundError(f"table refers to sweep {rel_path!r}, which does not exist under {SWEEPS_DIR}")
    return read_sweep_file(path)["name"]  # parsed once per process (`list` asks for every table and scale)


def latest_per_trial(df: pd.DataFrame) -> pd.DataFrame:
    """One run per (config hash, seed, scale): the latest. A trial run again (a second launch, a resume
    that re-created its run) must not count twice in a mean or in ``n``."""
    keys = [c for c in ("tags.config_hash", "tags.seed", "tags.scale") if c in df]
    if "tags.config_hash" not in df or "start_time" not in df or df.empty:
        return df
    hashed = df[df["tags.config_hash"].notna()]
    ordered = hashed.sort_values("start_time").drop_duplicates(keys, keep="last")
    return pd.concat([ordered, df[df["tags.config_hash"].isna()]]).sort_index()


def fetch_runs(spec: TableSpec, scale: str, tracking_uri: str | None = None,
               cache: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Finished trial runs of the table's sweeps at ``scale`` that logged their summary metrics, the latest
    per trial: columns ``params.*``, ``metrics.*``, ``tags.*``. ``cache`` (experiment name -> its runs at
    every scale) lets a caller that renders many tables query each experiment once."""
    names = [sweep_name(s) for s in spec.sweeps]
    if cache is None or any(name not in cache for name in names):  # a full cache (`list`) needs no mlflow
        import mlflow

        from orchestrator.tracking import resolve_tracking_uri

        mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    frames = []
    finished = f"tags.`orchestrator.role` = 'trial' and attributes.status = 'FINISHED' and tags.`{SUMMARY_TAG}` = 'logged'"
    for name in names:
        if cache is not None:
            if name not in cache:
                known = mlflow.get_experiment_by_name(name) is not None
                cache[name] = mlflow.search_runs(experiment_names=[name], filter_string=finished) if known \
                    else pd.DataFrame()
            df = cache[name]
            df = df[df["tags.scale"] == scale] if len(df) else df
        elif mlflow.get_experiment_by_name(name) is None:
            continue
        else:
            df = mlflow.search_runs(experiment_names=[name], output_format="pandas",
                                    filter_string=f"{finished} and tags.scale = '{scale}'")
        if len(df):
            frames.append(df)
    if not frames:
        return pd.DataFrame()
    df = latest_per_trial(pd.concat(frames, ignore_index=True))
    for key, value in spec.filters.items():
        col = f"params.{key}"
        if col not in df:
            return df.iloc[0:0]
        df = df[df[col].map(lambda v: _same(v, value))]
    return df


def _same(stored: Any, wanted: Any) -> bool:
    """MLflow keeps params as strings: compare after parsing them as YAML scalars."""
    if stored is None or (isinstance(stored, float) and math.isnan(stored)):
        return False
    try:
        parsed = yaml.safe_load(str(stored))
    except yaml.YAMLError:
        parsed = stored
    if isinstance(parsed, (int, float)) and isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return math.isclose(float(parsed), float(wanted), rel_tol=1e-9, abs_tol=1e-12)
    return str(parsed) == str(wanted)


def aggregate(spec: TableSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (rows × columns) key: ``<metric>_mean``, ``<metric>_std`` (over seeds) and ``n``."""
    keys = list(spec.rows) + list(spec.columns)
    cols = {k: (f"tags.{k}" if k == "seed" else f"params.{k}") for k in keys}
    if runs.empty or any(c not in runs for c in cols.values()):
        return pd.DataFrame(columns=keys + [f"{m}_{s}" for m in spec.metrics for s in ("mean", "std")] + ["n"])
    frame = pd.DataFrame({k: runs[c].map(key_text) for k, c in cols.items()})
    for m in spec.metrics:
        frame[m] = runs[f"metrics.{m}"] * spec.multiplier if f"metrics.{m}" in runs else float("nan")
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[list(spec.metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["n"] = grouped.size()
    # n counts the finished runs of each key; a metric missing in every run stays NaN (rendered "—")
    return out.reset_index()


def read_published(spec: TableSpec) -> pd.DataFrame | None:
    """The transcribed paper table (``#`` comment lines skipped), keys as strings."""
    if not spec.published:
        return None
    path = PUBLISHED_DIR / spec.published
    if not path.is_file():
        raise FileNotFoundError(f"table {spec.id} names published file {path}, which is missing")
    text = "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    for col in df.columns:
        if col not in spec.rows:
            df[col] = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce")
    return df


def published_comment(spec: TableSpec) -> str:
    if not spec.published:
        return ""
    path = PUBLISHED_DIR / spec.published
    return " ".join(ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.lstrip().startswith("#"))


def column_labels(spec: TableSpec, agg: pd.DataFrame) -> list[tuple[str, dict[str, str], str]]:
    """(label, column-key values, metric) for every rendered column, headline metric first."""
    metrics = sorted(spec.metrics, key=lambda m: m != spec.headline_metric)
    if not spec.columns:
        return [(m, {}, m) for m in metrics]
    combos = agg[list(spec.columns)].drop_duplicates().to_dict("records") if len(agg) else []
    out = []
    for m in metrics:
        for combo in combos:
            base = "/".join(str(combo[c]) for c in spec.columns)
            out.append((base if len(spec.metrics) == 1 else f"{base}/{m}", combo, m))
    return out


@dataclass
class Block:
    """One rendered table: a display frame (strings) and, for wide layouts, the header groups
    ``(group, sub-column, frame column)`` that LaTeX/HTML draw as spanning headers."""

    title: str
    frame: pd.DataFrame
    groups: list[tuple[str, str, str]] = field(default_factory=list)
    transposed: bool = False


@dataclass
class Rendered:
    spec: TableSpec
    scale: str
    frame: pd.DataFrame          # the headline block's display frame (strings)
    numbers: pd.DataFrame        # aggregated numbers (means/std/n)
    missing_cells: int           # cells a reproduce at this scale would fill
    png: Path | None = None
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)  # long numbers: one row per (row, label)
    blocks: list[Block] = field(default_factory=list)
    paper_only_rows: int = 0
    paper_only_columns: list[str] = field(default_factory=list)

    @property
    def compares(self) -> bool:
        """Δ is shown only at paper scale: smaller scales run other data and models."""
        return self.scale == "paper"

    def ours_values(self) -> list[str]:
        """Every rendered "ours" cell (``MISSING`` where no run), for checks that a sweep filled its table."""
        return [MISSING if pd.isna(v) else str(v) for v in self.cells.get("ours", pd.Series(dtype=str))]

    def footer(self) -> str:
        lines = [f"ours: {self.scale} scale, mean ± std over seeds; n: finished runs per row"
                 + ("; paper: the published numbers" if self.spec.published else "") + "."]
        if self.spec.published:
            lines.append("Δ = ours − paper." if self.compares else
                         f"No Δ below paper scale: {self.scale} runs other data and models than the paper.")
        if self.paper_only_rows or self.paper_only_columns:
            what = []
            if self.paper_only_rows:
                what.append(f"{self.paper_only_rows} row(s)")
            if self.paper_only_columns:
                what.append(f"column(s) {', '.join(self.paper_only_columns)}")
            lines.append(f"{' and '.join(what)} marked {PAPER_ONLY!r}: the sweeps do not run them at {self.scale} scale.")
        if self.missing_cells:
            lines.append(f"{self.missing_cells} cell(s) have no finished run at {self.scale} scale yet: run "
                         f"`orchestrator reproduce {self.spec.id} --scale {self.scale}` "
                         f"(sweeps: {', '.join('sweeps/' + s for s in self.spec.sweeps)}).")
        if self.spec.notes:
            lines.append(self.spec.notes)
        return "\n".join(lines)


def _num(spec: TableSpec, value: float) -> str:
    return MISSING if value is None or pd.isna(value) else spec.fmt.format(value)


def _ours_text(spec: TableSpec, mean: float, std: float, n: int) -> str:
    if mean is None or pd.isna(mean):
        return MISSING
    text = spec.fmt.format(mean)
    if n > 1 and std is not None and not pd.isna(std):
        text += " ± " + spec.fmt.format(std)
    return text


def _delta_text(spec: TableSpec, delta: float) -> str:
    return MISSING if pd.isna(delta) else ("+" if delta >= 0 else "") + spec.fmt.format(delta)


def _cells(spec: TableSpec, agg: pd.DataFrame, published: pd.DataFrame | None,
           labels: list[tuple[str, dict[str, str] | None, str]], row_keys: list[dict[str, str]],
           producible: list[dict[str, str]] | None) -> pd.DataFrame:
    """The long numbers frame: one record per (row key, label) with mean, std, n, paper, Δ and status."""
    rows_ok = None if producible is None else {tuple(p[k] for k in spec.rows) for p in producible}
    records = []
    for rk in row_keys:
        rk_tuple = tuple(str(rk[k]) for k in spec.rows)
        row_paper_only = rows_ok is not None and rk_tuple not in rows_ok
        for label, combo, metric in labels:
            mean = std = float("nan")
            n = 0
            if combo is not None and metric:
                sel = agg
                for k, v in {**rk, **combo}.items():
                    sel = sel[sel[k].astype(str) == str(v)]
                if len(sel):
                    row = sel.iloc[0]
                    mean, std, n = row[f"{metric}_mean"], row[f"{metric}_std"], int(row["n"])
            pub = float("nan")
            if published is not None:
                match = published
                for k, v in rk.items():
                    match = match[match[k] == str(v)]
                if len(match) and label in match:
                    pub = match.iloc[0][label]
            paper_only = row_paper_only or combo is None
            if n:
                status = "ok" if not pd.isna(mean) else "no metric"
            else:
                status = PAPER_ONLY if paper_only else "missing"
            records.append({**rk, "label": label, "metric": metric, "mean": mean, "std": std, "n": n,
                            "paper": pub, "delta": mean - pub if not pd.isna(pub) and not pd.isna(mean) else float("nan"),
                            "status": status, "ours": _ours_text(spec, mean, std, n)})
    return pd.DataFrame(records)


def _roles(r: Rendered) -> list[str]:
    if not r.spec.published:
        return ["ours"]
    return ["ours", "paper", "Δ"] if r.compares else ["ours", "paper"]


def _role_text(r: Rendered, cell: pd.Series, role: str) -> str:
    if role == "ours":
        return cell["ours"]
    if role == "paper":
        return _num(r.spec, cell["paper"])
    return _delta_text(r.spec, cell["delta"])


def _n_text(cells: pd.DataFrame) -> str:
    if (cells["status"] == PAPER_ONLY).all() and not cells["n"].any():
        return PAPER_ONLY
    ns = sorted(set(int(v) for v in cells["n"] if v))
    if not ns:
        return "0"
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def _block(r: Rendered, title: str, labels: list[str], row_keys: list[dict[str, str]]) -> Block:
    spec, roles = r.spec, _roles(r)
    cells = r.cells[r.cells["label"].isin(labels)] if len(r.cells) else r.cells
    n_values = len(labels) * len(roles)
    key_name = lambda rk: " / ".join(str(rk[k]) for k in spec.rows)  # noqa: E731
    shown = {lbl: f"{lbl} ({PAPER_ONLY})" if lbl in r.paper_only_columns else lbl for lbl in labels}

    def cell_of(rk: dict[str, str], label: str) -> pd.Series:
        sel = cells[cells["label"] == label]
        for k in spec.rows:
            sel = sel[sel[k].astype(str) == str(rk[k])]
        return sel.iloc[0]

    def row_cells(rk: dict[str, str]) -> pd.DataFrame:
        sel = cells
        for k in spec.rows:
            sel = sel[sel[k].astype(str) == str(rk[k])]
        return sel

    if n_values > WIDE_MAX and len(row_keys) < n_values:
        # Transposed: one row per label, one column per table row; a cell reads "ours / paper (Δ)".
        head = "/".join(spec.columns) if spec.columns else "metric"
        records = [{head: "n", **{key_name(rk): _n_text(row_cells(rk)) for rk in row_keys}}]
        for label in labels:
            rec: dict[str, str] = {head: shown[label]}
            for rk in row_keys:
                c = cell_of(rk, label)
                text = " / ".join(_role_text(r, c, role) for role in roles[:2])
                if "Δ" in roles:
                    text += f" ({_role_text(r, c, 'Δ')})"
                rec[key_name(rk)] = text
            records.append(rec)
        sub = " / ".join(roles[:2]) + (" (Δ)" if "Δ" in roles else "")
        return Block(f"{title} — cells: {sub}" if len(roles) > 1 else title, pd.DataFrame(records), transposed=True)
    records, groups = [], []
    for rk in row_keys:
        rec = {k: str(rk[k]) for k in spec.rows}
        rec["n"] = _n_text(row_cells(rk))
        for label in labels:
            c = cell_of(rk, label)
            for role in roles:
                col = shown[label] if len(roles) == 1 else f"{shown[label]} ({role})"
                rec[col] = _role_text(r, c, role)
        records.append(rec)
    for label in labels:
        for role in roles:
            groups.append((shown[label], role if len(roles) > 1 else "",
                           shown[label] if len(roles) == 1 else f"{shown[label]} ({role})"))
    frame = pd.DataFrame(records) if records else pd.DataFrame(columns=[*spec.rows, "n", *[g[2] for g in groups]])
    return Block(title, frame, groups)


def render(spec: TableSpec, scale: str, tracking_uri: str | None = None, runs: pd.DataFrame | None = None) -> Rendered:
    runs = fetch_runs(spec, scale, tracking_uri) if runs is None else runs
    agg = aggregate(spec, runs)
    published = read_published(spec)
    producible = producible_points(spec, scale)
    labels: list[tuple[str, dict[str, str] | None, str]] = list(column_labels(spec, agg))
    if producible is not None and spec.columns:
        # columns the sweeps will produce but have no run yet are missing cells, not paper-only ones
        seen = {lbl for lbl, _, _ in labels}
        for m in sorted(spec.metrics, key=lambda m: m != spec.headline_metric):
            for p in producible:
                combo = {c: p[c] for c in spec.columns}
                base = "/".join(combo[c] for c in spec.columns)
                lbl = base if len(spec.metrics) == 1 else f"{base}/{m}"
                if lbl not in seen:
                    seen.add(lbl)
                    labels.append((lbl, combo, m))
    if published is not None:
        for col in published.columns:
            if col not in spec.rows and col not in [lbl for lbl, _, _ in labels]:
                labels.append((col, None, ""))  # a published column no sweep produces at this scale
    row_keys = agg[list(spec.rows)].drop_duplicates().to_dict("records") if len(agg) else []
    extra = [{k: p[k] for k in spec.rows} for p in producible or []]
    if published is not None:
        extra += published[list(spec.rows)].to_dict("records")
    for rec in extra:
        rec = {k: str(v) for k, v in rec.items()}
        if rec not in row_keys:
            row_keys.append(rec)
    cells = _cells(spec, agg, published, labels, row_keys, producible)
    result = Rendered(spec, scale, pd.DataFrame(), agg, 0, cells=cells)
    result.paper_only_columns = [lbl for lbl, combo, _ in labels if combo is None]
    if len(cells):
        result.missing_cells = int((cells["status"] == "missing").sum())
        result.paper_only_rows = sum(_row_is_paper_only(cells, spec, rk, result.paper_only_columns) for rk in row_keys)
    head = [lbl for lbl, _, m in labels if m == spec.headline_metric]
    rest = [lbl for lbl, _, m in labels if m != spec.headline_metric and lbl not in result.paper_only_columns]
    head += [lbl for lbl in result.paper_only_columns if lbl not in head]
    if not rest or len(labels) * len(_roles(result)) <= WIDE_MAX:
        result.blocks = [_block(result, spec.title, head + rest, row_keys)]
    else:
        result.blocks = [_block(result, f"{spec.title} — headline: {spec.headline_metric}", head, row_keys),
                         _block(result, "details: the other metrics", rest, row_keys)]
    result.frame = result.blocks[0].frame
    if spec.kind == "figure" and spec.plot is not None and len(agg):
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        png = OUT_DIR / f"{spec.id}-{scale}.png"
        spec.plot(agg, png)
        result.png = png
    return result


def _row_is_paper_only(cells: pd.DataFrame, spec: TableSpec, rk: dict[str, str], paper_cols: list[str]) -> bool:
    sel = cells[~cells["label"].isin(paper_cols)]
    for k in spec.rows:
        sel = sel[sel[k].astype(str) == str(rk[k])]
    return len(sel) > 0 and (sel["status"] == PAPER_ONLY).all()


def to_text(r: Rendered, fmt: str = "md") -> str:
    """The table as ``md``, ``csv`` (numbers: one row per cell) or ``latex`` (booktabs)."""
    from results.formats import to_csv, to_latex, to_markdown

    writers = {"md": to_markdown, "csv": to_csv, "latex": to_latex}
    if fmt not in writers:
        raise ValueError(f"format must be md, csv or latex, got {fmt!r}")
    return writers[fmt](r)
