"""The method protocol: the shared base of every interpretation method, and batched forwards.

Every method is a small class built with its options; ``attribute(model, features, target)``
takes a batch of features ``(B, 1, F, T)`` and returns signed attributions of the same shape,
and ``explain(...)`` returns them as an :class:`Explanation` with the method's extras (a native
``[0, 1]`` mask, the most important region). What a method needs and offers is declared on its
class (:class:`AttributionMethod` class attributes), so runners, tables and figures never
branch on a method's name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from audiointerp.errors import ParameterError
from audiointerp.validation import check_positive, check_tensor

if TYPE_CHECKING:
    from audiointerp.interpretation.context import MethodContext

Region = tuple[tuple[int, int], tuple[int, int]]

DEFAULT_BATCH_SIZE = 16
SILENCE_FLOOR_DB = -100.0


def check_features(features: Any, name: str = "features") -> torch.Tensor:
    """Return ``features`` if it is a finite float tensor of shape ``(B, 1, F, T)``."""
    return check_tensor(name, features, shape=(None, 1, None, None))


def input_grid(model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int]:
    """The grid on which the model's input gradient can vary: ``model.input_grid(F, T)`` for
    models that pool their input before the first layer that sees single bins (see
    :meth:`audiointerp.models.base.AudioClassifier.input_grid`), else the full ``(F, T)``."""
    grid = getattr(model, "input_grid", None)
    if callable(grid):
        n_freq, n_time = grid(int(n_bins), int(n_frames))
        return int(n_freq), int(n_time)
    return int(n_bins), int(n_frames)


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


@dataclass
class Explanation:
    """What :meth:`AttributionMethod.explain` returns for a batch.

    Attributes
    ----------
    attributions : torch.Tensor, shape (B, 1, F, T), float32
        Signed map (positive = evidence for the target), the input of the 14 threshold masks.
    native_mask : torch.Tensor of shape (B, 1, F, T) or None
        The method's own ``[0, 1]`` mask (learned interpreters, AMT), scored as mask ``native``.
    regions : list of ((f0, f1), (t0, t1)) or None
        The most important time-frequency rectangle per clip in feature indices
        (end-exclusive), for methods that find one (the slice method).
    details : dict of str to torch.Tensor
        Further per-clip values, batch first (e.g. the slice method's ``drops``).
    info : dict
        Per-call provenance that belongs in the results as a column (e.g. which SHAP
        explainer ran).
    """

    attributions: torch.Tensor
    native_mask: torch.Tensor | None = None
    regions: list[Region] | None = None
    details: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class AttributionMethod:
    """Base class and protocol of every method: checks the input, resolves the target.

    Subclasses set ``name`` and implement ``_attribute(model, features, target)`` on a batch
    with a resolved ``(B,)`` target (they may assume ``model`` is in eval mode), or override
    :meth:`explain` when they return more than a map. They declare what they need and offer
    with the class attributes below, which the rest of the package reads instead of names.

    Attributes
    ----------
    name : str
        Registry name.
    stochastic : bool
        Its result depends on random draws: the explain-and-score core seeds it per clip from
        ``(run seed, method, clip id)`` through :meth:`reseed` and a forked torch/NumPy RNG.
    gives_native_mask : bool
        :meth:`explain` fills ``native_mask`` (scored as the 15th mask, ``native``).
    explains_region : bool
        :meth:`explain` fills ``regions`` (the most important rectangle, made audible).
    needs_fitting : bool
        A learned interpreter: it must be fitted (``audiointerp fit``) and given a checkpoint.
    needs_training_data : bool
        :meth:`from_config` takes something from the training data (through the context).
    needs_ground_truth : bool
        :meth:`explain` reads the clip's ideal mask (``ground_truth=``), so it runs only on data
        with stems (the grid skips it elsewhere, with a note).
    model_kinds : frozenset of str
        Model kinds it supports (``"cnn"``, ``"transformer"``).
    requires : frozenset of str
        Model capabilities it needs (``"gradcam"``, ``"hidden"``, ``"attention"``; see
        :attr:`audiointerp.models.AudioClassifier.capabilities`).
    file_options : tuple of str
        Options that name files (checkpoints): run fingerprints hash their contents.
    in_default_set : bool
        Shown by default where no method list is given (illustration, explorer).
    reference : str or None
        For the reference "methods" every method is read against (:mod:`.reference`): what
        they stand for, ``"chance"`` (a random map), ``"input"`` (the input's own level) or
        ``"ideal"`` (the ideal mask from the stems); ``None`` for real methods. Tables mark
        baselines and the methods that beat them from this, never from names.

    Parameters
    ----------
    batch_size : int
        Largest number of model inputs per forward (and backward) pass; the one batching knob
        of every method.
    """

    name: ClassVar[str] = ""
    stochastic: ClassVar[bool] = False
    gives_native_mask: ClassVar[bool] = False
    explains_region: ClassVar[bool] = False
    needs_fitting: ClassVar[bool] = False
    needs_training_data: ClassVar[bool] = False
    needs_ground_truth: ClassVar[bool] = False
    model_kinds: ClassVar[frozenset[str]] = frozenset({"cnn", "transformer"})
    requires: ClassVar[frozenset[str]] = frozenset()
    file_options: ClassVar[tuple[str, ...]] = ()
    in_default_set: ClassVar[bool] = True
    reference: ClassVar[str | None] = None

    def __init__(self, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        check_positive("batch_size", batch_size)
        self.batch_size = int(batch_size)

    # --- building ----------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls, options: Mapping[str, Any], context: MethodContext | None = None
    ) -> AttributionMethod:
        """Build from a config's options, taking what the method needs from ``context``.

        The base passes the options through; methods that need the model (Grad-CAM's layer)
        or training data (SHAP's background, the slice fill) override it.
        """
        return cls(**dict(options))

    @classmethod
    def unsupported(cls, model: nn.Module) -> str | None:
        """Why this method cannot explain ``model`` (``None`` when it can)."""
        from audiointerp.models.base import model_capabilities, model_kind

        kind = model_kind(model)
        if kind not in cls.model_kinds:
            return (
                f"method {cls.name!r} supports {sorted(cls.model_kinds)} models, "
                f"not a {kind} ({type(model).__name__})"
            )
        missing = sorted(cls.requires - model_capabilities(model))
        if missing:
            return (
                f"method {cls.name!r} needs a model with {missing} ({type(model).__name__} has not)"
            )
        return None

    def resolution(self, model: nn.Module, n_bins: int, n_frames: int) -> tuple[int, int] | None:
        """The effective grid ``(n_freq, n_time)`` of this method's maps for ``model`` and an
        ``n_bins x n_frames`` input: how many distinct rows and columns the map can resolve.

        The base answers for gradient methods: the model's input grid
        (:func:`input_grid`; full resolution unless the model pools its input). Methods that
        work on a coarser grid (a conv layer, segments, rectangles) override it; ``None``
        means adaptive (image segmentations), with no fixed grid.
        """
        return input_grid(model, n_bins, n_frames)

    def reseed(self, seed: int) -> None:
        """Set the seed of the method's own generator (no-op for methods without one)."""
        if hasattr(self, "seed"):
            self.seed = int(seed) % (2**31)

    def describe(self) -> dict[str, Any]:
        """The method's options as plain values (tensors summarised), for manifests."""
        out = {}
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            if isinstance(value, torch.Tensor):
                value = f"tensor{tuple(value.shape)}"
            out[key] = value
        return out

    # --- explaining --------------------------------------------------------------------------
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
        return self.explain(model, features, target).attributions

    def explain(
        self,
        model: nn.Module,
        features: torch.Tensor,
        target: torch.Tensor | int | None = None,
        *,
        ground_truth: torch.Tensor | None = None,
    ) -> Explanation:
        """Attribute and return the map with the method's extras (see :class:`Explanation`).

        ``ground_truth`` ``(B, 1, F, T)`` is the clips' ideal mask, passed by the core to
        methods with ``needs_ground_truth`` (others ignore it).
        """
        features, target = self._prepare(model, features, target)
        with torch.enable_grad():  # gradient methods work even when called under no_grad
            out = self._attribute(model, features, target)
        return Explanation(out.detach().to(torch.float32).reshape(features.shape))

    def _prepare(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor | int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked features (a normal tensor, detached) and a resolved ``(B,)`` target."""
        features = check_features(features).detach()
        if features.is_inference():  # made under inference_mode: autograd needs a normal copy
            features = features.clone()
        if model.training:
            raise ParameterError("model is in training mode; call model.eval() before attributing")
        reason = self.unsupported(model)
        if reason:
            raise ParameterError(reason)
        return features, resolve_target(model, features, target, batch_size=self.batch_size)

    def _attribute(
        self, model: nn.Module, features: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"{type(self).__name__}({opts})"
