"""Configuration of the ``tts`` workload (test-time specialization of early-exit RevCol networks)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TTSConfig:
    experiment: Literal["exits", "specialize"] = "exits"  # exits: Table 1 (one inference policy); specialize: Fig. 4 (one class subset)
    policy: str = "threshold:0.9"  # Table 1 row: fixed:<exit>, threshold:<t> (uniform), thresholds:<t0>,<t1>,... (per exit), baseline
    dataset: Literal["synthetic", "digits", "imagenet"] = "digits"  # paper: imagenet (val = test split); mini: digits; smoke: synthetic
    arch: Literal["revcol_tiny", "revcol_mini", "revcol_micro"] = "revcol_mini"  # RevCol size (revcol_tiny = the paper's RevCol-T)
    columns: int = 0  # number of columns (= exits); 0 keeps the preset's 4
    checkpoint: str = ""  # local weights of backbone + last head (paper: official RevCol-T ImageNet-1k; relative: under the data root); empty = train here (paper: <data>/checkpoints/tts/<arch>_1k.pth)
    heads_checkpoint: str = ""  # local weights of the whole early-exit model (early heads included); empty = train the heads here
    source_epochs: int = 30  # epochs of training the backbone + last head from scratch (no checkpoint)
    source_lr: float = 2e-3  # AdamW learning rate of that training (the official RevCol recipe uses AdamW)
    source_batch_size: int = 64  # its batch size
    reversible: bool = True  # train through the memory-saving reversible backward (False: plain autograd, same gradients, faster for tiny CPU models)
    head_epochs: int = 30  # epochs of training the early heads on the frozen backbone (Sec. 4.1)
    head_lr: float = 5e-3  # AdamW learning rate of the early heads
    n_train: int = 0  # training images (0 = the whole split; synthetic: how many to generate)
    n_test: int = 0  # test images (0 = the whole split; synthetic: how many to generate)
    subset: str = "round"  # specialize: class subset (imagenet: snakes, fruits_vegetables, vehicles, insects, dogs, sharks; digits: round, straight, curvy; synthetic: low, high)
    stream_split: Literal["test", "train", "unlabeled"] = "test"  # stream source: the test split (held-out = the rest), the train split, or imagenet/test/*.JPEG (paper text: the unlabeled ImageNet test set)
    stream_pick: Literal["predicted", "labelled"] = "predicted"  # stream = images the baseline's last exit predicts as subset classes (paper, mistakes included) or picked by true label
    n_stream_per_class: int = 100  # stream images per subset class (paper: 100)
    lr: float = 1e-4  # SGD learning rate of the test-time update (paper: 1e-4)
    momentum: float = 0.0  # SGD momentum of the test-time update (paper: plain SGD)
    batch_size: int = 1  # stream batch size (paper: 1)
    adapt_threshold: float = 0.9  # uniform exit threshold of the adaptive model while it specializes
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)  # specialize: thresholds of the latency-accuracy curves (Fig. 4)
    latency_images: int = 100  # images timed one by one (batch 1) per measured point; 0 = all
    latency_warmup: int = 10  # untimed passes before timing
    compile: Literal["none", "graph", "inductor"] = "none"  # exit pass + update: eager, CUDA graphs (CUDA only) or torch.compile; same results
