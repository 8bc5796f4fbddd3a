"""Issue 16 item 2: a trial's MLflow params are the values that ran ("auto"/sentinel fields resolved), the
fields its method ignores are grouped in one ``not_applicable`` param, and ``config.json`` holds the whole
resolved config. Real workloads, smoke scale, through ``run_local`` and a temporary SQLite store."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import mlflow
import pytest

from orchestrator.context import LocalContext, config_record, resolved_config
from orchestrator.local import run_local
from orchestrator.spec import load_sweep
from orchestrator.tracking import NOT_APPLICABLE_PARAM, PARAMS_TAG, Recorder


def _trials(uri: str, name: str):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[name], filter_string="tags.`orchestrator.role` = 'trial'")


def _config_json(uri: str, run_id: str, tmp_path) -> dict:
    path = mlflow.MlflowClient(uri).download_artifacts(run_id, "config.json", str(tmp_path / run_id))
    return json.loads(open(path).read())


def test_palm_params_are_the_per_dataset_values_and_baselines_group_what_they_ignore(write_sweep, tmp_path):
    path = write_sweep("""
        name: params-palm
        workload: palm
        params: {dataset: synthetic, max_batches_per_task: 1, source_epochs: 1, n_per_task: 16}
        grid: {method: [tent, palm]}
        seeds: [0]
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    runs = _trials(uri, "params-palm").set_index("params.method")
    assert set(runs["status"]) == {"FINISHED"}
    palm = runs.loc["palm"]
    # Independent of workloads.palm.config.resolve: the authors' CIFAR-10-C settings (ours.yaml / tent.yaml),
    # which synthetic follows, with the synthetic batch size.
    expected = {"alpha": "0.5", "temperature": "50.0", "eta": "1.0", "kappa": "0.0005", "weight_decay": "0.0",
                "batch_size": "32", "lam": "0.01"}
    assert {k: palm[f"params.{k}"] for k in expected} == expected
    assert palm[f"tags.{PARAMS_TAG}"] == "resolved"
    tent = runs.loc["tent"]
    assert tent["params.tent_lr"] == "0.001" and tent["params.tent_optimizer"] == "adam"
    # TENT never reads PALM's alpha: not a param of its run, but named in the grouped one
    assert "alpha" in tent[f"params.{NOT_APPLICABLE_PARAM}"].split(", ")
    assert not isinstance(tent.get("params.alpha"), str)
    assert "tent_lr" in palm[f"params.{NOT_APPLICABLE_PARAM}"].split(", ")
    # config.json: every field resolved, the grouped names too
    config = _config_json(uri, palm["run_id"], tmp_path)
    assert config["alpha"] == 0.5 and config["temperature"] == 50.0 and config["seed"] == 0
    assert "tent_lr" in config[NOT_APPLICABLE_PARAM]
    # data inputs name the resolved data set
    inputs = mlflow.MlflowClient(uri).get_run(palm["run_id"]).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["synthetic"]


