"""Put LoRA/NOLA adapters into a model (dissertation Sec. 3.2.3): timm ViTs (MLP or QKV), GPT-2
from ``transformers`` (QV or MLP, Conv1D weights) and CNN convolutions, selected by config.

Afterwards only adapter coefficients (and the modules named in ``train_also``, e.g. the classifier
head) require grad.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from workloads.nola.adapted import AdaptedLayer, weight_matrix_shape
from workloads.nola.lora import LoRADelta
from workloads.nola.nola import BasisBank, DeltaGroup, NOLADelta

# Which sub-modules each (family, target) adapts, and which output rows of each one.
# "qv" on a fused [Q|K|V] matrix adapts the first and last thirds only, like LoRA's GPT-2 setup.
TARGETS = {
    ("vit", "mlp"): ("mlp.fc1", "mlp.fc2"),
    ("vit", "qkv"): ("attn.qkv",),
    ("vit", "qv"): ("attn.qkv",),
    ("gpt2", "qv"): ("attn.c_attn",),
    ("gpt2", "mlp"): ("mlp.c_fc", "mlp.c_proj"),
    ("cnn", "conv"): ("",),
    ("mlp", "linear"): ("",),
}


@dataclass(frozen=True)
class AdapterSpec:
    method: str            # lora | nola
    rank: int = 4          # r of LoRA and of NOLA's bases
    k: int = 1000          # NOLA bases for A
    l: int = 1000          # NOLA bases for B
    alpha: float = 1.0     # c in the c/r scaling
    shared_basis: bool = True  # one basis bank per matrix shape (Table 3.11) vs one per layer
    seed: int = 0          # seed of the random bases
    chunk: int = 64        # bases generated per chunk
    init: str = "offset"   # NOLA init: offset (GPT-2/LLaMA code: α = β = 0, frozen A₀) | vit (ViT code: α = β = 1/k)
    batched: bool = True   # NOLA: all matrices of one shape form ΔW in one batched computation (issue 18.2)
    classifier_basis: int = 0  # cnn family: > 0 also adapts the linear classifier with k = l = this (Table 3.17: 1000)


def _row_slices(name: str, out: int, target: str) -> list[tuple[int, int]]:
    if target == "qv" and name.endswith(("qkv", "c_attn")):
        third = out // 3
        return [(0, third), (2 * third, out)]
    return [(0, out)]


def _candidates(model: nn.Module, family: str, target: str, classifier: bool = False) -> list[tuple[str, nn.Module]]:
    suffixes = TARGETS.get((family, target))
    if suffixes is None:
        valid = ", ".join(f"{f}/{t}" for f, t in TARGETS)
        raise ValueError(f"no adapter target {family}/{target}; valid family/target pairs: {valid}.")
    found = []
    for name, mod in model.named_modules():
        if family == "cnn":
            if isinstance(mod, nn.Conv2d) or (classifier and isinstance(mod, nn.Linear)):
                found.append((name, mod))
        elif family == "mlp":
            if isinstance(mod, nn.Linear) and not name.endswith("head"):
                found.append((name, mod))
        elif any(name.endswith(s) for s in suffixes):
            found.append((name, mod))
    if not found:
        raise ValueError(f"model {type(model).__name__} has no {family}/{target} layers to adapt "
                         f"(looked for names ending in {suffixes}); pick the family matching the model.")
    return found


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def inject_adapters(model: nn.Module, family: str, target: str, spec: AdapterSpec,
                    train_also: tuple[str, ...] = ()) -> list[AdaptedLayer]:
    """Replace the targeted layers by ``AdaptedLayer`` and freeze everything else but ``train_also``."""
    if spec.method not in ("lora", "nola"):
        raise ValueError(f"adapter method must be 'lora' or 'nola', got {spec.method!r}.")
    for p in model.parameters():
        p.requires_grad_(False)
    banks: dict[tuple, BasisBank] = {}
    groups: dict[tuple[int, int], DeltaGroup] = {}
    layers = []
    for index, (name, mod) in enumerate(_candidates(model, family, target, spec.classifier_basis > 0)):
        out, inp = weight_matrix_shape(mod)
        k, l = (spec.classifier_basis,) * 2 if family == "cnn" and isinstance(mod, nn.Linear) else (spec.k, spec.l)
        deltas = {}
        for s, (start, stop) in enumerate(_row_slices(name, out, target)):
            rows = stop - start
            if spec.method == "lora":
                deltas[(start, stop)] = LoRADelta(rows, inp, spec.rank, spec.alpha)
                continue
            key = (rows, inp, k, l) if spec.shared_basis else (index, s)
            if key not in banks:
                # Non-shared banks get their own seeds so every layer sees different bases.
                bank_seed = spec.seed if spec.shared_basis else spec.seed * 100_003 + len(banks) + 1
                banks[key] = BasisBank(bank_seed, k, l, spec.rank, rows, inp, spec.chunk, init=spec.init)
            # Every matrix gets its own frozen offset A₀ (model_nola.py: each NOLALinear's own weight).
            offset_seed = spec.seed * 1_000_003 + 2 * index + s + 17
            delta = NOLADelta(banks[key], spec.alpha, offset_seed=offset_seed)
            if spec.batched:
                groups.setdefault((rows, inp, k, l), DeltaGroup()).add(delta)
            deltas[(start, stop)] = delta
        layer = AdaptedLayer(mod, deltas).to(mod.weight.device)
        _set_module(model, name, layer)
        layers.append(layer)
    for name in train_also:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    return layers


def trainable_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_all(model: nn.Module) -> None:
    """Merge every adapter into its base weight (zero inference overhead)."""
    for m in model.modules():
        if isinstance(m, AdaptedLayer):
            m.merge()
