"""The experiment grid as a dataclass: models x conditions x methods x masks over test clips.

A YAML file (``configs/experiment_*.yaml``), the ``audiointerp run --set key=value`` flags and
the parameters cell of notebooks 03/04 all map onto the same fields of :class:`ExperimentConfig`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from audiointerp.config import from_dict, load_config, to_dict
from audiointerp.errors import ParameterError
from audiointerp.validation import check_choice, check_positive

ResynthRoute = Literal["phase", "paper", "griffinlim"]
RESYNTH_ROUTES = ("phase", "paper", "griffinlim")

# Method options the runner consumes itself (everything else goes to ``get_method``).
RUNNER_METHOD_KEYS = ("background_per_class", "fill")


@dataclass
class DataConfig:
    """Which clips the grid runs on.

    Attributes
    ----------
    root : str
        Data set folder (ESC-50 layout for the synthetic benchmark and ESC-50 itself).
    layout : str
        Loader layout, ``"auto"`` detects it (see ``audiointerp.data.open_dataset``).
    test_folds : tuple of int
        Folds the evaluated clips come from.
    train_folds : tuple of int
        Folds the SHAP background and the slice fill value are drawn from.
    n_clips : int or None
        Number of test clips (class-balanced, seeded selection); ``None`` takes all.
    duration_s : float
        Clip length in seconds (clips are padded or cut to it).
    esc10 : bool
        Restrict ESC-50 to its ESC-10 subset.
    """

    root: str = "data/synth"
    layout: str = "auto"
    test_folds: tuple[int, ...] = (5,)
    train_folds: tuple[int, ...] = (1, 2, 3)
    n_clips: int | None = 50
    duration_s: float = 5.0
    esc10: bool = False


@dataclass
class ExperimentConfig:
    """One experiment grid.

    Attributes
    ----------
    name : str
        Label written into the manifest.
    models : dict of str to str
        Result-folder name -> checkpoint path (each checkpoint carries its frontend and classes).
    data : DataConfig
        Test and training clips.
    conditions : tuple of str
        ``clean``, ``white``, ``room``, ``event`` (the paper's mixing), ``<noise>_snr<dB>``
        (SNR mixing), ``other_class`` (another class's event at 0 dB; needs stems).
    methods : dict of str to dict
        Method name (``audiointerp.interpretation.get_method``) -> its options. The runner
        itself reads ``background_per_class`` (SHAP background clips per class from the training
        folds) and ``fill`` (slice fill value; ``"train_mean"`` = mean training feature value).
    masks : tuple of str or None
        Mask names (``None``: all 14 of ``interpretation.masks.MASK_NAMES``).
    batch_size : int
        Clips per unit of work (the resumable granule).
    max_forward_batch : int
        Most inputs in one forward pass when evaluating masked variants (memory knob).
    paper_alpha : float
        Weight of the clip in the paper's mixing ``alpha*clip + (1-alpha)*noise``.
    noises_dir : str
        Folder with ``white.wav``, ``room.wav``, ``event.wav``.
    resynth_route : str
        Frontend inversion route for the SI-SDR of masked-in audio.
    save_attributions : bool
        Save raw attributions per batch (float16 ``.npz``, git-ignored).
    sanity_clips : int
        Clean test clips for the model-randomization sanity check per model and method
        (0 skips it); written to ``<output>/<model>/sanity.csv``.
    sanity_methods : tuple of str or None
        Methods checked (``None``: all of ``methods``).
    seed : int
        Seeds clip selection, the ``other_class`` pairing and every stochastic method per clip.
    device : str or None
        Torch device; ``None`` picks CUDA when present.
    output : str
        Results root (the paper's layout is written under it).
    """

    name: str = "experiment"
    models: dict[str, str] = field(
        default_factory=lambda: {
            "stft": "weights/default_stft.pt",
            "mel": "weights/default_mel.pt",
        }
    )
    data: DataConfig = field(default_factory=DataConfig)
    conditions: tuple[str, ...] = ("clean", "white", "room", "event")
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"saliency": {}, "gradcam": {}}
    )
    masks: tuple[str, ...] | None = None
    batch_size: int = 16
    max_forward_batch: int = 128
    paper_alpha: float = 0.6
    noises_dir: str = "noises"
    resynth_route: str = "phase"
    save_attributions: bool = True
    sanity_clips: int = 0
    sanity_methods: tuple[str, ...] | None = None
    seed: int = 0
    device: str | None = None
    output: str = "results"

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = from_dict(DataConfig, self.data, where="data")
        self.conditions = tuple(self.conditions)
        self.data.test_folds = tuple(self.data.test_folds)
        self.data.train_folds = tuple(self.data.train_folds)
        if self.masks is not None:
            self.masks = tuple(self.masks)
        if self.sanity_methods is not None:
            self.sanity_methods = tuple(self.sanity_methods)
            unknown = sorted(set(self.sanity_methods) - set(self.methods or {}))
            if unknown:
                raise ParameterError(f"sanity_methods {unknown} are not in methods")
        self.methods = {k: dict(v or {}) for k, v in (self.methods or {}).items()}
        self.models = {str(k): str(v) for k, v in (self.models or {}).items()}
        if not self.models:
            raise ParameterError("config.models is empty; give at least one name: checkpoint")
        if not self.methods:
            raise ParameterError("config.methods is empty; give at least one method name")
        if not self.conditions:
            raise ParameterError("config.conditions is empty; e.g. ['clean']")
        check_positive("batch_size", self.batch_size)
        check_positive("max_forward_batch", self.max_forward_batch)
        if self.data.n_clips is not None:
            check_positive("data.n_clips", self.data.n_clips)
        check_choice("resynth_route", self.resynth_route, RESYNTH_ROUTES)
        if not 0.0 < self.paper_alpha <= 1.0:
            raise ParameterError(f"paper_alpha must be in (0, 1], got {self.paper_alpha}")

    def fingerprint(self) -> str:
        """Hash of every field that changes the rows (not ``output``, ``device``, memory knobs).

        Result units are stored under this hash, so a changed grid never mixes with old units.
        """
        d = to_dict(self)
        for key in (
            "output",
            "device",
            "max_forward_batch",
            "name",
            "sanity_clips",
            "sanity_methods",
        ):
            d.pop(key, None)
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def output_dir(self) -> Path:
        return Path(self.output)


def load_experiment(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Load an :class:`ExperimentConfig` from YAML (or defaults) with dotted-key overrides.

    Parameters
    ----------
    path : str or Path or None
        YAML file; ``None`` starts from the dataclass defaults.
    overrides : dict, optional
        ``{"data.n_clips": 4, "conditions": ["clean"], "output": "out"}``.

    Returns
    -------
    ExperimentConfig
    """
    if path is not None:
        return load_config(ExperimentConfig, path, overrides)
    data: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return from_dict(ExperimentConfig, data, where="overrides")


def with_output(cfg: ExperimentConfig, output: str | Path) -> ExperimentConfig:
    """Return a copy of ``cfg`` writing under ``output``."""
    return replace(cfg, output=str(output))


def notebook_config(
    config: str | Path,
    *,
    model: str | None = None,
    weights: str | None = None,
    condition: str | None = None,
    n_clips: int | None | Literal["config"] = "config",
    data: str | None = None,
    output: str | None = None,
    methods: list[str] | None = None,
    masks: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """The grid of an experiments notebook (03/04): ``config`` narrowed by its parameters.

    Parameters
    ----------
    config : str or Path
        Experiment YAML.
    model : str, optional
        Keep only this entry of ``models``.
    weights : str, optional
        Checkpoint replacing that model's path.
    condition : str, optional
        Run only this condition.
    n_clips : int or None
        Test clips (``None``: all); ``"config"`` keeps the file's value.
    data, output : str, optional
        Data folder and results root.
    methods : list of str, optional
        Keep only these methods (with the options the file gives them).
    masks : list of str, optional
        Mask names.
    overrides : dict, optional
        Any other dotted fields.

    Returns
    -------
    ExperimentConfig
    """
    over: dict[str, Any] = dict(overrides or {})
    if condition is not None:
        over["conditions"] = [condition]
    if n_clips != "config":
        over["data.n_clips"] = n_clips
    if data is not None:
        over["data.root"] = str(data)
    if output is not None:
        over["output"] = str(output)
    if masks is not None:
        over["masks"] = list(masks)
    cfg = load_experiment(config, over)
    if model is not None:
        if model not in cfg.models and weights is None:
            raise ParameterError(
                f"model {model!r} is not in {config} (models: {sorted(cfg.models)}); "
                "pass weights=<checkpoint> to add it"
            )
        cfg = replace(cfg, models={model: str(weights or cfg.models[model])})
    elif weights is not None:
        raise ParameterError("weights needs model=<name> to say which model it replaces")
    if methods is not None:
        unknown = sorted(set(methods) - set(cfg.methods))
        if unknown:
            raise ParameterError(f"methods {unknown} are not in {config} ({sorted(cfg.methods)})")
        cfg = replace(
            cfg,
            methods={m: cfg.methods[m] for m in methods},
            sanity_methods=tuple(m for m in (cfg.sanity_methods or ()) if m in methods) or None,
        )
    return cfg
