"""Configuration of the ``simreg`` workload (dissertation Sec. 2.2.3-2.2.4)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SimRegConfig:
    method: Literal["simreg", "compress_1q", "compress_2q"] = "simreg"  # distillation loss (Sec. 2.2.4.1)
    head: Literal["linear", "mlp2", "mlp4"] = "mlp4"  # prediction head used in training (Table 2.7)
    equal_width: bool = False      # all head widths = teacher dim (Table 2.8's ResNet-18 study)
    # paper: the text's heads (BN + ReLU in the 2L head, a plain linear head); official: the released code's
    # (2L head without BN/ReLU, linear head = BN + Linear); see heads.head_layout
    head_reading: Literal["paper", "official"] = "paper"
    dataset: str = "digits"        # synthetic (smoke) | digits (mini) | imagenet (paper)
    n_train: int = 0               # synthetic only: number of images (0 = 256)
    student: str = "auto"          # auto: small_cnn (width 8 smoke, 16 mini), mobilenet_v2 (paper)
    # small students only: small_cnn width / small_resnet first-stage width (stages w, 2w, 4w); 0 = auto (small_cnn
    # 8 smoke / 16 mini, small_resnet 16). Table A.15's self-distillation sets it to the teacher's width.
    student_width: int = 0
    teachers: list[str] = field(default_factory=lambda: ["auto"])  # "arch", "arch@ckpt.pt" or moco_v2/byol/swav/supervised; >1 = Eq. 2.5
    teacher_epochs: int = 0        # mini/smoke teachers trained here: epochs (0 = auto: 1 smoke, 15 mini)
    epochs: int = 0                # distillation epochs; 0 = auto: 2 (smoke), 20 (mini), 130 (paper)
    steps: int = 0                 # >0 caps the number of distillation steps (smoke)
    batch_size: int = 0            # 0 = auto: 32 (smoke), 64 (mini), 256 (paper)
    lr: float = 0.05               # SGD learning rate, cosine schedule
    weight_decay: float = 1e-4     # SGD weight decay
    # Table 2.13's five settings: same image or two views, then teacher/student augmentation strength
    augmentation: Literal["same-weak", "same-strong", "different-weak-weak", "different-weak-strong",
                          "different-strong-strong"] = "same-weak"
    memory_size: int = 0           # CompRess bank size; 0 = auto: training set size (small), 128000 (paper)
    temperature: float = 0.04      # CompRess softmax temperature, teacher and student (authors' code)
    compress_momentum: float = 0.999  # CompRess-2q: EMA of the key student that fills the student bank
    linear_epochs: int = 0         # linear-probe epochs; 0 = auto: 5 (smoke), 40 (mini/paper)
    stage_knn: bool = False        # Table A.17: also 1-/20-NN on Conv-1 and every residual stage (stage<j>_nn1/nn20)
    transfer: list[str] = field(default_factory=list)  # linear transfer targets (Table 2.11): cifar10, cifar100, digits-c:fog:5
