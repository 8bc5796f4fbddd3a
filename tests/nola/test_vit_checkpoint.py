"""Issue 20.1: the few-shot ViT in21k checkpoint in timm's key layout (224 px, 21843-class head) loads, the head is
replaced for the target classes, and a missing paper-scale checkpoint is an error naming the file and the path."""
import pytest
import torch
import torch.nn.functional as F

from orchestrator.context import LocalContext
from support.real_format import timm_vit_layout_state as official_layout_state
from orchestrator.registry import ConfigError, build_config, get_workload
from workloads.nola.loop import fit
from workloads.nola.vit_checkpoint import (default_checkpoint_path, load_pretrained_vit, resize_center_crop,
                                           timm_vit_state, vit_shape)

WIDTH, IN21K = 64, 21843


def test_shape_is_read_off_the_checkpoint():
    s = vit_shape(official_layout_state(depth=2))
    assert (s.image_size, s.patch_size, s.embed_dim, s.depth, s.mlp_ratio, s.num_classes) == (224, 16, 64, 2, 4.0, IN21K)


def test_key_conversion_unwraps_dataparallel_and_nesting():
    sd = official_layout_state()
    wrapped = {"state_dict": {"module." + k: v for k, v in sd.items()}}
    assert timm_vit_state(wrapped).keys() == sd.keys()
    with pytest.raises(ValueError, match="timm ViT"):
        timm_vit_state({"conv1.weight": torch.zeros(1)})


def test_resize_center_crop_matches_torchvision_eval_transform():
    from torchvision import transforms

    x = torch.rand(2, 3, 32, 40, dtype=torch.float64)
    ref = transforms.Compose([transforms.Resize(256, antialias=True), transforms.CenterCrop(224)])(x)
    ours = resize_center_crop(x, 224)
    assert ours.shape == (2, 3, 224, 224)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def _reference_features(sd, x):
    """CLS-token features of the checkpoint computed by hand from its weights (pre-norm ViT, one head of 64)."""
    x = resize_center_crop(x, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16).flatten(2).transpose(1, 2)
    t = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), t], 1) + sd["pos_embed"]
    b = "blocks.0."
    h = F.layer_norm(t, (WIDTH,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], eps=1e-6)
    q, k, v = F.linear(h, sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"]).chunk(3, -1)
    a = torch.softmax(q @ k.transpose(1, 2) / WIDTH ** 0.5, -1) @ v
    t = t + F.linear(a, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
    h = F.layer_norm(t, (WIDTH,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], eps=1e-6)
    t = t + F.linear(F.gelu(F.linear(h, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"])),
                     sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])
    return F.layer_norm(t, (WIDTH,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)[:, 0]


def test_in21k_checkpoint_loads_at_224_and_head_is_replaced(tmp_path):
    sd = official_layout_state()
    path = tmp_path / "vit.pt"
    torch.save({"module." + k: v for k, v in sd.items()}, path)
    model = load_pretrained_vit(path, "vit_base_patch16_224", num_classes=10).eval()
    net = model[1].net
    assert net.patch_embed.img_size == (224, 224) and net.head.weight.shape == (10, WIDTH)
    torch.testing.assert_close(net.blocks[0].attn.qkv.weight, sd["blocks.0.attn.qkv.weight"])
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        feats = net.forward_head(net.forward_features(model[1].normalize(model[0](x))), pre_logits=True)
        assert model(x).shape == (2, 10)
    torch.testing.assert_close(feats, _reference_features(sd, x), atol=2e-5, rtol=1e-4)


def test_mae_layout_without_head_loads(tmp_path):
    path = tmp_path / "mae.pt"
    torch.save(official_layout_state(classes=0), path)
    model = load_pretrained_vit(path, "vit_base_patch16_224", num_classes=5)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 5)


def _paper_ctx(tmp_path):
    return LocalContext(seed=0, scale="paper", work_dir=tmp_path, cache_dir=tmp_path / "cache", device="cpu",
                        data_root=tmp_path / "data")


def test_missing_paper_checkpoint_names_file_and_path(tmp_path):
    wl = get_workload("nola")
    expected = default_checkpoint_path(tmp_path / "data", "vit_b16_in21k")
    with pytest.raises(ConfigError) as err:
        wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": "synthetic", "shots": 5}), _paper_ctx(tmp_path))
    assert str(expected) in str(err.value) and "vit_base_patch16_224.augreg_in21k" in str(err.value)
    assert "checkpoints/nola" in str(expected)


def test_paper_scale_fewshot_runs_from_the_timm_checkpoint(tmp_path):
    path = default_checkpoint_path(tmp_path / "data", "vit_b16_in21k")
    path.parent.mkdir(parents=True)
    torch.save(official_layout_state(), path)
    wl = get_workload("nola")
    ctx = _paper_ctx(tmp_path)
    wl.fn(build_config(wl, {"experiment": "fewshot", "dataset": "synthetic", "shots": 5, "steps": 2,
                            "batch_size": 8, "method": "nola", "target": "mlp", "basis_size": 16}), ctx)
    s = ctx.summaries
    assert 0.0 <= s["accuracy"] <= 100.0 and s["trainable_params"] == 2 * 2 * 16


def test_fit_uses_label_smoothing_as_the_authors_loss():
    """vit/train_timm.py l.286: nn.CrossEntropyLoss(label_smoothing=0.1); the first step's loss by hand."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1])
    logp = torch.log_softmax(model(x), 1).detach()
    eps = 0.1
    loss = fit(model, x, y, param_groups=[{"params": model.parameters(), "lr": 1e-3}], steps=1, batch_size=6,
               seed=0, label_smoothing=eps, lr_min=1e-6)
    # steps=1 reports the loss before the single update; the batch is 6 draws with replacement
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 6, (6,), generator=gen)
    hand = (-(1 - eps) * logp[idx, y[idx]] - eps * logp[idx].mean(1)).mean()
    assert loss == pytest.approx(float(hand), rel=1e-12)


def test_epochs_give_the_authors_step_count():
    """vit/run.sh: 50 epochs at batch 16, drop_last=True (vit/dataloader.py): 10-shot CIFAR-10 = 6 steps an epoch."""
    from workloads.nola.config import NolaConfig
    from workloads.nola.workload import fewshot_steps

    assert fewshot_steps(NolaConfig(epochs=50, batch_size=16), 100) == 300
    assert fewshot_steps(NolaConfig(epochs=50, batch_size=64), 1000) == 50 * 15
    assert fewshot_steps(NolaConfig(epochs=0, steps=7), 100) == 7
