"""``python -m tdxlib``: the same as the ``tdxlib`` command."""

import sys

from tdxlib.cli import main

sys.exit(main())
