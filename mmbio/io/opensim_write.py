"""Writing OpenSim files: storage/motion tables (:func:`write_storage`) and a whole trial (:func:`write_opensim_trial`).

The inverse of the readers in :mod:`mmbio.io.opensim` (import both from there). Writers refuse names that the
readers could not read back (empty, padded, with a tab or newline; duplicates) and time that is not strictly
increasing, so that what mmbio writes always round-trips through :func:`mmbio.io.opensim.read_storage`.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from mmbio.errors import MmbioError
from mmbio.io.axes import OPENSIM_TO_LAB, to_lab
from mmbio.io.opensim_table import _BAD_NAME, _SIMM_KEYS, Storage
from mmbio.trial import SIDES, Channels, GroundReaction, Trial

PathArg = str | PathLike[str]

__all__ = ["write_opensim_trial", "write_storage"]


def _check_name(label: str, what: str) -> None:
    if not label or label != label.strip() or not label.isprintable():  # what read_storage reads back
        raise MmbioError(f"write_storage: invalid {what} {label!r} (empty, padded, or with tab/newline/control)")


def write_storage(
    path: PathArg, frame_or_storage: pd.DataFrame | Storage, *, in_degrees: bool, name: str | None = None
) -> Path:
    """Write an OpenSim 4 ``version=1`` table (tab-separated, full float precision).

    frame_or_storage: a :class:`Storage`, or a DataFrame with a ``time`` column or a time index
    (s, strictly increasing). ``in_degrees`` is written as the ``inDegrees`` flag; values are not
    converted. Returns the path written. Round-trips with :func:`read_storage`.
    """
    if isinstance(frame_or_storage, Storage):
        columns = list(frame_or_storage.columns)
        data = np.asarray(frame_or_storage.data, dtype=float)
        name = name if name is not None else frame_or_storage.name
    else:
        df = frame_or_storage
        if "time" in df.columns:
            cols = [str(c) for c in df.columns if c != "time"]
            t = df["time"].to_numpy(dtype=float)
            vals = df[[c for c in df.columns if c != "time"]].to_numpy(dtype=float)
        else:
            cols = [str(c) for c in df.columns]
            t = df.index.to_numpy(dtype=float)
            vals = df.to_numpy(dtype=float)
        columns = ["time", *cols]
        data = np.column_stack([t, vals.reshape(len(t), -1)])
    if data.ndim != 2 or data.shape[1] != len(columns):
        raise MmbioError(f"write_storage: data shape {data.shape} does not match {len(columns)} columns")
    for c in columns:
        _check_name(c, "column name")
    if len(set(columns)) != len(columns):
        raise MmbioError("write_storage: duplicate column names")
    if data.shape[0] > 1 and not np.all(np.diff(data[:, 0]) > 0):
        raise MmbioError("write_storage: time must be strictly increasing")
    name = (name or Path(path).stem or "mmbio").strip()
    first = name.split(None, 1)[0].lower() if name else ""
    if (
        not name
        or "=" in name
        or _BAD_NAME.search(name)
        or first in _SIMM_KEYS
        or first == "endheader"
        or name.startswith("#")
    ):
        name = "mmbio"
    n, k = data.shape
    head = (
        f"{name}\nversion=1\nnRows={n}\nnColumns={k}\ninDegrees={'yes' if in_degrees else 'no'}\nendheader\n"
        + "\t".join(columns)
        + "\n"
    )
    body = pd.DataFrame(data).to_csv(sep="\t", header=False, index=False, lineterminator="\n", na_rep="NaN")
    p = Path(path)
    p.write_text(head + body, encoding="utf-8")
    return p


def _on_time(g: GroundReaction, t: np.ndarray) -> np.ndarray:
    """(n, 7) force, COP (NaN → 0) and free moment of ``g`` on time base ``t``."""
    cols = np.column_stack([g.force, np.nan_to_num(g.cop, nan=0.0), g.free_moment])
    if g.time.size == t.size and np.array_equal(g.time, t):
        return cols
    return np.column_stack([np.interp(t, g.time, cols[:, j], left=0.0, right=0.0) for j in range(cols.shape[1])])


def write_opensim_trial(trial: Trial, directory: PathArg) -> dict[str, Path]:
    """Write a trial as OpenSim files in ``directory`` (created); returns ``{'coordinates'|'grf'|'emg'|'activations': path}``.

    * ``coordinates.mot``: clinical angles back to OpenSim names and signs (Rajagopal convention:
      knee flexion +), ``inDegrees=yes``; angles without an OpenSim counterpart are skipped.
    * ``grf.mot``: ``ground_force_{r,l}_v{x,y,z}``, ``_p{x,y,z}``, ``ground_torque_{r,l}_{x,y,z}``, Y up;
      NaN COP written as 0; the left foot is interpolated onto the right foot's time base if they differ.
    * ``emg.sto`` / ``activations.sto``: channels as named in the trial, ``inDegrees=no``.
    """
    from mmbio.io.opensim import _CLINICAL_TO_OPENSIM, _split_coord  # the coordinate table lives with the readers

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    c_inv = OPENSIM_TO_LAB.T
    if trial.angles is not None and len(trial.angles):
        cols, vals = [], []
        for nm in trial.angles.names:
            base, side = (nm, None) if nm in _CLINICAL_TO_OPENSIM else _split_coord(nm)
            if base not in _CLINICAL_TO_OPENSIM:
                continue
            os_base, sign = _CLINICAL_TO_OPENSIM[base]
            cols.append(os_base if side is None else f"{os_base}_{side}")
            vals.append(sign * trial.angles[nm])
        if cols:
            df = pd.DataFrame(np.column_stack(vals), index=trial.angles.time, columns=cols)
            out["coordinates"] = write_storage(d / "coordinates.mot", df, in_degrees=True, name="coordinates")
    if trial.grf:
        sides = [s for s in SIDES if s in trial.grf]
        t = trial.grf[sides[0]].time
        frames = {}
        for s in sides:
            a = _on_time(trial.grf[s], t)
            f_os, p_os = to_lab(a[:, 0:3], c_inv), to_lab(a[:, 3:6], c_inv)
            z = np.zeros(t.size)
            block = np.column_stack([f_os, p_os, z, a[:, 6], z])
            labels = [f"ground_force_{s}_v{c}" for c in "xyz"] + [f"ground_force_{s}_p{c}" for c in "xyz"]
            labels += [f"ground_torque_{s}_{c}" for c in "xyz"]
            frames.update(dict(zip(labels, block.T, strict=True)))
        out["grf"] = write_storage(d / "grf.mot", pd.DataFrame(frames, index=t), in_degrees=False, name="grf")
    for key in ("emg", "activations"):
        ch: Channels | None = getattr(trial, key)
        if ch is not None and len(ch):
            out[key] = write_storage(d / f"{key}.sto", ch.to_frame(), in_degrees=False, name=key)
    return out
