"""NOLA (dissertation Sec. 3.2.2, Eq. 3.1-3.2): ΔW = (c/r) (B₀ + Σⱼ βⱼ Bⱼ)(A₀ + Σᵢ αᵢ Aᵢ) with frozen random Aᵢ, Bⱼ.

Shapes follow torch's (out × in) convention: Aᵢ is (r × in), Bⱼ is (out × r), so the product plays the
role of LoRA's B A. Only α (k numbers) and β (l numbers) are trained; a checkpoint holds the seeds
and the coefficients.

Two initialisations, as the authors' two code bases do it (``BasisBank.init``):
  ``offset``  GPT-2 / LLaMA code (gpt/examples/NLG/src/model_nola.py l.121-194, llama/peft/tuners/lora.py
              l.735-890): NOLA's A and B are ``NOLALinear`` layers whose own frozen weight is an offset,
              A₀ kaiming-uniform(a=√5) and B₀ = 0, plus Σ α Aᵢ, Σ β Bⱼ with bases U(-1,1)/√k (resp. √l) and
              α = β = 0. ΔW = 0 at start and ∂L/∂β ≠ 0 (A = A₀), the LoRA convention.
  ``vit``     ViT code (vit/NOLA.py l.154-211, ``NOLA2``; its torch.manual_seed(0) at l.193 gives every layer of
              one shape the same bases): no offset (Eq. 3.1 as printed), kaiming-uniform bases, α = 1/k,
              β = 1/l, so ΔW ≠ 0 (small) at start.
B₀ is identically zero and frozen, so it is left out of the computation.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from workloads.nola.bases import combine, nola_bases, random_bases
from workloads.nola.quantize import quantize_ste, quantize_values

INITS = ("offset", "vit")


def nola_delta(alpha: torch.Tensor, beta: torch.Tensor, bases_a: torch.Tensor, bases_b: torch.Tensor,
               scale: float, a0: torch.Tensor | None = None) -> torch.Tensor:
    """ΔW = scale · (Σ βⱼ Bⱼ)(A₀ + Σ αᵢ Aᵢ) (Eq. 3.2; model_nola.py l.142-147 forms each factor as
    GenerateParams(coefficients) + weight, l.198 multiplies B·A·scale); bases_a (k, r, in), bases_b (l, out, r),
    a0 (r, in) or None (the ViT code and the printed Eq. 3.1 have no offset)."""
    a = combine(alpha, bases_a)
    if a0 is not None:
        a = a + a0
    return scale * (combine(beta, bases_b) @ a)


def nola_deltas_batched(alphas: torch.Tensor, betas: torch.Tensor, bases_a: torch.Tensor, bases_b: torch.Tensor,
                        scale: float, a0: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 3.2 for L layers at once (issue 18.2): alphas (L, k), betas (L, l), a0 (L, r, in) or None.

    A shared basis (bases_a (k, r, in), bases_b (l, out, r)) is read once for all layers: Σα A is one
    (L, k) × (k, r·in) product. Per-layer bases of one shape (bases_a (L, k, r, in), bases_b (L, l, out, r))
    become one batched product. Either way ΔW (L, out, in) is one more batched product. Per layer it is the
    same ΔW as ``nola_delta`` (model_nola.py l.82-98: einsum('b,boi->oi') of coefficients and bases)."""
    n = alphas.shape[0]
    if bases_a.dim() == 3:
        flat_a, flat_b = bases_a.reshape(bases_a.shape[0], -1), bases_b.reshape(bases_b.shape[0], -1)
        a = alphas @ flat_a if a0 is None else torch.addmm(a0.reshape(n, -1), alphas, flat_a)
        b = betas @ flat_b
        a, b = a.view(n, *bases_a.shape[1:]), b.view(n, *bases_b.shape[1:])
    else:
        flat_a, flat_b = bases_a.reshape(n, bases_a.shape[1], -1), bases_b.reshape(n, bases_b.shape[1], -1)
        a = torch.bmm(alphas.unsqueeze(1), flat_a) if a0 is None else torch.baddbmm(
            a0.reshape(n, 1, -1), alphas.unsqueeze(1), flat_a)
        b = torch.bmm(betas.unsqueeze(1), flat_b)
        a, b = a.view(n, *bases_a.shape[2:]), b.view(n, *bases_b.shape[2:])
    return torch.bmm(b, a).mul_(scale)


