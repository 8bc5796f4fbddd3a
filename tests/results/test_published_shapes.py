"""Every transcribed paper table in ``results/published`` parses and has the shape of its table in the paper.

The expected shapes below were counted from the paper text in ``/work/shared/papers`` (the dissertation, PALM and
TTS), not from the CSVs: (number of data rows, number of value columns). Where a CSV legitimately differs from the
printed layout (a subset of the rows, a transposed or melted table, a column left out, a unit split), the entry
follows from the paper's count plus the rule that the CSV's ``#`` header documents, and its comment says so.

Key columns (the leading columns that name a row) are the ``rows`` of the TableSpec that renders the CSV; a CSV no
table renders names its key count in ``UNRENDERED_KEYS``. A new CSV must get an entry in ``EXPECTED``.
"""
from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from results.spec import PUBLISHED_DIR, all_tables

# file -> (data rows, value columns), counted from the paper's table.
EXPECTED: dict[str, tuple[int, int]] = {
    # --- CMSF (dissertation Sec. 2.1, App. A.1) ---
    # Table 2.1-Left has no text layer; App. Table A.1 is transcribed instead: 3 method columns x 2 metric rows
    # (1-NN, 20-NN), transposed. The MSF k=500 column is in tableA.1 -> 2 rows (MSF top-5, CMSF_self), 2 values.
    "cmsf-table2.1.csv": (2, 2),
    # 15 method rows (7 supervised, 8 self-supervised) x 13 numbers (Epoch, 10 data sets, Mean Trans, Linear).
    # Only the 5 workload rows (CMSF_sup top-all / top-10, BYOL-asym, MSF, CMSF_self); Epoch (200 for all) dropped.
    "cmsf-table2.2.csv": (5, 12),
    # 15 rows x 4 numbers (top-1 / top-5 at 1 % / 10 %); the 3 rows of this workload (BYOL-asym, MSF, CMSF_self).
    "cmsf-table2.4.csv": (3, 4),
    # 2 train-data rows x 4 method columns; only the 2 CMSF_sup columns, melted to (coarse, top_all) -> 4 x 1.
    "cmsf-table2.5.csv": (4, 1),
    # 14 method rows x Top-1 (plus epochs / batch / GPUs / FLOPs); the 2 rows run here (Mean Shift, CMSF_semi).
    "cmsf-table2.6.csv": (2, 1),
    # Part (c) 7 rows + part (d) 2 rows x 2 numbers; (d) "target in top-10" is (c) "mem=128k, top-10" -> 8 rows.
    "cmsf-tableA.10.csv": (8, 2),
    # 4 k columns x 2 metric rows (NN, 20-NN), transposed.
    "cmsf-tableA.2.csv": (4, 2),
    # 3 columns (MSF k=500, MSF top-5, CMSF_self k=k'=5) x 2 metric rows (NN, 20-NN), transposed; (method, topk) keys.
    "cmsf-tableA.1.csv": (3, 2),
    # 2 method rows x 3 backbone columns (ResNet-18, -50, -101*).
    "cmsf-tableA.3.csv": (2, 3),
    # 10 model rows x (Final modality, Epochs, R@1, Linear); the 3 rows marked * are one model -> 8 rows; modality and
    # epochs are part of the model-chain key -> R@1, Linear.
    "cmsf-tableA.4.csv": (8, 2),
    # 3 threshold rows x 1-NN, 20-NN, Top-1.
    "cmsf-tableA.5.csv": (3, 3),
    # 2 caching rows x 1-NN, 20-NN, Top-1.
    "cmsf-tableA.6.csv": (2, 3),
    # 4 classifier rows x 1-NN, 20-NN, Top-1.
    "cmsf-tableA.7.csv": (4, 3),
    # 2 fine-tune-method rows x Top-1, transposed to one CMSF_semi row with 2 values.
    "cmsf-tableA.8.csv": (1, 2),
    # 2 train-data rows x 5 method columns, melted to (method, coarse, top_all, topk); the ImageNet-1k top-1000 "-"
    # dropped -> 9 x 1.
    "cmsf-tableA.9.csv": (9, 1),
    # 13 method rows x 11 numbers (U fwd/bwd/BS, L fwd/bwd/BS, mini-batch, iters, epochs, total pass, FLOPs).
    "cmsf-tableA.11.csv": (13, 11),
    # 4 methods x 5 noise levels = 20 rows x 10 data sets + Mean Trans + Linear IN-100; Noise is a key.
    "cmsf-tableA.12.csv": (20, 12),
    # --- SimReg (dissertation Sec. 2.2, App. A.2) ---
    # 3 head rows x 1-NN, 20-NN, Linear, MSE.
    "simreg-table2.7.csv": (3, 4),
    # 1 row x 9 columns (3 evaluation points x 1-NN, Linear, MSE); the backbone MSE is "-" and has no column -> 8.
    "simreg-table2.8.csv": (1, 8),
    # 11 rows x 3 teacher/student pairs x (1-NN, Linear); first pair (MobileNet-v2) only, the 3 *-4L-MLP rows.
    "simreg-table2.9.csv": (3, 2),
    # 4 rows x 2 teachers x (1-NN, 20-NN, Linear); the Teacher row dropped, melted over teachers -> 3 x 2 rows.
    "simreg-table2.10.csv": (6, 3),
    # 11 rows (10 data sets + Mean) x 7 columns, transposed; the ResNet-50 teacher column dropped -> 6 rows x 11.
    "simreg-table2.11.csv": (6, 11),
    # 3 head rows x AP50, AP, AP75.
    "simreg-table2.12.csv": (3, 3),
    # 5 rows x 4 numbers (ImageNet 1-NN, 20-NN, Linear; transfer Linear); the transfer column is not transcribed.
    "simreg-table2.13.csv": (5, 3),
    # 4 teacher-set rows x 2 heads x (1-NN, 20-NN, Linear), melted over heads -> 8 rows x 3.
    "simreg-table2.14.csv": (8, 3),
    # 3 head rows x 1-NN, 20-NN, Linear (taken from Table A.14's identical block, Table 2.15's text is garbled).
    "simreg-table2.15.csv": (3, 3),
    # 3 teacher/student blocks x 3 heads x (1-NN, 20-NN, Linear), melted -> 9 rows x 3.
    "simreg-tableA.14.csv": (9, 3),
    # 3 rows x (1-NN, 20-NN, Linear, Transfer Linear); the MoCo-v2 Teacher row dropped -> 2 x 4.
    "simreg-tableA.15.csv": (2, 4),
    # 10 data-set rows x 6 columns (2 students x 3 methods), transposed -> 6 rows x 10.
    "simreg-tableA.16.csv": (6, 10),
    # 1 row x 7 layers x (1-NN, 20-NN).
    "simreg-tableA.17.csv": (1, 14),
    # --- CompGS (dissertation Sec. 3.1, App. B.1) ---
    # Table B.3 (Fig. 3.5 inset): 6 rows x SSIM, PSNR, LPIPS.
    "compgs-fig3.5.csv": (6, 3),
    # 12 rows x 2 data sets x (SSIM, PSNR, LPIPS, FPS, Mem, Train Time); Tanks&Temples prefixed tandt/.
    "compgs-table3.1.csv": (12, 12),
    # 12 rows x 3 data sets x (SSIM, PSNR, LPIPS) + Mem.
    "compgs-table3.2.csv": (12, 10),
    # 6 rows x 3 data sets x (SSIM, PSNR, LPIPS, #Gauss).
    "compgs-table3.3.csv": (6, 12),
    # ARKit-200: 3 rows x SSIM, PSNR, PSNR-AM, LPIPS, Mem.
    "compgs-table3.4.csv": (3, 5),
    # DL3DV-140: 2 rows x SSIM, PSNR, PSNR-AM, LPIPS, FPS, Mem(MB).
    "compgs-table3.5.csv": (2, 6),
    # Rows Num Params / Mem (16bit) / Mem (32bit) x (Non-Quant, Quant), beside an index / codebook split for the
    # 16- and 32-bit variants; the 2 memory rows are transcribed, each with its 2 + 2 shares.
    "compgs-table3.6.csv": (2, 4),
    # 4 lambda_reg rows x SSIM, PSNR, LPIPS, #Gauss.
    "compgs-table3.7.csv": (4, 4),
    # 10 rows; Iters, Freq, #Codes are the keys, SSIM, PSNR, Time the values.
    "compgs-table3.8.csv": (10, 3),
    # 2 + 11 rows (the "Variants of CompGS" line is a separator) x Train (SSIM, PSNR), Truck (SSIM, PSNR), Mem.
    "compgs-table3.9.csv": (13, 5),
    # NeRF-Synthetic: 8 method rows x 8 scenes + Avg.
    "compgs-tableB.1.csv": (8, 9),
    # Deep Blending: 12 method rows x SSIM, PSNR, LPIPS, FPS, Mem, Train Time (LightGaussian all "-", kept empty).
    "compgs-tableB.2.csv": (12, 6),
    # 4 statistic rows (Min, Mean, Diff, Std) x 11 scenes, transposed -> 11 scene rows x 4.
    "compgs-tableB.4.csv": (11, 4),
    # 13 scenes x 2 methods -> 26 rows x SSIM, PSNR, LPIPS, Train Time, FPS, Mem, #Gauss.
    "compgs-tableB.5.csv": (26, 7),
    # B.6-B.9: 2, 2, 2, 3 setting rows x 3 data sets x (SSIM, PSNR, LPIPS, #Gauss).
    "compgs-tableB.6.csv": (2, 12),
    "compgs-tableB.7.csv": (2, 12),
    "compgs-tableB.8.csv": (2, 12),
    "compgs-tableB.9.csv": (3, 12),
    # --- NOLA (dissertation Sec. 3.2, App. B.10) ---
    # GPT-2 M 13 rows + GPT-2 L 12 rows x (# params + 5 metrics). Only the LoRA / NOLA rows: M 2 + 5, less NOLA QV
    # 0.350M (its k = l is not an integer, no key), L 2 + 6 -> 14 rows; basis_size (from # params) is a key.
    "nola-table3.10.csv": (14, 6),
    # 3 rows x memory, ms/batch, # params, 5 metrics.
    "nola-table3.11.csv": (3, 8),
    # 8 GPT-2 M + 4 GPT-2 L rows, the "96K, rank 8" row printed twice -> 11 rows x (# params + 5 metrics).
    "nola-table3.12.csv": (11, 6),
    # 8 PTQ + 4 QAT rows x 5 metrics.
    "nola-table3.13.csv": (12, 5),
    # 3 models x 3 methods as columns, transposed -> 9 rows; Adapter Rank is a key, then # params, train loss,
    # val loss, MMLU.
    "nola-table3.14.csv": (9, 4),
    # ViT-B 5 + ViT-B-MAE 5 + ViT-L 7 + ViT-L-MAE 7 rows; 4 data sets x 2 shots, mean and (std) split -> 16.
    # "# Train Params" is part of the row key (it tells the two ViT-L NOLA-MLP rows apart).
    "nola-table3.15.csv": (24, 16),
    # 5 rows; 4 data sets x 2 shots, mean and (std) split -> 16, + "# Train Params" (K) and the exact count.
    "nola-table3.16.csv": (5, 18),
    # 4 rows x # Params, Acc.
    "nola-table3.17.csv": (4, 2),
    "nola-tableB.10.csv": (4, 2),
    # 5 rows x # Params, Acc.
    "nola-tableB.11.csv": (5, 2),
    # Table 3.18 = Table B.11 in the main text: 5 rows x # Params, Acc.
    "nola-table3.18.csv": (5, 2),
    # 2 rows; layout of Table 3.15 -> 16 values, "# Train Params" a key.
    "nola-tableB.12.csv": (2, 16),
    # GPT-2 M 11 + GPT-2 L 10 rows x (# params + DART and WebNLG x BLEU, MET, TER); the LoRA / NOLA rows only
    # (M 2 + 4, L 2 + 4) -> 12 rows x 7; basis_size is a key as in Table 3.10.
    "nola-tableB.13.csv": (12, 7),
    # --- SlowFormer (dissertation Sec. 4.1) ---
    # 6 blocks x 6 rows x GFLOPs, Top-1, Attack Success.
    "slowformer-table4.1.csv": (36, 3),
    # 5 rows (ViT-Tiny, A-ViT-Tiny, SlowFormer, ATS-Tiny, SlowFormer) x 3.
    "slowformer-table4.2.csv": (5, 3),
    # 5 rows x GFLOPs, Attack Success, Top-1.
    "slowformer-table4.3.csv": (5, 3),
    # 2 x 6 rows x GFLOPs, Top-1, Attack Success.
    "slowformer-table4.4.csv": (12, 3),
    # ViT-Tiny block 7 rows + ViT-Small block 10 rows x 3.
    "slowformer-table4.5.csv": (17, 3),
    # 3 rows x 3.
    "slowformer-table4.6.csv": (3, 3),
    # --- PALM ---
    # 10 method rows x 15 corruptions + Mean.
    "palm-table1.csv": (10, 16),
    # 9 method rows (no EcoTTA on CIFAR-100-C) x 16.
    "palm-table2.csv": (9, 16),
    "palm-table3.csv": (10, 16),
    # 3 data sets x 8 methods.
    "palm-table4.csv": (3, 8),
    # 3 data sets x 2 methods, one number each ("(of 36.4M)" is the source model size) -> melted 6 x 1.
    "palm-table5.csv": (6, 1),
    "palm-table6.csv": (3, 4),
    "palm-table7.csv": (3, 2),
    # 3 data sets x 6 lambda values.
    "palm-table8.csv": (3, 6),
    # --- TTS ---
    # 4 fixed exits + 5 thresholds + baseline; "latency +- std" split into two columns, plus accuracy.
    "tts-table1.csv": (10, 3),
}

