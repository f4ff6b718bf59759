"""Classifiers behind one model protocol and one registry, safe checkpoints, and training.

Modules
-------
base
    The model protocol (:class:`AudioClassifier`: logits, ``kind``, named hidden maps, the
    Grad-CAM layer, attention for transformers) and the base :class:`ModelConfig`.
cnn
    :class:`PannsCnn` (Cnn6/Cnn10/Cnn14 as one parametrised family), :class:`TransferCnn14`
    and their config :class:`CnnConfig`.
ast, tokens
    :class:`AudioSpectrogramTransformer` (a small AST, ``arch: ast``) and its config
    :class:`AstConfig`; :class:`TokenLayout`, where a transformer's tokens sit on the features.
hf_ast
    Users' Hugging Face ``ASTForAudioClassification`` directories, read by
    :func:`load_classifier` (optional extra ``[hf]``).
registry
    :func:`build_model` / :func:`model_from_config` by ``arch`` name; one line per family.
checkpoints
    :func:`save_classifier` / :func:`load_classifier` (self-describing files, always read with
    ``weights_only=True``) and :func:`load_panns_weights` for the released PANNs files.
augment
    Batched SpecAugment masking and mixup on features.
train_config, splits, training, evaluation
    :class:`TrainConfig` (YAML sections data/frontend/model/train), in-memory splits, the
    resumable trainer :func:`train`, and accuracy/confusion/learning-curve helpers.
"""

from __future__ import annotations

from audiointerp.models.ast import AstConfig, AudioSpectrogramTransformer
from audiointerp.models.augment import mixup, spec_augment
from audiointerp.models.base import AudioClassifier, ModelConfig
from audiointerp.models.checkpoints import (
    FORMAT,
    LoadedClassifier,
    load_classifier,
    load_panns_weights,
    panns_backbone_state,
    read_checkpoint,
    save_classifier,
)
from audiointerp.models.cnn import ARCHS, ArchSpec, CnnConfig, PannsCnn, TransferCnn14
from audiointerp.models.evaluation import (
    EvalResult,
    evaluate_waves,
    predict_logits,
    write_confusion,
)
from audiointerp.models.registry import (
    build_model,
    model_config,
    model_family,
    model_from_config,
    model_names,
    register_model,
)
from audiointerp.models.splits import Split, Splits, load_splits
from audiointerp.models.tokens import TokenLayout
from audiointerp.models.train_config import OptimConfig, TrainConfig, load_train_config
from audiointerp.models.training import TrainResult, train

__all__ = [
    "ARCHS",
    "FORMAT",
    "ArchSpec",
    "AstConfig",
    "AudioClassifier",
    "AudioSpectrogramTransformer",
    "CnnConfig",
    "EvalResult",
    "LoadedClassifier",
    "ModelConfig",
    "OptimConfig",
    "PannsCnn",
    "Split",
    "Splits",
    "TrainConfig",
    "TokenLayout",
    "TrainResult",
    "TransferCnn14",
    "build_model",
    "evaluate_waves",
    "load_classifier",
    "load_panns_weights",
    "load_splits",
    "load_train_config",
    "mixup",
    "model_config",
    "model_family",
    "model_from_config",
    "model_names",
    "register_model",
    "panns_backbone_state",
    "predict_logits",
    "read_checkpoint",
    "save_classifier",
    "spec_augment",
    "train",
    "write_confusion",
]
