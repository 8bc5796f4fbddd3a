"""Tiny data sets and checkpoints in the real on-disk formats, for tests of the paper-scale paths (issue 19 item 4).

Every writer puts its files where the path rule (``workloads.common.requirements``) says, under a data root:
CIFAR-10/100 python pickle batches, CIFAR-10-C/100-C ``.npy`` stacks, ImageNet and ImageNet-C class folders of JPEGs,
COLMAP scenes (text or binary), NeRF-synthetic ``transforms_*.json`` scenes and E2E CSVs; and checkpoints made
from randomly initialised models in the layouts the community distributes (RobustBench, timm, DeiT / A-ViT
releases, RevCol, torchvision, Hugging Face GPT-2). The official-layout networks here are written from the
releases' code, independent of the project's builders, so loading them checks the key conversion.
"""
from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from workloads.common.corruptions import CORRUPTIONS
from workloads.common.requirements import (CIFAR10_FOLDER, CIFAR100_FOLDER, CIFAR10C_FOLDER, CIFAR100C_FOLDER,
                                           IMAGENET_FOLDER, IMAGENETC_FOLDER)

IN21K = 21843
WNIDS = ("n01440764", "n01443537", "n01484850")


# ---------------------------------------------------------------------------------------------
# data sets


def _class_images(n: int, num_classes: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """(n, size, size, 3) uint8 images, each class a flat colour plus noise (learnable, distinct per class)."""
    labels = [i % num_classes for i in range(n)]
    base = rng.integers(0, 256, (num_classes, 3))
    x = base[labels][:, None, None, :] + rng.integers(-30, 30, (n, size, size, 3))
    return np.clip(x, 0, 255).astype(np.uint8), labels


def write_cifar(root: Path, name: str = "cifar10", n_train: int = 20, n_test: int = 10, seed: int = 0) -> Path:
    """CIFAR's python pickles: ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` (``labels``) or
    ``cifar-100-python/{train,test}`` (``fine_labels`` + ``coarse_labels``); rows are 3072 bytes, channel-major."""
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    base = Path(root) / (CIFAR10_FOLDER if name == "cifar10" else CIFAR100_FOLDER)
    base.mkdir(parents=True, exist_ok=True)
    if name == "cifar10":
        per = max(1, n_train // 5)
        files = [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", n_test)]
    else:
        files = [("train", n_train), ("test", n_test)]
    for fname, n in files:
        x, y = _class_images(n, min(classes, 10), 32, rng)
        entry = {"data": x.transpose(0, 3, 1, 2).reshape(n, 3072)}
        entry.update({"labels": y} if name == "cifar10" else {"fine_labels": y, "coarse_labels": [v // 5 for v in y]})
        with open(base / fname, "wb") as fh:
            pickle.dump(entry, fh)
    return base


def write_cifar_c(root: Path, name: str = "cifar10c", per_severity: int = 4, corruptions: Sequence[str] = CORRUPTIONS,
                  seed: int = 0) -> Path:
    """Hendrycks' ``CIFAR-10-C/<corruption>.npy``: (5 * N, 32, 32, 3) uint8, severities 1-5 stacked, one
    ``labels.npy`` of 5 * N labels (the real files have N = 10,000)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / (CIFAR10C_FOLDER if name == "cifar10c" else CIFAR100C_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    x, y = _class_images(per_severity, 10, 32, rng)
    np.save(folder / "labels.npy", np.tile(np.asarray(y, np.uint8), 5))
    for c in corruptions:
        np.save(folder / f"{c}.npy", np.concatenate([np.clip(x.astype(int) + 10 * s, 0, 255).astype(np.uint8)
                                                     for s in range(5)]))
    return folder


def _jpegs(folder: Path, n: int, size: int, colour: np.ndarray, rng: np.random.Generator, prefix: str = "img") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        x = np.clip(colour[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(x).save(folder / f"{prefix}_{i:04d}.JPEG", quality=90)


def write_imagenet(root: Path, wnids: Sequence[str] = WNIDS, per_class: int = 2, size: int = 64,
                   splits: Sequence[str] = ("train", "val"), test_images: int = 0, seed: int = 0) -> Path:
    """ILSVRC-2012 as folders: ``imagenet/{train,val}/<wnid>/*.JPEG`` and, with ``test_images``, the flat
    unlabeled ``imagenet/test/*.JPEG``."""
    rng = np.random.default_rng(seed)
    base = Path(root) / IMAGENET_FOLDER
    colours = rng.integers(0, 256, (len(wnids), 3))
    for split in splits:
        for wnid, colour in zip(wnids, colours):
            _jpegs(base / split / wnid, per_class, size, colour, rng, prefix=wnid)
    if test_images:
        _jpegs(base / "test", test_images, size, colours[0], rng, prefix="ILSVRC2012_test")
    return base


def write_imagenet_c(root: Path, corruptions: Sequence[str] = CORRUPTIONS, severities: Sequence[int] = (5,),
                     wnids: Sequence[str] = WNIDS, per_class: int = 1, size: int = 224, seed: int = 0) -> Path:
    """Hendrycks' ``ImageNet-C/<corruption>/<severity>/<wnid>/*.JPEG`` (224 x 224, already centre-cropped)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / IMAGENETC_FOLDER
    colours = rng.integers(0, 256, (len(wnids), 3))
    for c in corruptions:
        for s in severities:
            for wnid, colour in zip(wnids, colours):
                _jpegs(base / c / str(s) / wnid, per_class, size, colour, rng, prefix=wnid)
    return base


def write_cub200(root: Path, classes: Sequence[str] = ("001.Black_footed_Albatross", "002.Laysan_Albatross"),
                 train_per_class: int = 6, test_per_class: int = 2, size: int = 40, seed: int = 0) -> Path:
    """CUB-200-2011 as released: ``CUB_200_2011/{images/<class>/*.jpg, images.txt, image_class_labels.txt,
    train_test_split.txt}`` (1-based ids, class by folder order, 1 = train); images are not square."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "CUB_200_2011"
    lines: dict[str, list[str]] = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": []}
    i = 0
    for c, (name, colour) in enumerate(zip(classes, rng.integers(0, 256, (len(classes), 3)))):
        for j in range(train_per_class + test_per_class):
            i += 1
            rel = f"{name}/{name.split('.', 1)[1]}_{j:04d}.jpg"
            x = np.clip(colour[None, None, :] + rng.integers(-30, 30, (size, size + 8, 3)), 0, 255).astype(np.uint8)
            (base / "images" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(x).save(base / "images" / rel, quality=90)
            lines["images.txt"].append(f"{i} {rel}")
            lines["image_class_labels.txt"].append(f"{i} {c + 1}")
            lines["train_test_split.txt"].append(f"{i} {int(j < train_per_class)}")
    for f, rows in lines.items():
        (base / f).write_text("\n".join(rows) + "\n")
    return base


def write_caltech101(root: Path, classes: Sequence[str] = ("BACKGROUND_Google", "accordion"), per_class: int = 32,
                     size: int = 24, seed: int = 0) -> Path:
    """Caltech-101 as released: ``caltech101/101_ObjectCategories/<class>/image_<0001>.jpg`` (no split files)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "caltech101" / "101_ObjectCategories"
    for name, colour in zip(classes, rng.integers(0, 256, (len(classes), 3))):
        _jpegs(base / name, per_class, size, colour, rng, prefix="image")
    return base


def write_pets(root: Path, breeds: Sequence[str] = ("Abyssinian", "beagle"), trainval_per_class: int = 6,
               test_per_class: int = 2, size: int = 24, seed: int = 0) -> Path:
    """Oxford-IIIT Pet as released: ``oxford-iiit-pet/{images/<Breed>_<n>.jpg, annotations/trainval.txt,
    annotations/test.txt}`` (lines "<image> <class id 1..> <species> <breed id>")."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "oxford-iiit-pet"
    lists: dict[str, list[str]] = {"trainval": [], "test": []}
    for c, (breed, colour) in enumerate(zip(breeds, rng.integers(0, 256, (len(breeds), 3)))):
        (base / "images").mkdir(parents=True, exist_ok=True)
        for j in range(trainval_per_class + test_per_class):
            image = f"{breed}_{j:04d}"
            x = np.clip(colour[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(x).save(base / "images" / f"{image}.jpg", quality=90)
            lists["trainval" if j < trainval_per_class else "test"].append(f"{image} {c + 1} 1 {c + 1}")
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    for part, rows in lists.items():
        (base / "annotations" / f"{part}.txt").write_text("\n".join(rows) + "\n")
    return base


def write_e2e(root: Path, rows: Sequence[tuple[str, str]] | None = None) -> Path:
    """The E2E NLG challenge CSVs ``e2e/trainset.csv`` and ``e2e/testset_w_refs.csv`` (columns ``mr,ref``)."""
    rows = rows or [("name[Aromi], eatType[pub]", "Aromi is a pub."), ("name[Cotto], eatType[pub]", "Cotto is a pub."),
                    ("name[Aromi], eatType[pub]", "Aromi is a pub name.")]
    folder = Path(root) / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    text = "mr,ref\n" + "".join(f'"{mr}","{ref}"\n' for mr, ref in rows)
    for name in ("trainset.csv", "testset_w_refs.csv"):
        (folder / name).write_text(text)
    return folder


def _png(image: torch.Tensor, path: Path, alpha: bool = False) -> None:
    rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    if alpha:
        rgb = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    Image.fromarray(rgb).save(path)


def write_nerf_synthetic(scene: dict, folder: Path) -> Path:
    """A scene dict (``train``/``test`` views with OpenCV ``world_to_cam``) as NeRF-synthetic: RGBA PNGs and
    ``transforms_{train,test}.json`` with OpenGL camera-to-world matrices and ``camera_angle_x``."""
    folder = Path(folder)
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for i, v in enumerate(scene[split]):
            cam = v["camera"]
            c2w = np.linalg.inv(cam["world_to_cam"].double().numpy()) @ np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV -> GL
            _png(v["image"], folder / split / f"r_{i}.png", alpha=True)
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
        angle = 2 * math.atan(scene[split][0]["camera"]["width"] / (2 * scene[split][0]["camera"]["fx"]))
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    return folder


def write_colmap(scene: dict, folder: Path, *, binary: bool = False, images: str = "images") -> Path:
    """A scene dict as a COLMAP reconstruction: ``<images>/<name>.png`` and ``sparse/0/{cameras,images,points3D}``
    in COLMAP's text or binary format (read_write_model.py layout; one PINHOLE camera, 0.5-pixel centre shift)."""
    folder = Path(folder)
    sp = folder / "sparse" / "0"
    sp.mkdir(parents=True)
    (folder / images).mkdir()
    views = scene["train"] + scene["test"]
    cam = views[0]["camera"]
    params = [cam["fx"], cam["fy"], cam["cx"] + 0.5, cam["cy"] + 0.5]
    poses = []
    for i, v in enumerate(views):
        w2c = v["camera"]["world_to_cam"].double().numpy()
        name = f"{i:03d}.png"
        _png(v["image"], folder / images / name)
        poses.append((i + 1, rotmat_to_qvec(w2c[:3, :3]), w2c[:3, 3], name))
    pts, cols = scene["points"].double().numpy(), (scene["colors"].numpy() * 255).round().astype(int)
    if binary:
        (sp / "cameras.bin").write_bytes(struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, 1, cam["width"], cam["height"])
                                         + struct.pack("<4d", *params))
        data = struct.pack("<Q", len(poses))
        for i, q, t, name in poses:
            data += struct.pack("<i7di", i, *q, *t, 1) + name.encode() + b"\x00" + struct.pack("<Q", 0)
        (sp / "images.bin").write_bytes(data)
        data = struct.pack("<Q", len(pts))
        for i, (p, c) in enumerate(zip(pts, cols)):
            data += struct.pack("<Q3d3BdQ", i + 1, *p, *(int(v) for v in c), 0.1, 0)
        (sp / "points3D.bin").write_bytes(data)
        return folder
    (sp / "cameras.txt").write_text(f"1 PINHOLE {cam['width']} {cam['height']} {' '.join(map(str, params))}\n")
    (sp / "images.txt").write_text("".join(f"{i} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {name}\n\n"
                                           for i, q, t, name in poses))
    (sp / "points3D.txt").write_text("".join(f"{i + 1} {p[0]} {p[1]} {p[2]} {c[0]} {c[1]} {c[2]} 0.1\n"
                                             for i, (p, c) in enumerate(zip(pts, cols))))
    return folder


# ---------------------------------------------------------------------------------------------
# checkpoints in the official layouts


def save_torchvision(path: Path, arch: str = "resnet50", num_classes: int = 1000, seed: int = 0) -> Path:
    """A randomly initialised torchvision model's bare state_dict (SimReg's teachers after conversion)."""
    import torchvision

    torch.manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(getattr(torchvision.models, arch)(num_classes=num_classes).state_dict(), path)
    return path


def save_release(state: dict[str, torch.Tensor], path: Path, key: str = "model") -> Path:
    """As the DeiT / A-ViT / RevCol releases are saved: ``{'model': state_dict}``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: state}, path)
    return path


def save_robustbench_resnext29(path: Path, seed: int = 0) -> Path:
    """RobustBench's CIFAR-100 ``Hendrycks2020AugMix_ResNeXt`` (ResNeXt-29, cardinality 4, width 32; random weights and
    BN statistics; its ``mu``/``sigma`` input buffers) as its zoo file."""
    torch.manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataparallel(randomise_bn(RBAugMixResNeXt(depth=29, cardinality=4, base_width=32, classes=100)), path)
    return path


# RobustBench's architectures as its model zoo writes them (model_zoo/architectures/wide_resnet.py, resnext.py)


class RBBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        if not self.equal:
            x = F.relu(self.bn1(x))
            out = x
        else:
            out = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return (x if self.equal else self.convShortcut(x)) + out


class RBNetworkBlock(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[RBBasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class RBWideResNet(nn.Module):
    def __init__(self, depth=10, widen=2, classes=10):
        super().__init__()
        n, ch = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, ch[0], 3, 1, 1, bias=False)
        self.block1, self.block2 = RBNetworkBlock(n, ch[0], ch[1], 1), RBNetworkBlock(n, ch[1], ch[2], 2)
        self.block3 = RBNetworkBlock(n, ch[2], ch[3], 2)
        self.bn1, self.fc = nn.BatchNorm2d(ch[3]), nn.Linear(ch[3], classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


class RBResNeXtBottleneck(nn.Module):
    def __init__(self, inplanes, planes, cardinality, base_width, stride, downsample):
        super().__init__()
        d = int(math.floor(planes * (base_width / 64.0))) * cardinality
        self.conv_reduce, self.bn_reduce = nn.Conv2d(inplanes, d, 1, bias=False), nn.BatchNorm2d(d)
        self.conv_conv = nn.Conv2d(d, d, 3, stride, 1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(d)
        self.conv_expand, self.bn_expand = nn.Conv2d(d, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn_reduce(self.conv_reduce(x)))
        y = self.bn_expand(self.conv_expand(F.relu(self.bn(self.conv_conv(y)))))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class RBAugMixResNeXt(nn.Module):
    def __init__(self, depth=11, cardinality=4, base_width=32, classes=100):
        super().__init__()
        n, self.inplanes = (depth - 2) // 9, 64
        self.conv_1_3x3, self.bn_1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)
        self.stage_1 = self._stage(64, n, 1, cardinality, base_width)
        self.stage_2 = self._stage(128, n, 2, cardinality, base_width)
        self.stage_3 = self._stage(256, n, 2, cardinality, base_width)
        self.classifier = nn.Linear(1024, classes)
        self.register_buffer("mu", torch.tensor([0.5] * 3).view(1, 3, 1, 1))
        self.register_buffer("sigma", torch.tensor([0.5] * 3).view(1, 3, 1, 1))

    def _stage(self, planes, n, stride, cardinality, base_width):
        blocks = []
        for i in range(n):
            down = None
            if i == 0 and (stride != 1 or self.inplanes != planes * 4):
                down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                     nn.BatchNorm2d(planes * 4))
            blocks.append(RBResNeXtBottleneck(self.inplanes, planes, cardinality, base_width, stride if i == 0 else 1,
                                              down))
            self.inplanes = planes * 4
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = F.relu(self.bn_1(self.conv_1_3x3((x - self.mu) / self.sigma)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


class RBNormalizer(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.as_tensor(std).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def save_dataparallel(model: nn.Module, path):
    """As RobustBench's zoo files are saved: {'state_dict': {'module.<key>': tensor}}."""
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)


def timm_vit_layout_state(depth: int = 1, width: int = 64, classes: int = IN21K, img: int = 224, patch: int = 16):
    """A random state dict written key by key in timm's VisionTransformer layout (the names of
    vit_base_patch16_224.augreg_in21k), tiny width/depth: independent of the builder under test."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float32) * 0.02  # noqa: E731
    tokens = (img // patch) ** 2 + 1
    sd = {"cls_token": r(1, 1, width), "pos_embed": r(1, tokens, width),
          "patch_embed.proj.weight": r(width, 3, patch, patch), "patch_embed.proj.bias": r(width)}
    for i in range(depth):
        b = f"blocks.{i}."
        sd.update({b + "norm1.weight": 1 + r(width), b + "norm1.bias": r(width),
                   b + "attn.qkv.weight": r(3 * width, width), b + "attn.qkv.bias": r(3 * width),
                   b + "attn.proj.weight": r(width, width), b + "attn.proj.bias": r(width),
                   b + "norm2.weight": 1 + r(width), b + "norm2.bias": r(width),
                   b + "mlp.fc1.weight": r(4 * width, width), b + "mlp.fc1.bias": r(4 * width),
                   b + "mlp.fc2.weight": r(width, 4 * width), b + "mlp.fc2.bias": r(width)})
    sd.update({"norm.weight": 1 + r(width), "norm.bias": r(width)})
    if classes:
        sd.update({"head.weight": r(classes, width), "head.bias": r(classes)})
    return sd


def write_tiny_gpt2_folder(folder, words):
    """A Hugging Face GPT-2 folder as ``save_pretrained`` writes it (config, weights, byte-level BPE tokenizer), one
    layer of width 16: what paper-scale E2E loads from ``<data>/checkpoints/nola/<arch>``."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder.mkdir(parents=True)
    # A byte-level BPE vocabulary of single characters (no merges): enough to encode any ASCII text.
    chars = sorted(set("".join(words)) | set(" .,[]"))
    enc = {("\u0120" if c == " " else c): i for i, c in enumerate(chars)}
    enc["<|endoftext|>"] = len(enc)
    (folder / "vocab.json").write_text(json.dumps(enc))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    GPT2TokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt")).save_pretrained(folder)
    cfg = GPT2Config(vocab_size=len(enc), n_layer=1, n_embd=16, n_head=2, n_positions=600,
                     bos_token_id=len(enc) - 1, eos_token_id=len(enc) - 1)
    GPT2LMHeadModel(cfg).save_pretrained(folder)


def rotmat_to_qvec(r: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix (Shepperd's method; fine for the well-conditioned look-at rotations here)."""
    w = np.sqrt(max(1e-12, 1 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    if w > 1e-3:
        return np.array([w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)])
    x = np.sqrt(max(1e-12, 1 + r[0, 0] - r[1, 1] - r[2, 2])) / 2
    return np.array([(r[2, 1] - r[1, 2]) / (4 * x), x, (r[0, 1] + r[1, 0]) / (4 * x), (r[0, 2] + r[2, 0]) / (4 * x)])
