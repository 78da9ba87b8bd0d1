"""``python -m gdfast``: see :mod:`gdfast._cli`."""

import sys

from gdfast._cli import main

sys.exit(main())
