"""What a ``compgs`` trial reads from disk: its scene (a folder under the data root, NeRF-synthetic or COLMAP) and,
when LPIPS is asked for, the local AlexNet/VGG16 weights (``<data>/checkpoints/compgs/`` by convention)."""
from __future__ import annotations

from pathlib import Path

from workloads.common.requirements import Requirement, checkpoint_requirement, missing_of, under_root
from workloads.compgs.config import CompGSConfig

NERF_SYNTHETIC_LAYOUT = "NeRF-synthetic: transforms_{train,test}.json + the PNGs they name"
COLMAP_LAYOUT = "COLMAP: {images folder}/ + sparse/0/{cameras,images,points3D}.{bin|txt}"
SCENE_HINT = "the scene downloads of 3DGS / NeRF (Mip-NeRF360, Tanks&Temples, Deep Blending, NeRF-synthetic)"


def scene_requirement(scene: str, data_root: str | Path, images: str) -> Requirement | None:
    """A scene folder and what its loader reads; ``None`` for the scenes generated here."""
    from workloads.compgs.colmap import image_folder  # (deferred: the COLMAP reader imports torch)
    from workloads.compgs.generated_scene import SCENES

    if scene in SCENES:
        return None
    path = under_root(scene, data_root)
    if (path / "transforms_train.json").is_file() or "nerf_synthetic" in Path(scene).parts:
        missing = missing_of([path / "transforms_train.json", path / "transforms_test.json"])
        return Requirement("data", f"scene {scene}", path, NERF_SYNTHETIC_LAYOUT, missing, SCENE_HINT)
    folder = image_folder(path, images)
    sparse = path / "sparse" / "0" if (path / "sparse" / "0").is_dir() else path / "sparse"
    missing = missing_of([path / folder], folders=True)
    for stem in ("cameras", "images", "points3D"):
        if not any((sparse / f"{stem}{ext}").is_file() for ext in (".bin", ".txt")):
            missing += (sparse / f"{stem}.bin",)
    return Requirement("data", f"scene {scene}", path, COLMAP_LAYOUT.replace("{images folder}", folder), missing,
                       SCENE_HINT)


def lpips_weights_path(cfg: CompGSConfig, data_root: str | Path) -> Path | None:
    """``lpips_weights`` (relative: under the data root); ``None`` when no LPIPS is asked for."""
    return under_root(cfg.lpips_weights, data_root) if cfg.lpips_weights else None


def requirements(cfg: CompGSConfig, data_root: str | Path, scale: str) -> list[Requirement]:
    scenes = [cfg.scene] + ([cfg.codebook_scene] if cfg.shared_codebook else [])
    out = [r for r in (scene_requirement(s, data_root, cfg.images) for s in scenes) if r is not None]
    lpips = lpips_weights_path(cfg, data_root)
    if lpips is not None:
        out.append(checkpoint_requirement(f"compgs LPIPS trunk ({cfg.lpips_net})", lpips,
                                          f"torchvision {'alexnet' if cfg.lpips_net == 'alex' else 'vgg16'} state_dict",
                                          "torch.save(torchvision.models.alexnet(weights='DEFAULT').state_dict(), ...)"))
    return out
