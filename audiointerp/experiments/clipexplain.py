"""Explain one clip: prediction, attribution, masks, masked audio and metrics.

The compute core shared by :mod:`~audiointerp.experiments.illustrate` (figure, listening page)
and :mod:`~audiointerp.experiments.explorer` (the widget app). No plotting and no widgets here:
everything returns NumPy arrays and plain dicts so it is easy to test and reuse.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice

__all__ = ["ClipAnalysis", "Explanation", "analyze_clip", "explain_clip", "grid_rectangle"]


@dataclass
class ClipAnalysis:
    """One clip through the frontend and the model.

    Attributes
    ----------
    clip_id : str
    wave : np.ndarray (N,) float32
        The model's input audio.
    sr : int
    spec : Spectrogram
        Batch of one, from ``frontend.analyze``.
    probs : np.ndarray (C,)
        Softmax probabilities.
    prediction : int
    classes : list of str
    label : int or None
        True class index when known.
    """

    clip_id: str
    wave: np.ndarray
    sr: int
    spec: Any
    probs: np.ndarray
    prediction: int
    classes: list[str]
    label: int | None = None

    @property
    def features(self) -> torch.Tensor:
        """Model input ``(1, 1, F, T)``."""
        return self.spec.features

    @property
    def predicted_class(self) -> str:
        return self.classes[self.prediction]

    @property
    def true_class(self) -> str | None:
        return None if self.label is None else self.classes[self.label]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes with their probabilities."""
        order = np.argsort(-self.probs)[:k]
        return [(self.classes[i], float(self.probs[i])) for i in order]


@dataclass
class Explanation:
    """One method and one mask on one clip (feature arrays ``(F, T)``, audio ``(N,)``).

    ``metrics`` holds ``p, p_in, p_out`` (probabilities of the explained class) and
    FF, AI, AD, AG (percent), FidIn, SPS, COMP (nats) as in the results tables.
    ``rect`` is the most important time-frequency rectangle ``((f0, f1), (t0, t1))`` in
    feature indices (end-exclusive) and ``rect_audio`` its band- and time-limited audio.
    """

    method: str
    mask_name: str
    attribution: np.ndarray
    mask: np.ndarray
    masked_in: np.ndarray
    masked_out: np.ndarray
    audio_in: np.ndarray
    audio_out: np.ndarray
    metrics: dict[str, float]
    rect: tuple[tuple[int, int], tuple[int, int]]
    rect_audio: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)


def analyze_clip(
    model: nn.Module,
    frontend: Any,
    classes: Sequence[str],
    wave: np.ndarray,
    *,
    clip_id: str = "clip",
    label: int | None = None,
) -> ClipAnalysis:
    """Run the frontend and the model on one waveform.

    Parameters
    ----------
    model : nn.Module
        Classifier in eval mode.
    frontend : Frontend
        The model's frontend.
    classes : sequence of str
        Class names in logit order.
    wave : np.ndarray (N,)
        Mono audio at ``frontend.sr``.
    clip_id : str
    label : int, optional
        True class index.

    Returns
    -------
    ClipAnalysis
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ParameterError(f"wave must be a non-empty 1-D array (N,), got shape {wave.shape}")
    device = next(model.parameters()).device
    with torch.no_grad():  # not inference_mode: gradient methods need ordinary tensors
        spec = frontend.analyze(torch.from_numpy(wave)[None].to(device))
        probs = model(spec.features).float().softmax(-1)[0].cpu().numpy()
    return ClipAnalysis(
        clip_id,
        wave,
        int(frontend.sr),
        spec,
        probs,
        int(probs.argmax()),
        list(classes),
        None if label is None else int(label),
    )


def build_method(
    name: str,
    model: nn.Module,
    options: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
) -> Any:
    """``get_method(name, **options)`` with Grad-CAM's layer from the model and the seed set.

    ``layer`` defaults to ``model.gradcam_layer`` and ``seed`` is passed to methods that take one
    (LIME, SHAP), unless ``options`` already has them.
    """
    from audiointerp.interpretation import METHOD_NAMES, get_method

    check_choice("method", name, METHOD_NAMES)
    options = dict(options or {})
    params = inspect.signature(type(get_method(name))).parameters
    if name == "gradcam" and "layer" in params:
        options.setdefault("layer", getattr(model, "gradcam_layer", None))
    if seed is not None and "seed" in params:
        options.setdefault("seed", int(seed))
    return get_method(name, **options)


def grid_rectangle(
    attribution: np.ndarray, *, n_freq: int, n_time: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The cell of an ``n_freq x n_time`` grid with the largest mean attribution.

    Parameters
    ----------
    attribution : np.ndarray (F, T)
    n_freq, n_time : int
        Grid size (the slice method's grid).

    Returns
    -------
    ((f0, f1), (t0, t1))
        Feature-index ranges, end-exclusive, for ``Frontend.rect_audio``.
    """
    from audiointerp.interpretation.segmentation import grid_edges

    f_edges = grid_edges(attribution.shape[0], n_freq, name="n_freq")
    t_edges = grid_edges(attribution.shape[1], n_time, name="n_time")
    means = np.add.reduceat(
        np.add.reduceat(attribution, f_edges[:-1], axis=0), t_edges[:-1], axis=1
    )
    means = means / np.outer(np.diff(f_edges), np.diff(t_edges))
    i, j = np.unravel_index(int(np.argmax(means)), means.shape)
    return (int(f_edges[i]), int(f_edges[i + 1])), (int(t_edges[j]), int(t_edges[j + 1]))


