"""``python -m tusou``: the same as the ``tusou`` command."""

import sys

from tusou.cli import main

sys.exit(main())
