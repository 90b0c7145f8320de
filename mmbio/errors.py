"""Named exceptions. Every error a user can cause by bad input is an :class:`MmbioError`.

The CLI prints ``str(error)`` as one line and exits nonzero; nothing else is caught there, so a
real bug still shows its traceback.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "ChannelError",
    "DataFileError",
    "Interrupted",
    "MmbioError",
    "NoGaitCycleError",
    "UnknownReferenceError",
    "printable",
]


def printable(text: object, limit: int = 400) -> str:
    """``text`` as one printable line: control characters, escape codes and other unprintable characters as
    backslash escapes (a file name with a newline or ``\\x1b[2J`` cannot break or repaint a terminal); longer
    than ``limit`` characters: cut with an ellipsis. Printable non-ASCII (``é``, ``µ``) is kept."""
    s = str(text)
    if not s.isprintable():
        s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


class MmbioError(Exception):
    """Base class for expected, user-facing errors (bad files, bad names, no gait cycle).

    ``exit_code``: the CLI's exit status for it (2, bad input, unless a subclass says otherwise).
    """

    exit_code = 2


class DataFileError(MmbioError):
    """A data file is missing, unreadable, truncated or inconsistent.

    ``str(err)`` is ``"<path>: <problem>"`` so that the message names the file.
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        shown = self.path if self.path.isprintable() else repr(self.path)
        super().__init__(f"{printable(shown)}: {printable(problem, 1000)}")


class UnknownReferenceError(MmbioError):
    """A reference dataset or condition name that the registry does not know."""


class NoGaitCycleError(MmbioError):
    """No complete gait cycle could be found in a trial."""


class Interrupted(MmbioError):
    """The user interrupted a run (Ctrl-C); the message says what was kept. The CLI exits 130."""

    exit_code = 130


class ChannelError(MmbioError, KeyError):
    """A requested channel (angle, muscle, marker) is not in a trial."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
