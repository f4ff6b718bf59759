"""The fit/explain life cycle of the learned interpreters on the tiny experiment setup:
self-describing checkpoints bound to the classifier, bit-exact resume, batched equals
unbatched, the masking rules reconciled, the grid, the sanity check and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from experiment_fixtures import DURATION_S, session_setup

from audiointerp.errors import CheckpointError, DatasetError
from audiointerp.files import sha256_file
from audiointerp.interpretation import build_method, method_class
from audiointerp.interpretation.context import MethodContext
from audiointerp.interpretation.learned import read_interpreter
from audiointerp.interpretation.learned.fitconfig import load_fit_config
from audiointerp.interpretation.learned.fitting import fit_interpreter
from audiointerp.models import load_classifier, save_classifier
from audiointerp.models.checkpoints import read_checkpoint

LEARNED = ("lmac", "lmac_ft", "l2i", "piq", "nmf")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return session_setup(tmp_path_factory)


def fit_config(tiny, **extra):
    over = {
        "data.root": str(tiny.data),
        "data.train_folds": [1],
        "data.valid_folds": [2],
        "data.test_folds": [3],
        "data.duration_s": DURATION_S,
        "fit.epochs": 2,
        "fit.batch_size": 4,
        "fit.noises_dir": str(tiny.noises),
        **extra,
    }
    return load_fit_config(None, over)


def interpreter_options(method: str) -> dict:
    return {"n_components": 6} if method in ("l2i", "nmf") else {}


@pytest.fixture(scope="module")
def fitted(tiny, tmp_path_factory):
    """Every learned method fitted for the tiny mel classifier, L-MAC also for the STFT one."""
    root = tmp_path_factory.mktemp("fitted")
    mel = load_classifier(tiny.models["mel"], device="cpu")
    out = {}
    for method in LEARNED:
        cfg = fit_config(tiny, interpreter=interpreter_options(method))
        path = root / f"{method}_mel.pt"
        fit_interpreter(method, mel, cfg, path, work_dir=root / f"work_{method}", progress=False)
        out[method] = path
    stft = load_classifier(tiny.models["stft"], device="cpu")
    out["lmac_stft"] = root / "lmac_stft.pt"
    fit_interpreter(
        "lmac", stft, fit_config(tiny), out["lmac_stft"], work_dir=root / "w", progress=False
    )
    return out


def context_for(path: str | Path) -> MethodContext:
    clf = load_classifier(path, device="cpu")
    return MethodContext(clf.model, clf.frontend, model_sha256=clf.sha256)


def clips(tiny, kind: str = "mel", n: int = 3) -> torch.Tensor:
    from audiointerp.data import open_dataset

    clf = load_classifier(tiny.models[kind], device="cpu")
    ds = open_dataset(tiny.data, sr=clf.frontend.sr, duration_s=DURATION_S, folds=[1])
    waves, _, _ = ds.load_batch(range(n))
    return clf.frontend.features(torch.from_numpy(waves))


# --- checkpoints ---------------------------------------------------------------------------
def test_checkpoint_describes_itself_and_its_classifier(tiny, fitted):
    ckpt = read_interpreter(fitted["lmac"])
    raw = read_checkpoint(fitted["lmac"])  # weights_only=True: plain containers and tensors
    assert raw["format"] == "audiointerp-interpreter/1" and ckpt.method == "lmac"
    clf = load_classifier(tiny.models["mel"], device="cpu")
    assert ckpt.classifier["sha256"] == sha256_file(tiny.models["mel"]) == clf.sha256
    assert ckpt.classifier["classes"] == clf.classes
    assert ckpt.classifier["frontend"]["kind"] == "mel"
    assert ckpt.classifier["n_bins"] == clf.frontend.n_bins
    assert set(ckpt.classifier["hidden"]) == set(clf.model.hidden(clips(tiny, n=1)))
    assert ckpt.config["lambda_in"] == 4.0 and ckpt.fit["fit"]["epochs"] == 2
    meta = ckpt.meta
    assert meta["epochs_run"] == 2 and len(meta["history"]) == 2 and meta["fit_seconds"] > 0
    for cond in ("clean", "white", "room", "event"):
        assert {"FidIn", "AI", "AG", "FF", "loc_auc"} <= set(meta["validation"][cond])


@pytest.mark.parametrize("method", LEARNED)
def test_method_refuses_a_checkpoint_of_another_classifier(tiny, fitted, method):
    built = build_method(
        method, {"checkpoint": str(fitted[method])}, context_for(tiny.models["mel"])
    )
    assert built.interpreter.training is False
    with pytest.raises(CheckpointError, match="bound to"):
        build_method(method, {"checkpoint": str(fitted[method])}, context_for(tiny.models["stft"]))


def test_retrained_classifier_in_place_is_refused(tiny, fitted, tmp_path):
    clf = load_classifier(tiny.models["mel"], device="cpu")
    with torch.no_grad():
        clf.model.fc_out.bias.add_(0.01)  # "retrained": same architecture, other weights
    path = save_classifier(
        tmp_path / "tiny_mel.pt",
        clf.model,
        model_config=clf.config,
        frontend_config=clf.frontend.config,
        classes=clf.classes,
    )
    with pytest.raises(CheckpointError, match="fitted for"):
        build_method("lmac", {"checkpoint": str(fitted["lmac"])}, context_for(path))


def test_a_list_of_checkpoints_picks_the_one_bound_to_the_classifier(tiny, fitted):
    both = [str(fitted["lmac"]), str(fitted["lmac_stft"])]
    for kind, expected in (("mel", fitted["lmac"]), ("stft", fitted["lmac_stft"])):
        m = build_method("lmac", {"checkpoint": both}, context_for(tiny.models[kind]))
        assert Path(m.checkpoint) == expected


def test_bad_checkpoint_options_say_what_to_do(tiny, fitted, tmp_path):
    ctx = context_for(tiny.models["mel"])
    with pytest.raises(CheckpointError, match="audiointerp fit --method lmac"):
        build_method("lmac", {}, ctx)
    with pytest.raises(CheckpointError, match="classifier checkpoint"):
        build_method("lmac", {"checkpoint": tiny.models["mel"]}, ctx)
    with pytest.raises(CheckpointError, match="fitted by method 'l2i'"):
        build_method("lmac", {"checkpoint": str(fitted["l2i"])}, ctx)
    with pytest.raises(CheckpointError, match="does not exist"):
        build_method("lmac", {"checkpoint": str(tmp_path / "missing.pt")}, ctx)
    with pytest.raises(CheckpointError, match="SHA-256 is unknown"):
        build_method("lmac", {"checkpoint": str(fitted["lmac"])}, MethodContext(ctx.model))
    # L-MAC FT may start from an L-MAC file but is registered with its own checkpoints
    with pytest.raises(CheckpointError, match="fitted by method 'lmac'"):
        build_method("lmac_ft", {"checkpoint": str(fitted["lmac"])}, ctx)


class Payload:
    """Not a tensor or a plain container: unpickling it would run code."""


def test_a_checkpoint_carrying_objects_is_refused_unread(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "audiointerp-interpreter/1", "method": "lmac", "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_interpreter(path)


# --- fitting -------------------------------------------------------------------------------
def test_interrupted_fit_resumes_bit_exactly(tiny, tmp_path):
    mel = load_classifier(tiny.models["mel"], device="cpu")
    # L2I: dropout, noise augmentation and a dictionary, all of which must replay exactly
    cfg = fit_config(tiny, **{"fit.epochs": 3, "interpreter": {"n_components": 6}})
    straight = fit_interpreter(
        "l2i", mel, cfg, tmp_path / "a.pt", work_dir=tmp_path / "wa", progress=False
    )

    class Killed(Exception):
        pass

    def crash(epoch, record):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        fit_interpreter(
            "l2i",
            mel,
            cfg,
            tmp_path / "b.pt",
            work_dir=tmp_path / "wb",
            progress=False,
            on_epoch_end=crash,
        )
    assert not (tmp_path / "b.pt").exists()
    assert read_checkpoint(tmp_path / "wb" / "last.pt")["state"]["epoch"] == 1
    resumed = fit_interpreter(
        "l2i", mel, cfg, tmp_path / "b.pt", work_dir=tmp_path / "wb", progress=False
    )
    a, b = read_interpreter(straight.checkpoint), read_interpreter(resumed.checkpoint)
    assert a.state_dict.keys() == b.state_dict.keys()
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    cols = ["train_loss", "valid_loss", "lr", "rec", "fid"]
    assert straight.history[cols].equals(resumed.history[cols])
    assert a.meta["validation"] == b.meta["validation"]


def test_resume_with_another_config_is_refused(tiny, tmp_path):
    mel = load_classifier(tiny.models["mel"], device="cpu")
    fit_interpreter(
        "lmac",
        mel,
        fit_config(tiny, **{"fit.epochs": 1}),
        tmp_path / "a.pt",
        work_dir=tmp_path / "w",
        progress=False,
    )
    with pytest.raises(CheckpointError, match="another method, classifier or config"):
        fit_interpreter(
            "lmac",
            mel,
            fit_config(tiny, **{"fit.lr": 0.1}),
            tmp_path / "a.pt",
            work_dir=tmp_path / "w",
            progress=False,
        )


def test_fitting_learns(tiny, tmp_path):
    mel = load_classifier(tiny.models["mel"], device="cpu")
    res = fit_interpreter(
        "lmac",
        mel,
        fit_config(tiny, **{"fit.epochs": 4}),
        tmp_path / "a.pt",
        work_dir=tmp_path / "w",
        progress=False,
    )
    assert res.history["train_loss"].iloc[-1] < res.history["train_loss"].iloc[0]
    # the classifier was left alone: frozen, same weights as on disk
    again = load_classifier(tiny.models["mel"], device="cpu")
    for k, v in again.model.state_dict().items():
        assert torch.equal(v, mel.model.state_dict()[k])


def test_init_starts_ft_from_lmac_and_ft_needs_the_clean_target(tiny, fitted, tmp_path):
    from audiointerp.interpretation.learned.base import FitBatch

    mel = load_classifier(tiny.models["mel"], device="cpu")
    cfg = fit_config(tiny, **{"fit.epochs": 1, "init": str(fitted["lmac"])})
    res = fit_interpreter(
        "lmac_ft", mel, cfg, tmp_path / "ft.pt", work_dir=tmp_path / "w", progress=False
    )
    assert read_interpreter(res.checkpoint).meta["init"] == str(fitted["lmac"])
    assert "guided" in res.history
    ft = build_method(
        "lmac_ft", {"checkpoint": str(fitted["lmac_ft"])}, context_for(tiny.models["mel"])
    )
    x = clips(tiny, n=2)
    logits = mel.model(x)
    batch = FitBatch(x, torch.zeros(0), logits.argmax(-1), logits, logits.argmax(-1))
    with pytest.raises(DatasetError, match="stems"):
        ft.interpreter.loss(mel.model, mel.frontend, batch)
    stft = load_classifier(tiny.models["stft"], device="cpu")
    with pytest.raises(CheckpointError, match="another classifier"):
        fit_interpreter(
            "lmac_ft", stft, cfg, tmp_path / "x.pt", work_dir=tmp_path / "w2", progress=False
        )


# --- explaining ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", LEARNED)
def test_batched_equals_unbatched_and_masks_are_in_range(tiny, fitted, method):
    m = build_method(method, {"checkpoint": str(fitted[method])}, context_for(tiny.models["mel"]))
    clf = load_classifier(tiny.models["mel"], device="cpu")
    x = clips(tiny, n=3)
    together = m.explain(clf.model, x)
    # L2I's activations come from 100 projected-gradient NNLS steps, which carry the float32
    # rounding of the batch's matmul shapes further (seen: 2e-4 relative on one bin of 4032
    # on an AMD EPYC); the other interpreters hold the tighter tolerance
    rtol, atol = (1e-3, 1e-4) if method == "l2i" else (1e-4, 1e-5)
    for i in range(3):
        alone = m.explain(clf.model, x[i : i + 1])
        torch.testing.assert_close(
            alone.attributions, together.attributions[i : i + 1], rtol=rtol, atol=atol
        )
        torch.testing.assert_close(
            alone.native_mask, together.native_mask[i : i + 1], rtol=rtol, atol=atol
        )
    nm = together.native_mask
    assert nm.shape == x.shape and nm.min() >= 0 and nm.max() <= 1
    assert torch.equal(m.explain(clf.model, x).attributions, together.attributions)


@pytest.mark.parametrize("method", LEARNED)
def test_explaining_costs_few_classifier_passes(tiny, fitted, method):
    """At most 3 passes through the classifier's blocks per clip (the NMF baseline: K + 1)."""
    m = build_method(method, {"checkpoint": str(fitted[method])}, context_for(tiny.models["mel"]))
    clf = load_classifier(tiny.models["mel"], device="cpu")
    x = clips(tiny, n=1)
    target = clf.model(x).argmax(-1)
    calls = []
    handle = clf.model.conv_block1.register_forward_hook(lambda mod, i, o: calls.append(o.shape[0]))
    try:
        m.explain(clf.model, x, target)
    finally:
        handle.remove()
    passes = sum(calls)
    if method == "nmf":
        assert passes == m.config.n_components + 1
    else:
        assert passes <= 3, passes


