"""SimReg prediction heads (dissertation Sec. 2.2.3.2): linear, 2L-MLP or 4L-MLP on the student backbone."""
from __future__ import annotations

import torch
from torch import nn

HEAD_LAYERS = {"linear": 1, "mlp2": 2, "mlp4": 4}
HEAD_READINGS = ("paper", "official")


def head_dims(kind: str, m: int, d: int, equal_width: bool = False) -> list[int]:
    """Layer widths from student dim ``m`` to teacher dim ``d``: linear (m, d), 2L (m, 2m, d), 4L (m, 2m, m, 2m, d).

    ``equal_width``: every hidden width equals ``d`` (the ResNet-18 study of Table 2.8, where the
    intermediate layer's output can be compared with the teacher)."""
    if kind not in HEAD_LAYERS:
        raise ValueError(f"head must be one of {', '.join(HEAD_LAYERS)}, got {kind!r}")
    if equal_width:
        return [m] + [d] * HEAD_LAYERS[kind]
    return {"linear": [m, d], "mlp2": [m, 2 * m, d], "mlp4": [m, 2 * m, m, 2 * m, d]}[kind]


class PredictionHead(nn.Module):
    """Linear layers with BatchNorm + ReLU between them and nothing after the last (Sec. 2.2.3.2, A.2.2.5).

    ``plain_after``: 1-based linear layers after which BN + ReLU are left out. The 4L-MLP is two stacked
    2L-MLPs, so it has none after its 2nd layer (App. A.2.2.5; the authors' ``get_mlp`` skips layer 2).
    ``input_bn``: a BatchNorm on the head's input before the first linear layer (the released linear head)."""

    def __init__(self, dims: list[int], plain_after: tuple[int, ...] = (), input_bn: bool = False):
        super().__init__()
        self.input_norm = nn.BatchNorm1d(dims[0]) if input_bn else nn.Identity()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(
            nn.Identity() if i + 1 in plain_after else nn.Sequential(nn.BatchNorm1d(b), nn.ReLU(inplace=True))
            for i, b in enumerate(dims[1:-1]))

    def forward(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Output of the first ``upto`` linear layers (all by default); an intermediate output is taken
        after that layer's linear map, before any BN/ReLU (Table 2.8's "BB+2L-MLP")."""
        n = len(self.linears) if upto is None else upto
        if not 1 <= n <= len(self.linears):
            raise ValueError(f"upto must be in 1..{len(self.linears)}, got {upto}")
        x = self.input_norm(x)
        for i in range(n):
            x = self.linears[i](x)
            if i < n - 1:
                x = self.norms[i](x)
        return x


def head_layout(kind: str, reading: str = "paper") -> tuple[tuple[int, ...], bool]:
    """(``plain_after``, ``input_bn``) of a head. ``paper`` (the default here): the text's heads, BN + ReLU
    after every hidden linear layer (Sec. 2.2.3.2), none after the 4L-MLP's 2nd; the linear head a single
    linear layer. ``official``: the released UCDvision/simreg ``mlp_arch.py``: ``get_mlp`` (l.5-26) adds BN +
    ReLU only when ``n_layers == 4`` (so its 2L head is two linear layers with nothing between them) and
    ``get_linear_proj`` (l.29-41) is BN + Linear. The text is the default because the released linear head
    cannot be trained as shipped (``simreg.py`` l.58 passes the undefined ``proj_dim``)."""
    if reading not in HEAD_READINGS:
        raise ValueError(f"head_reading must be one of {', '.join(HEAD_READINGS)}, got {reading!r}")
    if kind == "mlp4":
        return (2,), False
    if reading == "official":
        return ((1,), False) if kind == "mlp2" else ((), True)
    return (), False


def build_head(kind: str, m: int, d: int, equal_width: bool = False, reading: str = "paper") -> PredictionHead:
    """The head of ``kind`` from student dim ``m`` to teacher dim ``d`` (Table 2.7's linear / 2L / 4L), in the
    text's or the released code's layout (``head_layout``)."""
    plain_after, input_bn = head_layout(kind, reading)
    return PredictionHead(head_dims(kind, m, d, equal_width), plain_after=plain_after, input_bn=input_bn)


class Student(nn.Module):
    """Student backbone with one prediction head per teacher (Eq. 2.5); heads are training-only."""

    def __init__(self, backbone: nn.Module, heads: list[PredictionHead]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.backbone(x)
        return [h(f) for h in self.heads]

    def inference_model(self) -> nn.Module:
        """What is deployed and evaluated: the backbone alone, the heads dropped (Sec. 2.2.5)."""
        return self.backbone
