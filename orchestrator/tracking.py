"""MLflow record of sweeps: one experiment per sweep, a parent run per launch, a child run per trial.

All writes go through ``Recorder`` from one process (the Ray driver, or the local runner), so the
default SQLite store never sees concurrent writers.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROLE_TAG = "orchestrator.role"
PARENT_TAG = "mlflow.parentRunId"
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # what the MLflow UI shows as the run's source version
NOTE_TAG = "mlflow.note.content"            # the description box of an experiment or run in the UI
SUMMARY_TAG = "orchestrator.summary"        # "logged" once a trial's summary metrics are recorded
TRIAL_ID_TAG = "trial_id"                   # Ray trial id (or local-...): a tag, so run names stay short
PARAMS_TAG = "orchestrator.params"          # "resolved" (the values that ran) or "requested" (trial ended before it said)
NOT_APPLICABLE_PARAM = "not_applicable"     # one param naming the fields the trial's method ignores
HEADLINE_TAG = "orchestrator.headline"      # the metric a reader looks at first (table headline / search objective)
HEADLINE_PREFIX = "headline/"               # the headline summary metric again, first in the chart view
STREAM_PREFIX = "stream/"                   # streamed (per-step) metrics; summary metrics keep the table's names
DEFAULT_DB = "mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"


def resolve_tracking_uri(cli_value: str | None = None) -> str:
    """``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///<cwd>/mlruns.db`` (no server needed)."""
    if cli_value:
        return cli_value
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def _artifact_root(uri: str) -> str | None:
    # Local SQLite stores keep artifacts in a folder beside the database file.
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / DEFAULT_ARTIFACTS).resolve().as_uri()
    return None


