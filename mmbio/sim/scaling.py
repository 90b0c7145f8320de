"""Subject scaling of MyoFullBody from a static trial, as OpenSim's Scale tool does (issue 16 §3).

1. **Scale factors** (``ModelScaler``, measurement-based): per measurement of ``mmbio/models/data/scale_sets.yaml``
   (the measurement set of the ScaleTool setup behind the published Schreiber IK), the mean over its marker pairs of
   the measured distance (averaged over the static frames) over the model distance (generic marker offsets, model at
   ``qpos0``), applied to the listed bodies along the listed body axes (OpenSim body axes = MyoFullBody's body-local
   axes for the mapped bodies). Bodies without an OpenSim counterpart take a group's or their nearest mapped
   ancestor's factors.
2. **Applied through MjSpec** (:func:`scale_model`): child body positions (in the parent frame) by the parent's
   factors; joint positions, sites (muscle path points), geom positions, primitive geom sizes (mean factor), the
   body's meshes (``mesh.scale``, per axis) and the inertial frame by the body's own; masses × subject/model mass
   (OpenSim's ``preserve_mass_distribution``), inertias × that ratio × the mean factor².
3. **Marker placement** (``MarkerPlacer``): marker IK of the static frames on the scaled model with the generic
   offsets scaled with their bodies and the setup's static weights, then every marker's offset set to its measured
   position in its body's frame (averaged over the static frames), as OpenSim moves unfixed markers.

**Unscaled** (the dynamics keep MyoFullBody's): the joint-equality polynomials (knee translations, patella, lumbar
and shoulder-girdle couplings: their coefficients are MyoFullBody's), muscle parameters (optimal fibre and tendon
slack lengths, maximal forces; the compiled ``actuator_lengthrange`` is MyoFullBody's), tendon wrapping side sites,
contact parameters. So a scaled model is for IK; muscle-driven simulation still runs on the unscaled model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import DataFileError, MmbioError
from mmbio.io.yaml_safe import loads_yaml
from mmbio.models.registry import load_model, model_spec, resolve
from mmbio.trial import Markers

__all__ = ["ScaledModel", "scale_factors", "scale_for_subject", "scale_model", "scale_sets"]

PathArg = str | PathLike[str]
_AX = {"X": 0, "Y": 1, "Z": 2}
#: Warn when a trial's marker-pair distances differ from the static trial's by more than this (relative median).
SUBJECT_MISMATCH = 0.08


@cache
def scale_sets() -> dict[str, Any]:
    """``scale_sets.yaml`` (groups, sets → measurements / static_weights) and ``marker_sets.yaml``'s body_map."""
    from mmbio.sim.ik import _data

    meta = loads_yaml(_data("scale_sets.yaml"), "scale_sets.yaml")
    meta["body_map"] = loads_yaml(_data("marker_sets.yaml"), "marker_sets.yaml")["body_map"]
    return meta


