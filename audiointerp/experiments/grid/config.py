"""The experiment grid as a dataclass: models x conditions x methods x masks over test clips.

A YAML file (``configs/experiment_*.yaml``), the ``audiointerp run --set key=value`` flags and
the parameters cell of notebooks 03/04 all map onto the same fields of :class:`ExperimentConfig`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from audiointerp.config import ALLOW_EMPTY, apply_overrides, from_dict, load_config, to_dict
from audiointerp.data.config import DataConfig
from audiointerp.errors import ParameterError
from audiointerp.files import check_path_name
from audiointerp.processing.inversion import ROUTES as RESYNTH_ROUTES
from audiointerp.validation import check_choice, check_device, check_positive

ResynthRoute = Literal["phase", "paper", "paper_nnls", "griffinlim"]

# Keys of older configs and what they are called now (one name per knob).
RENAMED = {
    "max_forward_batch": "batch_size (most inputs per forward pass)",
}


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
        Explained clips (``test_folds``, ``n_clips``) and the training folds methods draw
        from (``train_folds``).
    conditions : tuple of str
        ``clean``, ``white``, ``room``, ``event`` (the paper's mixing), ``<noise>_snr<dB>``
        (SNR mixing), ``other_class`` (another class's event at 0 dB; needs stems), or the
        path of a noise file (named by its stem) or of a folder of noise files (one condition
        per file), optionally ending in ``_snr<dB>``; paths become names on loading
        (:func:`~audiointerp.experiments.grid.conditions.expand_conditions`).
    noise_files : dict of str to str
        Noise name -> file for the conditions given as files (filled in on loading).
    methods : dict of str to dict
        Method name (``audiointerp.interpretation.method_names()``) -> its options, as the
        method's ``from_config`` reads them (e.g. SHAP's ``background_per_class``, the slice
        method's ``fill``). An entry with ``method: <registered name>`` among its options is
        an alias running that method under the entry's name (``saliency_abs: {method:
        saliency, abs: true}``).
    masks : tuple of str or None
        Mask names (``None``: all 14 of ``interpretation.masks.MASK_NAMES``; the study's
        ``topK_k_pos_study`` rule is selectable by name); methods with
        their own mask also get ``native``.
    clips_per_unit : int
        Clips per unit of work (the resumable granule, one file of rows).
    batch_size : int
        Most inputs in one forward pass when evaluating a clip's masked variants (a memory
        knob; rows are bit-identical for equal values).
    device_batch_size : dict of str to dict of str to int
        Batch sizes per device type, e.g. ``{"cuda": {"batch_size": 1024, "lime": 500}}``:
        ``batch_size`` replaces the grid's, a method name replaces that method's
        ``batch_size`` option on that device. Memory knobs, like ``batch_size`` and ``device``
        kept out of the fingerprint.
    paper_alpha : float
        Weight of the clip in the paper's mixing ``alpha*clip + (1-alpha)*noise``.
    noises_dir : str
        Folder with ``white.wav``, ``room.wav``, ``event.wav``.
    resynth_route : str
        Frontend inversion route for the SI-SDR of masked-in audio.
    curve_fills : tuple of str
        Deletion/insertion curves (``audiointerp.faithfulness``) with these fills of removed
        bins, ``floor`` and/or ``road``; ``[]`` skips them (77 model evaluations per clip
        and method with both).
    curve_conditions : tuple of str or None
        Conditions the curves are computed on (``None``: every condition); rows of the other
        conditions leave the curve columns empty (the tables say "not computed").
    save_attributions : bool
        Save raw attributions per batch (float16 ``.npz``, git-ignored).
    sanity_clips : int
        Clean test clips for the model-randomization sanity check per model and method
        (0 skips it; at least 20 for intervals worth reading); written to
        ``<output>/<model>/sanity.csv``, ``cascade.csv`` and ``sanity.png``
        (:mod:`audiointerp.experiments.grid.sanity`).
    sanity_methods : tuple of str or None
        Methods checked (``None``: all of ``methods``; an empty list: none).
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
    noise_files: dict[str, str] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"saliency": {}, "gradcam": {}}
    )
    masks: tuple[str, ...] | None = None
    clips_per_unit: int = 16
    batch_size: int = 64
    device_batch_size: dict[str, dict[str, int]] = field(default_factory=dict)
    paper_alpha: float = 0.6
    noises_dir: str = "noises"
    resynth_route: str = "phase"
    curve_fills: tuple[str, ...] = field(default=("floor", "road"), metadata={ALLOW_EMPTY: True})
    curve_conditions: tuple[str, ...] | None = None
    save_attributions: bool = True
    sanity_clips: int = 0
    sanity_methods: tuple[str, ...] | None = field(default=None, metadata={ALLOW_EMPTY: True})
    seed: int = 0
    device: str | None = None
    output: str = "results"

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = from_dict(DataConfig, self.data, where="data")
        from audiointerp.experiments.grid.conditions import expand_conditions

        if isinstance(self.conditions, str):
            self.conditions = (self.conditions,)
        self.conditions, self.noise_files = expand_conditions(
            tuple(self.conditions), self.noise_files
        )
        if self.masks is not None:
            from audiointerp.interpretation.masks import ALL_MASK_NAMES, NATIVE_MASK

            if isinstance(self.masks, str):
                self.masks = (self.masks,)
            self.masks = tuple(self.masks)
            if not self.masks:
                raise ParameterError("masks is empty; list mask names or use null for all 14")
            for name in self.masks:
                check_choice("masks", name, (*ALL_MASK_NAMES, NATIVE_MASK))
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
        for name in self.models:  # result folder names: nothing may point outside the output
            check_path_name("models: name", name)
        check_positive("clips_per_unit", self.clips_per_unit)
        check_positive("batch_size", self.batch_size)
        self.device_batch_size = _check_device_batch_size(self.device_batch_size, self.methods)
        check_choice("resynth_route", self.resynth_route, RESYNTH_ROUTES)
        check_device("device", self.device)
        check_positive("sanity_clips", self.sanity_clips, allow_zero=True)
        if isinstance(self.curve_fills, str):
            self.curve_fills = (self.curve_fills,)
        self.curve_fills = tuple(self.curve_fills or ())
        for fill in self.curve_fills:
            check_choice("curve_fills", fill, ("floor", "road"))
        if self.curve_conditions is not None:
            if isinstance(self.curve_conditions, str):
                self.curve_conditions = (self.curve_conditions,)
            self.curve_conditions = tuple(self.curve_conditions)
            for cond in self.curve_conditions:
                check_choice("curve_conditions", cond, self.conditions)
        if not 0.0 < self.paper_alpha <= 1.0:
            raise ParameterError(f"paper_alpha must be in (0, 1], got {self.paper_alpha}")

    def curves_on(self, condition: str) -> bool:
        """Whether the deletion/insertion curves are computed for ``condition``'s rows."""
        return self.curve_conditions is None or condition in self.curve_conditions

    def fingerprint(self, contents: dict[str, Any] | None = None) -> str:
        """Hash of everything that changes the rows: the fields (not ``output``, ``device``,
        memory knobs, labels) and the contents of every file the grid reads
        (:func:`content_digests`: checkpoints, noises), so a checkpoint retrained in place
        gives a new fingerprint and its old rows are never resumed.
        """
        d = to_dict(self)
        for key in (
            "output",
            "device",
            "noise_files",  # where the noises are; their contents are hashed below
            "batch_size",
            "device_batch_size",
            "name",
            "sanity_clips",
            "sanity_methods",
        ):
            d.pop(key, None)
        data = d["data"]
        data.pop("min_per_class", None)  # a reporting threshold: never changes a row
        for key in ("classes", "split"):  # unset: as before these fields existed (resumable)
            if data.get(key) is None:
                data.pop(key, None)
        d["contents"] = content_digests(self) if contents is None else contents
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def output_dir(self) -> Path:
        return Path(self.output)

    def resolve_paths(self, resolve: Callable[[str], Any]) -> ExperimentConfig:
        """A copy with every file path passed through ``resolve`` (checkpoints, data root,
        noises, output, methods' file options): the notebooks resolve them against the
        repository root (``audiointerp.paths.repo_path``) whatever folder their kernel runs in.
        """
        from audiointerp.interpretation import resolve_method

        def r(value: Any) -> Any:
            if isinstance(value, (list, tuple)):  # one file per classifier (learned methods)
                return [r(v) for v in value]
            return value if value is None or value == "" else str(resolve(value))

        methods = {}
        for name, options in self.methods.items():
            keys = resolve_method(name, options)[0].file_options
            methods[name] = {k: (r(v) if k in keys else v) for k, v in options.items()}
        return replace(
            self,
            models={k: r(v) for k, v in self.models.items()},
            data=replace(self.data, root=r(self.data.root)),
            noises_dir=r(self.noises_dir),
            output=r(self.output),
            noise_files={k: r(v) for k, v in self.noise_files.items()},
            methods=methods,
        )

    def batch_size_for(self, device_type: str) -> int:
        """The grid's ``batch_size`` on a device of type ``device_type`` (``cpu``, ``cuda``)."""
        return int(self.device_batch_size.get(device_type, {}).get("batch_size", self.batch_size))

    def method_options(self, method: str, device_type: str) -> dict[str, Any]:
        """``methods[method]`` with its ``batch_size`` for ``device_type`` applied."""
        options = dict(self.methods[method])
        size = self.device_batch_size.get(device_type, {}).get(method)
        if size is not None:
            options["batch_size"] = int(size)
        return options


DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def _check_device_batch_size(value: Any, methods: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Validate ``device_batch_size``: device types, known keys, positive integers."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParameterError(
            f"device_batch_size must map device types to batch sizes, e.g. "
            f"{{cuda: {{batch_size: 1024, lime: 500}}}}; got {value!r}"
        )
    out = {}
    for device, sizes in value.items():
        check_choice("device_batch_size: device type", device, DEVICE_TYPES)
        if not isinstance(sizes, dict):
            raise ParameterError(f"device_batch_size.{device} must be a mapping, got {sizes!r}")
        for key, size in sizes.items():
            if key != "batch_size" and key not in methods:
                raise ParameterError(
                    f"device_batch_size.{device}.{key}: not batch_size nor a method of the grid "
                    f"({sorted(methods)})"
                )
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ParameterError(
                    f"device_batch_size.{device}.{key} must be an integer >= 1, got {size!r}"
                )
        out[str(device)] = {str(k): int(v) for k, v in sizes.items()}
    return out


def _check_renamed(key: str, where: str) -> None:
    if key in RENAMED:
        raise ParameterError(f"{where}: `{key}` is now called {RENAMED[key]}; rename the key")


def content_digests(cfg: ExperimentConfig) -> dict[str, Any]:
    """SHA-256 of every file the grid's rows depend on besides the data: each model's
    checkpoint, every method option that names a file (a method's ``file_options``, e.g. a
    learned interpreter's checkpoint) and the condition noises.

    Missing files are recorded as ``None`` (the run itself then reports them).
    """
    from audiointerp.experiments.grid.conditions import condition_noise_path, parse_condition
    from audiointerp.files import sha256_path
    from audiointerp.interpretation import resolve_method

    def digest(path: str | Path | None) -> str | None:
        # a path may be a folder (a Hugging Face model directory): hash all of its files
        return sha256_path(path) if path is not None and Path(path).exists() else None

    def digests(value: Any) -> str | list[str | None] | None:
        # A file option may name several files (one interpreter per classifier).
        if isinstance(value, (list, tuple)):
            return [digest(v) for v in value]
        return digest(value)

    methods = {}
    for name, options in cfg.methods.items():
        cls, opts = resolve_method(name, options)
        files = {k: digests(opts[k]) for k in cls.file_options if k in opts}
        if files:
            methods[name] = files
    noises = {}
    for cond in (parse_condition(c, cfg.noise_files) for c in cfg.conditions):
        path = condition_noise_path(cond, cfg.noises_dir)
        if path is not None:
            noises[cond.name] = digest(path)
    return {
        "models": {name: digest(path) for name, path in cfg.models.items()},
        "methods": methods,
        "noises": noises,
    }


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
    for key in overrides or {}:
        _check_renamed(key.split(".")[0], "--set")
    if path is not None:
        from audiointerp.config import load_yaml

        for key in load_yaml(path):
            _check_renamed(key, str(path))
        return load_config(ExperimentConfig, path, overrides)
    data = apply_overrides({}, overrides, where="the default config")
    return from_dict(ExperimentConfig, data, where="--set")


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
    if n_clips != "config":
        over["data.n_clips"] = n_clips
    if data is not None:
        over["data.root"] = str(data)
    if output is not None:
        over["output"] = str(output)
    if masks is not None:
        over["masks"] = list(masks)
    cfg = load_experiment(config, over)
    if condition is not None:  # narrowed after loading: the config's noise files name it
        cfg = replace(cfg, conditions=(condition,))
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