def offset_factor(seed: int, rank: int, in_features: int) -> torch.Tensor:
    """A₀ (r × in): kaiming-uniform(a=√5) of an (r × in) weight, U(-1/√in, 1/√in) (model_nola.py l.193),
    drawn from ``seed`` on the CPU generator so that a checkpoint need not store it."""
    return random_bases(seed, 1, (rank, in_features), distribution="uniform", scale=1.0 / math.sqrt(in_features))[0]


def nola_param_count(k: int, l: int) -> int:
    """Trainable numbers of one NOLA-adapted matrix: k + l (independent of its size and of r)."""
    return k + l


class BasisBank(nn.Module):
    """Frozen random bases A (k, r, in) and B (l, out, r) regenerated from ``seed`` (distribution per ``init``).

    Buffers are non-persistent: the state dict never carries them, only the seed (kept in
    ``extra_state``) does. One bank can be shared by all layers of equal shape (Table 3.11).
    """

    def __init__(self, seed: int, k: int, l: int, rank: int, out_features: int, in_features: int, chunk: int = 64,
                 init: str = "offset"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown NOLA init {init!r}; use one of {INITS}.")
        self.seed, self.k, self.l, self.rank, self.chunk, self.init = seed, k, l, rank, chunk, init
        self.shape = (out_features, in_features)
        # A and B come from distinct streams of the same seed so that they are independent.
        self.register_buffer("a", nola_bases(2 * seed, k, (rank, in_features), init, chunk=chunk), persistent=False)
        self.register_buffer("b", nola_bases(2 * seed + 1, l, (out_features, rank), init, chunk=chunk),
                             persistent=False)

    def get_extra_state(self) -> dict:
        return {"seed": self.seed, "k": self.k, "l": self.l, "rank": self.rank, "chunk": self.chunk,
                "shape": self.shape, "init": self.init}

    def set_extra_state(self, state: dict) -> None:
        mine = self.get_extra_state()
        theirs = {**state, "shape": tuple(state["shape"])}
        if theirs != mine:
            raise ValueError(f"NOLA checkpoint was saved with basis {theirs} but this model builds {mine}; "
                             "rebuild the model with the checkpoint's seed, k, l, rank, chunk and init.")


class NOLADelta(nn.Module):
    """Trainable ΔW of one (out × in) matrix from coefficients α (k) and β (l) over a ``BasisBank``.

    With ``init='offset'`` the frozen A₀ is regenerated from ``offset_seed`` (kept in the state dict's extra
    state). When a ``DeltaGroup`` holds this delta, ΔW comes from the group's one batched computation."""

    def __init__(self, bank: BasisBank, alpha_scale: float = 1.0, offset_seed: int = 0):
        super().__init__()
        self.bank = bank
        self.scale = alpha_scale / bank.rank
        self.offset_seed = offset_seed if bank.init == "offset" else None
        if bank.init == "offset":
            self.alpha = nn.Parameter(torch.zeros(bank.k))
            self.beta = nn.Parameter(torch.zeros(bank.l))
            self.register_buffer("a0", offset_factor(offset_seed, bank.rank, bank.shape[1]), persistent=False)
        else:
            self.alpha = nn.Parameter(torch.full((bank.k,), 1.0 / bank.k))
            self.beta = nn.Parameter(torch.full((bank.l,), 1.0 / bank.l))
            self.a0 = None
        self.qat_bits: int | None = None  # set for quantization-aware training (Table 3.13)
        self.group: DeltaGroup | None = None

    def get_extra_state(self) -> dict:
        return {"offset_seed": self.offset_seed}

    def set_extra_state(self, state: dict) -> None:
        if state.get("offset_seed") != self.offset_seed:
            raise ValueError(f"NOLA checkpoint has offset seed {state.get('offset_seed')} but this layer builds "
                             f"{self.offset_seed}; rebuild the model with the checkpoint's seed and init.")

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """α, β as the forward pass sees them (quantized with a straight-through gradient under QAT)."""
        if self.qat_bits is None:
            return self.alpha, self.beta
        return quantize_ste(self.alpha, self.qat_bits), quantize_ste(self.beta, self.qat_bits)

    def forward(self) -> torch.Tensor:
        if self.group is not None:
            return self.group.delta(self)
        alpha, beta = self.coefficients()
        return nola_delta(alpha, beta, self.bank.a, self.bank.b, self.scale, self.a0)

    @torch.no_grad()
    def quantize_(self, bits: int) -> None:
        """Post-training quantization of α and β in place (Table 3.13, PTQ rows; 16 bits = fp16)."""
        self.alpha.copy_(quantize_values(self.alpha, bits))
        self.beta.copy_(quantize_values(self.beta, bits))

    def num_params(self) -> int:
        return self.alpha.numel() + self.beta.numel()


class DeltaGroup:
    """All NOLA deltas of one matrix shape, computed together by ``nola_deltas_batched`` (issue 18.2).

    Either all members share one ``BasisBank`` (Table 3.11's shared basis) or each has its own bank of the
    same shape; then the banks' buffers are re-pointed at views of one stacked tensor, so the batched
    product needs no copy and memory is not doubled. The group is a plain object (not a module): the
    members own every parameter and buffer, and ``.to()`` on the model moves them as before.

    One computation serves one forward pass: a member asking again (the next pass), a change of its α or
    β (an optimizer step, quantization), of the grad mode, device or QAT setting starts a new one.
    """

    def __init__(self):
        self.members: list[NOLADelta] = []
        self._out: tuple[torch.Tensor, ...] | None = None
        self._served: set[int] = set()
        self._stamp: list[tuple] = []
        self._grad: bool = False
        self._stack: tuple[torch.Tensor, torch.Tensor] | None = None
        self._a0: torch.Tensor | None = None

    def add(self, member: NOLADelta) -> None:
        if self.members:
            ref = self.members[0]
            same = (member.bank.init, member.bank.shape, member.bank.k, member.bank.l, member.bank.rank, member.scale)
            if same != (ref.bank.init, ref.bank.shape, ref.bank.k, ref.bank.l, ref.bank.rank, ref.scale):
                raise ValueError("a NOLA DeltaGroup holds deltas of one shape, k, l, rank, scale and init only.")
        member.index_in_group = len(self.members)
        member.group = self
        self.members.append(member)

    @staticmethod
    def _member_stamp(m: NOLADelta) -> tuple:
        return (m.alpha._version, m.beta._version, m.alpha.device, m.alpha.dtype, m.qat_bits)

    def _bases(self) -> tuple[torch.Tensor, torch.Tensor]:
        banks = list(dict.fromkeys(m.bank for m in self.members))
        if len(banks) == 1:
            return banks[0].a, banks[0].b
        if len(banks) != len(self.members):
            raise ValueError("a NOLA DeltaGroup needs one shared bank or one bank per member.")

        def same_storage(t: torch.Tensor, ref: torch.Tensor) -> bool:
            return t.untyped_storage().data_ptr() == ref.untyped_storage().data_ptr()

        if self._stack is None or not all(same_storage(b.a, self._stack[0]) and same_storage(b.b, self._stack[1])
                                          for b in banks):
            stacked = (torch.stack([b.a for b in banks]), torch.stack([b.b for b in banks]))
            for i, b in enumerate(banks):  # point each bank at its slice: one copy of the bases in memory
                b.a, b.b = stacked[0][i], stacked[1][i]
            self._stack = stacked
        return self._stack

    def _offsets(self) -> torch.Tensor | None:
        first = self.members[0].a0
        if first is None:
            return None
        if self._a0 is None or self._a0.device != first.device or self._a0.dtype != first.dtype:
            self._a0 = torch.stack([m.a0 for m in self.members])
        return self._a0

    def compute(self) -> tuple[torch.Tensor, ...]:
        """ΔW of every member in one batched computation; unbound once (one backward node that stacks the L
        gradients) rather than indexed L times (each index would scatter into a zero (L, out, in) gradient)."""
        coeffs = [m.coefficients() for m in self.members]
        alphas = torch.stack([a for a, _ in coeffs])
        betas = torch.stack([b for _, b in coeffs])
        bases_a, bases_b = self._bases()
        return nola_deltas_batched(alphas, betas, bases_a, bases_b, self.members[0].scale, self._offsets()).unbind(0)

    def delta(self, member: NOLADelta) -> torch.Tensor:
        i = member.index_in_group
        stale = (self._out is None or i in self._served or self._grad != torch.is_grad_enabled()
                 or self._stamp[i] != self._member_stamp(member))
        if stale:
            self._out = self.compute()
            self._stamp = [self._member_stamp(m) for m in self.members]
            self._grad = torch.is_grad_enabled()
            self._served = set()
        self._served.add(i)
        return self._out[i]