# Key-column counts of CSVs that no TableSpec renders (paper scale only, or outside this project's workloads).
UNRENDERED_KEYS: dict[str, int] = {
    "nola-table3.15.csv": 7,    # arch, method, target, rank, basis_size, trainable_k, trainable_params
    "nola-tableB.12.csv": 4,    # arch, method, target, trainable_k
}

# Value cells printed as text in the paper and kept as printed (documented in the CSV's header).
NON_NUMERIC_OK: dict[str, set[str]] = {
    "compgs-table3.1.csv": {"48h"},  # Mip-NeRF360 training time
    "compgs-tableB.2.csv": {"48h"},  # M-NeRF360 training time
}

FILES = sorted(p.name for p in PUBLISHED_DIR.glob("*.csv"))


def _spec_keys() -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {}
    for spec in all_tables().values():
        if spec.published:
            prev = keys.setdefault(spec.published, tuple(spec.rows))
            assert prev == tuple(spec.rows), f"{spec.published}: tables disagree on its key columns"
    return keys


SPEC_KEYS = _spec_keys()


def _read(name: str) -> pd.DataFrame:
    """As ``results.render.read_published`` reads it: ``#`` lines skipped, every cell a string."""
    text = (PUBLISHED_DIR / name).read_text()
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    return pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)


