"""The gait-trial data model: one container for a measured or a simulated walking/running trial.

Conventions (every reader converts to these, every analysis assumes them):

* SI units internally, except joint angles, which are stored in **degrees** (the unit of every gait
  report); each channel carries its unit string.
* Lab frame: right-handed, **Z up, x forward** (direction of progression), y to the subject's left.
  MuJoCo is Z-up already; OpenSim and most labs are Y-up and are converted by the readers in
  :mod:`mmbio.io` (see :mod:`mmbio.io.axes`).
* Ground reaction force (GRF) is the force the ground exerts on the foot (vertical positive while
  loaded), in N; centre of pressure (COP) in m, NaN while the foot is unloaded; free moment about
  the vertical axis in N·m.
* Clinical joint-angle names and signs are listed in :data:`CLINICAL_ANGLES`; sides are ``_r``/``_l``.
* EMG and activation channels are named ``<muscle>_<side>`` (``tibialis_anterior_r``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from mmbio.errors import ChannelError, MmbioError

Side = Literal["r", "l"]
SIDES: tuple[Side, Side] = ("r", "l")
#: ``'r'``/``'l'`` → the words used as keys of metrics and reports.
SIDE_WORD: dict[str, str] = {"r": "right", "l": "left"}

#: Clinical joint angles: name (without side suffix) → meaning of a positive value. Degrees.
CLINICAL_ANGLES: dict[str, str] = {
    "pelvis_tilt": "anterior pelvic tilt +",
    "pelvis_obliquity": "right side of the pelvis up + (left-side clinical obliquity is its negative)",
    "pelvis_rotation": "right side of the pelvis forward + (left-side clinical rotation is its negative)",
    "hip_flexion": "flexion +",
    "hip_adduction": "adduction +",
    "hip_rotation": "internal rotation +",
    "knee_flexion": "flexion +",
    "ankle_dorsiflexion": "dorsiflexion +",
    "subtalar_inversion": "inversion +",
    "mtp_extension": "toe extension (dorsiflexion) +",
    "lumbar_extension": "trunk extension +",
    "lumbar_bending": "bending to the left +",
    "lumbar_rotation": "trunk rotation to the left +",
}

#: Channel names of :attr:`Trial.pelvis_position` (lab frame: forward, left, up; m).
PELVIS_POSITION: tuple[str, str, str] = ("pelvis_x", "pelvis_y", "pelvis_z")

#: Angles that belong to the whole body, not to one side.
BODY_ANGLES: frozenset[str] = frozenset(
    {"pelvis_tilt", "pelvis_obliquity", "pelvis_rotation", "lumbar_extension", "lumbar_bending", "lumbar_rotation"}
)


@dataclass(frozen=True)
class Quantity:
    """A scalar with its units, e.g. ``Quantity(1.13, "BW")``."""

    value: float
    units: str

    def __float__(self) -> float:
        return float(self.value)

    def __format__(self, spec: str) -> str:
        return f"{format(self.value, spec or '.4g')} {self.units}".rstrip()

    def __str__(self) -> str:
        return format(self, "")

    def to_dict(self) -> dict[str, float | str | None]:
        v = float(self.value)
        return {"value": v if np.isfinite(v) else None, "units": self.units}


def side_of(name: str) -> Side | None:
    """``'r'``/``'l'`` from a ``_r``/``_l`` suffix, else ``None``."""
    if name.endswith("_r"):
        return "r"
    if name.endswith("_l"):
        return "l"
    return None


def _as_time(time: np.ndarray | Iterable[float], what: str) -> np.ndarray:
    t = np.asarray(time, dtype=float)
    if t.ndim != 1:
        raise MmbioError(f"{what}: time must be 1-D, got shape {t.shape}")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise MmbioError(f"{what}: time must be strictly increasing")
    return t


@dataclass
class Channels:
    """Named scalar channels on one time base.

    time: (n,) s. values: (n, k). names: k channel names. units: k unit strings.
    """

    time: np.ndarray
    values: np.ndarray
    names: list[str]
    units: list[str]

    def __post_init__(self) -> None:
        self.time = _as_time(self.time, "Channels")
        self.values = np.asarray(self.values, dtype=float)
        if self.values.ndim == 1:
            self.values = self.values[:, None]
        self.names = list(self.names)
        if isinstance(self.units, str):
            self.units = [self.units] * len(self.names)
        self.units = list(self.units)
        n, k = self.values.shape
        if n != self.time.size or k != len(self.names) or k != len(self.units):
            raise MmbioError(
                f"Channels: values {self.values.shape} do not match {self.time.size} samples, "
                f"{len(self.names)} names, {len(self.units)} units"
            )
        if len(set(self.names)) != len(self.names):
            raise MmbioError(f"Channels: duplicate channel names in {self.names}")

    @property
    def rate(self) -> float:
        """Sampling rate in Hz (from the median time step)."""
        return float(1.0 / np.median(np.diff(self.time))) if self.time.size > 1 else float("nan")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> np.ndarray:
        """The (n,) samples of one channel."""
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise ChannelError(f"no channel {name!r}; have {', '.join(self.names)}") from None

    def unit(self, name: str) -> str:
        self[name]  # raises ChannelError when absent
        return self.units[self.names.index(name)]

    def select(self, names: Iterable[str]) -> Channels:
        names = list(names)
        idx = [self.names.index(n) for n in names if n in self.names]
        return Channels(self.time, self.values[:, idx], [self.names[i] for i in idx], [self.units[i] for i in idx])

    def window(self, t0: float, t1: float) -> Channels:
        m = (self.time >= t0) & (self.time <= t1)
        return Channels(self.time[m], self.values[m], self.names, self.units)

    def to_frame(self) -> pd.DataFrame:
        """DataFrame indexed by ``time_s``; units in ``df.attrs['units']``."""
        df = pd.DataFrame(self.values, index=pd.Index(self.time, name="time_s"), columns=self.names)
        df.attrs["units"] = dict(zip(self.names, self.units, strict=True))
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame, units: Mapping[str, str] | str | None = None) -> Channels:
        """Inverse of :meth:`to_frame`; units from ``units`` or ``df.attrs['units']`` (else ``''``)."""
        names = [str(c) for c in df.columns]
        if isinstance(units, str):
            u = [units] * len(names)
        else:
            umap = dict(units or df.attrs.get("units", {}))
            u = [umap.get(n, "") for n in names]
        return cls(df.index.to_numpy(dtype=float), df.to_numpy(dtype=float), names, u)


@dataclass
class Markers:
    """3-D marker trajectories. time: (n,) s; positions: (n, m, 3) m in the lab frame; NaN = gap."""

    time: np.ndarray
    positions: np.ndarray
    names: list[str]

    def __post_init__(self) -> None:
        self.time = _as_time(self.time, "Markers")
        self.positions = np.asarray(self.positions, dtype=float)
        self.names = list(self.names)
        if self.positions.shape != (self.time.size, len(self.names), 3):
            raise MmbioError(f"Markers: positions {self.positions.shape} != ({self.time.size}, {len(self.names)}, 3)")

    @property
    def rate(self) -> float:
        return float(1.0 / np.median(np.diff(self.time))) if self.time.size > 1 else float("nan")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> np.ndarray:
        """(n, 3) positions of one marker in m."""
        try:
            return self.positions[:, self.names.index(name)]
        except ValueError:
            raise ChannelError(f"no marker {name!r}") from None

    def to_frame(self) -> pd.DataFrame:
        cols = [f"{n}_{ax}" for n in self.names for ax in "xyz"]
        df = pd.DataFrame(
            self.positions.reshape(self.time.size, -1), index=pd.Index(self.time, name="time_s"), columns=cols
        )
        df.attrs["units"] = dict.fromkeys(cols, "m")
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Markers:
        cols = [str(c) for c in df.columns]
        if len(cols) % 3 or any(not c.endswith(f"_{ax}") for c, ax in zip(cols, "xyz" * (len(cols) // 3), strict=True)):
            raise MmbioError("Markers.from_frame: columns must be NAME_x, NAME_y, NAME_z triplets")
        names = [c[:-2] for c in cols[::3]]
        pos = df.to_numpy(dtype=float).reshape(len(df), len(names), 3)
        return cls(df.index.to_numpy(dtype=float), pos, names)


@dataclass
class GroundReaction:
    """Ground reaction on one foot (or one plate/belt).

    time: (n,) s. force: (n, 3) N, ground on foot, lab frame (x forward, y left, z up).
    cop: (n, 3) m, NaN where unloaded. free_moment: (n,) N·m about the vertical axis (zeros if unknown).
    """

    time: np.ndarray
    force: np.ndarray
    cop: np.ndarray
    free_moment: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.time = _as_time(self.time, "GroundReaction")
        self.force = np.asarray(self.force, dtype=float)
        self.cop = np.asarray(self.cop, dtype=float)
        n = self.time.size
        if self.force.shape != (n, 3) or self.cop.shape != (n, 3):
            raise MmbioError(f"GroundReaction: force {self.force.shape} / cop {self.cop.shape} must be ({n}, 3)")
        self.free_moment = np.zeros(n) if self.free_moment is None else np.asarray(self.free_moment, dtype=float)
        if self.free_moment.shape != (n,):
            raise MmbioError(f"GroundReaction: free_moment {self.free_moment.shape} must be ({n},)")

    @property
    def vertical(self) -> np.ndarray:
        """(n,) vertical force in N."""
        return self.force[:, 2]

    @property
    def rate(self) -> float:
        return float(1.0 / np.median(np.diff(self.time))) if self.time.size > 1 else float("nan")

    _COLS = ("force_x", "force_y", "force_z", "cop_x", "cop_y", "cop_z", "free_moment")
    _UNITS = ("N", "N", "N", "m", "m", "m", "N*m")

    def to_frame(self, suffix: str = "") -> pd.DataFrame:
        data = np.column_stack([self.force, self.cop, self.free_moment])
        cols = [c + suffix for c in self._COLS]
        df = pd.DataFrame(data, index=pd.Index(self.time, name="time_s"), columns=cols)
        df.attrs["units"] = dict(zip(cols, self._UNITS, strict=True))
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame, suffix: str = "") -> GroundReaction:
        try:
            d = df[[c + suffix for c in cls._COLS]].to_numpy(dtype=float)
        except KeyError as e:
            raise MmbioError(f"GroundReaction.from_frame: missing columns {e}") from None
        return cls(df.index.to_numpy(dtype=float), d[:, 0:3], d[:, 3:6], d[:, 6])


@dataclass
class Events:
    """Gait events per side, times in s (sorted). ``source`` says where they came from
    (``'c3d'``, ``'grf'``, ``'contact'``, ``'file'``, ``'none'``)."""

    heel_strike: dict[str, np.ndarray] = field(default_factory=lambda: {"r": np.empty(0), "l": np.empty(0)})
    toe_off: dict[str, np.ndarray] = field(default_factory=lambda: {"r": np.empty(0), "l": np.empty(0)})
    source: str = "none"

    def __post_init__(self) -> None:
        for d in (self.heel_strike, self.toe_off):
            for s in SIDES:
                d[s] = np.sort(np.asarray(d.get(s, np.empty(0)), dtype=float).ravel())

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: columns ``time_s, side, event`` (``heel_strike``/``toe_off``)."""
        rows = [
            (t, s, kind)
            for kind, d in (("heel_strike", self.heel_strike), ("toe_off", self.toe_off))
            for s in SIDES
            for t in d[s]
        ]
        df = pd.DataFrame(rows, columns=["time_s", "side", "event"]).sort_values("time_s", kind="stable")
        df.attrs["source"] = self.source
        return df.reset_index(drop=True)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str | None = None) -> Events:
        hs = {s: df.loc[(df.side == s) & (df.event == "heel_strike"), "time_s"].to_numpy() for s in SIDES}
        to = {s: df.loc[(df.side == s) & (df.event == "toe_off"), "time_s"].to_numpy() for s in SIDES}
        return cls(hs, to, source or df.attrs.get("source", "file"))

    def __bool__(self) -> bool:
        return any(v.size for v in (*self.heel_strike.values(), *self.toe_off.values()))


