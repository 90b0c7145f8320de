"""MuscleMimic motion lists: which motion (and so which subject and trial) a rollout episode's ``traj_id`` is.

A list is a named set of ``mmbio/models/data/musclemimic_motion_sets.yaml`` (mm-evalkit's Gait120 sets) or a text
file with one motion path per line (``#`` comments and blank lines skipped). :func:`motion_identity` reads the
subject (an ``S<digits>`` path component) and trial (``Trial<digits>``) from a path, None where it has none.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.yaml_safe import loads_yaml
from mmbio.limits import check_count

__all__ = ["motion_identity", "motion_list", "motion_set_names"]

_SUBJECT = re.compile(r"S\d+")
_TRIAL = re.compile(r"(?:^|/)Trial(\d+)(?:/|$)")
_MAX_LINE = 4096


@cache
def _sets() -> dict[str, Any]:
    text = resources.files("mmbio.models").joinpath("data/musclemimic_motion_sets.yaml").read_text()
    return loads_yaml(text, "musclemimic_motion_sets.yaml")


def motion_set_names() -> list[str]:
    """The named motion sets mmbio knows."""
    return sorted(_sets()["sets"])


def _expand(name: str) -> list[str]:
    data = _sets()
    spec = data["sets"][name]
    out = []
    for lo, hi in spec["subjects"]:
        for subject in range(int(lo), int(hi) + 1):
            block = (subject - 1) // 10 * 10
            for tlo, thi in spec["trials"]:
                for trial in range(int(tlo), int(thi) + 1):
                    out.append(data["template"].format(block_lo=block + 1, block_hi=block + 10, subject=subject,
                                                       trial=trial))  # fmt: skip
    return out


def motion_list(spec: str) -> list[str]:
    """The motions of a named set (:func:`motion_set_names`) or of a text file, in traj_id order."""
    if spec in _sets()["sets"]:
        return _expand(spec)
    p = Path(spec)
    if not p.is_file():
        raise MmbioError(
            f"--motion-list {spec!r}: neither a file nor a known motion set ({', '.join(motion_set_names())})"
        )
    try:
        with p.open("rb") as fh:
            raw = fh.read(_MAX_LINE * 100_000 + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataFileError(p, f"cannot read a motion list: {e}") from None
    if len(raw) > _MAX_LINE * 100_000:
        raise DataFileError(p, "is too large for a motion list")
    lines = [ln.strip() for ln in text.splitlines()]
    motions = [ln for ln in lines if ln and not ln.startswith("#")]
    if not motions:
        raise DataFileError(p, "holds no motion path (one per line expected)")
    check_count(p, len(motions), "MAX_EPISODES", "motions")
    if any(len(m) > _MAX_LINE or not m.isprintable() for m in motions):
        raise DataFileError(p, "has a line that is not a printable motion path")
    return motions


def motion_identity(path: str) -> tuple[str | None, int | None]:
    """(subject, trial) of a motion path: the ``S<digits>`` component and the ``Trial<digits>`` number."""
    subject = next((c for c in path.split("/") if _SUBJECT.fullmatch(c)), None)
    m = _TRIAL.search(path)
    return subject, int(m.group(1)) if m else None
