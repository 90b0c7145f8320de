"""Named exceptions. Every error a user can cause by bad input is an :class:`MmbioError`.

The CLI prints ``str(error)`` as one line and exits nonzero; nothing else is caught there, so a
real bug still shows its traceback.
"""

from __future__ import annotations

from os import PathLike


class MmbioError(Exception):
    """Base class for expected, user-facing errors (bad files, bad names, no gait cycle)."""


class DataFileError(MmbioError):
    """A data file is missing, unreadable, truncated or inconsistent.

    ``str(err)`` is ``"<path>: <problem>"`` so that the message names the file.
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownReferenceError(MmbioError):
    """A reference dataset or condition name that the registry does not know."""


class NoGaitCycleError(MmbioError):
    """No complete gait cycle could be found in a trial."""


class ChannelError(MmbioError, KeyError):
    """A requested channel (angle, muscle, marker) is not in a trial."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
