"""SimReg's regression loss (Eq. 2.4/2.5) and the CompRess-1q/2q baselines (Sec. 2.2.4.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def regression_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of || s/||s|| - t/||t|| ||^2 (Sec. 2.2.3.1); the teacher is frozen."""
    s = F.normalize(student, dim=1)
    t = F.normalize(teacher.detach(), dim=1)
    return ((s - t) ** 2).sum(1).mean()


def multi_teacher_loss(students: list[torch.Tensor], teachers: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 2.5: L = 1/K sum_k d(f_t^k, g^k(f_s)), the mean over the K teachers of the regression loss between
    head k's output and teacher k (each head gets only its teacher's gradient; the backbone gets them all)."""
    if len(students) != len(teachers):
        raise ValueError(f"one head per teacher: got {len(students)} head outputs for {len(teachers)} teachers")
    return sum(regression_loss(s, t) for s, t in zip(students, teachers)) / len(teachers)


def compress_1q(student: torch.Tensor, teacher: torch.Tensor, teacher_bank: torch.Tensor,
                tau_s: float, tau_t: float) -> torch.Tensor:
    """CompRess-1q: KL(p_t || p_s) where both are softmaxes of similarities to the *teacher's* bank:
    p_t = softmax(t^T B_t / tau_t), p_s = softmax(s^T B_t / tau_s), all vectors l2-normalised."""
    s, t = F.normalize(student, dim=1), F.normalize(teacher.detach(), dim=1)
    bank = teacher_bank.detach()
    log_ps = F.log_softmax(s @ bank.T / tau_s, dim=1)
    pt = F.softmax(t @ bank.T / tau_t, dim=1)
    return F.kl_div(log_ps, pt, reduction="batchmean")


def compress_2q(student: torch.Tensor, teacher: torch.Tensor, student_bank: torch.Tensor, teacher_bank: torch.Tensor,
                tau_s: float, tau_t: float) -> torch.Tensor:
    """CompRess-2q: as 1q but the student query is compared with a bank of *student* features of the
    same images (each model in its own embedding space). In the authors' code (``CompReSSMomentum``) that
    bank is filled by a momentum copy of the student (EMA 0.999); the workload keeps that key encoder."""
    s, t = F.normalize(student, dim=1), F.normalize(teacher.detach(), dim=1)
    log_ps = F.log_softmax(s @ student_bank.detach().T / tau_s, dim=1)
    pt = F.softmax(t @ teacher_bank.detach().T / tau_t, dim=1)
    return F.kl_div(log_ps, pt, reduction="batchmean")


def feature_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MSE to the teacher as reported in Tables 2.7/2.8: the regression loss on held-out images."""
    return regression_loss(student, teacher)
