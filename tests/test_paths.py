"""Paths relative to the repository root, from whichever folder a kernel starts in."""

from __future__ import annotations

from pathlib import Path

from audiointerp.experiments.grid.config import load_experiment
from audiointerp.models import load_train_config
from audiointerp.paths import find_repo_root, repo_path

ROOT = Path(__file__).resolve().parents[1]


def test_repo_path_from_the_root_a_subfolder_and_outside(tmp_path, monkeypatch):
    for cwd in (ROOT, ROOT / "notebooks"):
        monkeypatch.chdir(cwd)
        assert find_repo_root() == ROOT
        assert (
            repo_path("configs/experiment_default.yaml") == ROOT / "configs/experiment_default.yaml"
        )
    assert repo_path("/abs/file.wav") == Path("/abs/file.wav")
    assert repo_path("") == "" and repo_path(None) is None
    monkeypatch.chdir(tmp_path)  # outside a checkout: relative to the working directory
    assert find_repo_root() is None and repo_path("data/x") == Path("data/x")


def test_configs_resolve_their_own_paths_from_notebooks(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    cfg = load_experiment(repo_path("configs/experiment_default.yaml")).resolve_paths(repo_path)
    assert cfg.models["mel"] == str(ROOT / "weights/default_mel.pt")
    assert Path(cfg.models["mel"]).is_file()
    # a learned method's list of checkpoints (one per classifier) resolves file by file
    checkpoints = cfg.methods["lmac"]["checkpoint"]
    assert checkpoints == [str(ROOT / f"weights/lmac_default_{m}.pt") for m in ("mel", "stft")]
    assert (cfg.data.root, cfg.noises_dir, cfg.output) == tuple(
        str(ROOT / p) for p in ("data/synth", "noises", "results")
    )
    train = load_train_config(repo_path("configs/paper_esc50_mel.yaml")).resolve_paths(repo_path)
    assert train.model.pretrained == str(ROOT / "pretrained/Cnn14_mAP=0.431.pth")
    assert train.data.root == str(ROOT / "data/ESC-50")
