"""Regression corpus, typed values and YAML: every bad config value is a clear error naming the
key (exit 2 from the CLI), scalars where lists belong are handled, alias bombs are refused."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from audiointerp import cli
from audiointerp.config import (
    MAX_YAML_NODES,
    from_dict,
    load_config,
    parse_overrides,
    safe_load_yaml,
)
from audiointerp.errors import ParameterError
from audiointerp.experiments.grid.config import load_experiment
from audiointerp.interpretation.registry import build_method


@dataclass
class Inner:
    n_fft: int = 512
    fmax: float | None = None


@dataclass
class Knobs:
    name: str = "x"
    batch_size: int = 8
    lr: float = 1e-3
    flag: bool = False
    kind: Literal["a", "b"] = "a"
    folds: tuple[int, ...] = (1, 2)
    pair: tuple[int, str] = (1, "x")
    tags: tuple[str, ...] | None = None
    options: dict[str, dict] = field(default_factory=lambda: {"m": {}})
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"batch_size": 2.5}, r"src: batch_size: expected an integer, got 2\.5 \(float\)"),
        ({"batch_size": "abc"}, r"batch_size: expected an integer, got 'abc' \(str\)"),
        ({"batch_size": True}, r"batch_size: expected an integer, got True \(bool\)"),
        ({"lr": "fast"}, r"lr: expected a number, got 'fast'"),
        ({"lr": float("nan")}, r"lr: expected a finite number"),
        ({"flag": 1}, r"flag: expected true or false, got 1 \(int\)"),
        ({"flag": "yes please"}, r"flag: expected true or false"),
        ({"name": 5}, r"name: expected a string, got 5 \(int\); quote it"),
        ({"name": None}, r"name: has no value \(null\)"),
        ({"name": "  "}, r"name: is an empty string"),
        ({"kind": "c"}, r"kind: 'c' is not valid; choose one of: 'a', 'b'"),
        ({"folds": ["x"]}, r"folds\[0\]: expected an integer, got 'x'"),
        ({"folds": []}, r"folds: is empty; give at least one value"),
        ({"tags": []}, r"tags: is empty; give at least one value or null for the default"),
        ({"pair": [1, 2, 3]}, r"pair: expected 2 values, got 3"),
        ({"pair": [1, 2]}, r"pair\[1\]: expected a string"),
        ({"options": 5}, r"options: expected a mapping, got 5"),
        ({"options": {"m": 3}}, r"options\.m: expected a mapping, got 3"),
        ({"inner": 5}, r"inner: expected a mapping of Inner fields, got 5"),
        ({"inner": {"n_fft": "big"}}, r"src: inner\.n_fft: expected an integer, got 'big'"),
        ({"inner": {"fmax": "high"}}, r"inner\.fmax: expected a number or null, got 'high'"),
        ({"bogus": 1}, r"src: unknown key\(s\) \['bogus'\] for Knobs; valid keys"),
    ],
)
def test_typed_values_are_errors_naming_source_and_key(data, pattern):
    with pytest.raises(ParameterError, match=pattern):
        from_dict(Knobs, data, where="src")


def test_values_that_have_one_meaning_are_accepted():
    cfg = from_dict(
        Knobs,
        {
            "lr": "1e-3",  # PyYAML reads this as a string
            "folds": 5,  # one fold, not the characters of "5"
            "tags": "clean",  # one tag, not ("c", "l", "e", "a", "n")
            "options": ["saliency", "gradcam"],  # names with default options
            "inner": {"fmax": None},
        },
    )
    assert cfg.lr == 1e-3 and isinstance(cfg.lr, float)
    assert cfg.folds == (5,) and cfg.tags == ("clean",)
    assert cfg.options == {"saliency": {}, "gradcam": {}}
    assert from_dict(Knobs, {"options": "lime"}).options == {"lime": {}}
    assert from_dict(Knobs, {"options": {"lime": None}}).options == {"lime": {}}
    assert isinstance(from_dict(Knobs, {"lr": 1}).lr, int)  # ints kept: fingerprints unchanged


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ("batch_size=2.5", r"exp\.yaml \+ --set: batch_size: expected an integer, got 2\.5"),
        ("batch_size=abc", r"batch_size: expected an integer, got 'abc'"),
        ("seed=x", r"seed: expected an integer, got 'x'"),
        ("data=5", r"data: expected a mapping of DataConfig fields, got 5"),
        ("device=quantum", r"device='quantum' is not a torch device; use cpu, cuda"),
        ("output=", r"output: has no value \(null\)"),
        ("masks=[]", r"masks: is empty; give at least one value or null for the default"),
        ("conditions=[]", r"conditions: is empty"),
        ("data.test_folds=[]", r"data\.test_folds: is empty"),
        ("data.n_clips=-3", r"data\.n_clips must be a finite number > 0, got -3"),
        ("resynth_route=fast", r"resynth_route='fast' is not valid; choose one of"),
        ("data.layout=zip", r"data\.layout='zip' is not valid"),
        ("sanity_clips=-1", r"sanity_clips must be a finite number >= 0"),
    ],
)
def test_experiment_overrides_are_checked(tmp_path, item, pattern):
    path = tmp_path / "exp.yaml"
    path.write_text("name: t\nconditions: [clean]\nmethods: {saliency: {}}\n")
    with pytest.raises(ParameterError, match=pattern):
        load_experiment(path, parse_overrides([item]))


def test_strings_where_lists_belong_are_one_element_lists(tmp_path):
    cfg = load_experiment(None, parse_overrides(["conditions=clean", "masks=minmax"]))
    assert cfg.conditions == ("clean",) and cfg.masks == ("minmax",)
    cfg = load_experiment(None, parse_overrides(["methods=saliency", "data.test_folds=5"]))
    assert cfg.methods == {"saliency": {}} and cfg.data.test_folds == (5,)


def test_set_value_that_is_not_yaml_is_one_line_error():
    with pytest.raises(ParameterError) as err:
        parse_overrides(["n_samples=["])
    msg = str(err.value)
    assert "--set n_samples: value '[' is not valid YAML" in msg and "line 1, column 2" in msg
    assert "\n" not in msg
    with pytest.raises(ParameterError, match="expected key=value"):
        parse_overrides(["a..b=1"])


def test_method_options_are_typed_from_the_class():
    with pytest.raises(
        ParameterError, match=r"method lime\.n_samples: expected an integer, got 'abc'"
    ):
        build_method("lime", {"n_samples": "abc"})
    with pytest.raises(
        ParameterError, match=r"method lime\.n_samples: expected an integer, got 2\.5"
    ):
        build_method("lime", {"n_samples": 2.5})
    with pytest.raises(ParameterError, match=r"method lime: segmentation='bogus' is not valid"):
        build_method("lime", {"segmentation": "bogus"})
    with pytest.raises(ParameterError, match="bad options for method 'saliency'.*nope"):
        build_method("saliency", {"nope": 1})
    # a method that resolves named values itself still gets them
    assert build_method("slice", {"fill": "floor"}) is not None
    assert build_method("lime", {"kernel_width": "1e-2"}).kernel_width == pytest.approx(0.01)


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_it_expands():
    with pytest.raises(ParameterError, match=f"expand to more than {MAX_YAML_NODES} values"):
        safe_load_yaml(_bomb(), source="x.yaml")
    # a few ordinary aliases stay fine
    assert safe_load_yaml("a: &o {n: 1}\nb: *o\n") == {"a": {"n": 1}, "b": {"n": 1}}


def test_alias_bomb_in_name_exits_2_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    # A subprocess with a timeout: if expansion were unbounded again, this fails, not hangs.
    done = subprocess.run(
        [sys.executable, "-m", "audiointerp", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"config file {path}: YAML aliases expand" in done.stderr
    assert "Traceback" not in done.stderr


def test_recursive_alias_and_duplicate_keys_are_refused():
    with pytest.raises(ParameterError, match="refers to the node that contains it"):
        safe_load_yaml("a: &x [1, *x]\n", source="r.yaml")
    with pytest.raises(ParameterError, match=r"key 'seed' is given twice \(lines 1 and 3\)"):
        safe_load_yaml("seed: 1\nname: a\nseed: 2\n", source="d.yaml")
    assert yaml.safe_load("seed: 1\nseed: 2\n") == {"seed": 2}  # what plain PyYAML would do


def test_unreadable_and_odd_config_files(tmp_path, monkeypatch):
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(ParameterError, match="is a folder"):
        load_config(Knobs, folder)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParameterError, match="is not UTF-8 text"):
        load_config(Knobs, latin)
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: a\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(ok), "read_text", denied)
    with pytest.raises(ParameterError, match="cannot be read: permission denied; make it readable"):
        load_config(Knobs, ok)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--config", "configs/experiment_default.yaml", "--set", "batch_size=2.5"],
        ["run", "--config", "configs/experiment_default.yaml", "--set", "seed=x"],
        ["run", "--config", "configs/experiment_default.yaml", "--set", "device=quantum"],
        ["train", "--config", "configs/default_mel.yaml", "--set", "train.batch_size=abc"],
        ["train", "--config", "configs/default_mel.yaml", "--set", "train.device=quantum"],
        ["synth", "--out", "unused", "--set", "snr_db_min=loud"],
        ["interpret", "--audio", "x.wav", "--method", "lime", "--set", "n_samples=["],
    ],
)
def test_cli_typed_value_errors_exit_2_naming_the_key(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    key = argv[-1].split("=")[0].split(".")[-1]
    assert f"audiointerp {argv[0]}: error:" in err and key in err
    assert "Traceback" not in err
