"""SlowFormer (dissertation Sec. 4.1): Tables 4.1–4.6. GFLOPs are GMACs per image, as the paper prints.

``gflops`` and ``attack_success`` follow the authors' code's convention (rounded mean token counts through a
dense-block fvcore model, engine_act.py), which the published values use; ``gflops_exact`` charges every image
exactly what it ran (docs/FIDELITY.md (slowformer))."""
from results.spec import TableSpec, register_table

METRICS = ("gflops", "top1", "attack_success", "gflops_exact")
MINI = ("GFLOPs/Attack Success: the authors' code's convention; gflops_exact: per-image exact count. mini scale: digits 32x32 with a small ViT (patch 4, dim 48, depth 4) and its A-ViT/ATS/AdaViT trained here; "
        "patch sides scaled to the same area fraction.")

register_table(TableSpec(
    id="slowformer-table4.1", paper="SlowFormer",
    title="SlowFormer Table 4.1: compute attack vs baselines on A-ViT, ATS, AdaViT (GFLOPs, top-1 %, Attack Success %)",
    sweeps=("slowformer/table4_1_attacks.yaml", "slowformer/table4_1_ats.yaml", "slowformer/table4_1_adavit.yaml"), rows=("method", "arch", "attack"), metrics=METRICS, fmt="{:.3g}",
    published="slowformer-table4.1.csv", notes=MINI))
register_table(TableSpec(
    id="slowformer-table4.2", paper="SlowFormer", title="SlowFormer Table 4.2: CIFAR-10 (resized 224), A-ViT-Tiny and ATS-Tiny",
    sweeps=("slowformer/table4_2_cifar10.yaml",), rows=("method", "attack"), metrics=METRICS, fmt="{:.3g}",
    published="slowformer-table4.2.csv", notes=MINI))
register_table(TableSpec(
    id="slowformer-table4.3", paper="SlowFormer", title="SlowFormer Table 4.3: accuracy-controlled compute attack on A-ViT-Tiny",
    sweeps=("slowformer/table4_3_accuracy_control.yaml",), rows=("attack", "accuracy"),
    metrics=("gflops", "attack_success", "top1", "gflops_exact"), fmt="{:.3g}", published="slowformer-table4.3.csv", notes=MINI))
register_table(TableSpec(
    id="slowformer-table4.4", paper="SlowFormer", title="SlowFormer Table 4.4: effect of patch size on A-ViT",
    sweeps=("slowformer/table4_4_patch_size.yaml",), rows=("arch", "patch_size"),
    # the unattacked A-ViT (F_min) and dense ViT (F_max) of each run: the paper prints them as rows none/dense
    metrics=METRICS + ("gflops_clean", "top1_clean", "gflops_dense", "gflops_clean_exact", "gflops_dense_exact"), fmt="{:.3g}",
    published="slowformer-table4.4.csv", quickstart=True, notes=MINI))
register_table(TableSpec(
    id="slowformer-table4.5", paper="SlowFormer", title="SlowFormer Table 4.5: universal ℓ∞ perturbation attack (ε/255)",
    sweeps=("slowformer/table4_5_perturbation.yaml", "slowformer/table4_5_perturbation_adavit.yaml"), rows=("arch", "method", "epsilon"), metrics=METRICS,
    fmt="{:.3g}", published="slowformer-table4.5.csv", notes=MINI))
register_table(TableSpec(
    id="slowformer-table4.6", paper="SlowFormer", title="SlowFormer Table 4.6: adversarial-training defense on A-ViT-Tiny",
    sweeps=("slowformer/table4_6_defense.yaml",), rows=("attack", "defense"), metrics=METRICS, fmt="{:.3g}",
    published="slowformer-table4.6.csv", notes=MINI))
