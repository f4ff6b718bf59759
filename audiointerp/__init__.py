"""audiointerp: post-hoc, listenable interpretations of audio classifiers.

The package is layered; dependencies point one way::

    data -> processing -> models -> interpretation / metrics -> experiments -> cli

Importing the package has no side effects.
"""

from __future__ import annotations

from audiointerp.errors import AudioInterpError, ParameterError

__version__ = "0.1.0"

__all__ = ["AudioInterpError", "ParameterError", "__version__"]
