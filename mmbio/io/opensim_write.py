"""Writing OpenSim files: storage/motion tables (:func:`write_storage`) and a whole trial (:func:`write_opensim_trial`:
coordinates with the pelvis translation, GRF, the ExternalLoads that apply it and an inverse-dynamics set-up).

The inverse of the readers in :mod:`mmbio.io.opensim` (import both from there). Writers refuse names that the
readers could not read back (empty, padded, with a tab or newline; duplicates) and time that is not strictly
increasing, so that what mmbio writes always round-trips through :func:`mmbio.io.opensim.read_storage`.
"""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from mmbio.errors import MmbioError
from mmbio.io.axes import OPENSIM_TO_LAB, to_lab
from mmbio.io.opensim_table import _BAD_NAME, _SIMM_KEYS, Storage
from mmbio.trial import PELVIS_POSITION, SIDES, Channels, GroundReaction, Markers, Trial

PathArg = str | PathLike[str]

__all__ = ["FOOT_BODIES", "external_loads_xml", "id_setup_xml", "write_opensim_trial", "write_storage", "write_trc"]


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


def _nearest_valid(a: np.ndarray) -> np.ndarray:
    """(n, k) rows with a NaN replaced by the nearest row in time without one (all-NaN input: zeros).

    An unloaded foot's COP is NaN; its force is small but not always zero (under the COP threshold, or a plate's
    noise), and OpenSim applies it at the point written: at 0 it would act metres away from the foot.
    """
    ok = ~np.isnan(a).any(axis=1)
    if ok.all():
        return a
    if not ok.any():
        return np.zeros_like(a)
    good = np.flatnonzero(ok)
    i = np.arange(a.shape[0])
    j = np.clip(np.searchsorted(good, i), 1, good.size - 1) if good.size > 1 else np.zeros_like(i)
    lo, hi = good[np.maximum(j - 1, 0)], good[j]
    near = np.where(np.abs(i - lo) <= np.abs(hi - i), lo, hi)
    return a[near]


def _on_time(g: GroundReaction, t: np.ndarray) -> np.ndarray:
    """(n, 7) force, COP (NaN → the nearest loaded sample's) and free moment of ``g`` on time base ``t``."""
    cols = np.column_stack([g.force, _nearest_valid(np.asarray(g.cop, dtype=float)), g.free_moment])
    if g.time.size == t.size and np.array_equal(g.time, t):
        return cols
    return np.column_stack([np.interp(t, g.time, cols[:, j], left=0.0, right=0.0) for j in range(cols.shape[1])])


def _on(ch: Channels, t: np.ndarray) -> np.ndarray:
    """(n, k) values of ``ch`` on time base ``t`` (linear; held at the ends)."""
    if ch.time.size == t.size and np.array_equal(ch.time, t):
        return ch.values
    return np.column_stack([np.interp(t, ch.time, ch.values[:, j]) for j in range(ch.values.shape[1])])


#: The bodies that carry each foot's ground reaction in a Rajagopal/gait2392-family model.
FOOT_BODIES: dict[str, str] = {"r": "calcn_r", "l": "calcn_l"}


def external_loads_xml(sides: list[str], datafile: str, *, bodies: dict[str, str] | None = None) -> str:
    """OpenSim ``ExternalLoads`` applying ``grf.mot``'s per-foot columns (as :func:`write_opensim_trial` names them).

    One ``ExternalForce`` per side: ``ground_force_<s>_v*`` (N) at ``ground_force_<s>_p*`` (m) plus
    ``ground_torque_<s>_*`` (N·m), force and point expressed in ground, applied to ``bodies[s]``
    (default :data:`FOOT_BODIES`). ``datafile``: the ``.mot`` path as OpenSim should read it (relative to the XML).
    """
    bodies = FOOT_BODIES if bodies is None else bodies
    forces = "".join(
        f'      <ExternalForce name="grf_{s}">\n'
        f"        <applied_to_body>{bodies[s]}</applied_to_body>\n"
        "        <force_expressed_in_body>ground</force_expressed_in_body>\n"
        "        <point_expressed_in_body>ground</point_expressed_in_body>\n"
        f"        <force_identifier>ground_force_{s}_v</force_identifier>\n"
        f"        <point_identifier>ground_force_{s}_p</point_identifier>\n"
        f"        <torque_identifier>ground_torque_{s}_</torque_identifier>\n"
        "      </ExternalForce>\n"
        for s in sides
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<OpenSimDocument Version="40000">\n'
        f'  <ExternalLoads name="grf">\n    <objects>\n{forces}    </objects>\n    <groups />\n'
        f"    <datafile>{escape(datafile)}</datafile>\n  </ExternalLoads>\n</OpenSimDocument>\n"
    )


