"""PALM's paper-scale source models from RobustBench checkpoints: the one place their key layouts are converted.

RobustBench (the source of every PALM/CoTTA/LAW number) saves, for threat model ``corruptions``:
- CIFAR-10 ``Standard`` (WRN-28-10): ``block{k}.layer.{i}.*`` blocks with a ``convShortcut``; no input
  normalisation (robustbench model_zoo/architectures/wide_resnet.py);
- CIFAR-100 ``Hendrycks2020AugMix_ResNeXt`` (ResNeXt-29, cardinality 4, base width 32): ``mu``/``sigma`` input
  buffers and ``downsample.{0,1}`` shortcuts (model_zoo/cifar100.py:83-95, architectures/resnext.py);
- ImageNet ``Standard_R50``: ``normalize.{mean,std}`` then ``model.<torchvision resnet50>``
  (model_zoo/imagenet.py:40-41, architectures/utils_architectures.py:8-26).
Checkpoints usually hold them under ``state_dict`` with ``module.`` prefixes (DataParallel).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from workloads.common.models import CheckpointError, Normalized, load_checkpoint, read_state_dict
from workloads.palm.requirements import ROBUSTBENCH, RobustBenchModel  # noqa: F401  (the files' names live with the path rule)



# WRN Standard takes [0, 1] images as they are; the other two carry their normalisation in the checkpoint
IDENTITY_NORMALISATION = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def download_hint(arch: str, target: Path) -> str:
    """What to download for ``arch`` and where to put it (used by the missing-checkpoint error)."""
    rb = ROBUSTBENCH.get(arch)
    if rb is None:
        return f"save the source model's state_dict for {arch} at {target}"
    return (f"download RobustBench's {rb.dataset} model {rb.name!r} (threat model 'corruptions'), e.g. "
            f"`python -c \"from robustbench.utils import load_model; load_model('{rb.name}', "
            f"dataset='{rb.dataset}', threat_model='corruptions')\"` writes models/{rb.dataset}/corruptions/"
            f"{rb.filename}; copy that file to {target}")


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {re.sub(r"^(module\.)+", "", k): v for k, v in state.items()}


def wrn_keys_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """RobustBench WideResNet → workloads.common.models.WideResNet: ``blockK.layer.I.`` → ``blockK.I.``,
    ``convShortcut`` → ``short``."""
    out = {}
    for k, v in state.items():
        k = re.sub(r"^(block\d)\.layer\.(\d+)\.", r"\1.\2.", k)
        out[k.replace(".convShortcut.", ".short.")] = v
    return out


def resnext_keys_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """RobustBench CifarResNeXt → workloads.common.models.ResNeXtCifar: ``downsample`` → ``short``; ``mu``/``sigma``
    leave the network (they become the input normalisation)."""
    return {k.replace(".downsample.", ".short."): v for k, v in state.items() if k not in ("mu", "sigma")}


def split_normalisation(arch: str, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple, tuple]:
    """(network state in our keys, mean, std) from a checkpoint in RobustBench's layout for ``arch``."""
    state = _strip_prefixes(state)
    if arch == "wrn28_10":
        return wrn_keys_to_ours(state), *IDENTITY_NORMALISATION
    if arch == "resnext29_32x4d":
        if "mu" not in state or "sigma" not in state:
            raise CheckpointError("ResNeXt-29 checkpoint without the mu/sigma buffers of RobustBench's "
                                  "Hendrycks2020AugMixResNeXtNet; is it the CIFAR-100 AugMix model?")
        mean, std = state["mu"].flatten().tolist(), state["sigma"].flatten().tolist()
        return resnext_keys_to_ours(state), tuple(mean), tuple(std)
    if arch == "resnet50":
        if "normalize.mean" not in state:
            raise CheckpointError("ResNet-50 checkpoint without RobustBench's normalize.mean/std; is it "
                                  "normalize_model(resnet50) (Standard_R50)?")
        mean, std = state["normalize.mean"].flatten().tolist(), state["normalize.std"].flatten().tolist()
        net = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
        return net, tuple(mean), tuple(std)
    raise CheckpointError(f"no RobustBench layout known for {arch!r}; known: {', '.join(ROBUSTBENCH)}")


def is_robustbench_layout(arch: str, state: dict[str, torch.Tensor]) -> bool:
    keys = set(_strip_prefixes(state))
    markers = {"wrn28_10": lambda k: ".layer." in k or "convShortcut" in k,
               "resnext29_32x4d": lambda k: k in ("mu", "sigma"),
               "resnet50": lambda k: k.startswith("normalize.")}
    return arch in markers and any(markers[arch](k) for k in keys)


def load_robustbench(model: Normalized, arch: str, state: dict[str, torch.Tensor]) -> Normalized:
    """Load a RobustBench-layout state dict into ``model`` (a ``Normalized`` project model), its input
    normalisation included; strict, with an error naming the keys that do not fit."""
    net_state, mean, std = split_normalisation(arch, state)
    own = model.net.state_dict()
    missing, unexpected = sorted(set(own) - set(net_state)), sorted(set(net_state) - set(own))
    bad_shape = [k for k in set(own) & set(net_state) if own[k].shape != net_state[k].shape]
    if missing or unexpected or bad_shape:
        raise CheckpointError(
            f"the {arch} checkpoint in RobustBench's layout does not fit the model after key conversion: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), "
            f"{len(bad_shape)} of another shape (e.g. {bad_shape[:3]}). Is it the RobustBench model "
            f"{ROBUSTBENCH[arch].name!r} ({ROBUSTBENCH[arch].dataset})?")
    model.net.load_state_dict(net_state, strict=True)
    with torch.no_grad():
        model.normalize.mean.copy_(torch.tensor(mean).view_as(model.normalize.mean))
        model.normalize.std.copy_(torch.tensor(std).view_as(model.normalize.std))
    return model


def load_source_checkpoint(model: nn.Module, arch: str, path: str | Path) -> nn.Module:
    """A source model from ``path``: RobustBench's layout (converted here) or the project's own state_dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"source checkpoint {path} not found; {download_hint(arch, path)}. Nothing is downloaded.")
    state = read_state_dict(path)
    if isinstance(model, Normalized) and is_robustbench_layout(arch, state):
        return load_robustbench(model, arch, state)
    return load_checkpoint(model, path)
