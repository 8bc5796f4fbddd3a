"""The trainable 3D Gaussian model: parameters, 3DGS optimiser, and density control that keeps Adam's state aligned.

Attributes (dissertation Sec. 3.1): pos (3), dc (3), sh (15 x 3 = 45 for degree 3, 0 for No-SH), scale (3, log),
rot (4, raw quaternion, normalised only by the renderer), opacity (1, logit): 59 values per Gaussian at degree 3.
"""
from __future__ import annotations

import math

import torch

from workloads.compgs.densify import densify_masks, prune_mask, split_children
from workloads.compgs.geometry import quat_to_rotmat
from workloads.compgs.sh import SH_C0

ATTRS = ("pos", "dc", "sh", "scale", "rot", "opacity")


def attr_dims(sh_degree: int) -> dict[str, int]:
    return {"pos": 3, "opacity": 1, "dc": 3, "sh": 3 * ((sh_degree + 1) ** 2 - 1), "scale": 3, "rot": 4}


def rgb_to_dc(rgb: torch.Tensor) -> torch.Tensor:
    """DC coefficient whose SH colour (c0 * Y_00 + 0.5) is ``rgb``."""
    return (rgb - 0.5) / SH_C0


def nn_mean_sq_dist(points: torch.Tensor, k: int = 3, chunk: int = 4096) -> torch.Tensor:
    """Mean squared distance to the ``k`` nearest other points (3DGS initial scale), chunked brute force."""
    n = points.shape[0]
    if n <= 1:
        return torch.full((n,), 1e-2)
    out = torch.empty(n)
    for s in range(0, n, chunk):
        d = torch.cdist(points[s:s + chunk], points).pow(2)
        d[torch.arange(d.shape[0]), torch.arange(s, s + d.shape[0])] = float("inf")
        out[s:s + chunk] = d.topk(min(k, n - 1), largest=False).values.mean(1)
    return out.clamp_min(1e-7)


class GaussianModel:
    """Parameters as leaf tensors, one Adam param group each (names as in ``ATTRS``)."""

    def __init__(self, params: dict[str, torch.Tensor], sh_degree: int, device: torch.device | str = "cpu"):
        self.sh_degree = sh_degree
        self.params = {k: v.detach().to(device).clone().requires_grad_(True) for k, v in params.items()}
        self.opt: torch.optim.Adam | None = None

    @classmethod
    def from_points(cls, points: torch.Tensor, colors: torch.Tensor, sh_degree: int,
                    device: torch.device | str = "cpu") -> "GaussianModel":
        """3DGS initialisation from (SfM) points: isotropic scale from 3 neighbours, opacity 0.1, identity rotation."""
        n = points.shape[0]
        dims = attr_dims(sh_degree)
        rot = torch.zeros(n, 4)
        rot[:, 0] = 1.0
        return cls({"pos": points.float(), "dc": rgb_to_dc(colors.float()), "sh": torch.zeros(n, dims["sh"]),
                    "scale": torch.log(torch.sqrt(nn_mean_sq_dist(points.float())))[:, None].repeat(1, 3), "rot": rot,
                    "opacity": torch.full((n, 1), math.log(0.1 / 0.9))}, sh_degree, device)

    def __len__(self) -> int:
        return self.params["pos"].shape[0]

    def make_optimizer(self, lrs: dict[str, float]) -> None:
        self.opt = torch.optim.Adam([{"params": [self.params[k]], "lr": lrs[k], "name": k} for k in ATTRS], lr=0.0, eps=1e-15)

    def set_lr(self, name: str, lr: float) -> None:
        for g in self.opt.param_groups:
            if g["name"] == name:
                g["lr"] = lr

    # -- density control, keeping Adam's moments in step with the tensors -------------------------------
    def _replace(self, fn_param, fn_state) -> None:
        for g in self.opt.param_groups:
            old = g["params"][0]
            new = fn_param(g["name"], old.detach()).requires_grad_(True)
            state = self.opt.state.pop(old, None)
            if state:
                state = {k: (fn_state(v) if torch.is_tensor(v) and v.shape[:1] == old.shape[:1] and v.dim() > 0 else v)
                         for k, v in state.items()}
                self.opt.state[new] = state
            g["params"][0] = new
            self.params[g["name"]] = new

    def keep(self, mask: torch.Tensor) -> None:
        if not bool(mask.any()):
            raise RuntimeError(
                f"pruning would remove all {len(self)} Gaussians (opacity below min_opacity or too large); lower "
                "min_opacity / lambda_reg, or lengthen the schedule (iterations) so opacities can recover")
        self._replace(lambda name, t: t[mask], lambda s: s[mask])

    def append(self, new: dict[str, torch.Tensor]) -> None:
        m = next(iter(new.values())).shape[0]
        self._replace(lambda name, t: torch.cat([t, new[name].to(t)]),
                      lambda s: torch.cat([s, torch.zeros((m,) + s.shape[1:], dtype=s.dtype, device=s.device)]))

    def densify_and_prune(self, grad_norm: torch.Tensor, grad_threshold: float, percent_dense: float, extent: float,
                          min_opacity: float, generator: torch.Generator, max_gaussians: int = 0) -> None:
        """3DGS adaptive density control: clone small hot Gaussians, split big ones (parents removed), prune."""
        p = {k: v.detach() for k, v in self.params.items()}
        dev = p["pos"].device
        grad_norm = grad_norm.to(dev)
        clone, split = densify_masks(grad_norm, p["scale"], grad_threshold, percent_dense, extent)
        if max_gaussians and len(self) + int(clone.sum()) + int(split.sum()) > max_gaussians:
            clone &= False
            split &= False
        n_before = len(self)
        self.append({k: v[clone] for k, v in p.items()})
        if split.any():
            means, log_s = split_children(p["pos"][split], p["scale"][split], quat_to_rotmat(p["rot"][split]), generator)
            child = {k: v[split].repeat(2, 1) for k, v in p.items()}
            child["pos"], child["scale"] = means, log_s
            self.append(child)
        keep = torch.ones(len(self), dtype=torch.bool, device=dev)
        keep[:n_before] &= ~split  # split parents are replaced by their children
        scales = torch.exp(self.params["scale"].detach()).amax(1)
        keep &= ~prune_mask(self.params["opacity"].detach()[:, 0], min_opacity) & (scales <= 0.1 * extent)
        self.keep(keep)

    def prune_transparent(self, min_opacity: float) -> None:
        self.keep(~prune_mask(self.params["opacity"].detach()[:, 0], min_opacity))

    def reset_opacity(self, ceiling: float = 0.01) -> None:
        """opacity <- min(opacity, 0.01) and its Adam moments zeroed (3DGS)."""
        logit = math.log(ceiling / (1 - ceiling))
        with torch.no_grad():
            self.params["opacity"].clamp_(max=logit)
        for g in self.opt.param_groups:
            if g["name"] == "opacity":
                for v in self.opt.state.get(g["params"][0], {}).values():
                    if torch.is_tensor(v) and v.dim() > 0:
                        v.zero_()

    def state_dict(self) -> dict:
        return {"params": {k: v.detach().clone() for k, v in self.params.items()}, "sh_degree": self.sh_degree,
                "opt": self.opt.state_dict() if self.opt else None}

    @classmethod
    def from_state(cls, state: dict, lrs: dict[str, float], device: torch.device | str = "cpu") -> "GaussianModel":
        m = cls(state["params"], state["sh_degree"], device)
        m.make_optimizer(lrs)
        if state.get("opt"):
            m.opt.load_state_dict(state["opt"])
        return m
