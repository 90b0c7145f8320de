"""Input limits: what every reader checks *before* it allocates memory or loops over declared sizes.

A file is untrusted input (threat model: ``docs/security.md``). Readers compare the sizes a file *declares*
(a file length, a header's frame count, an ``.npy`` header's shape, a zip member's uncompressed size) with
these limits and refuse with a one-line :class:`~mmbio.errors.DataFileError` that names the file, the
limit and the environment variable that raises it. Values are in bytes or counts; each can be raised (or
lowered) for one run with ``MMBIO_<NAME>`` in the environment, e.g. ``MMBIO_MAX_TEXT_MB=2048``.

The defaults hold every real file we know of with a wide margin (a 10-minute 1 kHz OpenSim file of 100
columns is ≈ 0.7 GB of text; MyoFullBody policy checkpoints with MuscleMimic's 16×1024 MLPs are ≈ 0.1 GB;
an mm-evalkit archive of 100 one-thousand-frame episodes is ≈ 0.4 GB) while keeping a hostile file's cost
far below the memory of a 24 GB machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from os import PathLike

from mmbio.errors import DataFileError

__all__ = ["LIMITS", "MAX_RATE_HZ", "MIN_RATE_HZ", "Limit", "check_count", "check_size", "fmt_bytes", "get"]

MIB = 1 << 20
#: Sampling rates a signal, motion or excitation table from a file may have (Hz): below, a planner sized by the
#: rate explodes (10⁻⁶ Hz planned a 19 GB rollout); above, no gait recording exists.
MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 100_000.0


@dataclass(frozen=True)
class Limit:
    """One limit: ``default`` in ``units`` ('MB' limits are stored in MiB and applied in bytes)."""

    name: str
    default: int
    units: str  # "MB" or "count"
    what: str

    @property
    def env(self) -> str:
        return f"MMBIO_{self.name}"


LIMITS: dict[str, Limit] = {
    lim.name: lim
    for lim in (
        Limit("MAX_CHECKPOINT_MB", 1024, "MB", "checkpoint file size"),
        Limit("MAX_TEXT_MB", 1024, "MB", "OpenSim .mot/.sto/.trc file size"),
        Limit("MAX_C3D_MB", 512, "MB", "C3D file size (ezc3d holds ≈ 9 bytes in memory per byte of file)"),
        Limit("MAX_C3D_PARAMS_KB", 1024, "count", "C3D parameter section size in KiB"),
        Limit("MAX_ARRAY_MB", 1024, "MB", "one array read from a file (declared shape × item size)"),
        Limit("MAX_NPZ_MB", 4096, "MB", "sum of the uncompressed members of an .npz archive"),
        Limit("MAX_ZIP_RATIO", 200, "count", "expansion of one .npz member above 64 MB (uncompressed / compressed)"),
        Limit("MAX_NPZ_MEMBERS", 1_000_000, "count", "members of an .npz archive"),
        Limit("MAX_YAML_KB", 1024, "count", "protocol YAML file size in KiB"),
        Limit("MAX_YAML_NODES", 100_000, "count", "nodes of a protocol YAML document, aliases expanded"),
        Limit("MAX_DEPTH", 64, "count", "nesting depth of containers in a checkpoint"),
        Limit("MAX_ITEMS", 5_000_000, "count", "containers and values in one checkpoint"),
        Limit("MAX_STRING_CHARS", 1_000_000, "count", "characters of one string in a checkpoint"),
        Limit("MAX_FRAMES", 50_000_000, "count", "frames (time samples) of one signal"),
        Limit("MAX_EPISODES", 100_000, "count", "episodes in a rollout archive"),
    )
}


def get(name: str) -> int:
    """The limit ``name`` in bytes (for 'MB' limits) or as a count, after ``MMBIO_<NAME>`` overrides.

    A malformed override is ignored (the default holds): a limit must never be lifted by a typo.
    """
    lim = LIMITS[name]
    raw = os.environ.get(lim.env)
    value = lim.default
    if raw is not None:
        try:
            v = int(raw.strip())
        except ValueError:
            v = -1
        if v > 0:
            value = v
    return value * MIB if lim.units == "MB" else value


def fmt_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'``; powers of 1024 up to TiB."""
    x = float(n)
    if abs(x) < 1024:
        return f"{x:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        x /= 1024
        if abs(x) < 1024 or unit == "TiB":
            return f"{x:.1f} {unit}"
    raise AssertionError("unreachable")


def check_size(path: str | PathLike[str], nbytes: int, name: str, what: str | None = None) -> None:
    """Raise :class:`DataFileError` when ``nbytes`` exceeds the byte limit ``name``.

    ``what``: the thing measured, for the message (default: the limit's own description).
    """
    cap = get(name)
    if nbytes > cap:
        lim = LIMITS[name]
        raise DataFileError(
            path,
            f"{what or lim.what} is {fmt_bytes(nbytes)}, above mmbio's limit of {fmt_bytes(cap)} "
            f"(set {lim.env} in MB to change it)",
        )


def check_count(path: str | PathLike[str], count: int, name: str, what: str | None = None) -> None:
    """Raise :class:`DataFileError` when ``count`` exceeds the count limit ``name``."""
    cap = get(name)
    if count > cap:
        lim = LIMITS[name]
        raise DataFileError(
            path, f"{what or lim.what} is {count:,}, above mmbio's limit of {cap:,} (set {lim.env} to change it)"
        )
