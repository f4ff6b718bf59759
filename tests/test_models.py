"""The PANNs CNN family: PANNs key sets and shapes, forward contract, Grad-CAM layer, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.models import ARCHS, PannsCnn, TransferCnn14, build_model, panns_backbone_state

# The released PANNs files, described independently of our code: (two convs per block?,
# channels, kernel size, fc1 width).
PANNS_LAYOUT = {
    "cnn6": (False, (64, 128, 256, 512), 5, 512),
    "cnn10": (True, (64, 128, 256, 512), 3, 512),
    "cnn14": (True, (64, 128, 256, 512, 1024, 2048), 3, 2048),
}
RELEASED_KEY_COUNTS = {"cnn6": 36, "cnn10": 60, "cnn14": 84}


def _bn(prefix: str, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": 1 + 0.1 * torch.randn(n, generator=gen),
        f"{prefix}.bias": 0.1 * torch.randn(n, generator=gen),
        f"{prefix}.running_mean": torch.randn(n, generator=gen),
        f"{prefix}.running_var": 0.5 + torch.rand(n, generator=gen),
        f"{prefix}.num_batches_tracked": torch.tensor(1000),
    }


def fake_panns_state(
    arch: str, *, seed: int = 0, shapes_only: bool = False
) -> dict[str, torch.Tensor]:
    """A state dict with the keys and shapes of a released PANNs file (random values).

    ``shapes_only`` uses empty meta tensors, so even Cnn14 (80 M parameters) costs nothing.
    """
    double, channels, k, emb = PANNS_LAYOUT[arch]
    gen = torch.Generator().manual_seed(seed)
    if shapes_only:

        def rnd(*shape):
            return torch.empty(*shape, device="meta")
    else:

        def rnd(*shape):
            return 0.1 * torch.randn(*shape, generator=gen)

    sd = {
        "spectrogram_extractor.stft.conv_real.weight": rnd(513, 1, 1024),
        "spectrogram_extractor.stft.conv_imag.weight": rnd(513, 1, 1024),
        "logmel_extractor.melW": rnd(513, 64),
    }
    sd |= _bn("bn0", 64, gen)
    in_ch = 1
    for i, ch in enumerate(channels, start=1):
        sd[f"conv_block{i}.conv1.weight"] = rnd(ch, in_ch, k, k)
        if double:
            sd[f"conv_block{i}.conv2.weight"] = rnd(ch, ch, k, k)
        sd |= _bn(f"conv_block{i}.bn1", ch, gen)
        if double:
            sd |= _bn(f"conv_block{i}.bn2", ch, gen)
        in_ch = ch
    sd |= {"fc1.weight": rnd(emb, in_ch), "fc1.bias": rnd(emb)}
    sd |= {"fc_audioset.weight": rnd(527, emb), "fc_audioset.bias": rnd(527)}
    return sd


@pytest.mark.parametrize("arch", ["cnn6", "cnn10", "cnn14"])
def test_backbone_keys_and_shapes_match_released_panns_files(arch):
    panns = fake_panns_state(arch, shapes_only=True)
    assert len(panns) == RELEASED_KEY_COUNTS[arch]
    with torch.device("meta"):
        model = build_model(arch, num_classes=10, num_bins=64, width=1.0)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith("fc_out.")}
    theirs = {k: tuple(v.shape) for k, v in panns_backbone_state(panns).items()}
    assert ours == theirs
    assert len(theirs) == RELEASED_KEY_COUNTS[arch] - 5  # 3 extractor + 2 AudioSet-head keys


def _panns_reference_embedding(sd: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
    """PANNs Cnn6 in eval mode on its own (B, 1, T, F) layout, from the paper's description."""
    f = nn.functional

    def bn(x, p):
        return f.batch_norm(
            x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"]
        )

    x = features.transpose(2, 3)  # (B, 1, T, F)
    x = bn(x.transpose(1, 3), "bn0").transpose(1, 3)
    for i in range(1, 5):
        x = f.relu(
            bn(f.conv2d(x, sd[f"conv_block{i}.conv1.weight"], padding=2), f"conv_block{i}.bn1")
        )
        x = f.avg_pool2d(x, 2)
    x = x.mean(dim=3)  # over frequency
    x = x.max(dim=2).values + x.mean(dim=2)
    return f.relu(f.linear(x, sd["fc1.weight"], sd["fc1.bias"]))


def test_panns_weights_give_panns_embeddings_on_our_frequency_first_layout():
    sd = fake_panns_state("cnn6", seed=1)
    model = build_model("cnn6", num_classes=3, num_bins=64).eval()
    model.load_state_dict(panns_backbone_state(sd), strict=False)
    features = torch.randn(2, 1, 64, 48, generator=torch.Generator().manual_seed(2)) * 10 - 40
    with torch.no_grad():
        ours = model.embed(features)
    torch.testing.assert_close(ours, _panns_reference_embedding(sd, features), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_forward_returns_logits_and_gradcam_layer_is_the_last_conv(arch):
    model = build_model(arch, num_classes=5, num_bins=32, width=1 / 16).eval()
    x = torch.randn(3, 1, 32, 40)
    logits = model(x)
    assert logits.shape == (3, 5) and logits.dtype == torch.float32
    layer = model.get_submodule(model.gradcam_layer)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert layer is convs[-1]
    expected = {
        "cnn6": "conv_block4.conv1",
        "cnn10": "conv_block4.conv2",
        "cnn14": "conv_block6.conv2",
    }
    assert model.gradcam_layer == expected[arch]


def test_relus_are_modules_and_not_in_place():
    model = build_model("cnn10", num_classes=4, num_bins=16, width=1 / 16)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 2 * 4 + 1 and not any(r.inplace for r in relus)
    # every ReLU is on the forward path: a forward hook on each fires once
    fired = []
    for r in relus:
        r.register_forward_hook(lambda *_: fired.append(1))
    model(torch.randn(2, 1, 16, 20))
    assert len(fired) == len(relus)


def test_batched_equals_unbatched_in_eval_mode():
    model = build_model("cnn6", num_classes=4, num_bins=48, width=1 / 8, input_pool=2).eval()
    x = torch.randn(4, 1, 48, 30)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_width_scales_channels_and_embedding():
    model = build_model("cnn6", num_classes=10, num_bins=64, width=0.25)
    assert [getattr(model, f"conv_block{i}").conv1.out_channels for i in range(1, 5)] == [
        16,
        32,
        64,
        128,
    ]
    assert model.fc1.out_features == 128


def test_transfer_cnn14_has_stable_names_and_new_head():
    model = TransferCnn14(num_classes=7, num_bins=64, width=1 / 32).eval()
    assert model.gradcam_layer == "base.conv_block6.conv2"
    assert isinstance(model.get_submodule(model.gradcam_layer), nn.Conv2d)
    keys = model.state_dict().keys()
    assert "base.conv_block1.conv1.weight" in keys and "fc_transfer.weight" in keys
    assert not any(k.startswith("base.fc_out") for k in keys)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 7)


def test_bad_arguments_raise_parameter_errors():
    with pytest.raises(ParameterError, match="cnn6"):
        build_model("cnn99", num_classes=2, num_bins=8)
    with pytest.raises(ParameterError, match="width"):
        build_model("cnn6", num_classes=2, num_bins=8, width=0)
    model = PannsCnn("cnn6", num_classes=2, num_bins=8, width=1 / 16)
    with pytest.raises(ParameterError, match="shape"):
        model(torch.randn(1, 1, 9, 20))  # wrong number of bins
