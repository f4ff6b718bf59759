"""``DataConfig``: which clips a command works on, shared by training and the experiment grid.

One dataclass for the ``data`` section of every YAML config (``configs/default_*.yaml``,
``configs/experiment_*.yaml``): training reads ``train/valid/test_folds`` and ``max_clips``,
the grid reads ``test_folds`` (the explained clips), ``train_folds`` (what methods take from
training data: SHAP's background, the slice fill) and ``n_clips``.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_positive

# "auto" or a reader of audiointerp.data.layouts (kept here: this module stays import-light).
LAYOUT_CHOICES = ("auto", "esc50", "urbansound8k", "folder", "manifest")


@dataclass
class DataConfig:
    """The ``data`` section of a config.

    Attributes
    ----------
    root : str
        Data set folder (``data/synth``: the synthetic benchmark; or an ESC-50 copy).
    layout : str
        ``"auto"`` or a layout of :func:`audiointerp.data.open_dataset`.
    duration_s : float
        Clip length in seconds (cropped or zero-padded).
    esc10 : bool
        Restrict ESC-50 to its ESC-10 subset.
    train_folds, valid_folds, test_folds : tuple of int
        Folds of each split (disjoint). The grid explains clips of ``test_folds`` and draws
        training context (SHAP background, slice fill) from ``train_folds``.
    max_clips : int or None
        Training only: keep at most this many clips per split (evenly spaced over the sorted
        list), for smoke runs; ``None`` keeps all.
    n_clips : int or None
        Grid only: number of test clips explained (class-balanced, seeded choice); ``None``
        takes every clip of ``test_folds``.
    """

    root: str = "data/synth"
    layout: str = "auto"
    duration_s: float = 5.0
    esc10: bool = False
    train_folds: tuple[int, ...] = (1, 2, 3)
    valid_folds: tuple[int, ...] = (4,)
    test_folds: tuple[int, ...] = (5,)
    max_clips: int | None = None
    n_clips: int | None = None

    def __post_init__(self) -> None:
        self.root = str(self.root)
        check_choice("data.layout", self.layout, LAYOUT_CHOICES)
        check_positive("data.duration_s", self.duration_s)
        for name in ("train", "valid", "test"):
            folds = tuple(getattr(self, f"{name}_folds"))
            if not folds:
                raise ParameterError(f"data.{name}_folds is empty; list at least one fold")
            setattr(self, f"{name}_folds", folds)
        seen: dict[int, str] = {}
        for name in ("train", "valid", "test"):
            for fold in getattr(self, f"{name}_folds"):
                if fold in seen:
                    raise ParameterError(
                        f"fold {fold} is in both data.{seen[fold]}_folds and data.{name}_folds; "
                        "splits must be disjoint"
                    )
                seen[fold] = name
        for name in ("max_clips", "n_clips"):
            if getattr(self, name) is not None:
                check_positive(f"data.{name}", getattr(self, name))
