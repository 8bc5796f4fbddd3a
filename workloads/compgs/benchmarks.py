"""The three real-scene benchmarks of CompGS Tables 3.1-3.3 and which scene belongs to which.

The dissertation (Sec. 3.1, "Datasets"; App. B.5) averages every metric over the scenes of one benchmark and prints
one column group per benchmark: Mip-NeRF360 (9 scenes), Tanks&Temples (2) and Deep Blending (2). The scene lists are
those of 3DGS's ``full_eval.py`` (graphdeco-inria/gaussian-splatting, l.4-7), the evaluation CompGS's released code
(UCDvision/compact3d, ``run.sh``: ``-s <base>/<dset>/<scene>`` with ``dset=tandt``) inherits; the folder names
``mipnerf360``, ``tandt`` and ``db`` are the ones the 3DGS downloads unpack to. Pure data and lookups: no torch.
"""
from __future__ import annotations

from pathlib import PurePath

from orchestrator.registry import ConfigError

MIPNERF360_OUTDOOR = ("bicycle", "flowers", "garden", "stump", "treehill")
MIPNERF360_INDOOR = ("room", "counter", "kitchen", "bonsai")
TANKS_AND_TEMPLES = ("truck", "train")
DEEP_BLENDING = ("drjohnson", "playroom")

# benchmark label (the column-group prefix of the published Tables 3.1-3.3) -> its scenes
BENCHMARK_SCENES = {"mipnerf360": MIPNERF360_OUTDOOR + MIPNERF360_INDOOR, "tandt": TANKS_AND_TEMPLES,
                    "db": DEEP_BLENDING}
OTHER = "other"  # a scene of none of the three (a generated scene, a capture of one's own)
AUTO = "auto"


def scene_benchmark(scene: str) -> str:
    """The benchmark a scene folder belongs to, by the folder's name (``mipnerf360/bicycle`` -> ``mipnerf360``,
    ``/data/tandt/truck`` -> ``tandt``); ``other`` for any other scene. The names are distinct across benchmarks."""
    name = PurePath(str(scene)).name.lower()
    for bench, scenes in BENCHMARK_SCENES.items():
        if name in scenes:
            return bench
    return OTHER


def resolve_benchmark(scene: str, benchmark: str) -> str:
    """``benchmark`` as a trial records it: ``auto`` becomes the scene's own benchmark. An explicit label is kept
    (a generated scene standing in for Mip-NeRF360 at small scales) unless the scene is a real scene of another
    benchmark, which would put its numbers in the wrong column group."""
    known = (*BENCHMARK_SCENES, OTHER)
    if benchmark == AUTO:
        return scene_benchmark(scene)
    if benchmark not in known:
        raise ConfigError(f"compgs: benchmark={benchmark!r} is not one of {', '.join(known)} or auto. It labels the "
                          f"column group of Tables 3.1-3.3 a run counts in; leave it at auto to take it from the scene "
                          f"folder's name (3DGS full_eval.py scene lists).")
    own = scene_benchmark(scene)
    if own != OTHER and own != benchmark:
        raise ConfigError(f"compgs: scene {scene!r} is a {own} scene, but benchmark={benchmark!r}: its numbers would be "
                          f"averaged into the wrong column group. Set benchmark: {own} or auto (the default).")
    return benchmark
