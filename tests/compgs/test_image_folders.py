"""3DGS's evaluation resolutions (full_eval.py: Mip-NeRF360 outdoor `-i images_4`, indoor `-i images_2`, Tanks&Temples
and Deep Blending `images`) on tiny COLMAP scenes written with those folders."""
import numpy as np
import pytest
from PIL import Image

from orchestrator.context import LocalContext
from orchestrator.registry import build_config, get_workload
from tests.compgs.test_colmap_loader import write_text
from tests.compgs.test_workload_on_colmap_scene import write_colmap
from workloads.compgs.colmap import image_folder, load_colmap
from workloads.compgs.generated_scene import make_scene
from workloads.compgs.nerf_synthetic import SceneMissingError

# the 3DGS full_eval.py scene lists, written out here independently of the module's constants
OUTDOOR = ["bicycle", "flowers", "garden", "stump", "treehill"]
INDOOR = ["room", "counter", "kitchen", "bonsai"]


@pytest.mark.parametrize("name", OUTDOOR + INDOOR + ["train", "truck", "drjohnson", "playroom", "lego"])
def test_auto_folder_follows_full_eval(name):
    expected = "images_4" if name in OUTDOOR else "images_2" if name in INDOOR else "images"
    assert image_folder(f"/data/x/{name}", "auto") == expected
    assert image_folder(f"/data/x/{name}", "images") == "images"


def _downsampled(scene, folder, size):
    """A downsampled copy of every image, named as in images/ (as Mip-NeRF360 ships images_2 / images_4)."""
    (scene / folder).mkdir()
    for p in (scene / "images").iterdir():
        Image.open(p).resize(size, Image.BILINEAR).save(scene / folder / p.name)


def test_outdoor_scene_loads_images_4_with_intrinsics_of_that_size(tmp_path):
    scene = tmp_path / "bicycle"
    write_text(scene)  # PINHOLE 40x30, fx 50, fy 52, cx 20, cy 15 (full resolution)
    _downsampled(scene, "images_4", (10, 8))  # 30/4 = 7.5 rounds to 8, as the shipped folders round
    cam = load_colmap(scene, images="auto", test_every=0)["train"][0]["camera"]
    # same field of view as at 40x30: focal and principal point scale by width 10/40 and height 8/30
    assert (cam["width"], cam["height"]) == (10, 8)
    assert cam["fx"] == pytest.approx(50 * 10 / 40) and cam["fy"] == pytest.approx(52 * 8 / 30)
    assert cam["cx"] == pytest.approx(20 * 10 / 40 - 0.5) and cam["cy"] == pytest.approx(15 * 8 / 30 - 0.5)
    full = load_colmap(scene, images="images", test_every=0)["train"][0]["camera"]
    assert (full["width"], full["fx"]) == (40, 50.0)


def test_indoor_scene_loads_images_2_and_a_missing_folder_names_it(tmp_path):
    scene = tmp_path / "room"
    write_text(scene)
    with pytest.raises(SceneMissingError, match=r"images_2 not found \(present: images\)"):
        load_colmap(scene, images="auto")
    _downsampled(scene, "images_2", (20, 15))
    view = load_colmap(scene, images="auto", test_every=0)["train"][0]
    assert tuple(view["image"].shape) == (3, 15, 20) and view["camera"]["fx"] == pytest.approx(25.0)


def test_workload_trains_a_mipnerf360_indoor_scene_on_its_images_2_folder(tmp_path):
    """Paper-scale path: a COLMAP scene named like a Mip-NeRF360 indoor scene, full images 48x24 and images_2 24x12."""
    gen = make_scene("smoke", tmp_path / "gen")
    scene = tmp_path / "data" / "mipnerf360" / "counter"
    write_colmap(gen, scene)
    _downsampled(scene, "images_2", (24, 12))
    wl = get_workload("compgs")
    cfg = build_config(wl, {"variant": "3dgs", "scene": "mipnerf360/counter", "iterations": 10,
                            "grad_multiplier": 10.0, "fps_repeats": 1})
    ctx = LocalContext(seed=0, scale="paper", work_dir=tmp_path / "w", cache_dir=tmp_path / "c", data_root=tmp_path / "data")
    wl.fn(cfg, ctx)
    img = np.asarray(Image.open(ctx.artifacts["test_view.png"]))
    assert img.shape[0] == 12 and ctx.summaries["psnr"] > 5  # rendered and scored at images_2's size
