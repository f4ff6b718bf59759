"""``python -m audiointerp``: same as the ``audiointerp`` console script."""

from __future__ import annotations

import sys

from audiointerp.cli import main

if __name__ == "__main__":
    sys.exit(main())
