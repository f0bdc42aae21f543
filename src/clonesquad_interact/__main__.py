"""``python -m clonesquad_interact``: the ``clonesquad-interact`` command."""

import sys

from .cli import main

sys.exit(main())
