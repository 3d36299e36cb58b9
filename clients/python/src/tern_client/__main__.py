"""``python -m tern_client sub NAME…`` / ``pub NAME JSON``: see :mod:`tern_client.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
