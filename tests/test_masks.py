"""The paper's 14 masks: every definition on hand-checked maps, degenerate maps, masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiointerp.errors import ParameterError
from audiointerp.interpretation.masks import (
    MASK_NAMES,
    apply_mask,
    make_masks,
    quantile,
)

# One clip, 20 bins: values -9 .. 10 (distinct; 10 positive), shuffled into a (1, 1, 4, 5) map.
VALUES = torch.arange(-9.0, 11.0)
PERM = torch.randperm(20, generator=torch.Generator().manual_seed(0))
A = VALUES[PERM].reshape(1, 1, 4, 5)


def as_map(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32)[PERM].reshape(1, 1, 4, 5)


def test_names_and_order():
    assert MASK_NAMES == (
        "minmax", "sigmoid", "bin", "topK_5", "topK_30", "topK_50", "minmax_pos", "sigmoid_pos",
        "pos_thresh_25", "pos_thresh_50", "pos_thresh_75", "topK_5_pos", "topK_30_pos",
        "topK_50_pos",
    )  # fmt: skip
    masks = make_masks(A)
    assert list(masks) == list(MASK_NAMES)
    for m in masks.values():
        assert m.shape == A.shape and m.dtype == torch.float32
        assert (m >= 0).all() and (m <= 1).all()
    assert list(make_masks(A, ["bin", "minmax"])) == ["bin", "minmax"]


def test_every_definition_by_hand():
    m = make_masks(A)
    v = VALUES
    torch.testing.assert_close(m["minmax"], as_map((v + 9) / 19))
    torch.testing.assert_close(m["sigmoid"], as_map(torch.sigmoid(v)))
    torch.testing.assert_close(m["bin"], as_map((v > 0).float()))
    # 0.95 quantile of -9..10 (linear): 9.05 -> only 10; 0.7 -> 4.3 -> 5..10; 0.5 -> 0.5 -> 1..10
    torch.testing.assert_close(m["topK_5"], as_map((v >= 9.05).float()))
    torch.testing.assert_close(m["topK_30"], as_map((v >= 4.3).float()))
    torch.testing.assert_close(m["topK_50"], as_map((v >= 0.5).float()))
    pos = v.clamp_min(0)
    torch.testing.assert_close(m["minmax_pos"], as_map(pos / 10))
    torch.testing.assert_close(m["sigmoid_pos"], as_map(torch.sigmoid(pos)))
    torch.testing.assert_close(m["pos_thresh_25"], as_map((pos / 10 >= 0.25).float()))
    torch.testing.assert_close(m["pos_thresh_50"], as_map((pos >= 5).float()))
    torch.testing.assert_close(m["pos_thresh_75"], as_map((pos >= 7.5).float()))
    # A+ = [0]*10 + 1..10: 0.95 quantile 9.05; 0.7 -> 4.3; 0.5 -> 0.5, all positive -> same as above
    torch.testing.assert_close(m["topK_5_pos"], as_map((v >= 9.05).float()))
    torch.testing.assert_close(m["topK_30_pos"], as_map((v >= 4.3).float()))
    torch.testing.assert_close(m["topK_50_pos"], as_map((v >= 1).float()))


def test_topk_pos_excludes_non_positive_ties():
    a = as_map(torch.cat([torch.zeros(15), torch.arange(1.0, 6.0)]))  # 75 % zeros
    m = make_masks(a, ["topK_50_pos", "topK_50"])
    assert float(m["topK_50_pos"].sum()) == 5  # only the positive bins
    assert float(m["topK_50"].sum()) == 20  # quantile 0 -> every bin ties at or above it


def test_masks_are_per_sample():
    a = torch.cat([A, 100 * A - 50])
    m = make_masks(a)
    single = make_masks(A)
    for name in MASK_NAMES:
        torch.testing.assert_close(m[name][:1], single[name])
    torch.testing.assert_close(m["minmax"][1], single["minmax"][0])  # affine-invariant


@pytest.mark.parametrize(
    ("label", "a"),
    [
        ("zero", torch.zeros(1, 1, 4, 5)),
        ("constant", torch.full((1, 1, 4, 5), 3.0)),
        ("negative", -1 - torch.rand(1, 1, 4, 5, generator=torch.Generator().manual_seed(1))),
    ],
)
def test_degenerate_maps_get_defined_masks(label, a):
    m = make_masks(a)
    for name, mask in m.items():
        assert torch.isfinite(mask).all(), name
    if label != "negative":
        assert torch.equal(m["minmax"], torch.zeros_like(a))
        for k in (5, 30, 50):
            assert torch.equal(m[f"topK_{k}"], torch.ones_like(a))
    if label != "constant":  # no positive value: no positive evidence
        for name in ("bin", "minmax_pos", "pos_thresh_25", "pos_thresh_50", "pos_thresh_75",
                     "topK_5_pos", "topK_30_pos", "topK_50_pos"):  # fmt: skip
            assert torch.equal(m[name], torch.zeros_like(a)), name
        assert torch.equal(m["sigmoid_pos"], torch.full_like(a, 0.5))
    else:  # positive constant: max of A+ is the value itself
        assert torch.equal(m["minmax_pos"], torch.ones_like(a))


def test_quantile_matches_numpy():
    x = torch.randn(3, 1, 7, 11, generator=torch.Generator().manual_seed(2))
    for q in (0.0, 0.05, 0.3, 0.5, 0.95, 1.0):
        want = np.quantile(x.reshape(3, -1).numpy(), q, axis=1)
        np.testing.assert_allclose(quantile(x, q).numpy(), want, rtol=1e-6, atol=1e-6)


def test_apply_mask_in_and_out():
    x = torch.tensor([[[[-20.0, 0.0], [10.0, -100.0]]]])
    m = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    torch.testing.assert_close(
        apply_mask(x, m, -100.0), torch.tensor([[[[-20.0, -100.0], [-45.0, -100.0]]]])
    )
    torch.testing.assert_close(
        apply_mask(x, 1 - m, -100.0), torch.tensor([[[[-100.0, 0.0], [-45.0, -100.0]]]])
    )
    torch.testing.assert_close(apply_mask(x, torch.ones_like(x), -100.0), x)
    with pytest.raises(ParameterError, match="shape"):
        apply_mask(x, m[..., :1], -100.0)


def test_unknown_mask_name():
    with pytest.raises(ParameterError, match="minmax"):
        make_masks(A, ["topK_10"])


def test_make_masks_shares_its_sorts_without_changing_a_bit():
    from audiointerp.interpretation.masks import ALL_MASK_NAMES, make_mask

    gen = torch.Generator().manual_seed(3)
    a = torch.randn(3, 1, 16, 20, generator=gen)
    a[1] = torch.round(a[1] * 2) / 2  # ties at the quantiles, and exact zeros
    a[2] = -a[2].abs()  # no positive value
    built = make_masks(a, ALL_MASK_NAMES)
    for name in ALL_MASK_NAMES:
        assert torch.equal(built[name], make_mask(a, name)), name
