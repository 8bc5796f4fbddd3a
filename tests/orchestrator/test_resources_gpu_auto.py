"""``resources: {gpu: auto}``: the packing rule, its record in MLflow, the CPU-only case and the GPU probe."""
from __future__ import annotations

import math

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

import support.resource_workloads  # noqa: F401  (registers toy_threads, toy_cuda_memory)
from orchestrator.gpu_packing import (CONTEXT_MIB, MARGIN, Packing, fraction_for, recorded_peak, run_probe,
                                      trials_per_gpu)
from orchestrator.launch import run_sweep
from orchestrator.spec import SweepError, apply_resource_overrides, load_sweep

H200_MIB = 143_771.0


def _k_by_hand(peak, device, cpus_per_trial=1.0, node_cpus=None, cap=8):
    # independent reading of the rule: the largest k with k * (peak + context) <= device * (1 - margin)
    k = 0
    while (k + 1) * (peak + CONTEXT_MIB) <= device * (1 - MARGIN):
        k += 1
    if node_cpus is not None:
        k = min(k, int(node_cpus // cpus_per_trial))
    return max(1, min(k, cap))


@pytest.mark.parametrize("peak, device, cpus, node_cpus", [
    (400.0, H200_MIB, 1.0, None),        # small trial: capped at 8 per GPU
    (20_000.0, H200_MIB, 1.0, None),     # 6 fit
    (30_000.0, 81_559.0, 2.0, 16.0),     # H100: 2 fit
    (130_000.0, H200_MIB, 1.0, None),    # nearly the whole GPU: 1
    (200_000.0, H200_MIB, 1.0, None),    # more than the GPU: still 1 (the trial itself will say so)
    (400.0, H200_MIB, 4.0, 16.0),        # 4 CPUs per trial on a 16-CPU node: at most 4 at once
    (0.0, 2_000.0, 1.0, None),           # no CUDA use at all: contexts alone fill a small GPU
])
def test_trials_per_gpu_follows_the_rule(peak, device, cpus, node_cpus):
    k = trials_per_gpu(peak, device, cpus_per_trial=cpus, node_cpus=node_cpus)
    assert k == _k_by_hand(peak, device, cpus, node_cpus)


@pytest.mark.parametrize("k", [1, 2, 3, 6, 7, 8])
def test_fraction_never_oversubscribes_a_gpu(k):
    f = fraction_for(k)
    assert k * f <= 1.0 and (k + 1) * f > 1.0 and round(f, 4) == f


def test_gpu_auto_in_yaml_and_on_the_command_line(write_sweep):
    path = write_sweep("""
        name: auto
        workload: toy_quadratic
        resources: {gpu: auto, cpu: 2}
    """)
    sweep = load_sweep(path, "smoke")
    assert sweep.resources.gpu == "auto" and sweep.resources.gpu_text() == "auto"
    apply_resource_overrides(sweep, ["gpu=0.5"])
    assert sweep.resources.gpu == 0.5
    apply_resource_overrides(sweep, ["gpu=auto"])
    assert sweep.resources.gpu == "auto"
    with pytest.raises(SweepError, match="not a number"):
        apply_resource_overrides(sweep, ["gpu=automatic"])
    bad = write_sweep("name: b\nworkload: toy_quadratic\nresources: {gpu: automatic}\n", "bad.yaml")
    with pytest.raises(SweepError, match="resources/gpu.*'auto'"):
        load_sweep(bad, "smoke")


def test_recorded_peak_is_read_back_from_the_parent_run(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.create_experiment("rec")
    p = Packing(fraction_for(3), 3, 30_000.0, H200_MIB, "probe", "abc123")
    older = client.create_run(exp)
    for key, value in Packing(1.0, 1, 99_000.0, H200_MIB, "probe", "abc123").tags().items():
        client.set_tag(older.info.run_id, key, value)
    newer = client.create_run(exp)
    for key, value in p.tags().items():
        client.set_tag(newer.info.run_id, key, value)
    assert recorded_peak(client, exp, "abc123") == (30_000.0, H200_MIB)
    assert recorded_peak(client, exp, "other") is None
    assert Packing(1.0, 1, math.nan, math.nan, "probe timed out", "abc123").tags() == {}


@pytest.mark.xdist_group("ray")
@pytest.mark.usefixtures("ray_session")
def test_gpu_auto_without_a_gpu_runs_on_the_cpu(write_sweep, tmp_path, capfd):
    if torch.cuda.is_available():
        pytest.skip("the machine has a GPU")
    path = write_sweep("""
        name: auto-cpu
        workload: toy_quadratic
        grid: {x: [0.0, 1.0]}
        resources: {gpu: auto}
    """)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    result = run_sweep(load_sweep(path, "smoke"), tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_trials == 2 and result.n_failed == 0
    assert "gpu=auto: the Ray cluster has no GPU, so each trial runs on the CPU (gpu=0)" in capfd.readouterr().err
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=["auto-cpu"], filter_string="tags.`orchestrator.role` = 'trial'")
    assert set(df["tags.orchestrator.device"]) == {"cpu"}


@pytest.mark.gpu
def test_probe_measures_the_peak_and_stops_after_two_reports(tmp_path):
    out = run_probe("toy_cuda_memory", "support.resource_workloads", "smoke", {"mib": 256, "steps": 10}, 0,
                    None, str(tmp_path), 1)
    assert out["reports"] == 2  # stopped at its second step, not after all ten
    assert 512 <= out["peak_allocated_mib"] < 520 and out["peak_mib"] >= 512
    assert out["device_mib"] == torch.cuda.get_device_properties(0).total_memory / 2**20


def _gpu_node(monkeypatch, cpus=16.0, gpus=1.0):
    import ray

    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "Resources": {"CPU": cpus, "GPU": gpus}}])


def test_a_recorded_peak_is_used_without_probing(write_sweep, tmp_path, monkeypatch, capsys):
    import orchestrator.gpu_packing as gp

    sweep = load_sweep(write_sweep("name: rec\nworkload: toy_quadratic\nresources: {gpu: auto, cpu: 2}\n"), "smoke")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.create_experiment("rec")
    run = client.create_run(exp)
    h = gp.probed_trial(sweep).config_hash
    for key, value in Packing(fraction_for(3), 3, 40_000.0, H200_MIB, "probe", h).tags().items():
        client.set_tag(run.info.run_id, key, value)
    _gpu_node(monkeypatch)
    monkeypatch.setattr(gp, "probe_peak", lambda *a, **k: pytest.fail("probed although a peak was recorded"))
    packing = gp.resolve_auto_gpu(sweep, client, exp, workload_module="support.toy_workloads")
    k = _k_by_hand(40_000.0, H200_MIB, 2.0, 16.0)
    assert (packing.per_gpu, sweep.resources.gpu) == (k, fraction_for(k)) and k == 3
    assert "recorded by an earlier launch" in capsys.readouterr().err


def test_a_probe_that_times_out_gives_whole_gpus(write_sweep, tmp_path, monkeypatch, capsys):
    import orchestrator.gpu_packing as gp

    sweep = load_sweep(write_sweep("name: slow\nworkload: toy_quadratic\nresources: {gpu: auto}\n"), "smoke")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.create_experiment("slow")
    _gpu_node(monkeypatch)
    monkeypatch.setattr(gp, "probe_peak", lambda *a, **k: None)
    packing = gp.resolve_auto_gpu(sweep, client, exp, workload_module="support.toy_workloads")
    assert sweep.resources.gpu == 1.0 and packing.tags() == {}
    assert "each trial gets a whole GPU (gpu=1)" in capsys.readouterr().err