def _n_keys(name: str) -> int:
    if name in SPEC_KEYS:
        return len(SPEC_KEYS[name])
    return UNRENDERED_KEYS[name]


def test_every_published_csv_has_an_expected_shape():
    assert FILES, f"no CSV in {PUBLISHED_DIR}"
    missing = [f for f in FILES if f not in EXPECTED]
    assert not missing, f"add the paper table's shape to EXPECTED for: {missing}"
    stale = [f for f in EXPECTED if f not in FILES]
    assert not stale, f"EXPECTED names CSVs that do not exist: {stale}"
    no_keys = [f for f in FILES if f not in SPEC_KEYS and f not in UNRENDERED_KEYS]
    assert not no_keys, f"no table renders these, give their key-column count in UNRENDERED_KEYS: {no_keys}"


@pytest.mark.parametrize("name", FILES)
def test_published_csv_parses_and_matches_paper_shape(name):
    text = (PUBLISHED_DIR / name).read_text()
    assert text.lstrip().startswith("#"), f"{name}: must start with a # comment citing the table"
    df = _read(name)
    assert len(df.columns) == len(set(df.columns)), f"{name}: duplicate column names"
    n_keys = _n_keys(name)
    if name in SPEC_KEYS:
        assert list(df.columns[:n_keys]) == list(SPEC_KEYS[name]), f"{name}: key columns != the table's rows"
    keys, values = list(df.columns[:n_keys]), list(df.columns[n_keys:])

    # every line of the body has as many fields as the header
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(body) == len(df) + 1, f"{name}: blank or unparsed lines"

    dups = df[df.duplicated(subset=keys, keep=False)]
    assert dups.empty, f"{name}: duplicate key rows:\n{dups[keys]}"

    ok_text = NON_NUMERIC_OK.get(name, set())
    bad = []
    for col in values:
        for cell in df[col]:
            if cell == "" or cell in ok_text:
                continue
            try:
                x = float(cell)
            except ValueError:
                bad.append((col, cell))
                continue
            if not math.isfinite(x):
                bad.append((col, cell))
    assert not bad, f"{name}: value cells that are not numbers: {bad}"
    assert (df[values] != "").to_numpy().any(), f"{name}: no value at all"

    assert (len(df), len(values)) == EXPECTED[name], (
        f"{name}: {len(df)} rows x {len(values)} value columns (keys {keys}), "
        f"the paper's table gives {EXPECTED[name]}")
