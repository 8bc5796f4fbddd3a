"""One entry point for rendering during training and evaluation: the sparse torch rasterizer, or gsplat on CUDA."""
from __future__ import annotations

import torch

from workloads.compgs.gsplat_backend import backend_available, render_gsplat
from workloads.compgs.sparse_rasterizer import render_sparse


def resolve_backend(requested: str, device: torch.device) -> str:
    if requested == "gsplat" and not backend_available():
        raise RuntimeError("backend=gsplat needs CUDA and the gsplat package (pip install -e '.[gpu]'); "
                           "use backend: torch or auto")
    if requested == "auto":
        return "gsplat" if device.type == "cuda" and backend_available() else "torch"
    return requested


def render_view(attrs: dict[str, torch.Tensor], sh_degree: int, camera: dict, background: torch.Tensor,
                backend: str = "torch") -> dict:
    """image (3, H, W), visible (N,) and the screen-space means (N, 2) whose grad drives densification."""
    n = attrs["pos"].shape[0]
    sh = torch.cat([attrs["dc"][:, None, :], attrs["sh"].reshape(n, -1, 3)], 1)
    if backend == "gsplat":
        out = render_gsplat(attrs["pos"], attrs["scale"], attrs["rot"], attrs["opacity"][:, 0], sh, sh_degree, camera,
                            background)
        meta = out["meta"]
        mean2d = meta["means2d"]
        if mean2d.requires_grad:
            mean2d.retain_grad()
        # radii are (1, N) or (1, N, 2) depending on the gsplat version
        visible = (meta["radii"].reshape(n, -1) > 0).any(1).detach()
        return {"image": out["image"], "visible": visible, "mean2d": mean2d,
                "mean2d_view": lambda: mean2d.grad.reshape(n, 2) if mean2d.grad is not None else None}
    out = render_sparse(attrs["pos"], attrs["scale"], attrs["rot"], attrs["opacity"][:, 0], sh, sh_degree, camera,
                        background)
    mean2d = out["mean2d"]
    out["mean2d_view"] = lambda: mean2d.grad
    return out
