"""Loading the authors' released checkpoints into the efficient ViTs (local paths only; nothing is downloaded).

- DeiT (the dense backbone and, since ATS is parameter-free, ATS): ``{'model': state_dict}`` with timm's
  VisionTransformer names (``blocks.{i}.attn.qkv.weight``, ...), as released by facebookresearch/deit.
- A-ViT (NVlabs/A-ViT release, ``a-vit-weights.tar.gz``): the same names (its ACT VisionTransformer adds no
  parameters: the halting score is a token dimension, act_vision_transformer.py:259).
- AdaViT (UCDvision/SlowFormer ada_vit/, ``AdaStepT2T_ViT`` with ``use_t2t=False``, i.e. ada_step_deit_*):
  separate ``attn.query/key/value`` linears, ``attn.token_select.mlp_head``, ``head_select.mlp_head`` and
  ``layer_select.mlp_head`` per block (none of the last two in the first ``keep_layers`` blocks).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from workloads.common.models import CheckpointError, load_checkpoint, read_state_dict
from workloads.slowformer.config import SlowFormerConfig
from workloads.slowformer.requirements import DEIT_URLS, release_source

AVIT_RELEASE = ("the A-ViT weights linked from NVlabs/A-ViT's README ('Pretrained A-ViT model weights can be "
                "downloaded here', a-vit-weights.tar.gz)")
ADAVIT_RELEASE = ("an AdaViT checkpoint of the ada_step_deit_* layout (UCDvision/SlowFormer ada_vit/, trained with "
                  "--ada-head --ada-layer --ada-token-with-mlp)")


def absent_checkpoint_error(absent: list[tuple[str, str]], arch: str, method: str,
                            dataset: str = "imagenet") -> CheckpointError:
    """Release files (``(field, path)``) that are not where the path rule (workloads.slowformer.requirements) says;
    off ImageNet (Table 4.2's CIFAR-10) no release exists, and the message says how the file is made."""
    parts = []
    for what, path in absent:
        if dataset != "imagenet":
            how = release_source(SlowFormerConfig(method=method, arch=arch, dataset=dataset), what)
        else:
            how = "download " + (DEIT_URLS.get(arch, "the facebookresearch/deit release of this architecture")
                                 if what == "checkpoint" else AVIT_RELEASE if method == "avit" else ADAVIT_RELEASE)
        parts.append(f"{what} {path} does not exist (the {arch} {'dense' if what == 'checkpoint' else method} model: "
                     f"{how})")
    return CheckpointError(
        f"slowformer: {'; '.join(parts)}. Put each file there on a machine with internet access, or set the field to "
        f"where it is (relative paths are under $ORCHESTRATOR_DATA). The attacked models are never trained or "
        f"downloaded at paper scale.")


def missing_checkpoint_error(what: str, arch: str, method: str) -> CheckpointError:
    """The paper-scale error when a released checkpoint is not given: names what to download and where to put it."""
    if what == "checkpoint":
        url = DEIT_URLS.get(arch, "the facebookresearch/deit release of this architecture")
        return CheckpointError(
            f"paper scale needs the dense {arch} weights and no checkpoint: is set, and nothing is trained or "
            f"downloaded here. Download {url} on a machine with internet access and set checkpoint: "
            f"/path/to/{url.rsplit('/', 1)[-1]} (sweep params or --set).")
    source = AVIT_RELEASE if method == "avit" else ADAVIT_RELEASE
    return CheckpointError(
        f"paper scale measures the authors' {method} model, and efficient_checkpoint: is empty; fine-tuning one here "
        f"would not reproduce the tables. Download {source}, unpack it, and set efficient_checkpoint: /path/to/the "
        f".pth of {arch}.")


def _state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    obj = read_state_dict(path, nested=("state_dict", "model", "state_dict_ema"))
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_vit_release(vit: nn.Module, path: str | Path) -> nn.Module:
    """A DeiT / A-ViT / ATS release into the bare timm VisionTransformer ``vit`` (strict: every key must fit)."""
    return load_checkpoint(vit, path, strict=True)


def adavit_release_to_ours(state: dict[str, torch.Tensor], keep_layers: int) -> dict[str, torch.Tensor]:
    """Rename an official AdaViT (ada_step_deit_*) state dict to our ``AdaViT`` names: q/k/v concatenated into
    timm's ``qkv``; block i's token selector → ``patch_dec.i``, head and layer selectors → ``head_dec`` /
    ``block_dec`` index i − keep_layers."""
    if any(k.startswith("tokens_to_token.") for k in state):
        raise CheckpointError("this AdaViT checkpoint has a T2T-ViT tokens-to-token stem (ada_step_t2t_vit_*); only the "
                              "DeiT-backbone layout (ada_step_deit_*) is supported here. Use a DeiT AdaViT checkpoint.")
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        m = re.match(r"blocks\.(\d+)\.(.*)", k)
        if not m:
            out[f"vit.{k}"] = v
            continue
        i, rest = int(m.group(1)), m.group(2)
        if rest.startswith(("attn.query.", "attn.key.", "attn.value.")):
            continue  # concatenated below
        if rest.startswith("attn.token_select.mlp_head."):
            out[f"patch_dec.{i}.{rest.rsplit('.', 1)[1]}"] = v
        elif rest.startswith("head_select.mlp_head."):
            out[f"head_dec.{i - keep_layers}.{rest.rsplit('.', 1)[1]}"] = v
        elif rest.startswith("layer_select.mlp_head."):
            out[f"block_dec.{i - keep_layers}.{rest.rsplit('.', 1)[1]}"] = v
        else:
            out[f"vit.blocks.{i}.{rest}"] = v
    blocks = sorted({int(re.match(r"blocks\.(\d+)\.", k).group(1)) for k in state if k.startswith("blocks.")})
    for i in blocks:
        for part in ("weight", "bias"):
            names = [f"blocks.{i}.attn.{n}.{part}" for n in ("query", "key", "value")]
            if all(n in state for n in names):
                out[f"vit.blocks.{i}.attn.qkv.{part}"] = torch.cat([state[n] for n in names], dim=0)
    return out


def load_adavit_release(model: nn.Module, path: str | Path) -> nn.Module:
    """An official AdaViT checkpoint into our ``AdaViT`` (strict, with the names of what does not fit)."""
    state = adavit_release_to_ours(_state_dict(path), model.keep_layers)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"AdaViT checkpoint {path} does not fit this model: {len(missing)} missing keys (e.g. {missing[:4]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:4]}). Check arch, the number of classes, keep_layers "
            f"and adavit_gates (the release has two layer gates per block: adavit_gates: attn_mlp).")
    model.load_state_dict(state, strict=True)
    return model
