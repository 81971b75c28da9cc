"""``python -m pyrtcstack`` is the ``pyrtcstack`` command."""

import sys

from .cli import main

sys.exit(main())
