"""Process-level helpers: allocator tuning, device choice, seeding."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch
from torch import nn

from audiointerp import runtime
from audiointerp.runtime import (
    default_device,
    layer_bytes_per_row,
    memory_batch_size,
    pass_working_set,
    seed_everything,
    tune_allocator,
)


@pytest.mark.skipif(platform.system() != "Linux", reason="mallopt is glibc-only")
def test_tune_allocator_sets_thresholds_on_glibc():
    assert tune_allocator() is True
    assert tune_allocator() is True  # idempotent
    assert runtime._threshold >= 1 << 30
    # a larger working set raises the thresholds, never past what mallopt's C int holds
    assert tune_allocator(3 << 30) is True
    assert runtime._threshold == runtime.MAX_THRESHOLD_BYTES
    assert tune_allocator() is True and runtime._threshold == runtime.MAX_THRESHOLD_BYTES


def _conv(channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))


def test_layer_bytes_is_the_largest_layer_input_plus_output_per_row():
    x = torch.zeros(5, 1, 8, 10)
    # the conv reads 80 floats and writes 4 x 80; the ReLU reads and writes 4 x 80 each
    assert layer_bytes_per_row(_conv(4), x) == 4 * (4 * 80 + 4 * 80)
    assert pass_working_set(_conv(4), x, 10) == 10 * 3 * 4 * 640


def test_memory_batch_size_caps_large_activations_at_a_power_of_two(monkeypatch):
    model, x = _conv(4), torch.zeros(1, 1, 8, 10)
    per_row = 3 * layer_bytes_per_row(model, x)  # 7,680 bytes
    assert memory_batch_size(model, x, 64) == 64  # small models keep the requested size
    monkeypatch.setattr(runtime, "MAX_THRESHOLD_BYTES", 20 * per_row)
    assert memory_batch_size(model, x, 64) == 16  # 20 rows fit: the power of two below
    assert memory_batch_size(model, x, 8) == 8
    monkeypatch.setattr(runtime, "MAX_THRESHOLD_BYTES", per_row // 2)
    assert memory_batch_size(model, x, 64) == 1


def test_default_device_prefers_explicit_then_cuda():
    assert default_device("cpu") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == want


def test_seed_everything_makes_draws_repeatable():
    seed_everything(123)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(123)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