def id_setup_xml(
    *,
    coordinates: str,
    external_loads: str | None,
    t0: float,
    t1: float,
    model_file: str = "Unassigned",
    lowpass_hz: float = -1.0,
    output: str = "inverse_dynamics.sto",
) -> str:
    """An OpenSim ``InverseDynamicsTool`` set-up (``opensim-cmd run-tool``; paths relative to the XML).

    Muscles excluded (net joint moments and the six pelvis residuals); ``lowpass_hz`` ≤ 0: coordinates not
    filtered. ``t0``/``t1``: s.
    """
    loads = escape(external_loads) if external_loads else ""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
  <InverseDynamicsTool name="mmbio_id">
    <results_directory>.</results_directory>
    <model_file>{escape(model_file)}</model_file>
    <time_range>{t0!r} {t1!r}</time_range>
    <forces_to_exclude>Muscles</forces_to_exclude>
    <external_loads_file>{loads}</external_loads_file>
    <coordinates_file>{escape(coordinates)}</coordinates_file>
    <lowpass_cutoff_frequency_for_coordinates>{float(lowpass_hz)!r}</lowpass_cutoff_frequency_for_coordinates>
    <output_gen_force_file>{escape(output)}</output_gen_force_file>
  </InverseDynamicsTool>
</OpenSimDocument>
"""


def write_opensim_trial(
    trial: Trial,
    directory: PathArg,
    *,
    model_file: PathArg | None = None,
    lowpass_hz: float | None = None,
) -> dict[str, Path]:
    """Write a trial as OpenSim files in ``directory`` (created); returns ``{key: path}`` for what was written.

    Everything is in OpenSim's ground frame (x forward, **y up**, z right: ``OPENSIM_TO_LAB.T @ v_lab``, the same
    rotation for positions, forces and COP, so the model and its loads stay together):

    * ``coordinates``: ``coordinates.mot``, ``inDegrees=yes``: clinical angles back to OpenSim names and signs
      (Rajagopal convention: knee flexion +; angles without an OpenSim counterpart are skipped), the patella
      ``knee_angle_<s>_beta`` equal to the knee angle (Rajagopal's coupler) **in rad**: its motion type is
      Coupled, and OpenSim's degree-to-radian conversion of a ``.mot`` touches Rotational coordinates only (in
      degrees it becomes a 70 rad patella and hundreds of N at the pelvis in inverse dynamics), and ``pelvis_tx/ty/tz`` in **m** from
      :attr:`Trial.pelvis_position` (on the angles' time base; without it there are no translations and in
      OpenSim the model walks in place while its loads travel with the COP: a :class:`UserWarning` says so).
    * ``grf``: ``grf.mot``: ``ground_force_{r,l}_v{x,y,z}`` (N), ``_p{x,y,z}`` (m),
      ``ground_torque_{r,l}_{x,y,z}`` (N·m, the free moment about y); an unloaded foot's NaN COP is the nearest
      loaded sample's (its small force then acts near the foot); the left foot is interpolated onto the right
      foot's time base if they differ.
    * ``external_loads``: ``external_loads.xml`` applying each foot's force, point and torque to ``calcn_r`` /
      ``calcn_l``, expressed in ground (:func:`external_loads_xml`).
    * ``id_setup``: ``id_setup.xml``, an ``InverseDynamicsTool`` over the time both files cover
      (:func:`id_setup_xml`; ``model_file`` or ``Unassigned``; ``lowpass_hz`` None: no filter, right for a
      simulation; measured kinematics are usually low-passed at 6 Hz).
    * ``emg`` / ``activations``: ``emg.sto`` / ``activations.sto``, channels as named in the trial, ``inDegrees=no``.
    """
    from mmbio.io.opensim import _CLINICAL_TO_OPENSIM, _split_coord  # the coordinate table lives with the readers

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    c_inv = OPENSIM_TO_LAB.T
    t_coord: np.ndarray | None = None
    if trial.angles is not None and len(trial.angles):
        cols, vals = [], []
        for nm in trial.angles.names:
            base, side = (nm, None) if nm in _CLINICAL_TO_OPENSIM else _split_coord(nm)
            if base not in _CLINICAL_TO_OPENSIM:
                continue
            os_base, sign = _CLINICAL_TO_OPENSIM[base]
            cols.append(os_base if side is None else f"{os_base}_{side}")
            vals.append(sign * trial.angles[nm])
            if os_base == "knee_angle" and side is not None:  # OpenSim converts Rotational coordinates only
                cols.append(f"knee_angle_{side}_beta")
                vals.append(np.radians(sign * trial.angles[nm]))
        if cols:
            t_coord = trial.angles.time
            frame = dict(zip(cols, vals, strict=True))
            if trial.pelvis_position is not None and len(trial.pelvis_position):
                pos = to_lab(_on(trial.pelvis_position.select(PELVIS_POSITION), t_coord), c_inv)
                frame.update({f"pelvis_t{c}": pos[:, k] for k, c in enumerate("xyz")})
            elif trial.grf:
                warnings.warn(
                    f"write_opensim_trial({trial.name!r}): no pelvis position in the trial, so no pelvis_tx/ty/tz: "
                    "in OpenSim the model walks in place while the ground reactions follow the COP",
                    stacklevel=2,
                )
            df = pd.DataFrame(frame, index=t_coord)
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
        loads = external_loads_xml(sides, out["grf"].name)
        out["external_loads"] = d / "external_loads.xml"
        out["external_loads"].write_text(loads, encoding="utf-8")
    if t_coord is not None and t_coord.size > 1:
        t0, t1 = float(t_coord[0]), float(t_coord[-1])
        if "grf" in out:
            t_grf = trial.grf[next(s for s in SIDES if s in trial.grf)].time
            t0, t1 = max(t0, float(t_grf[0])), min(t1, float(t_grf[-1]))
        if t1 > t0:
            setup = id_setup_xml(
                coordinates=out["coordinates"].name,
                external_loads=out["external_loads"].name if "external_loads" in out else None,
                t0=t0,
                t1=t1,
                model_file="Unassigned" if model_file is None else str(model_file),
                lowpass_hz=-1.0 if lowpass_hz is None else float(lowpass_hz),
            )
            out["id_setup"] = d / "id_setup.xml"
            out["id_setup"].write_text(setup, encoding="utf-8")
    for key in ("emg", "activations"):
        ch: Channels | None = getattr(trial, key)
        if ch is not None and len(ch):
            out[key] = write_storage(d / f"{key}.sto", ch.to_frame(), in_degrees=False, name=key)
    return out


_TRC_SCALE = {"m": 1.0, "cm": 100.0, "mm": 1000.0}


def write_trc(path: PathArg, markers: Markers, *, units: str = "m", scale: float | None = None) -> Path:
    """Write markers (lab frame, m) as a TRC in OpenSim's convention (Y up: ``OPENSIM_TO_LAB.T``); NaN → empty cell.

    units: the ``Units`` header (m, cm, mm); values are multiplied by ``scale`` (default: the factor of ``units``;
    another value writes a file whose numbers disagree with its header, e.g. for testing a reader's unit check).
    Reads back with :func:`mmbio.io.opensim.read_trc`. Returns the path written.
    """
    if units not in _TRC_SCALE:
        raise MmbioError(f"write_trc: units must be one of {', '.join(_TRC_SCALE)}, got {units!r}")
    for name in markers.names:
        _check_name(name, "marker name")
    f = _TRC_SCALE[units] if scale is None else float(scale)
    p = Path(path)
    n, k = markers.positions.shape[:2]
    rate = markers.rate if np.isfinite(markers.rate) else 100.0
    os_pos = markers.positions @ OPENSIM_TO_LAB * f  # lab → OpenSim: v_os = Cᵀ v_lab (row vectors)
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{p.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:g}\t{rate:g}\t{n}\t{k}\t{units}\t{rate:g}\t1\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(markers.names),
        "\t\t" + "\t".join(f"{a}{j + 1}" for j in range(k) for a in "XYZ"),
        "",
    ]
    for i in range(n):
        vals = "\t".join("" if np.isnan(v) else f"{v:.6f}" for v in os_pos[i].ravel())
        lines.append(f"{i + 1}\t{markers.time[i]:.5f}\t{vals}")
    p.write_text("\n".join(lines) + "\n")
    return p