def explain_clip(
    model: nn.Module,
    frontend: Any,
    clip: ClipAnalysis,
    method: str,
    *,
    masks: Sequence[str] = ("minmax",),
    options: Mapping[str, Any] | None = None,
    n_freq: int = 3,
    n_time: int = 3,
    route: str = "phase",
    seed: int = 0,
) -> dict[str, Explanation]:
    """Attribute the predicted class once, then build, evaluate and sonify each mask.

    Parameters
    ----------
    model, frontend
        The classifier (eval mode) and its frontend.
    clip : ClipAnalysis
        From :func:`analyze_clip`.
    method : str
        One of ``interpretation.METHOD_NAMES``.
    masks : sequence of str
        Mask names from ``interpretation.MASK_NAMES``.
    options : mapping, optional
        Keyword options of the method (e.g. ``{"n_samples": 300}`` for LIME).
    n_freq, n_time : int
        Grid of the most important rectangle (and of the slice method itself).
    route : {"phase", "paper", "griffinlim"}
        Resynthesis route of ``Frontend.resynthesize``.
    seed : int
        Seed of stochastic methods (LIME, SHAP).

    Returns
    -------
    dict of str to Explanation
        Keyed by mask name, in the order given.
    """
    from audiointerp import metrics
    from audiointerp.interpretation import MASK_NAMES, apply_mask, make_masks

    for name in masks:
        check_choice("mask", name, MASK_NAMES)
    options = dict(options or {})
    if method == "slice":
        options.setdefault("n_freq", n_freq)
        options.setdefault("n_time", n_time)
    explainer = build_method(method, model, options, seed=seed)
    x = clip.features
    target = torch.tensor([clip.prediction], device=x.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if method == "slice":
            res = explainer.explain(model, x, target)
            A = res.attributions
            rect = (res.freq_bins[0], res.frames[0])
        else:
            A = explainer.attribute(model, x, target)
    A = A.detach().float()
    if method != "slice":
        rect = grid_rectangle(A[0, 0].cpu().numpy(), n_freq=n_freq, n_time=n_time)
    built = make_masks(A, list(masks))
    base = float(frontend.floor_db)
    ins = torch.cat([apply_mask(x, built[m], base) for m in masks])
    outs = torch.cat([apply_mask(x, 1 - built[m], base) for m in masks])
    with torch.inference_mode():
        probs = model(torch.cat([ins, outs])).float().softmax(-1).cpu().numpy()
        rect_audio = (
            frontend.rect_audio(clip.spec, freq_bins=rect[0], frames=rect[1])[0].cpu().numpy()
        )
    k = len(masks)
    p = np.repeat(clip.probs[None], k, axis=0)
    target_np = np.full(k, clip.prediction)
    fid = metrics.fidelity(p, probs[:k], probs[k:], target=target_np)
    stacked = torch.cat([built[m] for m in masks])
    sps, comp = metrics.sparseness(stacked), metrics.complexity(stacked)
    out = {}
    for i, name in enumerate(masks):
        with torch.inference_mode():
            audio_in = frontend.resynthesize(clip.spec, built[name], route=route)[0].cpu().numpy()
            audio_out = (
                frontend.resynthesize(clip.spec, 1 - built[name], route=route)[0].cpu().numpy()
            )
        values = {
            "p": float(clip.probs[clip.prediction]),
            "p_in": float(probs[i, clip.prediction]),
            "p_out": float(probs[k + i, clip.prediction]),
        }
        values.update({key: float(np.asarray(v).reshape(-1)[i]) for key, v in fid.items()})
        values["SPS"] = float(np.asarray(sps).reshape(-1)[i])
        values["COMP"] = float(np.asarray(comp).reshape(-1)[i])
        out[name] = Explanation(
            method=method,
            mask_name=name,
            attribution=A[0, 0].cpu().numpy(),
            mask=built[name][0, 0].cpu().numpy(),
            masked_in=ins[i, 0].cpu().numpy(),
            masked_out=outs[i, 0].cpu().numpy(),
            audio_in=audio_in.astype(np.float32),
            audio_out=audio_out.astype(np.float32),
            metrics=values,
            rect=rect,
            rect_audio=rect_audio.astype(np.float32),
            options={k2: v for k2, v in options.items() if k2 != "background"},
        )
    return out
