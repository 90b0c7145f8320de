"""mmbio: does a simulated muscle-driven humanoid move like a human?

Re-exports the data model; the analysis side imports no JAX or Warp.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from mmbio.errors import DataFileError, MmbioError, NoGaitCycleError, UnknownReferenceError
from mmbio.trial import Channels, Events, GroundReaction, Markers, Quantity, Subject, Trial

try:
    __version__ = version("mmbio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Channels",
    "DataFileError",
    "Events",
    "GroundReaction",
    "Markers",
    "MmbioError",
    "NoGaitCycleError",
    "Quantity",
    "Subject",
    "Trial",
    "UnknownReferenceError",
    "__version__",
]