@dataclass
class ScaledModel:
    """A subject-scaled model with placed markers.

    model: compiled scaled MjModel. marker_set: set name. markers: names (k,) placed; bodies: (k,) body names;
    offsets: (k, 3) m, placed offsets in the scaled bodies' frames. factors: MyoFullBody body → (3,) scale along its
    body-local x, y, z. measurements: name → factor. mass_kg / height_m: subject (NaN unknown); model_mass_kg: before
    scaling. static_qpos: (nq,) static pose on the scaled model; static_rms_m: marker RMS there before placement (m).
    pair_lengths: "A-B" → measured static distance (m), for the subject check. notes: what was done.
    """

    model: mujoco.MjModel
    marker_set: str
    markers: tuple[str, ...]
    bodies: tuple[str, ...]
    offsets: np.ndarray
    factors: dict[str, np.ndarray]
    measurements: dict[str, float]
    mass_kg: float
    height_m: float
    model_mass_kg: float
    static_qpos: np.ndarray
    static_rms_m: float
    pair_lengths: dict[str, float]
    source: str = "<markers>"
    notes: list[str] = field(default_factory=list)

    def offset_of(self, name: str) -> tuple[str, np.ndarray] | None:
        """(body, (3,) offset) of a placed marker (case-insensitive, after a ``subject:`` prefix), None if absent."""
        key = name.rsplit(":", 1)[-1].strip().lower()
        for n, b, o in zip(self.markers, self.bodies, self.offsets, strict=True):
            if n.lower() == key:
                return b, o
        return None

    def check_subject(self, mk: Markers, mass_kg: float = float("nan"), height_m: float = float("nan")) -> list[str]:
        """Warnings when ``mk`` (a trial) looks like another subject: median relative difference of its
        marker-pair distances (median over frames) from the static's > :data:`SUBJECT_MISMATCH`, or mass > 5 kg /
        height > 3 cm apart."""
        out = []
        names = {n.rsplit(":", 1)[-1].strip().lower(): i for i, n in enumerate(mk.names)}
        rel = []
        for key, d0 in self.pair_lengths.items():
            a, b = key.lower().split("-")
            if a in names and b in names:
                d = np.linalg.norm(mk.positions[:, names[a]] - mk.positions[:, names[b]], axis=1)
                if np.isfinite(d).any():
                    rel.append(float(np.nanmedian(d)) / d0 - 1.0)
        if rel and abs(float(np.median(rel))) > SUBJECT_MISMATCH:
            out.append(
                f"static trial from another subject? the trial's marker distances differ from the static's by "
                f"{100 * float(np.median(rel)):+.0f}% (median of {len(rel)} segment pairs)"
            )
        if np.isfinite(mass_kg) and np.isfinite(self.mass_kg) and abs(mass_kg - self.mass_kg) > 5.0:
            out.append(f"static trial from another subject? body mass {self.mass_kg:g} kg (static) vs {mass_kg:g} kg")
        if np.isfinite(height_m) and np.isfinite(self.height_m) and abs(height_m - self.height_m) > 0.03:
            out.append(f"static trial from another subject? height {self.height_m:g} m (static) vs {height_m:g} m")
        return out


