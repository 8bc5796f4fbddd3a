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
    # arch/checkpoint auto at smoke: the small CNN, trained and cached here (no file)
    assert (palm["params.arch"], palm["params.checkpoint"]) == ("small_cnn", "")
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


@pytest.mark.slow  # ~15 s on the loaded 2-core machine: trains the micro RevCol's two stages for one epoch each
def test_tts_records_the_split_sizes_columns_and_timed_images_it_ran(write_sweep, tmp_path):
    path = write_sweep("""
        name: params-tts
        workload: tts
        params: {experiment: exits, dataset: synthetic, arch: revcol_micro, source_epochs: 1, head_epochs: 1,
                 n_test: 48, latency_images: 0, latency_warmup: 1, reversible: false, policy: "threshold:0.5"}
        seeds: [0]
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    run = _trials(uri, "params-tts").iloc[0]
    assert run["status"] == "FINISHED" and run[f"tags.{PARAMS_TAG}"] == "resolved"
    # n_train 0 = the whole synthetic split (512 images, workloads/tts/data.py), columns 0 = RevCol's 4,
    # latency_images 0 = every test image; no checkpoint at smoke: trained here
    assert (run["params.n_train"], run["params.n_test"], run["params.columns"]) == ("512", "48", "4")
    assert run["params.latency_images"] == "48" and run["params.checkpoint"] == ""
    # an exits run never reads the Fig. 4 stream settings
    assert {"subset", "lr", "thresholds"} <= set(run[f"params.{NOT_APPLICABLE_PARAM}"].split(", "))
    assert not isinstance(run.get("params.subset"), str)
    config = _config_json(uri, run["run_id"], tmp_path)
    assert (config["n_train"], config["n_test"], config["columns"]) == (512, 48, 4)


def test_tts_paper_scale_names_the_backbone_file_and_loaded_stages_group_their_training(tmp_path):
    from orchestrator.context import RunEnv, recorded_params
    from workloads.tts.config import TTSConfig

    paper = recorded_params(TTSConfig(arch="revcol_tiny", columns=0), RunEnv("paper", data_root=tmp_path))
    assert paper["checkpoint"] == str(tmp_path / "checkpoints" / "tts" / "revcol_tiny_1k.pth")
    assert paper["columns"] == 4 and "source_epochs" not in paper and paper["head_epochs"] == 30
    heads = recorded_params(TTSConfig(heads_checkpoint="m.pth", experiment="specialize"), RunEnv("mini", tmp_path))
    assert heads["heads_checkpoint"] == str(tmp_path / "m.pth") and "head_lr" not in heads and "policy" not in heads
    assert heads["subset"] == "round"


def test_compgs_records_the_variant_fields_image_width_and_initial_points(write_sweep, tmp_path):
    path = write_sweep("""
        name: params-compgs
        workload: compgs
        params: {variant: compgs_released, scene: smoke, iterations: 4, codebook_scale: 0.004, fps_repeats: 1}
        seeds: [0]
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_local(load_sweep(path, "smoke"), tracking_uri=uri, work_root=tmp_path / "work")
    run = _trials(uri, "params-compgs").iloc[0]
    assert run["status"] == "FINISHED" and run[f"tags.{PARAMS_TAG}"] == "resolved"
    # Independent of CompGSConfig.resolved: compact3d run.sh's settings the variant names (SH codebook 512, VQ
    # from 15K, 10 K-means iterations), the generated smoke scene's 24 px views and 150 SfM-like points, rot as
    # the run-length encoded group, the torch rasterizer on CPU and 10 checkpoints per run
    expected = {"sh_codes": "512", "vq_start": "15000", "kmeans_iters": "10", "cov_codes": "4096",
                "lambda_reg": "1.0", "image_size": "24", "n_init": "150", "sort_by": "rot", "backend": "torch",
                "checkpoint_every": "1", "benchmark": "other"}
    assert {k: run[f"params.{k}"] for k in expected} == expected
    assert {"images", "codebook_scene", "post_kmeans_iters"} <= set(run[f"params.{NOT_APPLICABLE_PARAM}"].split(", "))
    assert _config_json(uri, run["run_id"], tmp_path)["image_size"] == 24


def test_compgs_resolves_what_the_scene_name_fixes_without_the_data(tmp_path):
    from orchestrator.context import RunEnv, recorded_params
    from workloads.compgs.config import CompGSConfig

    bicycle = recorded_params(CompGSConfig(variant="3dgs", scene="mipnerf360/bicycle", iterations=30000),
                              RunEnv("paper", data_root=tmp_path))
    # 3DGS full_eval.py: outdoor Mip-NeRF360 scenes on images_4; no codebooks, so no sort group
    assert (bicycle["images"], bicycle["method"], bicycle["checkpoint_every"]) == ("images_4", "3dgs", 3000)
    assert "sort_by" not in bicycle and bicycle["sh_codes"] == 4096  # 0 = color_codes
    room = recorded_params(CompGSConfig(scene="mipnerf360/room", images="auto"), RunEnv("paper", tmp_path))
    assert room["images"] == "images_2"


def test_palm_records_the_source_model_arch_and_file(tmp_path):
    from orchestrator.context import RunEnv, recorded_params
    from workloads.palm.config import PalmConfig

    paper = recorded_params(PalmConfig(dataset="cifar100c"), RunEnv("paper", data_root=tmp_path))
    # RobustBench's models/<dataset>/corruptions/<file> layout copied as checkpoints/palm (the paper's AugMix ResNeXt)
    assert paper["arch"] == "resnext29_32x4d"
    assert paper["checkpoint"] == str(tmp_path / "checkpoints/palm/cifar100/corruptions/Hendrycks2020AugMix_ResNeXt.pt")
    assert "source_epochs" not in paper
    mini = recorded_params(PalmConfig(dataset="digits-c"), RunEnv("mini", tmp_path))
    assert (mini["arch"], mini["checkpoint"], mini["source_epochs"]) == ("small_cnn", "", 15)  # trained here
