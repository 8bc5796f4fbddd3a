"""LPIPS (Zhang et al. 2018, the ``lpips`` package) from a local backbone checkpoint; nothing is downloaded.

The package ships its linear calibration layers (``lpips/weights/v0.1/{alex,vgg}.pth``) but takes the AlexNet / VGG16
trunk from torchvision, which would download it. Here the trunk is built randomly initialised (``pnet_rand=True``) and
then filled from a file the user gives: a torchvision ``alexnet`` / ``vgg16`` state dict, as written by
``torch.save(torchvision.models.alexnet(weights="IMAGENET1K_V1").state_dict(), path)``.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

NETS = ("alex", "vgg")
_TV_NAME = {"alex": "alexnet", "vgg": "vgg16"}
_SLICE_KEY = re.compile(r"^slice\d+\.(\d+)\.(.+)$")


class LPIPSWeightsError(ValueError):
    """The local backbone checkpoint is missing or is not a torchvision state dict of the expected network."""


def _expected_format(net: str, path: Path) -> str:
    tv = _TV_NAME[net]
    return (f"expected a torchvision {tv} state dict with keys 'features.<i>.weight' / 'features.<i>.bias', as saved by "
            f"torch.save(torchvision.models.{tv}(weights=...).state_dict(), {str(path)!r})")


def backbone_key_map(lpips_net: torch.nn.Module) -> dict[str, str]:
    """LPIPS trunk key (``slice<k>.<i>.<param>``) -> torchvision key (``features.<i>.<param>``).

    lpips' ``pretrained_networks`` puts torchvision's ``features[i]`` into a slice module under the name ``str(i)``,
    so the layer index survives and only the ``slice<k>`` prefix differs from torchvision's ``features``.
    """
    out = {}
    for key in lpips_net.state_dict():
        m = _SLICE_KEY.match(key)
        if m is None:
            raise RuntimeError(f"unexpected LPIPS backbone key {key!r} (lpips package layout changed?)")
        out[key] = f"features.{m.group(1)}.{m.group(2)}"
    return out


def load_backbone(metric: torch.nn.Module, path: str | Path, net: str) -> None:
    """Fill ``metric.net`` (the LPIPS trunk) from the torchvision state dict at ``path``; errors name the path and format."""
    path = Path(path)
    if not path.is_file():
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r} do not exist; {_expected_format(net, path)}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same message
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r} could not be read ({e}); "
                                f"{_expected_format(net, path)}") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r} hold a {type(sd).__name__}, not a state dict; "
                                f"{_expected_format(net, path)}")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    mapping = backbone_key_map(metric.net)
    own = metric.net.state_dict()
    missing = [tv for tv in mapping.values() if tv not in sd]
    if missing:
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r} lack {len(missing)} of {len(mapping)} keys "
                                f"(e.g. {missing[:3]}; the file has e.g. {list(sd)[:3]}); {_expected_format(net, path)}")
    bad = [f"{tv} {tuple(sd[tv].shape)} != {tuple(own[k].shape)}" for k, tv in mapping.items()
           if sd[tv].shape != own[k].shape]
    if bad:
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r}: shapes do not match lpips net={net!r} "
                                f"({'; '.join(bad[:3])}); {_expected_format(net, path)}")
    metric.net.load_state_dict({k: sd[tv] for k, tv in mapping.items()}, strict=True)


def build_lpips(weights: str | Path, net: str = "alex", device: torch.device | str = "cpu") -> torch.nn.Module:
    """LPIPS v0.1 with the package's bundled linear layers and the trunk loaded from ``weights`` (eval mode, frozen)."""
    if net not in NETS:
        raise ValueError(f"lpips_net={net!r}; one of {NETS}")
    path = Path(weights)
    if not path.is_file():  # fail before building anything
        raise LPIPSWeightsError(f"LPIPS backbone weights {str(path)!r} do not exist; {_expected_format(net, path)}")
    import lpips

    with warnings.catch_warnings():  # torchvision's deprecation note on lpips' ``pretrained=False`` call
        warnings.simplefilter("ignore", UserWarning)
        metric = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    load_backbone(metric, path, net)
    metric.eval()
    for p in metric.parameters():
        p.requires_grad_(False)
    return metric.to(device)


# smallest side each trunk can take: AlexNet's stride-4 conv and two max-pools leave nothing below 31 px
MIN_SIDE = {"alex": 32, "vgg": 16}


@torch.no_grad()
def lpips_distance(metric: torch.nn.Module, img_a: torch.Tensor, img_b: torch.Tensor) -> float:
    """LPIPS between two (3, H, W) images in [0, 1] (rescaled to the [-1, 1] LPIPS expects).

    Images smaller than the trunk can take (AlexNet: 32 px, only the generated smoke scenes are) are first upsampled
    bilinearly, both alike, by the smallest integer factor that reaches it; paper-scale images are used as they are.
    """
    if img_a.shape != img_b.shape or img_a.dim() != 3 or img_a.shape[0] != 3:
        raise ValueError(f"lpips_distance wants two (3, H, W) images; got {tuple(img_a.shape)} and {tuple(img_b.shape)}")
    dev = next(metric.parameters()).device
    a = img_a.to(dev, torch.float32).unsqueeze(0)
    b = img_b.to(dev, torch.float32).unsqueeze(0)
    need = MIN_SIDE.get(getattr(metric, "pnet_type", "alex"), 32)
    side = min(a.shape[-2:])
    if side < need:
        f = -(-need // side)
        a = torch.nn.functional.interpolate(a, scale_factor=f, mode="bilinear", align_corners=False)
        b = torch.nn.functional.interpolate(b, scale_factor=f, mode="bilinear", align_corners=False)
    return float(metric(a, b, normalize=True).reshape(()))
