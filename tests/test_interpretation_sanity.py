"""Cascading model-parameter randomization (Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audiointerp.interpretation import cascading_randomization, get_method
from audiointerp.interpretation.base import AttributionMethod
from audiointerp.interpretation.sanity import parametrized_layers


class SmallCnn(nn.Module):
    gradcam_layer = "conv2"

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.fc(x.mean(dim=(2, 3)))


class InputEcho(AttributionMethod):
    """A 'method' that ignores the model (an edge detector in disguise): must fail."""

    def _attribute(self, model, features, target):
        return features - features.mean()


def _setup():
    torch.manual_seed(0)
    model = SmallCnn().eval()
    x = torch.randn(2, 1, 10, 12, generator=torch.Generator().manual_seed(1))
    return model, x


def test_layers_are_listed_top_first():
    model, _ = _setup()
    assert parametrized_layers(model) == ["fc", "conv2", "bn1", "conv1"]


def test_saliency_passes_and_model_is_untouched():
    model, x = _setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = cascading_randomization(get_method("saliency"), model, x, seed=0)
    assert result.layers == ["fc", "conv2", "bn1", "conv1"]
    assert result.correlations.shape == (4, 2)
    assert np.isfinite(result.correlations).all()
    assert result.passed
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_model_independent_method_fails():
    model, x = _setup()
    result = cascading_randomization(InputEcho(), model, x)
    np.testing.assert_allclose(result.correlations, 1.0)
    assert not result.passed


# --- intervals and verdicts --------------------------------------------------------------------
def test_mean_interval_and_verdict_by_hand():
    from audiointerp.interpretation.sanity import mean_interval, verdict

    assert mean_interval(np.full(20, 0.25)) == (0.25, 0.25, 0.25)  # no spread, no width
    assert mean_interval(np.array([0.7])) == (0.7, 0.7, 0.7)
    m, lo, hi = mean_interval(np.r_[np.zeros(10), np.ones(10)], seed=3)
    assert m == 0.5 and 0.25 < lo < 0.5 < hi < 0.75  # about mean -/+ 1.96 * 0.5 / sqrt(20)
    assert mean_interval(np.r_[np.zeros(10), np.ones(10)], seed=3) == (m, lo, hi)  # seeded
    assert verdict(0.1, 0.4, 0.5) == "pass"
    assert verdict(0.5, 0.9, 0.5) == "fail"
    assert verdict(0.4, 0.6, 0.5) == "inconclusive"


def test_intervals_over_twenty_clips_and_seeded_stochastic_methods():
    torch.manual_seed(0)
    model = SmallCnn().eval()
    x = torch.randn(20, 1, 10, 12, generator=torch.Generator().manual_seed(1))
    res = cascading_randomization(get_method("saliency"), model, x, seed=0)
    assert res.correlations.shape == (4, 20)
    assert res.mean.shape == res.low.shape == res.high.shape == (4,)
    assert (res.low <= res.mean).all() and (res.mean <= res.high).all()
    np.testing.assert_allclose(res.mean, np.abs(res.correlations).mean(axis=1))
    assert res.status == "pass" and res.high[-1] < res.threshold
    # a random map is reseeded identically for every model: it ignores the model and fails
    noise = cascading_randomization(get_method("random"), model, x, seed=0)
    np.testing.assert_allclose(noise.correlations, 1.0)
    assert noise.status == "fail" and not noise.passed
