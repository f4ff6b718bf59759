"""``DataConfig``: which clips a command works on, shared by training and the experiment grid.

One dataclass for the ``data`` section of every YAML config (``configs/default_*.yaml``,
``configs/experiment_*.yaml``): training reads the three splits and ``max_clips``, the grid
reads the test split (the explained clips), the training split (what methods take from
training data: SHAP's background, the slice fill) and ``n_clips``.

The splits are either the data set's folds (``train_folds``, ``valid_folds``, ``test_folds``)
or, with ``split``, a seeded, class-stratified split of every clip that keeps groups together
(:class:`SplitConfig`; ``audiointerp.data.selection`` computes it)::

    data:
      root: /path/to/my-esc50-folder
      split: {valid: 0.15, test: 0.15, group_by: src_file}
"""

from __future__ import annotations

from dataclasses import dataclass

from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_positive

# "auto" or a reader of audiointerp.data.layouts (kept here: this module stays import-light).
LAYOUT_CHOICES = ("auto", "esc50", "urbansound8k", "folder", "manifest")

SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")


@dataclass
class SplitConfig:
    """A seeded, class-stratified train/validation/test split (the ``data.split`` section).

    Attributes
    ----------
    valid, test : float
        Fractions of each class's clips in the validation and test splits (the rest trains).
        Every class with at least three groups gets at least one group in each split.
    group_by : str or None
        Metadata column whose clips stay in one split (ESC-50's ``src_file``: the clips cut
        from one source recording; UrbanSound8K's ``fsID``); ``None`` splits clip by clip.
    seed : int
        Seed of the split (independent of the training seed, so one split serves many runs).
    """

    valid: float = 0.15
    test: float = 0.15
    group_by: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("valid", "test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"data.split.{name} must be a fraction, got {value!r}")
            if not 0.0 < value < 1.0:
                raise ParameterError(
                    f"data.split.{name}={value!r} must lie strictly between 0 and 1 "
                    "(e.g. 0.15: 15 % of each class)"
                )
        if self.valid + self.test >= 1.0:
            raise ParameterError(
                f"data.split: valid + test = {self.valid + self.test:g} leaves nothing to "
                "train on; keep their sum below 1 (e.g. valid: 0.15, test: 0.15)"
            )
        if self.group_by is not None and not str(self.group_by).strip():
            raise ParameterError("data.split.group_by is empty; name a metadata column or null")


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
    classes : tuple of str or None
        Keep only the clips of these classes, numbered in this order (``None`` keeps all).
    train_folds, valid_folds, test_folds : tuple of int
        Folds of each split (disjoint); not used when ``split`` is given. The grid explains
        clips of the test split and draws training context (SHAP background, slice fill) from
        the training split.
    split : SplitConfig or None
        A seeded, class-stratified split of every clip instead of the folds.
    min_per_class : int
        Splits with fewer clips than this for some class are reported loudly (a warning that
        names the classes and counts): accuracy on them means little.
    max_clips : int or None
        Training only: keep at most this many clips per split (evenly spaced over the sorted
        list), for smoke runs; ``None`` keeps all.
    n_clips : int or None
        Grid only: number of test clips explained (class-balanced, seeded choice); ``None``
        takes every clip of the test split.
    """

    root: str = "data/synth"
    layout: str = "auto"
    duration_s: float = 5.0
    esc10: bool = False
    classes: tuple[str, ...] | None = None
    train_folds: tuple[int, ...] = (1, 2, 3)
    valid_folds: tuple[int, ...] = (4,)
    test_folds: tuple[int, ...] = (5,)
    split: SplitConfig | None = None
    min_per_class: int = 2
    max_clips: int | None = None
    n_clips: int | None = None

    def __post_init__(self) -> None:
        self.root = str(self.root)
        check_choice("data.layout", self.layout, LAYOUT_CHOICES)
        check_positive("data.duration_s", self.duration_s)
        if isinstance(self.split, dict):
            from audiointerp.config import from_dict

            self.split = from_dict(SplitConfig, self.split, where="data.split")
        if self.classes is not None:
            if isinstance(self.classes, str):
                self.classes = (self.classes,)
            self.classes = tuple(str(c) for c in self.classes)
            if not self.classes:
                raise ParameterError("data.classes is empty; list class names or use null for all")
            if len(set(self.classes)) != len(self.classes):
                raise ParameterError(f"data.classes lists a class twice: {list(self.classes)}")
        for name in SPLIT_NAMES:
            folds = tuple(getattr(self, f"{name}_folds"))
            if not folds:
                raise ParameterError(f"data.{name}_folds is empty; list at least one fold")
            setattr(self, f"{name}_folds", folds)
        seen: dict[int, str] = {}
        for name in SPLIT_NAMES:
            for fold in getattr(self, f"{name}_folds"):
                if fold in seen:
                    raise ParameterError(
                        f"fold {fold} is in both data.{seen[fold]}_folds and data.{name}_folds; "
                        "splits must be disjoint"
                    )
                seen[fold] = name
        check_positive("data.min_per_class", self.min_per_class, allow_zero=True)
        for name in ("max_clips", "n_clips"):
            if getattr(self, name) is not None:
                check_positive(f"data.{name}", getattr(self, name))

    def describe_split(self, name: str) -> str:
        """How split ``name`` is chosen, for messages (``"folds [4]"`` or ``"15 % of each class"``)."""
        if self.split is None:
            return f"folds {list(getattr(self, f'{name}_folds'))}"
        if name == "train":
            return "the rest of each class (stratified split)"
        return f"{100 * getattr(self.split, name):g} % of each class (stratified split)"