def _body_scales(m: mujoco.MjModel, seg: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per MyoFullBody body (3,) factors from OpenSim-segment factors ``seg`` (groups, then nearest ancestor)."""
    meta = scale_sets()
    bmap = meta["body_map"]
    direct: dict[str, np.ndarray] = {bmap[k]: v for k, v in seg.items() if k in bmap}
    for os_body, extra in meta.get("groups", {}).items():
        if os_body in seg:
            for b in extra:
                direct.setdefault(b, seg[os_body])
    out: dict[str, np.ndarray] = {}
    for b in range(m.nbody):
        x = b
        while x > 0 and m.body(x).name not in direct:
            x = int(m.body_parentid[x])
        out[m.body(b).name] = direct[m.body(x).name].copy() if x > 0 else np.ones(3)
    return out


def scale_factors(
    static: Markers, marker_set: str | None = None, *, model: str = "myofullbody", variant: str | None = None
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, float]]:
    """Measurement factors (name → ratio), per-body (3,) factors of MyoFullBody and measured pair distances (m).

    static: markers of the static trial (lab frame, m; any number of frames). Pairs with a marker missing or never
    seen are skipped; a measurement with no pair left keeps factor 1 for its axes (noted by the caller).
    """
    from mmbio.sim.ik import MarkerIK, match_marker_set

    ms, idx = match_marker_set(static.names, "<static>", marker_set)
    meas = scale_sets()["sets"].get(ms.name)
    if meas is None:
        raise MmbioError(f"no measurement set for marker set {ms.name!r} in scale_sets.yaml")
    m = load_model(*resolve(model, variant)).model
    bodies = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in ms.bodies])
    ik = MarkerIK(m, bodies, ms.offsets, locked=ms.locked)
    p0 = ik.positions(ik.constrain(m.qpos0.copy()))
    pos = {n.lower(): i for i, n in enumerate(ms.markers)}
    ratios: dict[str, float] = {}
    lengths: dict[str, float] = {}
    seg: dict[str, np.ndarray] = {}
    for name, spec in meas["measurements"].items():
        rs = []
        for a, b in spec["pairs"]:
            ia, ib = idx[pos[a.lower()]], idx[pos[b.lower()]]
            if ia < 0 or ib < 0:
                continue
            d = np.linalg.norm(static.positions[:, ia] - static.positions[:, ib], axis=1)
            if not np.isfinite(d).any():
                continue
            dm = float(np.linalg.norm(p0[pos[a.lower()]] - p0[pos[b.lower()]]))
            lengths[f"{a}-{b}"] = float(np.nanmean(d))
            rs.append(float(np.nanmean(d)) / dm)
        if not rs:
            continue
        ratios[name] = float(np.mean(rs))
        for body, axes in spec["bodies"].items():
            f = seg.setdefault(body, np.ones(3))
            for ax in str(axes):
                f[_AX[ax]] = ratios[name]
    return ratios, _body_scales(m, seg), lengths


def scale_model(
    factors: dict[str, np.ndarray],
    mass_kg: float | None = None,
    *,
    model: str = "myofullbody",
    variant: str | None = None,
) -> mujoco.MjModel:
    """MyoFullBody (``model``/``variant``) scaled per body through MjSpec (module docstring, item 2); compiled.

    factors: body name → (3,) factors along its local axes (absent: 1). mass_kg: subject mass (None: unchanged).
    """
    name, variant = resolve(model, variant)
    spec = model_spec(name, variant)
    m0 = load_model(name, variant).model
    ratio = 1.0 if mass_kg is None else float(mass_kg) / float(np.sum(m0.body_mass))
    one = np.ones(3)
    mesh_done: set[str] = set()
    meshes = {ms.name: ms for ms in spec.meshes}
    for body in spec.bodies:
        if body.name == "world":
            continue
        s = np.asarray(factors.get(body.name, one), dtype=float)
        parent = body.parent
        sp = np.asarray(factors.get(parent.name, one), dtype=float) if parent is not None else one
        body.pos = np.asarray(body.pos) * sp
        body.ipos = np.asarray(body.ipos) * s
        for j in body.joints:
            j.pos = np.asarray(j.pos) * s
        for st in body.sites:
            st.pos = np.asarray(st.pos) * s
            st.size = np.asarray(st.size) * float(np.mean(s))
        for g in body.geoms:
            g.pos = np.asarray(g.pos) * s
            if g.type == mujoco.mjtGeom.mjGEOM_MESH:
                mname = g.meshname
                if mname in meshes and mname not in mesh_done:
                    meshes[mname].scale = np.asarray(meshes[mname].scale) * s
                    mesh_done.add(mname)
            else:
                g.size = np.asarray(g.size) * float(np.mean(s))
    m = spec.compile()
    # masses and inertias set on the compiled model (some bodies take theirs from geoms, which scaled with them)
    for b in range(1, m.nbody):
        s = np.asarray(factors.get(m.body(b).name, one), dtype=float)
        m.body_mass[b] = m0.body_mass[b] * ratio
        m.body_inertia[b] = m0.body_inertia[b] * ratio * float(np.mean(s)) ** 2
        m.body_ipos[b] = m0.body_ipos[b] * s
    mujoco.mj_setConst(m, mujoco.MjData(m))
    return m


def _static_markers(static: Markers | PathArg) -> tuple[Markers, float, float, str]:
    """(markers, mass kg, height m, source) of a static trial (.c3d: SUBJECT values; .trc: unknown)."""
    if isinstance(static, Markers):
        return static, float("nan"), float("nan"), "<markers>"
    p = Path(static)
    if p.suffix.lower() == ".c3d":
        from mmbio.io.c3d import read_c3d

        tr = read_c3d(p)
        if tr.markers is None or not tr.markers.names:
            raise DataFileError(p, "the static C3D has no marker trajectories (POINT data)")
        return tr.markers, float(tr.subject.mass_kg), float(tr.subject.height_m), str(p)
    from mmbio.sim.ik import read_markers

    return read_markers(p), float("nan"), float("nan"), str(p)


def scale_for_subject(
    static: Markers | PathArg,
    marker_set: str | None = None,
    mass_kg: float | None = None,
    *,
    model: str = "myofullbody",
    variant: str | None = None,
    place_markers: bool = True,
) -> ScaledModel:
    """Scale MyoFullBody to the subject of a static trial and place its markers (module docstring).

    static: :class:`Markers` or a .c3d/.trc path (one or more frames). mass_kg: subject mass (default: the C3D's
    SUBJECT mass; unknown: masses unscaled, noted). place_markers: False keeps the generic offsets scaled with their
    bodies (no marker placement).
    """
    from mmbio.sim.ik import _LAB_TO_MJ, MarkerIK, match_marker_set

    mk, c3d_mass, height, src = _static_markers(static)
    ms, idx = match_marker_set(mk.names, src, marker_set)
    notes: list[str] = []
    ratios, factors, lengths = scale_factors(mk, ms.name, model=model, variant=variant)
    meas = scale_sets()["sets"][ms.name]
    skipped = [n for n in meas["measurements"] if n not in ratios]
    if skipped:
        notes.append(f"measurements without their markers (factor 1 kept): {', '.join(skipped)}")
    mass = float(mass_kg) if mass_kg is not None else c3d_mass
    if not np.isfinite(mass):
        notes.append("subject mass unknown: segment masses not scaled (pass mass_kg)")
    name, variant = resolve(model, variant)
    m0 = load_model(name, variant).model
    m = scale_model(factors, mass if np.isfinite(mass) else None, model=name, variant=variant)
    have = idx >= 0
    names = [n for n, h in zip(ms.markers, have, strict=True) if h]
    bnames = [b for b, h in zip(ms.bodies, have, strict=True) if h]
    bodies = np.array([mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in bnames])
    offsets = ms.offsets[have] * np.array([factors[b] for b in bnames])
    sw = meas.get("static_weights", {})
    weights = np.array([float(sw.get(n, 1.0)) for n in names])
    pos = mk.positions[:, idx[have]] @ _LAB_TO_MJ.T  # (T, k, 3)
    vis_all = np.isfinite(pos).all(axis=2)
    target = np.array(
        [np.nanmean(pos[:, j], axis=0) if vis_all[:, j].any() else np.zeros(3) for j in range(len(names))]
    )
    vis = vis_all.any(axis=0)
    use = vis & (weights > 0)
    ik = MarkerIK(m, bodies, offsets, np.where(use, weights, 0.0), locked=ms.locked)
    pelvis = bodies == mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "pelvis")
    q = ik.initial_pose(target, use, pelvis & use)
    q, _ = ik.solve(q, target, use, max_iter=300)
    err = np.linalg.norm(ik.positions(q) - target, axis=1)
    rms = float(np.sqrt(np.mean(err[vis] ** 2)))
    if place_markers:
        d = ik.data
        for j in np.flatnonzero(vis):
            b = bodies[j]
            offsets[j] = d.xmat[b].reshape(3, 3).T @ (target[j] - d.xpos[b])
        notes.append(
            f"markers placed on the static pose ({mk.time.size} frame(s) averaged; marker RMS before placement "
            f"{100 * rms:.2f} cm)"
        )
    never = [n for n, v in zip(names, vis, strict=True) if not v]
    if never:
        notes.append(f"markers not seen in the static trial (generic offsets, scaled): {', '.join(never)}")
    seg = ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
    notes.append(f"scaled to the static trial {Path(src).name} (measurement factors: {seg})")
    return ScaledModel(
        model=m,
        marker_set=ms.name,
        markers=tuple(names),
        bodies=tuple(bnames),
        offsets=offsets,
        factors=factors,
        measurements=ratios,
        mass_kg=mass,
        height_m=height,
        model_mass_kg=float(np.sum(m0.body_mass)),
        static_qpos=q,
        static_rms_m=rms,
        pair_lengths=lengths,
        source=src,
        notes=notes,
    )
