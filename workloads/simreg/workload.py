"""The ``simreg`` workload: distil frozen teacher(s) into a student with SimReg or CompRess, then evaluate."""
from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch.utils.data import DataLoader

from orchestrator.context import Context
from orchestrator.registry import ConfigError
from workloads.cmsf.augment import two_view_augment
from workloads.cmsf.data import Indexed, load_split
from workloads.cmsf.evaluation import embed, knn_and_linear
from workloads.cmsf.memory_bank import MemoryBank
from workloads.cmsf.momentum import momentum_update
from workloads.cmsf.networks import Backbone
from workloads.common.datasets import dataset_info
from workloads.common.models import build_model
from workloads.simreg.config import SimRegConfig
from workloads.simreg.heads import PredictionHead, Student, build_head
from workloads.simreg.losses import compress_1q, compress_2q, feature_mse, multi_teacher_loss
from workloads.simreg.stages import stage_extractors
from workloads.simreg.teachers import load_teacher
from workloads.simreg.transfer import check_transfer_data, parse_transfer, transfer_linear

SMALL = ("smoke", "mini")


def resolve(cfg: SimRegConfig, scale: str, n_train: int) -> SimRegConfig:
    small = scale in SMALL
    if cfg.method != "simreg" and len(cfg.teachers) != 1:
        raise ConfigError(f"{cfg.method} distils one teacher; multi-teacher distillation (Eq. 2.5) is SimReg's. "
                          f"Give one teacher or method=simreg.")
    for spec in cfg.transfer:                 # fail before training, not after
        parse_transfer(spec)
    if not cfg.teachers:
        raise ConfigError("teachers is empty; give at least one teacher ('auto', 'arch' or 'arch@checkpoint.pt').")
    return replace(
        cfg,
        student=("small_cnn" if small else "mobilenet_v2") if cfg.student == "auto" else cfg.student,
        teacher_epochs=cfg.teacher_epochs or (1 if scale == "smoke" else 15),
        epochs=cfg.epochs or {"smoke": 2, "mini": 20, "paper": 130}[scale],
        batch_size=cfg.batch_size or {"smoke": 32, "mini": 64, "paper": 256}[scale],
        memory_size=cfg.memory_size or (n_train if small else 128000),
        linear_epochs=cfg.linear_epochs or (5 if scale == "smoke" else 40),
    )


def augmentation_plan(name: str) -> tuple[bool, str, str]:
    """Table 2.13 setting -> (one shared view?, teacher strength, student strength)."""
    parts = name.split("-")
    if parts[0] == "same":
        return True, parts[1], parts[1]
    return False, parts[1], parts[2]


def build_student(cfg: SimRegConfig, info, teacher_dims: list[int], scale: str = "mini") -> Student:
    w = cfg.student_width
    kw = ({"width": w or (8 if scale == "smoke" else 16)} if cfg.student == "small_cnn" else
          {"widths": (w, 2 * w, 4 * w)} if cfg.student == "small_resnet" and w else {})
    backbone = Backbone(build_model(cfg.student, info.num_classes, image_size=info.image_size,
                                    in_chans=info.channels, mean=info.mean, std=info.std, **kw))
    heads = [build_head(cfg.head, backbone.dim, d, cfg.equal_width, cfg.head_reading) for d in teacher_dims]
    return Student(backbone, heads)


