"""``python -m mmbio`` runs the command line."""

import sys

from mmbio.cli import main

sys.exit(main())
