# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Train the log-STFT classifier
#
# Trains the default **log-STFT** classifier (an eighth-width PANNs Cnn6 on 257 x 313 log-STFT
# features, pooled 2x in frequency) on the synthetic benchmark: folds 1-3 train, fold 4 selects the best epoch, fold 5
# tests. Everything happens in the package (`audiointerp.models.train`); the same run is
# `audiointerp train --config configs/default_stft.yaml --out results/runs/default_stft`.
# Re-running with the same parameters resumes an interrupted run. The run folder receives the
# checkpoint `model.pt` (copy it to `weights/default_stft.pt` to make it the default), the
# history, the learning curve and the test confusion matrix.

# %% tags=["parameters"]
# Parameters (papermill injects overrides after this cell; derived values come next).
config_path: str = "configs/default_stft.yaml"  # training config (YAML); paths relative to the repository root
data_dir: str = "data/synth"  # data set folder; the synthetic benchmark is generated there if missing
epochs: int | None = None  # number of epochs; None keeps the config's train.epochs
output_dir: str = "results/runs/default_stft"  # run folder (an unfinished run there is resumed)
max_clips: int | None = None  # smoke runs: at most this many clips per split; None keeps all
synth_seed: int = 0  # seed of the benchmark generated when data_dir is missing
noise_conditions: list = ["white", "room", "event"]  # noises of the paper's mixing to test under
device: str | None = None  # "cpu", "cuda", ...; None picks CUDA when available
progress: bool = True  # show tqdm progress bars

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from audiointerp.data.synth import generate_benchmark
from audiointerp.models import load_train_config, train
from audiointerp.models.evaluation import evaluate_checkpoint
from audiointerp.paths import repo_path

# Paths are relative to the repository root, whichever folder the kernel started in
# (JupyterLab and Voila start it in notebooks/): repo_path resolves them, config files' own
# paths included.
data_dir, output_dir = repo_path(data_dir), repo_path(output_dir)
overrides = {"data.root": str(data_dir), "data.max_clips": max_clips, "train.device": device}
if epochs is not None:
    overrides["train.epochs"] = epochs
cfg = load_train_config(repo_path(config_path), overrides).resolve_paths(repo_path)
if not Path(data_dir).exists():
    generate_benchmark(data_dir, seed=synth_seed, progress=progress)
cfg

# %% [markdown]
# ## Train (resumable), keep the best epoch on fold 4, test on fold 5

# %%
result = train(cfg, output_dir, progress=progress)
pd.Series(result.metrics)

# %%
display(result.history.round(3))
display(Image(str(result.out_dir / "learning_curve.png")))
display(Image(str(result.out_dir / "confusion_test.png")))

# %% [markdown]
# ## Accuracy under the paper's noise conditions (alpha = 0.6)

# %%
rows = []
for condition in [None, *noise_conditions]:
    ev = evaluate_checkpoint(result.checkpoint, data_dir, folds=cfg.data.test_folds, noise=condition)
    rows.append({"condition": ev.condition, "accuracy": ev.result.accuracy, "clips": len(ev.ids)})
pd.DataFrame(rows)
