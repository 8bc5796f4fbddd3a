"""The parent run of a launch is the paper table: the rendered table (md + csv), its figure and the
per-config aggregates over seeds are logged on it, so the MLflow UI shows the result, not only trials."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from results.render import Rendered, sweep_name

SUMMARY_FILTER = "tags.`orchestrator.role` = 'trial' and attributes.status = 'FINISHED' and tags.`orchestrator.summary` = 'logged'"


def latest_parent(experiment: str, scale: str) -> str | None:
    import mlflow

    if mlflow.get_experiment_by_name(experiment) is None:
        return None
    parents = mlflow.search_runs(experiment_names=[experiment],
                                 filter_string=f"tags.`orchestrator.role` = 'parent' and tags.scale = '{scale}'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    return str(parents["run_id"].iloc[0]) if len(parents) else None


def config_aggregates(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and n over seeds of every summary metric, one row per config (the params that vary)."""
    if runs.empty:
        return pd.DataFrame()
    # not_applicable names the fields a method ignores (orchestrator.tracking): it follows the method, never a key
    params = [c for c in runs.columns if c.startswith("params.") and c not in ("params.seed", "params.not_applicable")]
    # a param only some methods record (TENT has no alpha) varies only if its recorded values differ
    varying = [c for c in params if runs[c].dropna().astype(str).nunique() > 1]
    metrics = [c for c in runs.columns if c.startswith("metrics.") and not c.startswith(("metrics.stream/", "metrics.system/"))]
    if not metrics:
        return pd.DataFrame()
    keys = varying or ["tags.workload"]
    frame = runs[keys + metrics].copy()
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{m[len('metrics.'):]}_{s}" for m, s in out.columns]
    out.insert(0, "n", grouped.size())
    out = out.reset_index()
    out.columns = [c.split(".", 1)[1] if c.startswith(("params.", "tags.")) else c for c in out.columns]
    return out


def attach_aggregates(experiment: str, parent_run_id: str, tracking_uri: str | None = None,
                      scale: str | None = None) -> pd.DataFrame:
    """Log ``aggregates.csv`` on the parent: per-config mean ± std over seeds of this launch's trials, or,
    with ``scale``, of every finished trial at that scale (the latest run per trial, as the tables count)."""
    import mlflow

    from orchestrator.tracking import resolve_tracking_uri
    from results.render import latest_per_trial

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    where = f"tags.scale = '{scale}'" if scale else f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string=f"{SUMMARY_FILTER} and {where}")
    agg = config_aggregates(latest_per_trial(runs))
    if len(agg):
        _log_text(parent_run_id, agg.to_csv(index=False), "aggregates.csv")
    return agg


def attach_table(r: Rendered, tracking_uri: str | None = None) -> list[str]:
    """Log the rendered table (md, csv), its figure and the aggregates on the latest parent run of each of
    the table's sweeps at the table's scale; returns the parent run ids written to."""
    import mlflow

    from orchestrator.tracking import resolve_tracking_uri
    from results.formats import to_csv, to_markdown

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    written = []
    for rel in r.spec.sweeps:
        try:
            experiment = sweep_name(rel)
        except FileNotFoundError:
            continue
        parent = latest_parent(experiment, r.scale)
        if parent is None or parent in written:
            continue
        _log_text(parent, to_markdown(r), f"{r.spec.id}.md", "tables")
        _log_text(parent, to_csv(r), f"{r.spec.id}.csv", "tables")
        if r.png is not None:
            mlflow.MlflowClient().log_artifact(parent, str(r.png), artifact_path="figures")
        attach_aggregates(experiment, parent, tracking_uri, scale=r.scale)
        written.append(parent)
    return written


def _log_text(run_id: str, text: str, name: str, subdir: str | None = None) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / name
        p.write_text(text)
        mlflow.MlflowClient().log_artifact(run_id, str(p), artifact_path=subdir)
