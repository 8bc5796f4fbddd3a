"""Loading RevCol weights: the official ImageNet checkpoints (backbone + final head) or our own saves."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from workloads.common.models import CheckpointError, read_state_dict

# RevCol's intermediate-supervision decoders (official training only) have no role at inference
IGNORED_PREFIXES = ("decoder_blocks.",)


def read_revcol_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a RevCol checkpoint (bare state_dict, or under ``model``/``state_dict``/``model_ema``), without
    DataParallel ``module.`` prefixes."""
    obj = read_state_dict(path, nested=("model", "state_dict", "model_ema"),
                          source="paper scale: the official RevCol-T ImageNet-1k weights from "
                                 "github.com/megvii-research/RevCol")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"RevCol checkpoint {path} does not hold a state_dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_revcol_weights(model: nn.Module, path: str | Path, *, early_heads: bool) -> list[str]:
    """Load backbone and last exit head from ``path``; also the earlier heads when ``early_heads``.

    Official RevCol-T checkpoints carry heads on every column from intermediate supervision; the paper
    trains fresh early heads on the frozen backbone (Sec. 4.1), so those are skipped unless asked for.
    Returns the names of the parameters left untouched (the early heads when skipped)."""
    state = {k: v for k, v in read_revcol_state(path).items() if not k.startswith(IGNORED_PREFIXES)}
    own = model.state_dict()
    last = model.num_exits - 1
    early = {k for k in own if k.startswith("cls_blocks.") and int(k.split(".")[1]) < last}
    wanted = set(own) if early_heads else set(own) - early
    missing = sorted(wanted - set(state))
    unexpected = sorted(set(state) - set(own))
    unexpected = [k for k in unexpected if not (k.startswith("cls_blocks.") and not early_heads)]
    if missing or unexpected:
        raise CheckpointError(
            f"RevCol checkpoint {path} does not fit {type(model).__name__} with {model.num_exits} columns, widths "
            f"{model.spec.channels}, depths {model.spec.layers}: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]}). Choose the `arch` the checkpoint was trained "
            f"with (revcol_tiny for RevCol-T) and its number of classes.")
    bad = [k for k in wanted if state[k].shape != own[k].shape]
    if bad:
        raise CheckpointError(
            f"RevCol checkpoint {path}: shapes differ for {bad[:3]} (checkpoint {tuple(state[bad[0]].shape)}, model "
            f"{tuple(own[bad[0]].shape)}). Check `arch` and the data set's number of classes.")
    model.load_state_dict({k: state[k] for k in wanted}, strict=False)
    return sorted(set(own) - wanted)
