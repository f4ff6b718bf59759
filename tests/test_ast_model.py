"""The small Audio Spectrogram Transformer: shapes, token geometry, protocol, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from audiointerp.errors import ParameterError
from audiointerp.models import build_model, load_classifier, model_config, save_classifier
from audiointerp.models.ast import AstConfig, AudioSpectrogramTransformer
from audiointerp.models.tokens import TokenLayout
from audiointerp.processing import FrontendConfig


def tiny_ast(**kw) -> AudioSpectrogramTransformer:
    torch.manual_seed(0)
    opts = dict(patch=(4, 8), dim=16, depth=2, heads=2, max_frames=40, dropout=0.0)
    opts.update(kw)
    return build_model("ast", num_classes=3, num_bins=16, **opts).eval()


def features(b: int = 2, f: int = 16, t: int = 37, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return -60.0 + 20.0 * torch.randn(b, 1, f, t, generator=g)


def test_default_config_grid_on_five_seconds():
    cfg = AstConfig()
    model = build_model("ast", num_classes=10, num_bins=64)
    assert cfg.patch == (8, 16) and model.patch == cfg.patch
    n_freq, n_time = model.token_grid(64, 313)  # 5 s of the default log-mel frontend
    assert n_freq >= 8 and n_time >= 16
    assert 64 <= cfg.dim <= 128 and 4 <= cfg.depth <= 6
    n = sum(p.numel() for p in model.parameters())
    assert n < 500_000


def test_config_from_yaml_mapping_and_errors():
    cfg = model_config({"arch": "ast", "patch": [4, 8], "dim": 32, "heads": 4})
    assert isinstance(cfg, AstConfig) and cfg.patch == (4, 8)
    assert model_config({"arch": "ast", "patch": 6}).patch == (6, 6)
    with pytest.raises(ParameterError, match="divisible"):
        model_config({"arch": "ast", "dim": 30, "heads": 4})
    with pytest.raises(ParameterError, match="patch"):
        model_config({"arch": "ast", "patch": [4, 0]})
    with pytest.raises(ParameterError, match="unknown key"):
        model_config({"arch": "ast", "width": 0.5})


def test_forward_attend_and_attention_rows():
    model = tiny_ast()
    x = features()
    logits, attentions = model.attend(x)
    torch.testing.assert_close(logits, model(x))  # explicit vs fused attention
    model.fused_attention = False
    assert torch.equal(logits, model(x))
    model.fused_attention = True
    n = 2 + 4 * 5  # CLS + distillation, 16/4 x ceil(37/8) patches
    assert len(attentions) == 2
    for a in attentions:
        assert a.shape == (2, 2, n, n)
        torch.testing.assert_close(a.sum(-1), torch.ones(2, 2, n))
    assert model.kind == "transformer"
    assert model.capabilities == {"gradcam", "hidden", "attention"}
    hidden = model.hidden(x)
    assert list(hidden) == ["block1", "block2"]
    assert hidden["block2"].shape == (2, 16, 4, 5)


def test_without_distillation_one_special_token():
    model = tiny_ast(distillation=False)
    layout = model.token_layout(16, 37)
    assert layout.n_special == 1 and model.attentions(features())[0].shape[-1] == 1 + 20


def test_batched_equals_unbatched():
    model = tiny_ast()
    x = features(3)
    with torch.no_grad():
        full = model(x)
        parts = torch.cat([model(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(full, parts, rtol=1e-5, atol=1e-6)


def test_every_bin_reaches_the_logits_including_the_padded_remainder():
    model = tiny_ast()
    x = features(1, t=37).requires_grad_()  # 37 = 4 x 8 + 5: the last patch is padded
    model(x)[0, 0].backward()
    grad = x.grad[0, 0].abs()
    layout = model.token_layout(16, 37)
    for k in range(layout.n_patches):
        (f0, f1), (t0, t1) = layout.box(k)
        assert grad[f0:f1, t0:t1].sum() > 0, f"patch {k} does not reach the output"
    assert layout.box(layout.n_patches - 1) == ((12, 16), (32, 37))


def test_tokens_are_frequency_major_patches():
    """Token n_special + i * n_time + j is computed from exactly the features of patch (i, j)."""
    model = tiny_ast()
    x = features(1, t=32).requires_grad_()
    tokens, grid = model._embed(x)
    layout = model.token_layout(16, 32)
    assert grid == layout.grid == (4, 4)
    for i in range(4):
        for j in range(4):
            k = 2 + i * 4 + j
            (g,) = torch.autograd.grad(tokens[0, k].sum(), x, retain_graph=True)
            nonzero = g[0, 0] != 0
            expect = torch.zeros_like(nonzero)
            expect[4 * i : 4 * i + 4, 8 * j : 8 * j + 8] = True
            assert torch.equal(nonzero, expect), (i, j)


def test_shorter_input_uses_first_positions_longer_is_an_error():
    model = tiny_ast()
    assert model(features(1, t=9)).shape == (1, 3)
    with pytest.raises(ParameterError, match="max_frames"):
        model(features(1, t=41))
    with pytest.raises(ParameterError, match="shape"):
        model(features(1, f=15))


def test_token_layout_to_features():
    layout = TokenLayout(2, (2, 3), (2, 2), (2, 2), n_bins=4, n_frames=5)
    grid = torch.arange(6.0).reshape(1, 1, 2, 3)
    near = layout.to_features(grid, mode="nearest")
    assert near.shape == (1, 1, 4, 5)
    assert near[0, 0, :2, :2].eq(0).all() and near[0, 0, 2:, 4].eq(5).all()
    bil = layout.to_features(grid, mode="bilinear")
    assert bil.shape == (1, 1, 4, 5)
    # overlapping patches (HF AST: patch 16, stride 10) average the covering patches; bins
    # past the last patch carry nothing
    over = TokenLayout(2, (1, 2), (3, 3), (3, 2), n_bins=4, n_frames=6)
    out = over.to_features(torch.tensor([[[[1.0, 3.0]]]]))
    assert out[0, 0, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0, 0.0]
    assert out[0, 0, 3].eq(0).all()
    with pytest.raises(ParameterError, match="tokens"):
        layout.patch_grid(torch.zeros(1, 7))


def test_checkpoint_round_trip(tmp_path):
    model = tiny_ast()
    fc = FrontendConfig(n_fft=256, win_length=256, hop_length=128, n_mels=16)
    path = save_classifier(
        tmp_path / "ast.pt",
        model,
        model_config=AstConfig(patch=(4, 8), dim=16, depth=2, heads=2, max_frames=40, dropout=0.0),
        frontend_config=fc,
        classes=["a", "b", "c"],
    )
    clf = load_classifier(path, device="cpu")
    assert isinstance(clf.model, AudioSpectrogramTransformer)
    assert clf.config.patch == (4, 8)
    x = features()
    with torch.no_grad():
        assert torch.equal(clf.model(x), model(x))
    keys = set(clf.model.state_dict())
    assert {"bn0.running_mean", "patch_embed.weight", "cls_token", "dist_token", "pos_freq",
            "pos_time", "blocks.1.attn.qkv.weight", "blocks.1.mlp.fc2.bias", "norm.weight",
            "head.weight"} <= keys  # fmt: skip


def test_same_seed_same_weights():
    a, b = tiny_ast(), tiny_ast()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_without_time_positions_time_patches_are_a_set():
    """No time positions: permuting whole time patches of the input leaves the logits alone."""
    model = tiny_ast(time_positions=False)
    x = features(1, t=32)  # 4 time patches of 8 frames
    perm = torch.cat([x[..., 8 * k : 8 * k + 8] for k in (2, 0, 3, 1)], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(model(perm), model(x), rtol=1e-5, atol=1e-5)
        assert model(features(1, t=64)).shape == (1, 3)  # any length without time positions
    with_positions = tiny_ast()
    with torch.no_grad():
        with_positions.pos_time.normal_(0.0, 1.0)  # trained positions are far from the init
        assert not torch.allclose(with_positions(perm), with_positions(x), atol=1e-4)


def test_warmup_then_cosine_schedule():
    from audiointerp.models import OptimConfig, TrainConfig
    from audiointerp.models.training import _make_scheduler

    cfg = TrainConfig(train=OptimConfig(epochs=10, lr=1.0, warmup_epochs=2, min_lr_ratio=0.0))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = _make_scheduler(opt, cfg)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:3] == [0.5, 1.0, 1.0]  # warm-up, then the cosine starts at the peak
    assert lrs[3] < 1.0 and all(a >= b for a, b in zip(lrs[2:], lrs[3:], strict=False))
    assert abs(lrs[-1] - 0.5 * (1 + math.cos(math.pi * 7 / 8))) < 1e-9


def test_time_roll_shifts_each_clip_circularly():
    from audiointerp.models.augment import time_roll

    x = torch.arange(2 * 3 * 7, dtype=torch.float32).reshape(2, 1, 3, 7)
    out = time_roll(x, generator=torch.Generator().manual_seed(0))
    for b in range(2):
        shifts = [k for k in range(7) if torch.equal(out[b], torch.roll(x[b], k, dims=-1))]
        assert len(shifts) == 1
    again = time_roll(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded by the generator
