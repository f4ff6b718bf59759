"""Every method on the AST through the explain-and-score core; Grad-CAM on patch tokens; SHAP's
fallback recorded; the grid leaves attention methods out on CNNs; the CLI on an AST."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from experiment_fixtures import session_setup

from audiointerp.cli import main
from audiointerp.experiments.core import explain_batch, prepare_batch
from audiointerp.interpretation import MethodContext, build_method, method_class, method_names
from audiointerp.models import build_model, load_classifier, model_from_config, save_classifier
from audiointerp.models.ast import AstConfig
from audiointerp.processing import FrontendConfig, build_frontend

SR = 16000
FC = FrontendConfig(n_fft=256, win_length=256, hop_length=128, n_mels=32)  # 1 s -> 32 x 126
AST = AstConfig(patch=(4, 8), dim=16, depth=2, heads=2, max_frames=126, dropout=0.0)
OPTIONS = {
    "lime": {"n_samples": 8, "segmentation": "grid", "batch_size": 8},
    "shap": {"n_samples": 4, "background_per_class": 1},
    "ig": {"n_steps": 4},
}


class Training:
    """A stand-in for the training folds: fixed features, one clip per class (3 classes)."""

    description = "test features"

    def __init__(self, feats: torch.Tensor) -> None:
        self.feats = feats

    def features(self, per_class: int) -> torch.Tensor:
        return self.feats[: 3 * per_class]


def waves(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    out = [
        0.5 * np.sin(2 * np.pi * rng.uniform(300, 3000) * t) * (t > rng.uniform(0, 0.5))
        + 0.05 * rng.standard_normal(SR)
        for _ in range(n)
    ]
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = model_from_config(AST, num_classes=3, num_bins=32).eval()
    frontend = build_frontend(FC)
    train = frontend.features(torch.from_numpy(waves(6, seed=1)))
    return model, frontend, MethodContext(model, frontend, Training(train))


def test_every_method_runs_on_the_ast_through_the_core(setup):
    model, frontend, context = setup
    batch = prepare_batch(
        model, frontend, waves(2), ids=["a", "b"], labels=np.array([0, 1]), categories=["x", "y"]
    )
    assert set(method_names()) >= {"amt", "rollout", "grad_attention"}
    for name in method_names():
        if method_class(name).needs_fitting or method_class(name).needs_ground_truth:
            continue  # learned interpreters and oracles have their own tests
        method = build_method(name, OPTIONS.get(name, {}), context)
        result = explain_batch(
            batch, method, model=model, frontend=frontend, masks=["minmax", "topK_5"]
        )
        a = result.attributions
        assert a.shape == batch.features.shape and torch.isfinite(a).all(), name
        assert a.abs().sum() > 0, name
        metrics = result.rows[["FF", "AI", "AD", "SPS", "COMP"]].to_numpy(dtype=float)
        assert np.isfinite(metrics).all(), name
        if method.gives_native_mask:
            assert "native" in result.masks, name
    assert any("GradientExplainer" in note for note in context.notes)


def test_shap_records_which_explainer_ran(setup):
    model, frontend, context = setup
    batch = prepare_batch(
        model, frontend, waves(1), ids=["a"], labels=np.array([0]), categories=["x"]
    )
    shap = build_method("shap", OPTIONS["shap"], context)
    rows = explain_batch(batch, shap, model=model, frontend=frontend, masks=["minmax"]).rows
    assert rows["explainer"].tolist() == ["gradient"]
    torch.manual_seed(0)
    cnn = build_model("cnn6", num_classes=3, num_bins=32, width=0.125).eval()
    cnn_ctx = MethodContext(cnn, frontend, context.training)
    cnn_batch = prepare_batch(
        cnn, frontend, waves(1), ids=["a"], labels=np.array([0]), categories=["x"]
    )
    shap = build_method("shap", {"background_per_class": 1}, cnn_ctx)
    rows = explain_batch(cnn_batch, shap, model=cnn, frontend=frontend, masks=["minmax"]).rows
    assert rows["explainer"].tolist() == ["deep"] and not cnn_ctx.notes


def test_gradcam_on_patch_tokens_equals_a_hand_computation(setup):
    model, frontend, _ = setup
    x = frontend.features(torch.from_numpy(waves(1, seed=4))).clone()
    got = build_method("gradcam").attribute(model, x, 2)
    # by hand: tokens entering the last block's attention, their gradient, the token grid
    # read frequency-major (token 2 + i * 16 + j is patch row i, column j)
    seen = []
    hook = model.blocks[-1].norm1.register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        logit = model(x)[0, 2]
    finally:
        hook.remove()
    (grad,) = torch.autograd.grad(logit, seen[0])
    acts, grads = seen[0][0, 2:].detach(), grad[0, 2:]  # (128, D)
    weights = grads.mean(dim=0)  # (D,)
    cam = torch.zeros(8, 16)
    for i in range(8):
        for j in range(16):
            cam[i, j] = (weights * acts[i * 16 + j]).sum()
    # bilinear over the padded 32 x 128 patch extent, cropped to the 126 frames
    expect = torch.nn.functional.interpolate(
        cam[None, None], size=(32, 128), mode="bilinear", align_corners=False
    )[..., :126]
    torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def ast_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = model_from_config(AST, num_classes=3, num_bins=32)
    path = tmp_path_factory.mktemp("ast") / "tiny_ast.pt"
    meta = {"train_config": {"data": {"duration_s": 1.0}}}
    return save_classifier(
        path, model.eval(), model_config=AST, frontend_config=FC,
        classes=["siren", "rain", "engine"], meta=meta,
    )  # fmt: skip


def test_interpret_slice_on_the_ast_crops_a_long_stereo_file(ast_checkpoint, tmp_path, capsys):
    """The slice app's workflow: a 44.1 kHz stereo file of 2.3 s is cropped to the model's 1 s."""
    sr = 44100
    t = np.arange(int(2.3 * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * 880 * t) * (t > 0.4)
    audio = tmp_path / "long.wav"
    sf.write(audio, np.stack([tone, 0.3 * tone], 1), sr)
    assert load_classifier(ast_checkpoint).duration_s == 1.0
    argv = ["interpret", "--audio", str(audio), "--weights", str(ast_checkpoint)]
    argv += ["--out", str(tmp_path / "out"), "--method", "slice", "--masks", "minmax"]
    argv += ["--set", "slice.n_time=4", "--set", "slice.fill=floor"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "out" / "slice" / "metrics.json").read_text())
    assert report["options"]["n_time"] == 4 and report["slice"]["own"]
    assert np.shape(report["slice"]["drops"]) == (3, 4)  # the default n_freq x n_time
    wave, file_sr = sf.read(tmp_path / "out" / "slice" / "audio" / "input.wav")
    assert file_sr == SR and len(wave) == SR  # cropped to the model's clip length
    assert "most important slice" in capsys.readouterr().out


def test_grid_leaves_attention_methods_out_on_cnns(tmp_path_factory, tmp_path):
    """A CNN and an AST in one grid: amt rows for the AST only, the CNN pair noted in the
    manifest, the sanity check run on what each model supports."""
    from audiointerp.experiments.grid.config import load_experiment
    from audiointerp.experiments.grid.runner import run_experiment

    tiny = session_setup(tmp_path_factory)
    ast_path = tmp_path / "ast.pt"
    torch.manual_seed(0)
    model = model_from_config(AST, num_classes=10, num_bins=32)
    save_classifier(
        ast_path, model.eval(), model_config=AST, frontend_config=FC, classes=open_classes(tiny)
    )
    over = tiny.overrides(
        tmp_path / "out",
        models={"mel": tiny.models["mel"], "ast": str(ast_path)},
        methods={"saliency": {}, "amt": {}},
        conditions=["clean"],
        sanity_clips=1,
    )
    result = run_experiment(load_experiment(None, over), progress=False)
    pairs = set(zip(result.table["model"], result.table["method"], strict=True))
    assert pairs == {("mel", "saliency"), ("ast", "saliency"), ("ast", "amt")}
    assert "native" in set(result.table.loc[result.table["method"] == "amt", "mask"])
    skipped = result.manifest["skipped"]
    assert [(s["model"], s["method"]) for s in skipped] == [("mel", "amt")]
    assert "transformer" in skipped[0]["reason"]
    assert (tmp_path / "out" / "mel" / "sanity.csv").is_file()
    # the tables take methods that only some models ran
    from audiointerp.experiments.reporting.tables import write_tables

    tables = write_tables(tmp_path / "out", tmp_path / "supp", n_resamples=50)
    assert tables.html.is_file()
    summary = (tmp_path / "supp" / "tables" / "summary.csv").read_text()
    assert "amt" in summary and "ast" in summary


def open_classes(tiny) -> list[str]:
    from audiointerp.data import open_dataset

    return list(open_dataset(tiny.data, sr=SR, duration_s=1.0).classes)


def test_clip_explainer_on_an_urbansound8k_folder(tmp_path, tone):
    """Variable lengths, rates and channels are cropped/padded to the AST's clip length, and
    the most important slice comes out of an n_time x n_freq grid with the floor fill."""
    import csv

    from audiointerp.data import open_dataset
    from audiointerp.experiments.interactive.clip import ClipExplainer

    classes = {0: "air_conditioner", 3: "dog_bark", 8: "siren"}
    formats = [(44100, 2, "PCM_16", 2.4), (48000, 1, "PCM_24", 0.7), (22050, 1, "FLOAT", 1.3)]
    root, rows = tmp_path / "UrbanSound8K", []
    for fold in (1, 2):
        for k, (cid, name) in enumerate(classes.items()):
            sr, ch, sub, sec = formats[(fold + k) % 3]
            fname = f"{100 + fold * 10 + k}-{cid}-0-{k}.wav"
            path = root / "audio" / f"fold{fold}" / fname
            tone(path, sr=sr, seconds=sec, channels=ch, subtype=sub, freq=300.0 * (k + 1))
            rows.append([fname, 100 + fold * 10 + k, 0.0, sec, 1, fold, cid, name])
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID",
                    "class"])  # fmt: skip
        w.writerows(rows)
    torch.manual_seed(0)
    path = save_classifier(
        tmp_path / "ast.pt",
        model_from_config(AST, num_classes=3, num_bins=32).eval(),
        model_config=AST, frontend_config=FC, classes=list(classes.values()),
        meta={"train_config": {"data": {"duration_s": 1.0}}},
    )  # fmt: skip
    clf = load_classifier(path, device="cpu")
    explainer = ClipExplainer.from_folder(clf, root, train_folds=(1,), duration_s=clf.duration_s)
    test = open_dataset(root, sr=clf.frontend.sr, duration_s=clf.duration_s, folds=[2])
    waves, labels, ids = test.load_batch(range(len(test)))
    assert waves.shape == (3, SR)  # 0.7 s padded, 1.3 s and 2.4 s cropped, stereo mixed down
    for i in range(3):
        clip = explainer.analyze(waves[i], clip_id=ids[i], category=test.clips[i].category)
        assert clip.true_class == test.clips[i].category
        out = explainer.explain(
            clip, "slice", masks=["bin"], overrides={"n_time": 6, "n_freq": 2, "fill": "floor"}
        )["bin"]
        (f0, f1), (t0, t1) = out.rect
        assert (f1 - f0, t1 - t0) == (16, 21)  # one of 2 x 6 cells of the 32 x 126 grid
        assert np.shape(out.details["drops"]) == (2, 6)
        assert out.options["fill"] == "floor" and len(out.rect_audio) == SR
    assert not explainer.context.notes or "no training data" not in explainer.context.notes[0]
