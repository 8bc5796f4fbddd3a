"""Issue 16 item 5: GPU utilisation and memory sampled through NVML (``nvidia-ml-py``) when it is there, and one
clear note (run tag + log line) when it is not. No GPU here: a fake ``pynvml`` module and a fake CUDA device."""
from __future__ import annotations

import logging
import sys
import types

import pytest
import torch

import orchestrator.system_metrics as sm
from orchestrator.sweep_record import dataset_names
from workloads.compgs.config import CompGSConfig
from orchestrator.context import config_record


class FakeNvml(types.ModuleType):
    """The part of pynvml the sampler calls; counts calls so the test sees which handle was asked for."""

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: bool = False, fail_sample: bool = False):
        super().__init__("pynvml")
        self.fail_init, self.fail_sample = fail_init, fail_sample
        self.asked: list[str] = []

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.asked.append(uuid)
        return ("handle", uuid)

    def nvmlDeviceGetHandleByIndex(self, index):
        self.asked.append(f"index {index}")
        return ("handle", index)

    def nvmlDeviceGetUtilizationRates(self, handle):
        if self.fail_sample:
            raise self.NVMLError("GPU is lost")
        return types.SimpleNamespace(gpu=73, memory=20)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=3 * 2**30, total=12 * 2**30, free=9 * 2**30)


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch believes in one CUDA device whose NVML name is GPU-1234 and whose allocator holds 512 MiB."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(sm, "cuda_uuid", lambda index: "GPU-1234")
    monkeypatch.setattr(sm, "torch_gpu_memory", lambda index: {"system/gpu_memory_mb": 512.0})
    monkeypatch.setattr(sm, "warned_notes", set())


def test_nvml_utilisation_and_device_memory_are_sampled(monkeypatch, fake_cuda):
    nvml = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    sampler = sm.SystemSampler(torch.device("cuda", 0), interval_s=0.0)
    values = sampler.sample()
    assert values["system/gpu_utilization_percent"] == 73.0
    assert values["system/gpu_memory_used_mb"] == 3 * 1024
    assert values["system/gpu_memory_used_percent"] == pytest.approx(25.0)
    assert values["system/gpu_memory_mb"] == 512.0 and values["system/cpu_percent"] >= 0
    assert nvml.asked == ["GPU-1234"]  # by UUID: NVML's indices count GPUs torch may not see
    assert sampler.gpu_note == "nvml"


def test_missing_nvml_is_said_once_and_torch_memory_still_sampled(monkeypatch, fake_cuda, caplog):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with caplog.at_level(logging.WARNING, logger=sm.__name__):
        first = sm.SystemSampler("cuda:0", interval_s=0.0)
        second = sm.SystemSampler("cuda:0", interval_s=0.0)
    assert "pip install nvidia-ml-py" in first.gpu_note and second.gpu_note == first.gpu_note
    assert [r.getMessage() for r in caplog.records].count(first.gpu_note) == 1
    values = first.sample()
    assert values["system/gpu_memory_mb"] == 512.0 and "system/gpu_utilization_percent" not in values


def test_nvml_that_does_not_start_or_fails_later_is_a_note_not_a_crash(monkeypatch, fake_cuda):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fail_init=True))
    assert "NVML did not start" in sm.GpuMonitor("cuda:0").note
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fail_sample=True))
    gpu = sm.GpuMonitor("cuda:0")
    assert gpu.note == "nvml"
    assert "system/gpu_utilization_percent" not in gpu.sample()
    assert "no longer sampled" in gpu.note and "GPU is lost" in gpu.note
    assert gpu.sample() == {"system/gpu_memory_mb": 512.0}  # NVML is not asked again


def test_cpu_trials_have_no_gpu_values_and_no_note():
    sampler = sm.SystemSampler("cpu", interval_s=0.0)
    assert sampler.gpu_note == "" and not any(k.startswith("system/gpu") for k in sampler.sample())


def test_compgs_scenes_are_dataset_inputs_only_where_the_run_reads_them():
    plain = config_record(CompGSConfig(scene="smoke"))
    shown = {k: v for k, v in plain["values"].items() if k not in plain["not_applicable"]}
    assert dataset_names(shown) == {"scene": "smoke"}
    shared = config_record(CompGSConfig(scene="smoke", shared_codebook=True, codebook_scene="mini2"))
    assert dataset_names(shared["values"]) == {"scene": "smoke", "codebook_scene": "mini2"}


def test_list_fields_of_data_sets_are_inputs_too():
    assert dataset_names({"dataset": "digits", "transfer": ["cifar10", "digits-c:fog:5"], "teachers": ["auto"]}) == {
        "dataset": "digits", "transfer[0]": "cifar10", "transfer[1]": "digits-c:fog:5"}
