"""Shared base of the attribution methods, batched forward passes and the method registry.

Every method is a small class built with its options; ``attribute(model, features, target)``
takes a batch of features ``(B, 1, F, T)`` and returns signed attributions of the same shape.
What the methods share (input checks, target resolution, chunked forward passes) lives here once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.validation import check_positive, check_tensor

# name -> "module:Class"; modules are imported on first use so that `shap` and scikit-image
# are only loaded by the methods that need them.
_REGISTRY: dict[str, str] = {
    "saliency": "saliency:Saliency",
    "gradcam": "gradcam:GradCam",
    "lime": "lime:Lime",
    "shap": "shap_method:Shap",
    "slice": "slice:Slice",
    "ig": "integrated_gradients:IntegratedGradients",
}
METHOD_NAMES: tuple[str, ...] = tuple(_REGISTRY)

DEFAULT_BATCH_SIZE = 16
SILENCE_FLOOR_DB = -100.0


def check_features(features: Any, name: str = "features") -> torch.Tensor:
    """Return ``features`` if it is a finite float tensor of shape ``(B, 1, F, T)``."""
    return check_tensor(name, features, shape=(None, 1, None, None))


def iter_chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` in consecutive chunks of at most ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.no_grad()
def forward_batched(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    probs: bool = True,
) -> torch.Tensor:
    """Run ``model`` on ``x`` in chunks of ``batch_size``.

    Parameters
    ----------
    model : nn.Module
        Classifier mapping ``(B, 1, F, T)`` features to logits ``(B, C)``.
    x : torch.Tensor, shape (N, 1, F, T)
        Inputs.
    batch_size : int
        Largest number of inputs per forward pass.
    probs : bool
        Return softmax probabilities (default) rather than logits.

    Returns
    -------
    torch.Tensor, shape (N, C)
        Probabilities (or logits), float32.
    """
    check_positive("batch_size", batch_size)
    outs = [model(x[s]) for s in iter_chunks(x.shape[0], int(batch_size))]
    out = torch.cat(outs).float()
    return out.softmax(dim=-1) if probs else out


def resolve_target(
    model: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor | int | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """Return one class index per clip: ``target`` broadcast, or the predicted class.

    Parameters
    ----------
    model : nn.Module
        The classifier.
    features : torch.Tensor, shape (B, 1, F, T)
        Inputs.
    target : torch.Tensor of shape (B,), int or None
        Class to explain; ``None`` uses the argmax of the logits.
    batch_size : int
        Chunk size of the forward pass used when ``target`` is None.

    Returns
    -------
    torch.LongTensor, shape (B,)
    """
    n = features.shape[0]
    if target is None:
        return forward_batched(model, features, batch_size, probs=False).argmax(dim=-1)
    target = torch.as_tensor(target, device=features.device)
    if target.is_floating_point() or target.ndim > 1:
        raise ParameterError(
            f"target must be an int or an integer tensor of shape (B,), got {target}"
        )
    target = target.long().reshape(-1).expand(n) if target.numel() == 1 else target.long()
    if target.shape != (n,):
        raise ParameterError(
            f"target must have {n} entries (one per clip), got {tuple(target.shape)}"
        )
    return target


class AttributionMethod:
    """Base class: validates the input, resolves the target, calls :meth:`_attribute`.

    Subclasses set ``name`` and implement ``_attribute(model, features, target)`` on a batch
    with a resolved ``(B,)`` target; they may assume ``model`` is in eval mode.

    Parameters
    ----------
    batch_size : int
        Largest number of model inputs per forward (and backward) pass; the one batching knob
        of every method.
    """

    name: str = ""

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        check_positive("batch_size", batch_size)
        self.batch_size = int(batch_size)

    def attribute(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Attribute the target class's score to each time-frequency bin.

        Parameters
        ----------
        model : nn.Module
            Classifier in eval mode, ``(B, 1, F, T)`` features -> logits ``(B, C)``.
        features : torch.Tensor, shape (B, 1, F, T)
            Model input (log spectrogram in dB).
        target : torch.Tensor of shape (B,), int or None
            Class to explain per clip; ``None`` explains the predicted class.

        Returns
        -------
        torch.Tensor, shape (B, 1, F, T), float32
            Signed attributions (positive = evidence for the target).
        """
        features = check_features(features).detach()
        if features.is_inference():  # made under inference_mode: autograd needs a normal copy
            features = features.clone()
        if model.training:
            raise ParameterError("model is in training mode; call model.eval() before attributing")
        target = resolve_target(model, features, target, batch_size=self.batch_size)
        with torch.enable_grad():  # gradient methods work even when called under no_grad
            out = self._attribute(model, features, target)
        return out.detach().to(torch.float32).reshape(features.shape)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({opts})"


def get_method(name: str, **options: Any) -> AttributionMethod:
    """Build the attribution method registered as ``name`` with its options.

    Parameters
    ----------
    name : {"saliency", "gradcam", "lime", "shap", "slice", "ig"}
        Method name.
    **options
        Keyword options of the method's class (e.g. ``batch_size``, ``n_samples``).

    Returns
    -------
    AttributionMethod
    """
    if name not in _REGISTRY:
        valid = ", ".join(repr(n) for n in METHOD_NAMES)
        raise ParameterError(f"method={name!r} is not valid; choose one of: {valid}")
    module, cls = _REGISTRY[name].split(":")
    factory: Callable[..., AttributionMethod] = getattr(
        importlib.import_module(f"audiointerp.interpretation.{module}"), cls
    )
    try:
        return factory(**options)
    except TypeError as exc:  # unknown keyword: say which method and what it accepts
        raise ParameterError(f"bad options for method {name!r}: {exc}") from exc
