import math

import numpy as np
import pytest
import torch

from workloads.compgs.bitpack import index_bits, pack_bits, unpack_bits
from workloads.compgs.rasterizer import render
from workloads.compgs.storage import (CompressedFileError, CompressedGaussians, load_compressed, memory_breakdown,
                                      save_compressed)

DIMS = {"pos": 3, "opacity": 1, "dc": 3, "sh": 45, "scale": 3, "rot": 4}


def _scene(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    cbs = {"dc": torch.rand(7, 3, generator=g) - 0.5, "sh": 0.1 * torch.randn(300, 45, generator=g),
           "scale": torch.log(torch.rand(5, 3, generator=g) * 0.1 + 0.05), "rot": torch.randn(16, 4, generator=g)}
    idx = {k: torch.randint(v.shape[0], (n,), generator=g) for k, v in cbs.items()}
    pos = torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0, 0, 2.0])
    op = torch.randn(n, 1, generator=g)
    return CompressedGaussians({"pos": pos, "opacity": op}, cbs, idx, {k: [k] for k in cbs}, DIMS, 3)


def _render(cg):
    sh = torch.cat([cg.attribute("dc")[:, None, :], cg.attribute("sh").reshape(-1, 15, 3)], 1)
    cam = {"world_to_cam": torch.eye(4), "fx": 30.0, "fy": 30.0, "cx": 15.5, "cy": 15.5, "width": 32, "height": 32}
    return render(cg.attribute("pos"), cg.attribute("scale"), cg.attribute("rot"), cg.attribute("opacity")[:, 0], sh,
                  3, cam)["image"]


def test_bitpack_round_trip_and_bits():
    assert [index_bits(k) for k in (1, 2, 3, 4, 5, 4096, 4097)] == [0, 1, 2, 2, 3, 12, 13]
    v = np.array([0, 5, 7, 1, 6, 3, 2])
    data = pack_bits(v, 3)
    assert len(data) == math.ceil(7 * 3 / 8)
    assert np.array_equal(unpack_bits(data, 3, 7), v)


def test_save_load_render_identical_fp32(tmp_path):
    cg = _scene()
    p = tmp_path / "s.cgs"
    save_compressed(p, cg, sort_by="dc")
    back = load_compressed(p)
    order = torch.argsort(cg.indices["dc"], stable=True)
    for k in cg.codebooks:
        assert torch.equal(back.codebooks[k], cg.codebooks[k])
        assert torch.equal(back.indices[k], cg.indices[k][order])
    assert torch.equal(back.attribute("pos"), cg.attribute("pos")[order])
    # Same Gaussians in another storage order render the same image (compositing sorts by depth).
    assert torch.allclose(_render(back), _render(cg), atol=1e-6)
    assert torch.equal(_render(back), _render(load_compressed(p)))


def test_file_size_equals_sum_of_parts(tmp_path):
    cg = _scene(n=50)
    p = tmp_path / "s.cgs"
    sizes = save_compressed(p, cg, sort_by="dc", position_bits=16, opacity_bits=8)
    n = 50
    runs = int(torch.unique(cg.indices["dc"]).numel())
    max_run = int(torch.bincount(cg.indices["dc"]).max())
    expected_body = (
        4 * (7 * 3 + 300 * 45 + 5 * 3 + 16 * 4)                      # fp32 codebooks
        + math.ceil(n * 9 / 8) + math.ceil(n * 3 / 8) + math.ceil(n * 4 / 8)  # sh (K=300), scale (K=5), rot (K=16)
        + math.ceil(runs * 3 / 8) + math.ceil(runs * max_run.bit_length() / 8)  # RLE of dc (K=7)
        + 3 * 4 + math.ceil(n * 3 * 16 / 8)                           # Int16 positions: 3 column scales + codes
        + 4 + n                                                       # Int8 opacity: 1 scale + codes
    )
    assert sum(v for k, v in sizes.items() if k != "header") == expected_body
    assert p.stat().st_size == expected_body + sizes["header"]


@pytest.mark.parametrize("bits", [16, 8, 4])
def test_absmax_error_is_within_half_a_step(tmp_path, bits):
    cg = _scene()
    p = tmp_path / "s.cgs"
    save_compressed(p, cg, sort_by="dc", opacity_bits=bits, position_bits=bits)
    back = load_compressed(p)
    order = torch.argsort(cg.indices["dc"], stable=True)
    for name in ("opacity", "pos"):
        x = cg.raw[name][order]
        step = x.abs().amax(0) / (2 ** (bits - 1) - 1)
        assert ((back.raw[name] - x).abs() <= step / 2 + 1e-6).all()


def test_plain_3dgs_file_is_59_floats_per_gaussian(tmp_path):
    n = 40
    g = torch.Generator().manual_seed(1)
    raw = {k: torch.randn(n, d, generator=g) for k, d in DIMS.items()}
    cg = CompressedGaussians(raw, dims=DIMS)
    sizes = save_compressed(tmp_path / "d.cgs", cg)
    assert sum(v for k, v in sizes.items() if k != "header") == n * 59 * 4
    back = load_compressed(tmp_path / "d.cgs")
    assert all(torch.equal(back.raw[k], raw[k]) for k in DIMS)


def test_memory_breakdown_shares_add_up():
    sizes = {"raw/pos": 60, "raw/opacity": 20, "codebook/sh": 2, "indices/sh": 10, "rle_values/dc": 4,
             "rle_lengths/dc": 4, "header": 99}
    b = memory_breakdown(sizes)
    assert b["nonquant_share"] == pytest.approx(80.0)
    assert b["quant_share"] == pytest.approx(20.0)
    assert b["codebook_share"] == pytest.approx(10.0)
    assert b["index_share"] == pytest.approx(90.0)


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(CompressedFileError, match="does not exist"):
        load_compressed(tmp_path / "missing.cgs")
    bad = tmp_path / "bad.cgs"
    bad.write_bytes(b"nope" * 4)
    with pytest.raises(CompressedFileError, match="magic"):
        load_compressed(bad)
    good = tmp_path / "g.cgs"
    save_compressed(good, _scene(), sort_by="dc")
    good.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(CompressedFileError, match="truncated"):
        load_compressed(good)
    with pytest.raises(ValueError, match="sort_by"):
        save_compressed(tmp_path / "x.cgs", _scene(), sort_by="pos")
