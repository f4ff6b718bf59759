"""The package's exception classes.

Every error raised for bad user input is an :class:`AudioInterpError`; its message names the
file or argument, says what was wrong and what to do.
"""

from __future__ import annotations


class AudioInterpError(Exception):
    """Base class of every error the package raises on purpose."""


class ParameterError(AudioInterpError, ValueError):
    """A bad argument: wrong shape, dtype, range, or an unknown option."""


class AudioFileError(AudioInterpError):
    """An audio file that cannot be used (missing, empty, corrupt, unusable content)."""


class DatasetError(AudioInterpError):
    """A data set folder or metadata file that cannot be used."""


class CheckpointError(AudioInterpError):
    """A model checkpoint that cannot be loaded safely or does not fit the model."""
