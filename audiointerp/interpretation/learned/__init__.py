"""Learned interpreters: fitted once per classifier, then explaining like any method.

Modules
-------
base
    The fit/explain life cycle: :class:`Interpreter` (the fitted part), :class:`LearnedMethod`
    (the registered method around it), :class:`FitBatch`.
checkpoint
    Self-describing interpreter checkpoints bound to the classifier's SHA-256.
decoder
    :class:`HiddenDecoder`: the classifier's hidden maps back to its feature grid.
masking
    The core's masking rule and the papers' linear-magnitude rule, reconciled.
lmac, l2i, piq, nmf
    L-MAC and L-MAC FT, L2I with an NMF dictionary, PIQ's quantized bottleneck, the NMF
    component-removal baseline.
data, fitting, validation
    What ``audiointerp fit`` reads, the seeded resumable fit loop, the held-out numbers.

Methods are registered as ``lmac``, ``lmac_ft``, ``l2i``, ``piq`` and ``nmf``; in an
experiment config they take ``checkpoint: FILE`` (or a list, one per classifier).
"""

from audiointerp.interpretation.learned.base import FitBatch, Interpreter, LearnedMethod
from audiointerp.interpretation.learned.checkpoint import (
    InterpreterCheckpoint,
    read_interpreter,
    resolve_checkpoint,
    save_interpreter,
)

__all__ = [
    "FitBatch",
    "Interpreter",
    "InterpreterCheckpoint",
    "LearnedMethod",
    "read_interpreter",
    "resolve_checkpoint",
    "save_interpreter",
]
