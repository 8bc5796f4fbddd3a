"""EcoTTA (Song et al., CVPR 2023): meta networks on a frozen encoder, self-distilled regularisation, continual.

The authors released no code. Their project page (sites.google.com/view/junha/ecotta) links one community
implementation, Lily-Le/EcoTTA, and this module follows it: ecotta_models/wideresnet28.py and resnet50.py (model
partition, meta networks), main.py (warm-up on source data and the two-step adaptation), utils.py
(entropy_minmization). The equation names below are the paper's sections (its text is not in this project); every
place where that code departs from a plain reading is in docs/FIDELITY.md (palm).

Architecture (one_part_of_networks.forward): the residual blocks of the encoder are split into K parts; part k's
output is x̃_k = BN_k(f_k(x̃_{k-1})) + h_k(x̃_{k-1}) with f_k the frozen original blocks, BN_k a new BatchNorm and
h_k a new Conv3x3(stride)-BN-ReLU block; only BN_k and h_k train.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from workloads.palm.losses import filtered_entropy_mean
from workloads.palm.moco_augment import color_jitter

# Table 13 of the paper as the code encodes it: blocks per part for WRN-28 (12 blocks) and ResNet-50 (16 blocks)
PARTITIONS = {(12, 4): (2, 2, 4, 4), (12, 5): (2, 2, 2, 2, 4), (16, 4): (3, 3, 5, 5), (16, 5): (2, 2, 4, 4, 4)}
ENTROPY_FRACTION = 0.4   # main.py --e_margin 0.4: samples with H < 0.4·log C enter the entropy loss


def partition_sizes(n_blocks: int, k: int) -> tuple[int, ...]:
    """Blocks per part: the code's table where it has one, else an even split with the remainder given to the
    deepest parts (as the table does: later parts are the larger ones)."""
    if not 1 <= k <= n_blocks:
        raise ValueError(f"ecotta: the partition factor K must be between 1 and the encoder's {n_blocks} blocks, "
                         f"got {k}; set ecotta_parts accordingly")
    if (n_blocks, k) in PARTITIONS:
        return PARTITIONS[(n_blocks, k)]
    base, extra = divmod(n_blocks, k)
    return tuple(base + (1 if i >= k - extra else 0) for i in range(k))


@dataclass
class Encoder:
    """A classifier cut as EcoTTA cuts it: stem → residual blocks → classifier head."""
    stem: nn.Module
    blocks: list[nn.Module]
    head: nn.Module


class _Head(nn.Module):
    def __init__(self, *mods: nn.Module, pre_relu_bn: nn.Module | None = None):
        super().__init__()
        self.pre = pre_relu_bn
        self.fc = mods[-1]

    def forward(self, x):
        if self.pre is not None:
            x = F.relu(self.pre(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def split_encoder(net: nn.Module) -> Encoder:
    """The stem, the residual blocks and the head of the project's models (wrn28_10, resnext29_32x4d, resnet20,
    small_resnet, small_cnn, torchvision ResNets), sharing their modules (nothing is copied)."""
    import torchvision.models as tvm

    from workloads.common.models import CifarResNet, ResNeXtCifar, SmallCNN, WideResNet

    if isinstance(net, WideResNet):  # wideresnet28.py simplify_wideresnet28: conv1 | 12 blocks | bn1-relu-pool-fc
        return Encoder(net.conv1, [*net.block1, *net.block2, *net.block3], _Head(net.fc, pre_relu_bn=net.bn1))
    if isinstance(net, ResNeXtCifar):
        return Encoder(nn.Sequential(net.conv_1_3x3, net.bn_1, nn.ReLU()),
                       [*net.stage_1, *net.stage_2, *net.stage_3], _Head(net.classifier))
    if isinstance(net, CifarResNet):
        return Encoder(nn.Sequential(net.conv1, net.bn1, nn.ReLU()), [b for s in net.layers for b in s],
                       _Head(net.fc))
    if isinstance(net, tvm.ResNet):  # resnet50.py: conv1-bn1-relu-maxpool | 16 bottlenecks | pool-fc
        return Encoder(nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                       [*net.layer1, *net.layer2, *net.layer3, *net.layer4], _Head(net.fc))
    if isinstance(net, SmallCNN):  # the mini-scale CNN: first conv block | the other conv blocks and pools | fc
        f = net.features
        return Encoder(f[0], list(f[1:7]), _Head(net.fc))
    raise ValueError(f"ecotta: no encoder partition rule for {type(net).__name__}; use wrn28_10, resnet50, "
                     f"resnext29_32x4d, resnet20, small_resnet or small_cnn")


class MetaPart(nn.Module):
    """One part with its meta network (build_meta_block + one_part_of_networks)."""

    def __init__(self, original: nn.Module, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.original = original
        self.meta_bn = nn.BatchNorm2d(c_out)
        self.meta_conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.meta_conv_bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x̃_k and the frozen part's own output x_k = f_k(x̃_{k-1}) on the same input."""
        original = self.original(x)
        return self.meta_bn(original) + F.relu(self.meta_conv_bn(self.meta_conv(x))), original