# Declared (config, metrics) in workloads/simreg/__init__.py; imported only when a trial runs.
def run(cfg: SimRegConfig, ctx: Context) -> None:
    train_ds, test_ds = load_split(cfg.dataset, ctx, cfg.n_train)
    info = dataset_info(cfg.dataset)
    cfg = resolve(cfg, ctx.scale, len(train_ds))
    check_transfer_data(cfg.transfer, ctx.data_root)
    ctx.record_config(cfg)  # MLflow params: the resolved values (memory_size needs the data: recorded here)
    dev = ctx.device
    teachers = [load_teacher(t, i, dataset=cfg.dataset, scale=ctx.scale, cache_dir=ctx.cache_dir, device=dev,
                             epochs=cfg.teacher_epochs, data_root=ctx.data_root) for i, t in enumerate(cfg.teachers)]
    student = build_student(cfg, info, [t.dim for t in teachers], ctx.scale).to(dev)
    loader = DataLoader(Indexed(train_ds), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(ctx.seed))
    if len(loader) == 0:
        raise ConfigError(f"batch_size={cfg.batch_size} exceeds the {len(train_ds)} training images; lower it.")
    total = cfg.epochs * len(loader)
    total = min(total, cfg.steps) if cfg.steps else total
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    t_dim = teachers[0].dim
    t_bank = MemoryBank(cfg.memory_size, t_dim, device=dev)
    s_bank = MemoryBank(cfg.memory_size, t_dim, device=dev)
    # CompRess-2q fills the student bank from a momentum copy of the student (authors' CompReSSMomentum)
    student_key = copy.deepcopy(student).requires_grad_(False) if cfg.method == "compress_2q" else None
    gen = torch.Generator().manual_seed(ctx.seed)
    flip = cfg.dataset != "digits"
    same, t_aug, s_aug = augmentation_plan(cfg.augmentation)
    step = 0
    for epoch in range(cfg.epochs):
        for x, _, idx in loader:
            if step >= total:
                break
            x = x.to(dev)
            xt = two_view_augment(x, gen, strength=t_aug, flip=flip)
            xs = xt if same else two_view_augment(x, gen, strength=s_aug, flip=flip)
            with torch.no_grad():
                tf = [t(xt) for t in teachers]
            outs = student(xs)
            if cfg.method == "simreg":
                loss = multi_teacher_loss(outs, tf)
            else:
                tn = torch.nn.functional.normalize(tf[0], dim=1)
                with torch.no_grad():
                    key = student_key(xs)[0] if student_key is not None else outs[0]
                sn = torch.nn.functional.normalize(key.detach(), dim=1)
                if len(t_bank) == 0:        # the very first batch is its own bank
                    t_bank.enqueue(tn, idx, idx)
                    s_bank.enqueue(sn, idx, idx)
                if cfg.method == "compress_1q":
                    loss = compress_1q(outs[0], tf[0], t_bank.feats, cfg.temperature, cfg.temperature)
                else:
                    loss = compress_2q(outs[0], tf[0], s_bank.feats, t_bank.feats, cfg.temperature, cfg.temperature)
                # the banks are updated after the loss, as a FIFO queue (CompRess's SampleSimilarities)
                t_bank.enqueue(tn, idx, idx)
                s_bank.enqueue(sn, idx, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if student_key is not None:
                momentum_update(student_key, student, cfg.compress_momentum)
            step += 1
            if step % 10 == 0:
                ctx.report(step=step, loss=float(loss.detach()))
        ctx.progress(epoch + 1, cfg.epochs, "simreg epochs")
        if step >= total:
            break
    metrics = evaluate_student(student, teachers, train_ds, test_ds, cfg, ctx, info.num_classes)
    if cfg.transfer:
        metrics.update(transfer_linear(student.inference_model(), cfg.transfer, ctx=ctx, image_size=info.image_size,
                                       linear_epochs=cfg.linear_epochs))
    ctx.summary(**metrics, final_loss=float(loss.detach()), steps=float(step))


def evaluate_student(student: Student, teachers, train_ds, test_ds, cfg: SimRegConfig, ctx: Context,
                     num_classes: int) -> dict[str, float]:
    """Backbone features (the deployed model, head dropped: nn1/nn20/linear) and, as in Tables 2.7/2.8,
    head outputs (head_*) and, for 4L heads, the 2nd head layer (mid_*); MSE to teacher on the test set."""
    dev = ctx.device
    out: dict[str, float] = {}
    student.eval()
    head = student.heads[0]
    layers = {"": student.inference_model(),
              "head_": torch.nn.Sequential(student.backbone, head)}
    if cfg.head == "mlp4":
        layers["mid_"] = _Upto(student.backbone, head, 2)
    test_feats: dict[str, tuple] = {}
    for prefix, fn in layers.items():
        tr = embed(fn, train_ds, dev)
        te = embed(fn, test_ds, dev)
        test_feats[prefix] = te
        out.update(knn_and_linear(tr, te, num_classes=num_classes, linear_epochs=cfg.linear_epochs,
                                  seed=ctx.seed, prefix=prefix))
    if cfg.stage_knn:                      # Table A.17: k-NN on each CNN stage, reduced to ~the backbone width
        for name, fn in stage_extractors(student.backbone, student.backbone.dim).items():
            out.update(knn_and_linear(embed(fn, train_ds, dev), embed(fn, test_ds, dev), num_classes=num_classes,
                                      linear_epochs=0, seed=ctx.seed, prefix=f"{name}_"))
    teacher_test = [embed(t, test_ds, dev)[0] for t in teachers]
    heads_test = [embed(torch.nn.Sequential(student.backbone, h), test_ds, dev)[0] for h in student.heads]
    with torch.no_grad():
        out["mse"] = sum(float(feature_mse(s, t)) for s, t in zip(heads_test, teacher_test)) / len(teachers)
        if "mid_" in test_feats and test_feats["mid_"][0].shape[1] == teacher_test[0].shape[1]:
            out["mid_mse"] = float(feature_mse(test_feats["mid_"][0], teacher_test[0]))
    return out


class _Upto(torch.nn.Module):
    def __init__(self, backbone, head: PredictionHead, n: int):
        super().__init__()
        self.backbone, self.head, self.n = backbone, head, n

    def forward(self, x):
        return self.head(self.backbone(x), upto=self.n)
