"""Process-level helpers: allocator tuning, device choice, seeding."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch

from audiointerp.runtime import default_device, seed_everything, tune_allocator


@pytest.mark.skipif(platform.system() != "Linux", reason="mallopt is glibc-only")
def test_tune_allocator_sets_thresholds_on_glibc():
    assert tune_allocator() is True
    assert tune_allocator() is True  # idempotent


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