class EcoTTANet(nn.Module):
    """The frozen model with K meta parts attached (attach_meta_networks); call with ``regularize=True`` for the
    self-distilled regularisation pass (each part's input detached, main.py's cal_mseloss mode)."""

    def __init__(self, model: nn.Module, parts: int, image_size: int, in_chans: int):
        super().__init__()
        net = getattr(model, "net", model)
        self.normalize = getattr(model, "normalize", nn.Identity())
        enc = split_encoder(net)
        self.stem, self.head = enc.stem, enc.head
        sizes = partition_sizes(len(enc.blocks), parts)
        groups, start = [], 0
        for n in sizes:
            groups.append(nn.Sequential(*enc.blocks[start:start + n]))
            start += n
        shapes = self._shapes(groups, image_size, in_chans, next(model.parameters()))
        self.parts = nn.ModuleList(MetaPart(g, cin, cout, max(1, hin // hout))
                                   for g, (cin, hin, cout, hout) in zip(groups, shapes))
        ref = next(model.parameters())
        self.to(device=ref.device, dtype=ref.dtype)
        self.requires_grad_(False)
        for p in self.meta_parameters():
            p.requires_grad_(True)

    @torch.no_grad()
    def _shapes(self, groups, image_size, in_chans, ref):
        was = [m.training for m in (self.stem, *groups)]
        self.stem.eval()
        for g in groups:
            g.eval()
        h = self.stem(self.normalize(torch.zeros(1, in_chans, image_size, image_size, dtype=ref.dtype,
                                                 device=ref.device)))
        shapes = []
        for g in groups:
            out = g(h)
            shapes.append((h.shape[1], h.shape[-1], out.shape[1], out.shape[-1]))
            h = out
        for m, t in zip((self.stem, *groups), was):
            m.train(t)
        return shapes

    def meta_parameters(self) -> list[nn.Parameter]:
        return [p for part in self.parts for n, p in part.named_parameters() if not n.startswith("original.")]

    def forward(self, x: torch.Tensor, regularize: bool = False):
        h = self.stem(self.normalize(x))
        reg = h.new_zeros(())
        for part in self.parts:
            h, original = part(h.detach() if regularize else h)
            if regularize:
                reg = reg + self_distilled_regularization(h, original)
        logits = self.head(h)
        return (logits, reg) if regularize else logits


def self_distilled_regularization(meta_out: torch.Tensor, original_out: torch.Tensor) -> torch.Tensor:
    """EcoTTA's self-distilled regularisation of one part (Sec. 3.2): mean |x̃_k - x_k| over all elements, the
    frozen output x_k a constant (one_part_of_networks: nn.L1Loss(reduction='none')(out, out1.detach()).mean())."""
    return (meta_out - original_out.detach()).abs().mean()


def ecotta_entropy(logits: torch.Tensor) -> torch.Tensor:
    """EcoTTA's entropy loss (Sec. 3.2, from EATA): mean entropy of the samples with H < 0.4·log C
    (utils.py entropy_minmization with e_margin = 0.4·log C)."""
    return filtered_entropy_mean(logits, ENTROPY_FRACTION * math.log(logits.shape[1]))


def source_view(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    """utils.py get_training_dataloader on a batch, per image: ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.4,
    GaussianBlur(kernel 3, σ ∈ [0.1, 2]) p 0.2, grayscale p 0.1."""
    n = len(x)
    x = x.clone()
    jitter = torch.rand(n, generator=g) < 0.4
    if jitter.any():
        x[jitter] = color_jitter(x[jitter], g)
    blur = torch.rand(n, generator=g) < 0.2
    sigma = torch.empty(n, dtype=torch.float64).uniform_(0.1, 2.0, generator=g)
    for i in blur.nonzero().flatten().tolist():  # a fixed 3x3 kernel: torchvision's GaussianBlur((3, 3))
        s = float(sigma[i])
        x[i] = TF.gaussian_blur(x[i], kernel_size=[3, 3], sigma=[s, s])
    gray = (torch.rand(n, generator=g) < 0.1) & (x.shape[1] == 3)
    if gray.any():
        x[gray] = TF.rgb_to_grayscale(x[gray], num_output_channels=3)
    return x.clamp(0, 1)


def warmup_lr(base: float, epoch: int, it: int, iters_per_epoch: int, warm: int = 1) -> float:
    """main.py's schedule: linear from 0 over the first ``warm`` epochs (WarmUpLR), then MultiStepLR at epochs
    3, 6, 8 with γ 0.2 (train_scheduler.step(epoch) at the start of each later epoch); epochs count from 1."""
    if epoch <= warm:
        return base * (it + 1) / (iters_per_epoch * warm + 1e-8)
    return base * 0.2 ** sum(epoch >= m for m in (3, 6, 8))


def warm_up(net: EcoTTANet, data: torch.utils.data.Dataset, *, epochs: int = 10, batch_size: int = 64,
            lr: float = 0.05, seed: int = 0, device: torch.device | str = "cpu") -> None:
    """Before deployment: the meta networks learn the source task by cross-entropy on the source training set, the
    whole network in train mode (main.py warmup_train; SGD momentum 0.9, no weight decay)."""
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=g)
    opt = torch.optim.SGD(net.meta_parameters(), lr=lr, momentum=0.9)
    net.train()
    for epoch in range(1, epochs + 1):
        for it, (x, y) in enumerate(loader):
            for group in opt.param_groups:
                group["lr"] = warmup_lr(lr, epoch, it, len(loader))
            x = source_view(x, g).to(device)
            loss = F.cross_entropy(net(x), y.to(device).long())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


class EcoTTA:
    """Continual adaptation of the meta networks (main.py adapt): per batch, first one SGD step on λ·Σ_k R_k
    (inputs of every part detached), then a second forward whose logits are the prediction and one SGD step on the
    filtered entropy; the network stays in train mode (test-batch BN statistics everywhere); one persistent SGD
    (momentum 0.9) on the meta parameters."""

    selected_fraction: float = 0.0
    adapted_fraction: float = 0.0

    def __init__(self, net: EcoTTANet, lr: float = 5e-3, lam: float = 0.25):
        self.net, self.lam = net, lam
        params = net.meta_parameters()
        self.opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        self.adapted_fraction = self.selected_fraction = (
            sum(p.numel() for p in params) / sum(p.numel() for p in net.parameters()))

    def step(self, x: torch.Tensor) -> torch.Tensor:
        self.net.train()
        _, reg = self.net(x, regularize=True)
        self.opt.zero_grad(set_to_none=True)
        (self.lam * reg).backward()
        self.opt.step()
        logits = self.net(x)
        self.opt.zero_grad(set_to_none=True)
        ecotta_entropy(logits).backward()
        self.opt.step()
        return logits.detach()