@pytest.mark.parametrize("workload, method, n_train", [("cmsf", "cmsf_self", 64), ("simreg", "compress_2q", 64)])
def test_data_dependent_sentinels_are_logged_as_resolved(write_sweep, tmp_path, workload, method, n_train):
    path = write_sweep(f"""
        name: params-{workload}
        workload: {workload}
        params: {{dataset: synthetic, method: {method}, n_train: {n_train}, steps: 2, linear_epochs: 1,
                  batch_size: 16}}
        seeds: [0]
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    run = _trials(uri, f"params-{workload}").iloc[0]
    assert run["status"] == "FINISHED"
    # memory_size 0 = the training set size at smoke/mini; epochs 0 = 2 at smoke; student/arch auto = small_cnn
    assert run["params.memory_size"] == str(n_train)
    assert run["params.epochs"] == "2"
    assert run["params.batch_size"] == "16"
    arch = "params.arch" if workload == "cmsf" else "params.student"
    assert run[arch] == "small_cnn"
    assert _config_json(uri, run["run_id"], tmp_path)["memory_size"] == n_train


@dataclass
class _Sentinel:
    lr: float = 0.0  # 0 = 0.1
    unused: int = 3

    def resolved(self, env):
        return replace(self, lr=self.lr or 0.1)

    def not_applicable(self):
        return {"unused"}


def test_record_config_after_an_event_is_refused(tmp_path):
    ctx = LocalContext(work_dir=tmp_path)
    ctx.record_config(resolved_config(_Sentinel(), ctx))
    assert ctx.config == {"values": {"lr": 0.1, "unused": 3}, "not_applicable": ["unused"]}
    ctx.report(step=0, loss=1.0)
    with pytest.raises(RuntimeError, match="before any other ctx call"):
        ctx.record_config(_Sentinel())
    with pytest.raises(TypeError, match="config dataclass"):
        config_record({"lr": 1})
    assert config_record(_Sentinel(lr=0.5))["values"] == asdict(_Sentinel(lr=0.5))


def test_a_trial_that_ends_before_its_config_gets_the_requested_params(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"

    class _Sweep:
        workload, rel_path, scale, reproduces, search, name = "toy", "x.yaml", "smoke", None, None, "x"

    rec = Recorder(uri, "params-fallback")
    rid = rec.start_trial("p", "t0", _Sweep(), {"lr": 0.0, "dataset": "digits"}, 1, "h", run_name="r")
    rec.end_trial(rid, "KILLED")
    run = mlflow.MlflowClient(uri).get_run(rid)
    assert run.data.params == {"lr": "0.0", "dataset": "digits", "seed": "1"}
    assert run.data.tags[PARAMS_TAG] == "requested"
    # a resumed run already has its params: a later config record is ignored, never a conflicting write
    assert rec.start_trial("p", "t0", _Sweep(), {"lr": 0.0, "dataset": "digits"}, 1, "h", run_name="r") == rid
    rec.log_config(rid, {"values": {"lr": 0.1}, "not_applicable": []})
    assert mlflow.MlflowClient(uri).get_run(rid).data.params["lr"] == "0.0"


def test_nola_records_its_auto_fields_and_groups_the_other_experiments_fields():
    from orchestrator.context import RunEnv, recorded_params
    from workloads.nola.config import NolaConfig

    fewshot = recorded_params(NolaConfig(experiment="fewshot", lr=0.003, head_lr=0.0, lora_alpha=0.0, rank=2,
                                         basis_size=64), RunEnv("smoke"))
    # independent of NolaConfig.resolved: the rules its docstrings state (Table 3.12's c, vit/train_timm.py's lr)
    assert (fewshot["head_lr"], fewshot["lora_alpha"], fewshot["k"], fewshot["l"]) == (0.003, 0.5, 64, 64)
    assert (fewshot["dataset"], fewshot["arch"], fewshot["nola_init"]) == ("synthetic", "small_vit", "vit")
    assert "decode" not in fewshot and "subspace_d" not in fewshot and "shots" in fewshot
    e2e = recorded_params(NolaConfig(experiment="e2e", method="lora", rank=8, lora_alpha=-1.0), RunEnv("mini"))
    assert (e2e["arch"], e2e["lora_alpha"], e2e["nola_init"]) == ("gpt2-mini", 1.0, "offset")
    assert "dataset" not in e2e and "shots" not in e2e and e2e["decode"] == "greedy"
    scratch = recorded_params(NolaConfig(experiment="scratch"), RunEnv("paper"))
    assert (scratch["dataset"], scratch["arch"]) == ("mnist", "mlp")


def test_parent_aggregates_key_on_what_varies_not_on_params_only_some_methods_record():
    import pandas as pd

    from results.parent_record import config_aggregates

    runs = pd.DataFrame({"params.method": ["tent", "palm", "palm"], "params.alpha": [None, "0.5", "0.5"],
                         f"params.{NOT_APPLICABLE_PARAM}": ["alpha", "tent_lr", "tent_lr"],
                         "params.seed": ["0", "0", "1"], "metrics.mean_error": [30.0, 20.0, 22.0]})
    out = config_aggregates(runs).set_index("method")
    assert list(out.index) == ["tent", "palm"] and "alpha" not in out and NOT_APPLICABLE_PARAM not in out
    assert out.loc["palm", "mean_error_mean"] == 21.0 and out.loc["palm", "n"] == 2


def test_slowformer_records_the_image_size_and_weight_files_it_uses(tmp_path):
    from orchestrator.context import RunEnv, recorded_params
    from workloads.slowformer.config import SlowFormerConfig

    small = recorded_params(SlowFormerConfig(dataset="digits"), RunEnv("mini", data_root=tmp_path))
    assert small["image_size"] == 32 and small["checkpoint"] == ""  # digits at 32 px here; the dense model trained here
    paper = recorded_params(SlowFormerConfig(dataset="cifar10", arch="deit_tiny_patch16_224", image_size=224,
                                             method="avit"), RunEnv("paper", data_root=tmp_path))
    assert paper["image_size"] == 224
    assert paper["checkpoint"].startswith(str(tmp_path / "checkpoints" / "slowformer"))
