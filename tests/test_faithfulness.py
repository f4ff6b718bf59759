"""Deletion / insertion curves: orders, fills, areas, and their columns in the core's rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiointerp import faithfulness as fa
from audiointerp.errors import ParameterError


def test_fractions_columns_and_auc():
    k = fa.fractions(20)
    assert k.shape == (21,) and k[0] == 0.0 and k[-1] == 1.0
    assert fa.column_names("floor", "deletion")[:2] == [
        "deletion_floor_k000",
        "deletion_floor_k005",
    ]
    assert fa.column_names("road", "insertion")[-1] == "insertion_road_k100"
    # trapezoid: a straight line from 1 to 0 has area 1/2, a constant c has area c
    np.testing.assert_allclose(fa.curve_auc(np.linspace(1, 0, 21)), 0.5)
    np.testing.assert_allclose(fa.curve_auc(np.full((3, 11), 0.3)), [0.3] * 3)
    np.testing.assert_allclose(fa.curve_auc([[0.0, 1.0, 0.0]]), [0.5])
    with pytest.raises(ParameterError):
        fa.fractions(0)


def test_removal_order_ranks_by_attribution_and_breaks_ties_by_seed():
    a = torch.tensor([[[[0.1, 5.0, -3.0], [2.0, 2.0, 2.0]]]])
    o1 = fa.removal_order(a, np.random.default_rng(0))
    assert o1[0] == 1 and o1[-1] == 2  # most positive first, most negative last
    assert set(o1[1:4]) == {3, 4, 5}  # the tie, in some order
    orders = {tuple(fa.removal_order(a, np.random.default_rng(s))[1:4]) for s in range(20)}
    assert len(orders) > 1  # ties are not broken by index
    np.testing.assert_array_equal(o1, fa.removal_order(a, np.random.default_rng(0)))


def test_step_sets_remove_the_top_share():
    order = np.array([5, 0, 3, 1, 4, 2, 7, 6])
    top = fa.step_sets(order, (2, 4), n_steps=4)
    assert top.shape == (5, 2, 4)
    np.testing.assert_array_equal(top.reshape(5, -1).sum(1), [0, 2, 4, 6, 8])
    assert top[1].reshape(-1)[[5, 0]].all() and not top[1].reshape(-1)[3]


def test_floor_curves_are_the_masked_in_and_out_rule():
    rng = np.random.default_rng(1)
    x = torch.randn(1, 1, 6, 10, dtype=torch.float64) * 10 - 40
    a = torch.randn(1, 1, 6, 10, dtype=torch.float64)
    out = fa.curve_inputs(x, a, fill="floor", base=-100.0, rng=rng, n_steps=5)
    d, i = out["deletion"], out["insertion"]
    assert d.shape == i.shape == (6, 1, 6, 10)
    torch.testing.assert_close(d[0], x[0])
    torch.testing.assert_close(i[-1], x[0])
    assert (d[-1] == -100).all() and (i[0] == -100).all()
    # deletion step 1 removes exactly the top 20 % by attribution, insertion keeps exactly them
    top = a.reshape(-1).argsort(descending=True)[:12]
    assert (d[1].reshape(-1)[top] == -100).all()
    assert (d[1] == -100).sum() == 12
    torch.testing.assert_close(i[1].reshape(-1)[top], x.reshape(-1)[top])
    assert (i[1] == -100).sum() == 60 - 12


def test_linear_fill_keeps_kept_bins_reproduces_planes_and_is_linear():
    f, t = np.meshgrid(np.arange(9.0), np.arange(14.0), indexing="ij")
    ramp = torch.from_numpy(3.0 * f + 0.5 * t - 20)[None, None]
    removed = torch.zeros(1, 1, 9, 14, dtype=torch.bool)
    removed[..., 3:6, 4:9] = True  # a hole inside a smooth field
    filled = fa.linear_fill(ramp, removed)
    torch.testing.assert_close(filled[~removed], ramp[~removed])
    err = (filled - ramp)[removed].abs().max()
    span = float(ramp.max() - ramp.min())
    assert err < 0.1 * span  # a smooth membrane across the hole, not the floor
    const = torch.full((1, 1, 9, 14), -37.0, dtype=torch.float64)
    torch.testing.assert_close(fa.linear_fill(const, removed), const)  # constants exactly
    g = torch.randn(2, 1, 9, 14, dtype=torch.float64)
    r2 = removed.expand(2, -1, -1, -1)
    torch.testing.assert_close(  # linear in the kept values
        fa.linear_fill(2.0 * g[:1] - g[1:], r2[:1]),
        2.0 * fa.linear_fill(g[:1], r2[:1]) - fa.linear_fill(g[1:], r2[1:]),
    )


def _road_exact(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """ROAD's imputation solved exactly (one sparse system), the reference of linear_fill."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    f, t = x.shape
    idx = np.arange(f * t).reshape(f, t)
    rows, cols, vals = [], [], []
    for df in (-1, 0, 1):
        for dt in (-1, 0, 1):
            if df == dt == 0:
                continue
            w = 1 / 6 if df == 0 or dt == 0 else 1 / 12
            a = idx[max(0, -df) : f - max(0, df), max(0, -dt) : t - max(0, dt)]
            b = idx[max(0, df) : f + min(0, df), max(0, dt) : t + min(0, dt)]
            rows.append(a.ravel())
            cols.append(b.ravel())
            vals.append(np.full(a.size, w))
    nb = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))))
    u, k = np.flatnonzero(removed.ravel()), np.flatnonzero(~removed.ravel())
    s = np.asarray(nb.sum(1)).ravel()
    a = (sp.diags(s[u]) - nb[u][:, u]).tocsc()
    out = x.ravel().copy()
    out[u] = spsolve(a, nb[u][:, k] @ x.ravel()[k])
    return out.reshape(f, t)


