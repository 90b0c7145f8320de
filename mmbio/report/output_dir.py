"""The output folder of one ``mmbio validate`` run: checked before the work, locked while it runs, filled with one
complete set of files.

Rules (what a user can rely on):

* The folder is checked and locked **before** any work: a path that is a file, a folder that cannot be created
  or written, or a folder another mmbio run is writing into is refused at once (exit 2), not after minutes of
  simulation. A folder created for a run that then fails on bad input is removed again if it is still empty.
* A folder holds the results of **one input**. ``mmbio-run.json`` records which (input path, command, files,
  time). Running again on the same input replaces its results; a folder holding another input's results (or
  files named like mmbio's outputs without a record) is refused unless ``overwrite=True`` (``--overwrite``).
* Files are written under temporary names and renamed into place together at the end (each rename atomic); then
  files of the previous set that this run did not write (a stale ``report.pdf`` after ``--no-pdf``) are removed
  and the record is written last. The record is removed first, so a set without a record is one being replaced.
  A run that fails or is interrupted leaves the previous set as it was.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from mmbio import __version__
from mmbio.errors import printable
from mmbio.io.atomic import TEMP_SUFFIX, FolderLock, OutputError, atomic_path, remove_stale_temps

__all__ = ["MANIFEST", "OUTPUT_NAMES", "OutputDir"]

MANIFEST = "mmbio-run.json"
#: Files mmbio writes into an output folder (a folder holding any of them without a record is not ours to clobber).
OUTPUT_NAMES = ("metrics.json", "curves.csv", "report.pdf")
_PSEUDO_FS = ("/proc", "/sys", "/dev")


class OutputDir:
    """One run's output folder (see the module docs). Use as a context manager around the whole run::

    with OutputDir(out, source=trial_path, command="validate") as od:
        ...  # the work
        write_metrics_json(result, od.stage("metrics.json"))
        od.commit()
    """

    def __init__(self, path: str | os.PathLike[str], *, source: str, command: str, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.source = str(Path(source).resolve()) if source else ""
        self.command = command
        self.overwrite = overwrite
        self._lock: FolderLock | None = None
        self._created = False
        self._staged: dict[str, Path] = {}
        self.written: list[Path] = []

    # ------------------------------------------------------------------------------------------ open / close

    def open(self) -> OutputDir:
        """Check, create and lock the folder; refuse another input's results. Raises :class:`OutputError`."""
        p = self.path
        shown = printable(p)
        resolved = p.resolve()
        if any(str(resolved) == fs or str(resolved).startswith(fs + "/") for fs in _PSEUDO_FS):
            raise OutputError(f"{shown}: not a place for results (a system pseudo-filesystem); choose another --output")
        if p.exists() and not p.is_dir():
            raise OutputError(f"{shown}: exists and is not a folder; choose another --output")
        if not p.exists():
            try:
                p.mkdir(parents=True)
                self._created = True
            except FileExistsError:
                if not p.is_dir():  # another run made it first: fine; a file in its place is not
                    raise OutputError(f"{shown}: exists and is not a folder; choose another --output") from None
            except OSError as e:
                raise OutputError(f"{shown}: cannot create the output folder: {e.strerror or e}") from None
        try:
            if not os.access(p, os.W_OK | os.X_OK):
                raise OutputError(f"{shown}: the output folder is not writable")
            self._lock = FolderLock(p, "validation").acquire()
            remove_stale_temps(p)
            self._check_owner()
        except BaseException:
            self.close(failed=True)  # __exit__ does not run when __enter__ raises
            raise
        return self

    def _check_owner(self) -> None:
        if self.overwrite:
            return
        shown = printable(self.path)
        record = self.path / MANIFEST
        if record.is_file():
            try:
                doc = json.loads(record.read_text(encoding="utf-8"))
                other = str(doc.get("input", ""))
            except (OSError, ValueError, AttributeError):
                other = "?"
            if other != self.source:
                raise OutputError(
                    f"{shown}: holds the results of another input ({printable(other, 200)}, see {MANIFEST}); "
                    "choose another --output or pass --overwrite"
                )
            return
        present = [n for n in OUTPUT_NAMES if (self.path / n).exists()]
        if present:
            raise OutputError(
                f"{shown}: already holds {', '.join(present)} not written by this input; choose another --output or "
                "pass --overwrite"
            )

    def close(self, failed: bool = False) -> None:
        """Drop staged files, release the lock; remove the folder if this run created it and it stayed empty."""
        for tmp in self._staged.values():
            tmp.unlink(missing_ok=True)
        self._staged.clear()
        if self._lock is None:
            return  # refused before holding the lock: the folder is another run's now, whoever made it
        if failed and self._created:
            self._lock.remove_folder_if_empty()
        self._lock.release()
        self._lock = None

    def __enter__(self) -> OutputDir:
        return self.open()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=et is not None)

    # ------------------------------------------------------------------------------------------ writing

    def stage(self, name: str) -> Path:
        """A temporary path in the folder for the output ``name``; :meth:`commit` moves it into place."""
        if name in self._staged:
            return self._staged[name]
        tmp = self.path / f".{name}.staged{TEMP_SUFFIX}"
        self._staged[name] = tmp
        return tmp

    def commit(self) -> list[Path]:
        """Move every staged file into place, remove the previous set's leftovers, write the record last."""
        record = self.path / MANIFEST
        previous: list[str] = []
        if record.is_file():
            try:
                previous = [str(n) for n in json.loads(record.read_text(encoding="utf-8")).get("files", [])]
            except (OSError, ValueError, AttributeError):
                previous = []
        try:
            record.unlink(missing_ok=True)
            for name, tmp in self._staged.items():
                if not tmp.is_file():
                    raise OutputError(f"{printable(self.path / name)}: was not written")
                os.replace(tmp, self.path / name)
            stale = (set(previous) | set(OUTPUT_NAMES)) - set(self._staged)
            for name in stale:
                if "/" not in name and name != MANIFEST:
                    (self.path / name).unlink(missing_ok=True)
        except OSError as e:
            raise OutputError(f"{printable(self.path)}: cannot write the results: {e.strerror or e}") from None
        self.written = [self.path / n for n in self._staged]
        doc = {
            "command": self.command,
            "input": self.source,
            "files": list(self._staged),
            "mmbio_version": __version__,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        self._staged.clear()
        return self.written
