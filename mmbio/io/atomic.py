"""Writes that never leave a torn file, and a lock that keeps two mmbio runs out of one folder.

* :func:`atomic_path`: write to a hidden temporary file in the destination's own folder, flush it to disk,
  then ``os.replace`` it over the destination (atomic on POSIX and Windows): a reader sees the old file or the
  new one, never half of one, whatever happens (full disk, kill -9, power loss after the fsync).
* :class:`FolderLock`: an advisory ``flock`` on ``<folder>/.mmbio.lock`` held for a run's lifetime; a second
  run that asks for the same folder is refused at once (the kernel drops the lock when a process dies, so a
  crashed run never blocks the next one). Where ``fcntl`` does not exist (Windows) the lock is a no-op.
* :meth:`FolderLock.remove_folder_if_empty`: a run that made its folder and failed removes it again, only
  under its own lock (so never a folder another run has locked meanwhile).
* :func:`remove_stale_temps`: temporary files of :func:`atomic_path` left behind by a killed process
  (only under the folder's lock, so a running writer's temp is never touched).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from mmbio.errors import MmbioError, printable

__all__ = [
    "LOCK_NAME",
    "TEMP_SUFFIX",
    "FolderBusyError",
    "FolderLock",
    "OutputError",
    "atomic_path",
    "remove_stale_temps",
]

#: Suffix of the temporary files of :func:`atomic_path` (``.<name>.<random>.mmbio-tmp``).
TEMP_SUFFIX = ".mmbio-tmp"
LOCK_NAME = ".mmbio.lock"


class OutputError(MmbioError):
    """An output path that cannot be written (a file where a folder is wanted, no permission, a full disk)."""


class FolderBusyError(OutputError):
    """Another mmbio process holds the folder's lock."""


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (Windows); the rename itself is atomic
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it is synced and renamed onto ``path``.

    On an exception (including KeyboardInterrupt) the temporary file is removed and ``path`` is untouched.
    An ``OSError`` while writing becomes :class:`OutputError` naming ``path``.
    """
    dest = Path(path)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{printable(dest)}: cannot write: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove ``.*.mmbio-tmp`` files (and the older ``.latest.pkl.tmp``) in ``folder``; returns what was removed.

    Call only while holding the folder's :class:`FolderLock`.
    """
    gone = []
    for p in [*folder.glob(f".*{TEMP_SUFFIX}"), *folder.glob(".*.pkl.tmp")]:
        with contextlib.suppress(OSError):
            p.unlink()
            gone.append(p)
    return gone


class FolderLock:
    """Exclusive advisory lock on ``folder`` (which must exist) for one mmbio run; see the module docs."""

    def __init__(self, folder: str | os.PathLike[str], what: str = "run") -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        lock_path = self.folder / LOCK_NAME
        for _ in range(3):
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise OutputError(
                    f"{printable(self.folder)}: cannot write into this folder: {e.strerror or e}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise FolderBusyError(
                    f"{printable(self.folder)}: another mmbio {self.what} is writing into this folder; wait for it "
                    "to finish or choose another output folder"
                ) from None
            # The holder before us may have removed the lock file (a failed run cleaning up the folder it made):
            # a lock on an unlinked file guards nothing, so open the path again.
            try:
                same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
            except OSError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)
        raise FolderBusyError(f"{printable(self.folder)}: another mmbio {self.what} keeps replacing this folder's lock")

    def remove_folder_if_empty(self) -> None:
        """While holding the lock: remove the lock file and the folder if nothing else is in it (a run that made
        the folder and failed before writing; no other run can be using it meanwhile)."""
        if self._fd is None:
            raise RuntimeError("FolderLock.remove_folder_if_empty needs the lock held")
        with contextlib.suppress(OSError):
            (self.folder / LOCK_NAME).unlink(missing_ok=True)
            self.folder.rmdir()  # only when empty

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
