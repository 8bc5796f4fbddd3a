"""Artifacts: the learned patch as PNG and the token-drop visualisation (dissertation Fig. 4.2 / C.4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_patch_png(values: torch.Tensor, path: Path) -> Path:
    """The patch (C, s, s) in [0, 255] as an 8-bit PNG, upscaled so small mini-scale patches stay visible."""
    from PIL import Image

    arr = values.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(arr if arr.shape[2] == 3 else arr[..., 0])
    scale = max(1, 128 // max(arr.shape[:2]))
    img.resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST).save(path)
    return path


def save_token_drop_png(clean: tuple[torch.Tensor, torch.Tensor], attacked: tuple[torch.Tensor, torch.Tensor],
                        patch_grid: int, path: Path, layer: int | None = None) -> Path:
    """Images with the tokens dropped by ``layer`` greyed out, without (top) and with (bottom) the attack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(4, clean[0].shape[0])
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False)
    for row, (images, masks) in enumerate((clean, attacked)):
        lay = masks.shape[0] - 1 if layer is None else layer
        for i in range(n):
            img = images[i].permute(1, 2, 0).numpy()
            keep = masks[lay, i, 1:].float().view(patch_grid, patch_grid).numpy()
            up = np.kron(keep, np.ones((img.shape[0] // patch_grid, img.shape[1] // patch_grid)))
            shown = img * up[..., None] + 0.85 * (1 - up[..., None])
            axes[row, i].imshow(shown.clip(0, 1))
            axes[row, i].set_axis_off()
            axes[row, i].set_title(f"{'attacked' if row else 'clean'}: {int(keep.sum())} kept", fontsize=8)
    fig.suptitle(f"tokens kept at layer {lay + 1}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