def test_linear_fill_approaches_roads_exact_solve():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(4)
    x = gaussian_filter(rng.normal(size=(16, 40)), 2) * 60 - 50
    a = gaussian_filter(rng.normal(size=(16, 40)), 2)
    removed = a > np.quantile(a, 0.5)  # half the bins, in coherent blobs as real maps give
    exact = _road_exact(x, removed)
    xt, rt = torch.from_numpy(x)[None, None], torch.from_numpy(removed)[None, None]
    errors = [
        float((fa.linear_fill(xt, rt, sweeps=n)[0, 0].numpy() - exact)[removed].std())
        for n in (0, 10, fa.ROAD_SWEEPS)
    ]
    assert errors[0] > errors[1] > errors[2]
    # within a fraction of the clip's spread: far below what the floor fill does
    assert errors[2] < 0.1 * x.std()


def test_road_fill_is_noisy_seeded_and_floors_when_nothing_is_kept():
    x = torch.randn(1, 1, 8, 12) * 5 - 30
    a = torch.randn(1, 1, 8, 12)
    one = fa.curve_inputs(x, a, fill="road", base=-100.0, rng=np.random.default_rng(3), n_steps=4)
    two = fa.curve_inputs(x, a, fill="road", base=-100.0, rng=np.random.default_rng(3), n_steps=4)
    torch.testing.assert_close(one["deletion"], two["deletion"], rtol=0, atol=0)
    d = one["deletion"]
    assert (d[-1] == -100).all() and (one["insertion"][0] == -100).all()
    torch.testing.assert_close(d[0], x[0])
    removed = d[2] != x[0]
    assert removed.sum() == 48  # half of the bins, imputed (none equal to the input by chance)
    assert d[2][removed].min() > -60  # imputed near the clip's own level, not the floor
    with pytest.raises(ParameterError, match="fill"):
        fa.curve_inputs(x, a, fill="blur", base=-100.0, rng=np.random.default_rng(0))
    with pytest.raises(ParameterError, match="one clip"):
        fa.curve_inputs(
            x.repeat(2, 1, 1, 1), a, fill="floor", base=-100.0, rng=np.random.default_rng(0)
        )