def test_masking_rules_agree_on_binary_masks():
    from audiointerp.interpretation.learned.masking import masked_pair
    from audiointerp.processing import FrontendConfig, build_frontend

    gen = torch.Generator().manual_seed(0)
    wave = torch.randn(2, 16000, generator=gen) * 0.1
    for kind in ("stft", "mel"):
        fe = build_frontend(
            FrontendConfig(kind=kind, n_fft=256, win_length=256, hop_length=128, n_mels=32)
        )
        spec = fe.analyze(wave)
        x, power = spec.features, spec.mag.square()
        ones, zeros = torch.ones_like(x), torch.zeros_like(x)
        for m in (ones, zeros):
            lin = masked_pair(fe, x, m, masking="linear", power=power)
            feat = masked_pair(fe, x, m, masking="features")
            for a, b in zip(lin, feat, strict=True):
                torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
        # a binary mask: exact on STFT bins; on mel bands wherever the neighbours agree
        m = (torch.rand(x.shape, generator=gen) > 0.5).float()
        if kind == "mel":
            m = m[:, :, :1].expand_as(x).clone()  # constant over time ...
            m[:, :, : x.shape[2] // 2] = 1.0  # ... with one boundary between bands
            m[:, :, x.shape[2] // 2 :] = 0.0
        lin_in, lin_out = masked_pair(fe, x, m, masking="linear", power=power)
        f_in, f_out = masked_pair(fe, x, m, masking="features")
        if kind == "mel":
            interior = torch.ones(x.shape[2], dtype=torch.bool)
            interior[x.shape[2] // 2 - 1 : x.shape[2] // 2 + 1] = False
            lin_in, f_in = lin_in[:, :, interior], f_in[:, :, interior]
            lin_out, f_out = lin_out[:, :, interior], f_out[:, :, interior]
        torch.testing.assert_close(lin_in, f_in, atol=1e-3, rtol=0)
        torch.testing.assert_close(lin_out, f_out, atol=1e-3, rtol=0)
        # a soft mask: the two rules differ (the core interpolates dB, the paper scales |X|)
        half = torch.full_like(x, 0.5)
        assert (
            masked_pair(fe, x, half, masking="linear", power=power)[0]
            - masked_pair(fe, x, half, masking="features")[0]
        ).abs().max() > 1.0


def test_sanity_check_keeps_the_decoder_and_sees_the_mask_change(tiny, fitted):
    from audiointerp.interpretation import cascading_randomization

    m = build_method("lmac", {"checkpoint": str(fitted["lmac"])}, context_for(tiny.models["mel"]))
    clf = load_classifier(tiny.models["mel"], device="cpu")
    before = {k: v.clone() for k, v in m.interpreter.state_dict().items()}
    x = clips(tiny, n=2)
    res = cascading_randomization(m, clf.model, x, seed=0)
    for k, v in m.interpreter.state_dict().items():
        assert torch.equal(v, before[k]), k  # the decoder is kept, only the classifier changes
    rho = np.abs(res.correlations)
    assert rho[-1].mean() < rho[0].mean() and np.median(rho[-1]) < 0.9


def test_learned_methods_declare_what_they_are():
    for name in LEARNED:
        cls = method_class(name)
        assert cls.needs_fitting and cls.gives_native_mask and cls.file_options == ("checkpoint",)
    assert method_class("lmac").requires == frozenset({"hidden"})
    assert method_class("nmf").requires == frozenset()


# --- everywhere like any method ------------------------------------------------------------
def test_grid_scores_native_masks_and_fingerprints_the_checkpoints(tiny, fitted, tmp_path):
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    both = [str(fitted["lmac"]), str(fitted["lmac_stft"])]
    over = tiny.overrides(
        tmp_path / "out",
        methods={"gradcam": {}, "lmac": {"checkpoint": both}},
        masks=["minmax", "bin"],
        conditions=["clean"],
        sanity_clips=2,
        sanity_methods=["lmac"],
    )
    cfg = load_experiment(None, over)
    table = run_experiment(cfg, progress=False).table
    lmac = table[table["method"] == "lmac"]
    assert set(lmac["mask"]) == {"minmax", "bin", "native"}
    assert set(lmac["model"]) == {"mel", "stft"} and lmac["loc_auc"].notna().all()
    assert (tmp_path / "out" / "mel" / "sanity.csv").is_file()
    # refitting an interpreter in place changes the run's fingerprint
    copies = [tmp_path / "m.pt", tmp_path / "s.pt"]
    for src, dst in zip(both, copies, strict=True):
        shutil.copy(src, dst)
    cfg2 = load_experiment(
        None, {**over, "methods": {"lmac": {"checkpoint": list(map(str, copies))}}}
    )
    before = cfg2.fingerprint()
    shutil.copy(fitted["l2i"], copies[0])
    assert cfg2.fingerprint() != before


def test_fit_command(tiny, tmp_path, capsys):
    from audiointerp.cli import main

    out = tmp_path / "nmf.pt"
    argv = [
        "fit",
        "--method",
        "nmf",
        "--weights",
        tiny.models["mel"],
        "--data",
        str(tiny.data),
        "--out",
        str(out),
        "--work",
        str(tmp_path / "w"),
        "--no-progress",
        "--set",
        "data.train_folds=[1]",
        "--set",
        "data.valid_folds=[2]",
        "--set",
        "data.test_folds=[3]",
        "--set",
        f"data.duration_s={DURATION_S}",
        "--set",
        f"fit.noises_dir={tiny.noises}",
        "--set",
        "interpreter.n_components=4",
    ]
    assert main(argv) == 0
    assert read_interpreter(out).method == "nmf" and "validation" in capsys.readouterr().out
    assert main(["fit", "--method", "saliency", "--weights", tiny.models["mel"]]) == 2
    assert "needs no fitting" in capsys.readouterr().err


def test_interactive_explainer_gives_learned_native_mask_with_audio(tiny, fitted):
    # ClipExplainer is what interpret, illustrate and the explorer use: a learned method with
    # a list of checkpoints gets the one bound to its classifier and adds `native`.
    from audiointerp.data import open_dataset
    from audiointerp.experiments.interactive.clip import ClipExplainer

    clf = load_classifier(tiny.models["mel"], device="cpu")
    explainer = ClipExplainer.from_folder(
        clf,
        tiny.data,
        train_folds=(1,),
        duration_s=DURATION_S,
        method_options={"lmac": {"checkpoint": [str(fitted["lmac_stft"]), str(fitted["lmac"])]}},
    )
    ds = open_dataset(tiny.data, sr=clf.frontend.sr, duration_s=DURATION_S, folds=[1])
    wave, _, cid = ds[0]
    clip = explainer.analyze(wave, clip_id=cid, category=ds.clips[0].category)
    ex = explainer.explain(clip, "lmac", masks=["bin"])
    assert list(ex) == ["bin", "native"]
    native = ex["native"]
    assert native.mask.min() >= 0.0 and native.mask.max() <= 1.0
    # L-MAC's map is the decoder's logit and its native mask the logit's sigmoid
    expected = 1.0 / (1.0 + np.exp(-native.attribution.astype(np.float64)))
    np.testing.assert_allclose(native.mask, expected, atol=1e-5)
    assert not np.array_equal(native.mask, ex["bin"].mask)  # soft map vs its binary threshold
    assert native.audio_in.shape == native.audio_out.shape == wave.shape
    assert {"FidIn", "AI", "AG"} <= set(native.metrics)
