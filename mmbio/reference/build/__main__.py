"""``python -m mmbio.reference.build``: see :mod:`mmbio.reference.build`."""

from mmbio.reference.build import main

raise SystemExit(main())