def git_commit() -> str:
    if os.environ.get("ORCHESTRATOR_GIT_COMMIT"):  # set by `submit`: a job's working dir has no .git
        return os.environ["ORCHESTRATOR_GIT_COMMIT"]
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Recorder:
    """Writes the MLflow record of one sweep launch."""

    def __init__(self, tracking_uri: str, experiment_name: str):
        import mlflow
        from mlflow.tracking import MlflowClient

        from orchestrator.stream_buffer import FlushingClient, StreamBuffer, flush_interval

        self.uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        raw = MlflowClient(tracking_uri)
        # Streamed metrics wait up to flush_interval() s and go in one log_batch per run; every other call on
        # `client` writes them first, so the store sees the same order (orchestrator.stream_buffer says why).
        self.stream = StreamBuffer(raw, flush_interval())
        self.client = FlushingClient(raw, self.stream)
        exp = self.client.get_experiment_by_name(experiment_name)
        if exp is None:
            root = _artifact_root(tracking_uri)
            root = f"{root}/{experiment_name}" if root else None
            self.experiment_id = self.client.create_experiment(experiment_name, artifact_location=root)
        else:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            self.experiment_id = exp.experiment_id
        self.experiment_name = experiment_name
        self.commit = git_commit()
        self.host = platform.node()
        self.headline: str | None = None  # set from the sweep by start_parent / start_trial
        # run id -> (requested params, seed, scale) until the trial's resolved config is logged (log_config)
        self.unconfigured: dict[str, tuple[dict[str, Any], int, str]] = {}

    # -- parent ------------------------------------------------------------------------------
    def start_parent(self, sweep: Any, run_name: str, n_trials: int) -> str:
        """The launch's parent run: sweep params, the resolved sweep YAML, the description as its note."""
        from orchestrator.sweep_record import headline_metric, resolved_sweep_yaml, sweep_description

        tags = {ROLE_TAG: "parent", "workload": sweep.workload, "sweep": sweep.rel_path, "scale": sweep.scale,
                "reproduces": sweep.reproduces or "", "git_commit": self.commit, GIT_COMMIT_TAG: self.commit,
                "host": self.host, **_source_tags(sweep)}
        self.headline = headline_metric(sweep)
        if self.headline:
            tags[HEADLINE_TAG] = self.headline
        description = sweep_description(sweep)
        if self.headline:
            description = f"{description}\n\nHeadline metric: {self.headline}".strip()
        if description:
            tags[NOTE_TAG] = description
            self.client.set_experiment_tag(self.experiment_id, NOTE_TAG, description)
        # The experiment already is the sweep: the name keeps what tells launches apart (scale, time).
        if run_name.startswith(f"{sweep.name}-"):
            run_name = run_name[len(sweep.name) + 1:]
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        rid = run.info.run_id
        self.log_text(rid, resolved_sweep_yaml(sweep), "sweep.yaml")
        self.client.log_param(rid, "n_trials", n_trials)
        for key, value in sweep.params.items():
            self.client.log_param(rid, f"base.{key}", _param_str(value))
        for key, values in sweep.grid.items():
            self.client.log_param(rid, f"grid.{key}", _param_str(values))
        self.client.log_param(rid, "seeds", _param_str(sweep.seeds))
        return rid

    def reopen_parent(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def end_parent(self, run_id: str, n_failed: int) -> None:
        self.client.set_tag(run_id, "n_failed", str(n_failed))
        self.client.set_terminated(run_id, "FAILED" if n_failed else "FINISHED")

    # -- trials ------------------------------------------------------------------------------
    def find_trial_run(self, parent_id: str, trial_key: str) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.trial_id = '{trial_key}' and tags.`{PARENT_TAG}` = '{parent_id}'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_trial(self, parent_id: str, trial_key: str, sweep: Any, params: dict[str, Any], seed: int,
                    config_hash: str, run_name: str) -> str:
        """Create the child run, or reopen the one of an interrupted launch (never duplicates)."""
        if self.headline is None:  # a resumed launch does not pass through start_parent
            from orchestrator.sweep_record import headline_metric

            self.headline = headline_metric(sweep) or ""
        existing = self.find_trial_run(parent_id, trial_key)
        if existing:
            self.client.update_run(existing, status="RUNNING")
            if not self.client.get_run(existing).data.params:
                self.unconfigured[existing] = (dict(params), seed, sweep.scale)
            return existing
        tags = {ROLE_TAG: "trial", PARENT_TAG: parent_id, TRIAL_ID_TAG: trial_key, "workload": sweep.workload,
                "sweep": sweep.rel_path, "scale": sweep.scale, "reproduces": sweep.reproduces or "",
                "seed": str(seed), "config_hash": config_hash, "git_commit": self.commit, GIT_COMMIT_TAG: self.commit,
                "host": self.host, **_source_tags(sweep)}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        rid = run.info.run_id
        # Params wait for the trial's resolved config (its first event, Context.record_config): MLflow params
        # cannot change, and "auto"/sentinel values (PALM alpha=-1) are not what ran. end_trial falls back to
        # the requested values for a trial that ended before it sent them.
        self.unconfigured[rid] = (dict(params), seed, sweep.scale)
        return rid

    def log_config(self, run_id: str, record: dict[str, Any]) -> None:
        """The trial's config as it ran (``orchestrator.context.config_record``): one param per field that
        applies to its method (values resolved), the others named in one ``not_applicable`` param, the whole
        record as ``config.json``, and the data sets it names as MLflow dataset inputs."""
        requested = self.unconfigured.pop(run_id, None)
        if requested is None:  # already logged (a retried or resumed trial sends it again)
            return
        _, seed, scale = requested
        self._log_params(run_id, record, seed, scale)
        self.client.set_tag(run_id, PARAMS_TAG, "resolved")

    def _log_params(self, run_id: str, record: dict[str, Any], seed: int, scale: str) -> None:
        from mlflow.entities import Param

        from orchestrator.sweep_record import dataset_inputs

        values, unused = dict(record["values"]), list(record.get("not_applicable", []))
        shown = {k: v for k, v in values.items() if k not in unused}
        shown["seed"] = seed
        if unused:
            shown[NOT_APPLICABLE_PARAM] = ", ".join(unused)
        items = [Param(k, _param_str(v)) for k, v in shown.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])
        doc = {**values, "seed": seed, NOT_APPLICABLE_PARAM: unused}
        self.log_text(run_id, json.dumps(doc, indent=2, sort_keys=True, default=str), "config.json")
        inputs = dataset_inputs(shown, scale)
        if inputs:
            self.client.log_inputs(run_id, datasets=inputs)

    def log_stream(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        """Streamed metrics under ``stream/`` (``system/*`` keep their own prefix), with their step and the time
        they arrived; written in batches (``orchestrator.stream_buffer``)."""
        self.stream.add(run_id, _metrics({k if k.startswith(("system/", STREAM_PREFIX)) else STREAM_PREFIX + k: v
                                          for k, v in metrics.items()}, step))

    def flush(self) -> None:
        """Write the streamed metrics still waiting (any other call on ``client`` does it first anyway)."""
        self.stream.flush()

    def log_summary(self, run_id: str, metrics: dict[str, float]) -> None:
        """The summary metrics, once, under the names the paper tables read; marks the run as complete
        for ``reproduce``/``--skip-finished`` (a FINISHED run without them is not a finished trial)."""
        if not metrics:
            return
        shown = dict(metrics)
        if self.headline and self.headline in metrics:
            # The UI's chart view orders its sections by prefix: `headline/` leads, before `stream/` and
            # `system/`, so the number the paper table reads first is the compare view's first chart.
            shown[HEADLINE_PREFIX + self.headline] = metrics[self.headline]
        self.log_metrics(run_id, shown, step=0)
        self.client.set_tag(run_id, SUMMARY_TAG, "logged")
        if self.headline and self.headline in metrics:
            # MLflow lists metrics in the order they were first logged (streamed ones first); the run's
            # description is what its page shows on top, so the headline number goes there.
            self.client.set_tag(run_id, NOTE_TAG, f"**{self.headline} = {metrics[self.headline]:.4g}** "
                                                  f"(headline metric; summary metrics keep the table's names, "
                                                  f"streamed ones are under stream/)")

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        batch = _metrics(metrics, step)
        for i in range(0, len(batch), 500):
            self.client.log_batch(run_id, metrics=batch[i:i + 500])

    def log_artifact(self, run_id: str, path: str | Path, subdir: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=subdir)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / name
            p.write_text(text)
            self.client.log_artifact(run_id, str(p))

    def end_trial(self, run_id: str, status: str, traceback_text: str | None = None) -> None:
        requested = self.unconfigured.pop(run_id, None)
        if requested is not None:  # ended before its first event: the requested values, tagged as such
            params, seed, scale = requested
            self._log_params(run_id, {"values": params, "not_applicable": []}, seed, scale)
            self.client.set_tag(run_id, PARAMS_TAG, "requested")
        if traceback_text:
            self.log_text(run_id, traceback_text, "traceback.txt")
            self.client.set_tag(run_id, "error", traceback_text.strip().splitlines()[-1][:500])
        self.client.set_terminated(run_id, status)

    def run_status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def finished_hashes(self, scale: str) -> set[str]:
        """``config_hash`` of every trial already FINISHED, with its summary metrics, at ``scale``."""
        hashes: set[str] = set()
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{ROLE_TAG}` = 'trial' and tags.scale = '{scale}' and attributes.status = 'FINISHED' "
                              f"and tags.`{SUMMARY_TAG}` = 'logged'",
                max_results=1000, page_token=token,
            )
            hashes.update(r.data.tags.get("config_hash", "") for r in page)
            token = page.token
            if not token:
                return hashes


def _metrics(metrics: dict[str, float], step: int) -> list:
    """MLflow metric entities for ``metrics`` at ``step``, stamped now."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]


def _source_tags(sweep: Any) -> dict[str, str]:
    """What the UI's Source column shows: the sweep file (with the commit beside it)."""
    rel = sweep.rel_path
    return {"mlflow.source.name": rel if rel.startswith("/") else f"sweeps/{rel}", "mlflow.source.type": "LOCAL"}


def _param_str(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