def test_core_rows_carry_curves_the_same_alone_as_in_a_batch(tmp_path_factory):
    """explain_batch with curve_fills: AUC and point columns, k=0 deletion is p, a clip's
    curves do not depend on its batch, and relevance mass is read from the attribution."""
    import pandas as pd
    from experiment_fixtures import session_setup

    from audiointerp.experiments.core import explain_batch
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.session import ExperimentSession

    tiny = session_setup(tmp_path_factory)
    over = tiny.overrides(tmp_path_factory.mktemp("curves"), models={"mel": tiny.models["mel"]})
    over.update(methods={"saliency": {}}, masks=["minmax", "bin"], conditions=["clean"])
    cfg = load_experiment(None, over)
    session = ExperimentSession(cfg)
    clf = session.classifiers["mel"]
    unit = session.unit_clips("mel", 0)
    whole = session.batch("mel", "clean", unit)
    alone = session.batch("mel", "clean", unit[1:2])
    method = session.methods("mel")["saliency"]
    kw = dict(model=clf.model, frontend=clf.frontend, method_name="saliency", masks=cfg.masks)
    rows = explain_batch(whole, method, curve_fills=("floor", "road"), **kw).rows
    one = explain_batch(alone, method, curve_fills=("floor", "road"), **kw).rows
    cols = [c for c in rows.columns if c.startswith(("deletion_", "insertion_"))]
    assert len(cols) == 4 + 4 * 21
    a = rows[rows["id"] == alone.ids[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[cols], one[cols], check_exact=True)
    np.testing.assert_allclose(rows["deletion_floor_k000"], rows["p"].round(4))
    np.testing.assert_allclose(rows["insertion_road_k100"], rows["p"].round(4))
    for c in ("deletion_floor", "insertion_floor", "deletion_road", "insertion_road"):
        assert rows[c].between(0, 1).all()
    # mask-independent columns are the same for both masks of a clip
    by_mask = rows.set_index(["mask", "id"])
    for c in ("deletion_road", "relevance_mass"):
        np.testing.assert_array_equal(by_mask.loc["minmax", c], by_mask.loc["bin", c])
    assert rows["degenerate"].dtype == bool and (rows["mask_std"] >= 0).all()
    plain = explain_batch(alone, method, **kw).rows
    assert not any(c.startswith("deletion_") for c in plain.columns)  # skipped by default


def test_curves_only_on_the_listed_conditions(tmp_path_factory, tmp_path):
    """curve_conditions: listed conditions get curve columns, the others leave them empty
    (the rest of the rows unchanged), and an unknown condition is refused by name."""
    from experiment_fixtures import session_setup

    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    tiny = session_setup(tmp_path_factory)
    extra = {"methods": {"saliency": {}}, "masks": ["minmax"], "models": {"mel": tiny.models["mel"]},
             "curve_fills": ["floor"]}  # fmt: skip
    some = run_experiment(
        load_experiment(None, tiny.overrides(tmp_path / "a", **extra, curve_conditions=["clean"])),
        progress=False,
    ).table
    every = run_experiment(load_experiment(None, tiny.overrides(tmp_path / "b", **extra)),
                           progress=False).table  # fmt: skip
    clean = some["condition"] == "clean"
    assert some.loc[clean, "deletion_floor"].notna().all()
    assert some.loc[~clean, "deletion_floor"].isna().all()
    assert every["deletion_floor"].notna().all()
    np.testing.assert_array_equal(
        some.loc[clean, "deletion_floor"], every.loc[clean, "deletion_floor"]
    )
    np.testing.assert_array_equal(some["FF"], every["FF"])
    with pytest.raises(ParameterError, match="curve_conditions"):
        load_experiment(None, tiny.overrides(tmp_path / "c", **extra, curve_conditions=["room"]))