@dataclass
class Subject:
    """Subject metadata. mass in kg, height in m, speed in m/s (NaN when unknown)."""

    name: str = ""
    mass_kg: float = float("nan")
    height_m: float = float("nan")
    speed_m_s: float = float("nan")
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def weight_n(self) -> float:
        """Body weight in N (mass × 9.81)."""
        return float(self.mass_kg) * GRAVITY


GRAVITY = 9.81  # m/s², the value gait labs use to express forces in body weights


@dataclass
class Trial:
    """One gait trial, measured or simulated. Each signal group has its own time base.

    angles: clinical joint angles in deg (see :data:`CLINICAL_ANGLES`).
    grf: per foot, keys ``'r'``/``'l'`` (:class:`GroundReaction`).
    plates: raw per-plate (or per-belt) reactions before assignment to feet, in the same frame.
    emg: EMG channels (V for raw, ``'a.u.'``/``'fraction of max'`` for envelopes), ``<muscle>_<side>``.
    activations: simulated muscle activations in [0, 1] (unit ``'1'``), ``<muscle>_<side>``.
    pelvis_position: the pelvis origin (m) in the lab frame, channels :data:`PELVIS_POSITION` (a simulation's
    free root; OpenSim's ``pelvis_tx/ty/tz``; the Rajagopal pelvis origin is MyoFullBody's root). None when unknown.
    """

    name: str = ""
    source: str = ""
    kind: Literal["measured", "simulated"] = "measured"
    subject: Subject = field(default_factory=Subject)
    angles: Channels | None = None
    grf: dict[str, GroundReaction] = field(default_factory=dict)
    plates: list[GroundReaction] = field(default_factory=list)
    emg: Channels | None = None
    activations: Channels | None = None
    markers: Markers | None = None
    events: Events = field(default_factory=Events)
    notes: list[str] = field(default_factory=list)
    pelvis_position: Channels | None = None

    def replace(self, **changes: object) -> Trial:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """Every signal group as a DataFrame (units in ``attrs['units']``), plus ``events`` and ``subject``.

        Keys: ``angles``, ``emg``, ``activations``, ``markers``, ``pelvis_position``, ``grf`` (columns ``force_x_r`` …
        ``free_moment_l``, both feet must share a time base), ``events``, ``subject`` (one row).
        """
        out: dict[str, pd.DataFrame] = {}
        for key in ("angles", "emg", "activations", "markers", "pelvis_position"):
            g = getattr(self, key)
            if g is not None:
                out[key] = g.to_frame()
        if self.grf:
            frames = [self.grf[s].to_frame(f"_{s}") for s in SIDES if s in self.grf]
            if len({len(f) for f in frames}) == 1 and all(np.array_equal(frames[0].index, f.index) for f in frames):
                df = pd.concat(frames, axis=1)
                df.attrs["units"] = {k: v for f in frames for k, v in f.attrs["units"].items()}
                out["grf"] = df
            else:
                for s, f in zip([s for s in SIDES if s in self.grf], frames, strict=True):
                    out[f"grf_{s}"] = f
        out["events"] = self.events.to_frame()
        sub = self.subject
        out["subject"] = pd.DataFrame(
            [{"name": sub.name, "mass_kg": sub.mass_kg, "height_m": sub.height_m, "speed_m_s": sub.speed_m_s}]
        )
        out["subject"].attrs.update({"trial": self.name, "source": self.source, "kind": self.kind})
        return out

    @classmethod
    def from_pandas(cls, frames: Mapping[str, pd.DataFrame], **fields: object) -> Trial:
        """Inverse of :meth:`to_pandas`; extra keyword arguments set Trial fields."""
        kw: dict[str, object] = {}
        for key in ("angles", "emg", "activations", "pelvis_position"):
            if key in frames:
                kw[key] = Channels.from_frame(frames[key])
        if "markers" in frames:
            kw["markers"] = Markers.from_frame(frames["markers"])
        grf: dict[str, GroundReaction] = {}
        for s in SIDES:
            if "grf" in frames and f"force_x_{s}" in frames["grf"].columns:
                grf[s] = GroundReaction.from_frame(frames["grf"], f"_{s}")
            elif f"grf_{s}" in frames:
                grf[s] = GroundReaction.from_frame(frames[f"grf_{s}"], f"_{s}")
        kw["grf"] = grf
        if "events" in frames:
            kw["events"] = Events.from_frame(frames["events"])
        if "subject" in frames and len(frames["subject"]):
            row = frames["subject"].iloc[0]
            kw["subject"] = Subject(
                name=str(row.get("name", "")),
                mass_kg=float(row.get("mass_kg", np.nan)),
                height_m=float(row.get("height_m", np.nan)),
                speed_m_s=float(row.get("speed_m_s", np.nan)),
            )
            for k in ("name", "source", "kind"):
                attr = "name" if k == "name" else k
                if k == "name" and "trial" in frames["subject"].attrs:
                    kw["name"] = frames["subject"].attrs["trial"]
                elif attr in frames["subject"].attrs and k != "name":
                    kw[attr] = frames["subject"].attrs[attr]
        kw.update(fields)
        return cls(**kw)  # type: ignore[arg-type]

    def summary(self) -> str:
        """A few human-readable lines: what the trial holds."""
        s = self.subject
        lines = [f"Trial {self.name or '(unnamed)'} [{self.kind}] from {self.source or '?'}"]
        lines.append(f"  subject: mass {s.mass_kg:.1f} kg, height {s.height_m:.2f} m, speed {s.speed_m_s:.2f} m/s")
        for key in ("angles", "emg", "activations"):
            g = getattr(self, key)
            if g is not None:
                lines.append(f"  {key}: {len(g)} channels at {g.rate:.0f} Hz, {g.time[0]:.3f}-{g.time[-1]:.3f} s")
        if self.markers is not None:
            lines.append(f"  markers: {len(self.markers.names)} at {self.markers.rate:.0f} Hz")
        for side, g in self.grf.items():
            lines.append(
                f"  grf_{side}: {g.time.size} samples at {g.rate:.0f} Hz, peak Fz {np.nanmax(g.vertical):.0f} N"
            )
        ev = self.events
        hs, to = ev.heel_strike, ev.toe_off
        lines.append(
            f"  events ({ev.source}): HS r {hs['r'].size} l {hs['l'].size}, TO r {to['r'].size} l {to['l'].size}"
        )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
