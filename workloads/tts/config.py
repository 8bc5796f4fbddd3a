"""Configuration of the ``tts`` workload (test-time specialization of early-exit RevCol networks)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal


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
    lookahead: Literal[0, 1] = 0  # exit pass: 1 = launch (eager) / replay (graph) the next column while an exit's scores or flag travel (faster when exits rarely fire; a column's worth of wasted GPU work when one does); 0 = wait for them; same results

    def resolved(self, env: Any) -> "TTSConfig":
        """The config that runs (``orchestrator.context.resolved_config``): ``columns: 0`` = the preset's count
        (``workloads.tts.revcol.ARCHS``) and the weight files by ``requirements``' path rule (paper scale without
        one: ``<data>/checkpoints/tts/<arch>_1k.pth``; "" = trained here). ``n_train``/``n_test: 0`` need the data:
        the workload records the split sizes once it has loaded them (``recorded_sizes``)."""
        from workloads.tts import requirements  # (deferred: it imports this module)
        from workloads.tts.revcol import ARCHS  # (deferred: imports torch)

        checkpoint = requirements.backbone_checkpoint(self, env.data_root, env.scale)
        heads = requirements.heads_checkpoint(self, env.data_root)
        return replace(self, columns=self.columns or ARCHS[self.arch].columns,
                       checkpoint=str(checkpoint) if checkpoint else "", heads_checkpoint=str(heads) if heads else "")

    def recorded_sizes(self, n_train: int, n_test: int) -> "TTSConfig":
        """``self`` with the data-dependent sentinels as they ran: ``n_train``/``n_test`` = the loaded split sizes
        (0 = the whole split; synthetic: ``data.SYNTHETIC_SIZES``; a cap above the split's size: the split) and,
        for one Table 1 row, ``latency_images: 0`` (or more than the set holds) = the ``n_test`` images timed
        (``measure.timing_images``)."""
        out = replace(self, n_train=n_train, n_test=n_test)
        if self.experiment == "exits" and (self.latency_images <= 0 or self.latency_images > n_test):
            out = replace(out, latency_images=n_test)  # (Fig. 4 times each set's own images: stays 0 = all)
        return out

    def not_applicable(self) -> set[str]:
        """Fields this run never reads (MLflow groups them in one param): the other experiment's, and the
        training settings of a stage whose weights come from a file."""
        unused = set(SPECIALIZE_FIELDS) if self.experiment == "exits" else {"policy"}
        if self.checkpoint or self.heads_checkpoint:  # the backbone + last head are loaded, not trained
            unused |= {"source_epochs", "source_lr", "source_batch_size"}
        if self.heads_checkpoint:  # the whole early-exit model is loaded
            unused |= {"head_epochs", "head_lr", "checkpoint"}
        return unused


# Fields only Fig. 4's test-time specialization reads (workloads.tts.workload._run_specialize).
SPECIALIZE_FIELDS = ("subset", "stream_split", "stream_pick", "n_stream_per_class", "lr", "momentum", "batch_size",
                     "adapt_threshold", "thresholds")
