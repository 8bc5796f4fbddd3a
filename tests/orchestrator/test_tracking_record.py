"""What a launch leaves in MLflow for a reader (issue 16): run names, metric roles, the parent's record,
what counts as a finished trial, and the per-trial helpers (system metrics, torch threads)."""
from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import torch
import yaml

import results.spec as spec_mod
from orchestrator.local import run_local, torch_threads
from orchestrator.run_names import format_value, trial_run_name, varying_keys
from orchestrator.spec import load_sweep
from orchestrator.sweep_record import dataset_inputs, dataset_names
from orchestrator.system_metrics import SystemSampler
from orchestrator.tracking import Recorder
from results.render import latest_per_trial
from results.spec import TableSpec


def _runs(uri, name, role):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[name], filter_string=f"tags.`orchestrator.role` = '{role}'")


@pytest.fixture
def toy_table(monkeypatch):
    spec = TableSpec(id="toy-record", title="Toy", paper="PALM", sweeps=("x.yaml",), rows=("x",),
                     metrics=("final_x", "objective"), headline="objective")
    monkeypatch.setitem(spec_mod._TABLES, spec.id, spec)
    return spec


def test_local_launch_record_reads_at_a_glance(write_sweep, tmp_path, toy_table):
    path = write_sweep("""
        name: record-toy
        workload: toy_quadratic
        reproduces: toy-record
        description: Toy sweep for the record test.
        params: {steps: 2}
        grid: {x: [0.5, 2.0]}
        seeds: [0]
        scales:
          smoke: {params: {offset: 3.0}}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    trials = _runs(uri, "record-toy", "trial").set_index("tags.mlflow.runName")
    # names say what varies, the trial id is a tag
    assert sorted(trials.index) == ["x=0.5 seed=0", "x=2 seed=0"]
    assert all(t.startswith("local-") for t in trials["tags.trial_id"])
    # summary metrics under the table's names, once; the headline again under headline/, first in the UI
    client = mlflow.MlflowClient(uri)
    rid = trials.loc["x=0.5 seed=0", "run_id"]
    expected = (0.5 - 2.0) ** 2 + 3.0  # toy objective with the smoke override offset=3
    assert [m.value for m in client.get_metric_history(rid, "objective")] == pytest.approx([expected])
    assert trials.loc["x=0.5 seed=0", "metrics.headline/objective"] == pytest.approx(expected)
    assert [m.step for m in client.get_metric_history(rid, "stream/loss")] == [0, 1]
    assert "objective = 5.25" in trials.loc["x=0.5 seed=0", "tags.mlflow.note.content"]
    assert trials.loc["x=0.5 seed=0", "tags.mlflow.source.name"].endswith("sweep.yaml")
    # params are the resolved config (defaults and the scale's override filled in), also as JSON
    config = json.loads(open(client.download_artifacts(rid, "config.json", str(tmp_path))).read())
    assert config["offset"] == 3.0 and config["lr"] == 0.1 and config["seed"] == 0
    assert trials.loc["x=0.5 seed=0", "params.offset"] == "3.0"
    # the parent: the description, the commit, the resolved sweep YAML
    parent = _runs(uri, "record-toy", "parent").iloc[0]
    commit = parent["tags.mlflow.source.git.commit"]
    assert commit and set(trials["tags.mlflow.source.git.commit"]) == {commit}
    assert not parent["tags.mlflow.runName"].startswith("record-toy")  # the experiment already says it
    exp = client.get_experiment_by_name("record-toy")
    assert exp.tags["mlflow.note.content"].startswith("Toy sweep for the record test.")
    assert "Headline metric: objective" in exp.tags["mlflow.note.content"]
    resolved = yaml.safe_load(open(client.download_artifacts(parent["run_id"], "sweep.yaml", str(tmp_path))))
    assert resolved["params"] == {"steps": 2, "offset": 3.0} and resolved["scale"] == "smoke"


def test_finished_means_finished_with_summary(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    rec = Recorder(uri, "finished-check")
    c = rec.client
    done = c.create_run(rec.experiment_id, tags={"orchestrator.role": "trial", "scale": "mini", "config_hash": "a"})
    rec.log_summary(done.info.run_id, {"objective": 1.0})
    c.set_terminated(done.info.run_id, "FINISHED")
    bare = c.create_run(rec.experiment_id, tags={"orchestrator.role": "trial", "scale": "mini", "config_hash": "b"})
    rec.log_stream(bare.info.run_id, {"loss": 2.0}, step=0)
    c.set_terminated(bare.info.run_id, "FINISHED")  # e.g. an interrupted trial closed as FINISHED
    assert rec.finished_hashes("mini") == {"a"}
    assert set(c.get_run(bare.info.run_id).data.metrics) == {"stream/loss"}


def test_latest_run_per_config_seed_scale_is_the_one_counted():
    df = pd.DataFrame({"tags.config_hash": ["h1", "h1", "h2", None], "tags.seed": ["0", "0", "0", "0"],
                       "tags.scale": ["mini"] * 4, "start_time": pd.to_datetime([1, 3, 2, 4], unit="s"),
                       "metrics.err": [10.0, 12.0, 20.0, 30.0]})
    kept = latest_per_trial(df)
    assert sorted(kept["metrics.err"]) == [12.0, 20.0, 30.0]  # h1's earlier run dropped; unhashed runs kept


def test_run_names_and_values():
    points = [{"method": "palm", "alpha": 0.5, "lr": 0.1}, {"method": "tent", "alpha": 0.123456, "lr": 0.1}]
    assert varying_keys(points) == ["method", "alpha"]
    assert trial_run_name(points[1], 2, ["method", "alpha"]) == "method=tent alpha=0.1235 seed=2"
    # only the seed varies: the method still names the run (a CoTTA-only PALM sweep is not "palm")
    assert trial_run_name({"method": "cotta", "lr": 0.1}, 0, [], workload="palm") == "method=cotta seed=0"
    assert trial_run_name({"lr": 0.1}, 0, [], workload="toy") == "toy seed=0"
    assert format_value(True) == "true" and format_value([1, 2]) == "[1,2]"


def test_dataset_inputs_name_the_data_and_where_it_comes_from(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHESTRATOR_DATA", str(tmp_path / "data"))
    params = {"dataset": "cifar10c", "source_dataset": "cifar10", "lr": 0.1, "dataset_note": 3}
    assert dataset_names(params) == {"dataset": "cifar10c", "source_dataset": "cifar10"}
    inputs = dataset_inputs(params, "paper")
    assert [i.dataset.name for i in inputs] == ["cifar10c", "cifar10"]
    assert json.loads(inputs[0].dataset.source)["root"] == str((tmp_path / "data").resolve())
    assert inputs[0].dataset.digest != dataset_inputs(params, "mini")[0].dataset.digest


def test_system_sampler_samples_at_most_every_interval():
    s = SystemSampler("cpu", interval_s=10.0)
    first = s.sample_if_due(now=100.0)
    assert {"system/cpu_percent", "system/memory_rss_mb"} <= set(first) and first["system/memory_rss_mb"] > 0
    assert s.sample_if_due(now=105.0) == {}
    assert "system/cpu_percent" in s.sample_if_due(now=110.5)


def test_local_trials_use_the_requested_cpu_threads():
    before = torch.get_num_threads()
    with torch_threads(1.0) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
