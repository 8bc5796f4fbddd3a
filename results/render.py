"""Render a TableSpec from MLflow runs, side by side with the published numbers. Never invents a cell."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from results.spec import OUT_DIR, PUBLISHED_DIR, TableSpec

MISSING = "—"
ROLE = "tags.orchestrator.role"


def sweep_name(rel_path: str) -> str:
    """The MLflow experiment name (the sweep's ``name:``) of a sweep file under ``sweeps/``."""
    from orchestrator.spec import SWEEPS_DIR

    path = SWEEPS_DIR / rel_path
    if not path.is_file():
        raise FileNotFoundError(f"table refers to sweep {rel_path!r}, which does not exist under {SWEEPS_DIR}")
    return yaml.safe_load(path.read_text())["name"]


def fetch_runs(spec: TableSpec, scale: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """Finished trial runs of the table's sweeps at ``scale``: columns ``params.*``, ``metrics.*``, ``tags.*``."""
    import mlflow

    from orchestrator.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    names = [sweep_name(s) for s in spec.sweeps]
    frames = []
    for name in names:
        if mlflow.get_experiment_by_name(name) is None:
            continue
        df = mlflow.search_runs(experiment_names=[name], output_format="pandas",
                                filter_string=f"tags.`orchestrator.role` = 'trial' and tags.scale = '{scale}' "
                                              f"and attributes.status = 'FINISHED'")
        if len(df):
            frames.append(df)
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
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


def _key_value(v: Any) -> str:
    try:
        parsed = yaml.safe_load(str(v))
    except yaml.YAMLError:
        return str(v)
    if isinstance(parsed, float) and parsed.is_integer():
        return str(parsed)
    return str(parsed)


def aggregate(spec: TableSpec, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (rows × columns) key: ``<metric>_mean``, ``<metric>_std`` (over seeds) and ``n``."""
    keys = list(spec.rows) + list(spec.columns)
    cols = {k: (f"tags.{k}" if k == "seed" else f"params.{k}") for k in keys}
    if runs.empty or any(c not in runs for c in cols.values()):
        return pd.DataFrame(columns=keys + [f"{m}_{s}" for m in spec.metrics for s in ("mean", "std")] + ["n"])
    frame = pd.DataFrame({k: runs[c].map(_key_value) for k, c in cols.items()})
    for m in spec.metrics:
        frame[m] = runs[f"metrics.{m}"] * spec.multiplier if f"metrics.{m}" in runs else float("nan")
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[list(spec.metrics)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["n"] = grouped.size()
    # n counts the runs that report each metric; a metric missing in every run stays NaN (rendered "—")
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
    """(label, column-key values, metric) for every rendered column."""
    if not spec.columns:
        return [(m, {}, m) for m in spec.metrics]
    combos = agg[list(spec.columns)].drop_duplicates().to_dict("records") if len(agg) else []
    out = []
    for combo in combos:
        base = "/".join(str(combo[c]) for c in spec.columns)
        for m in spec.metrics:
            out.append((base if len(spec.metrics) == 1 else f"{base}/{m}", combo, m))
    return out


@dataclass
class Rendered:
    spec: TableSpec
    scale: str
    frame: pd.DataFrame          # display frame (strings)
    numbers: pd.DataFrame        # aggregated numbers (means/std/n)
    missing_cells: int
    png: Path | None = None

    def footer(self) -> str:
        lines = [f"ours: {self.scale} scale, mean ± std over seeds (n = runs); published: the paper's numbers."]
        if self.missing_cells:
            lines.append(f"{self.missing_cells} cell(s) have no finished run at {self.scale} scale: run "
                         f"`orchestrator reproduce {self.spec.id} --scale {self.scale}` "
                         f"(sweeps: {', '.join('sweeps/' + s for s in self.spec.sweeps)}).")
        if self.spec.notes:
            lines.append(self.spec.notes)
        return "\n".join(lines)


def _fmt(spec: TableSpec, mean: float, std: float, n: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return MISSING
    text = spec.fmt.format(mean)
    if n > 1 and std is not None and not math.isnan(std):
        text += " ± " + spec.fmt.format(std)
    return f"{text} (n={n})"


def render(spec: TableSpec, scale: str, tracking_uri: str | None = None, runs: pd.DataFrame | None = None) -> Rendered:
    runs = fetch_runs(spec, scale, tracking_uri) if runs is None else runs
    agg = aggregate(spec, runs)
    published = read_published(spec)
    labels = column_labels(spec, agg)
    if published is not None:
        for col in published.columns:
            if col not in spec.rows and col not in [lbl for lbl, _, _ in labels]:
                labels.append((col, None, ""))  # a published column we have no run for yet
    row_keys = agg[list(spec.rows)].drop_duplicates().to_dict("records") if len(agg) else []
    if published is not None:
        for rec in published[list(spec.rows)].to_dict("records"):
            if rec not in row_keys:
                row_keys.append(rec)
    records, missing = [], 0
    for rk in row_keys:
        rec: dict[str, Any] = dict(rk)
        for label, combo, metric in labels:
            ours = MISSING
            mean = float("nan")
            if combo is not None and metric:
                sel = agg
                for k, v in {**rk, **combo}.items():
                    sel = sel[sel[k].astype(str) == str(v)]
                if len(sel):
                    row = sel.iloc[0]
                    mean = row[f"{metric}_mean"]
                    ours = _fmt(spec, mean, row[f"{metric}_std"], int(row["n"]))
            if ours == MISSING:
                missing += 1
            if published is None:
                rec[label] = ours
                continue
            pub = float("nan")
            match = published
            for k, v in rk.items():
                match = match[match[k] == str(v)]
            if len(match) and label in match:
                pub = match.iloc[0][label]
            rec[f"{label} (ours)"] = ours
            rec[f"{label} (paper)"] = MISSING if pd.isna(pub) else spec.fmt.format(pub)
            if not pd.isna(pub) and not math.isnan(mean):
                rec[f"{label} (Δ)"] = ("+" if mean - pub >= 0 else "") + spec.fmt.format(mean - pub)
            else:
                rec[f"{label} (Δ)"] = MISSING
        records.append(rec)
    frame = pd.DataFrame(records)
    result = Rendered(spec, scale, frame, agg, missing)
    if spec.kind == "figure" and spec.plot is not None and len(agg):
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        png = OUT_DIR / f"{spec.id}-{scale}.png"
        spec.plot(agg, png)
        result.png = png
    return result


def to_text(r: Rendered, fmt: str = "md") -> str:
    title = f"{r.spec.title} — ours at {r.scale} scale"
    frame = r.frame if len(r.frame) else pd.DataFrame({"(no rows)": [MISSING]})
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        body = frame.to_latex(index=False, escape=True)
        return f"% {title}\n{body}% {r.footer()}\n"
    if fmt != "md":
        raise ValueError(f"format must be md, csv or latex, got {fmt!r}")
    cols = list(frame.columns)
    lines = [f"### {title}", "", "| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    lines += ["", r.footer()]
    if r.png is not None:
        lines += ["", f"![{r.spec.id}]({r.png.name})"]
    return "\n".join(lines) + "\n"


def attach_figure(r: Rendered, tracking_uri: str | None = None) -> None:
    """Log a rendered figure as an artifact of the latest parent run of the table's first sweep."""
    if r.png is None:
        return
    import mlflow

    from orchestrator.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    name = sweep_name(r.spec.sweeps[0])
    if mlflow.get_experiment_by_name(name) is None:
        return
    parents = mlflow.search_runs(experiment_names=[name], filter_string=f"tags.`orchestrator.role` = 'parent' and tags.scale = '{r.scale}'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    if len(parents):
        mlflow.MlflowClient().log_artifact(parents["run_id"].iloc[0], str(r.png), artifact_path="figures")
