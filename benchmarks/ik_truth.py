"""Marker IK against published OpenSim IK (issue 16 "Truth"): Rajagopal walk and the 9 Schreiber subjects.

* Rajagopal walk: ``mmbio.sim.ik.marker_ik`` on ``markers_walk.trc`` (whole trial, cluster markers registered)
  against ``coordinates.sto`` (the published IK, 0.45-1.80 s) on the same frames.
* Schreiber & Moissenet 2019: every ``<id>/<trial>.c3d`` with an ``opensim_ik/<trial>_ik.mot`` (OpenSim IK of a
  scaled, marker-placed model, ≈ 0.5 s around one stance) on its frames; marker RMS beside OpenSim's own
  (``_ikMarkerErrors.sto``).

Per coordinate: Pearson r and RMSE (deg) of mmbio − published, and the mean difference (bias). mmbio's model is
not scaled (issue 16 §3), so biases are expected where the subject's segments or marker placement differ.

``--scale``: each Schreiber subject's model scaled to its ``<id>_ST.c3d`` with markers placed there
(:func:`mmbio.sim.scaling.scale_for_subject`, as OpenSim's Scale tool); the Rajagopal walk has no static trial and
stays unscaled.

Usage: ``python benchmarks/ik_truth.py [../shared/reference] [--scale]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmbio.io.opensim import _bare_name, read_storage  # noqa: E402
from mmbio.sim.ik import marker_ik, opensim_coordinates  # noqa: E402

COORDS = ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion_r", "knee_angle_r", "ankle_angle_r",
          "hip_flexion_l", "knee_angle_l", "ankle_angle_l")  # fmt: skip


def compare(
    trial: Path, mot: Path, scaled: object = None
) -> tuple[dict[str, tuple[float, float, float]], float, float]:
    """Per coordinate (r, RMSE deg, bias deg) on the published frames, mmbio marker RMS (m) there, frames/s."""
    res = marker_ik(trial, scaled=scaled)
    df = opensim_coordinates(res)
    st = read_storage(mot)
    deg = st.in_degrees
    ref = {_bare_name(c): st.data[:, i] for i, c in enumerate(st.columns)}
    t = ref["time"]
    sel = ((df["time"] >= t[0] - 1e-9) & (df["time"] <= t[-1] + 1e-9)).to_numpy()
    out = {}
    for c in COORDS:
        x = df[c].to_numpy()[sel]
        y = np.interp(df["time"].to_numpy()[sel], t, ref[c])
        y = y if deg else np.degrees(y)
        out[c] = (float(np.corrcoef(x, y)[0, 1]), float(np.sqrt(np.mean((x - y) ** 2))), float(np.mean(x - y)))
    rms = float(np.sqrt(np.nanmean(res.marker_error_m[sel] ** 2)))
    return out, rms, res.frames_per_s


def row(name: str, cmp: dict[str, tuple[float, float, float]], extra: str) -> str:
    return f"| {name} | " + " | ".join(f"{r:.2f} / {e:.1f} ({b:+.1f})" for r, e, b in cmp.values()) + f" | {extra} |"


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--scale"]
    scale = "--scale" in sys.argv[1:]
    ref = Path(args[0]) if args else ROOT.parent / "shared" / "reference"
    scaled_models: dict[str, object] = {}
    head = "| trial | " + " | ".join(COORDS) + " | marker RMS cm (OpenSim) |"
    print(
        f"r / RMSE deg (bias deg) of mmbio IK against the published OpenSim IK ({'scaled' if scale else 'unscaled'})\n"
    )
    print(head)
    print("|" + "---|" * (len(COORDS) + 2))
    raj = ref / "rajagopal2016_walk"
    cmp, rms, _ = compare(raj / "markers_walk.trc", raj / "coordinates.sto")
    print(row("Rajagopal walk", cmp, f"{100 * rms:.2f}"))
    all_cmp, rms_all, os_all = [], [], []
    for mot in sorted((ref / "schreiber2019").glob("*/opensim_ik/*_ik.mot")):
        trial = mot.parent.parent / mot.name.replace("_ik.mot", ".c3d")
        sm = None
        if scale:
            from mmbio.sim.scaling import scale_for_subject

            sid = trial.parent.name
            if sid not in scaled_models:
                scaled_models[sid] = scale_for_subject(trial.parent / f"{sid}_ST.c3d")
            sm = scaled_models[sid]
        cmp, rms, _ = compare(trial, mot, sm)
        err = read_storage(mot.with_name(mot.name.replace("_ik.mot", "_ikMarkerErrors.sto")))
        os_rms = float(np.sqrt(np.mean(err.data[:, list(err.columns).index("marker_error_RMS")] ** 2)))
        all_cmp.append(cmp)
        rms_all.append(rms)
        os_all.append(os_rms)
        print(row(trial.stem, cmp, f"{100 * rms:.2f} ({100 * os_rms:.2f})"))
    if all_cmp:
        mean = {c: tuple(float(np.mean([x[c][k] for x in all_cmp])) for k in range(3)) for c in COORDS}
        print(
            row(
                f"Schreiber mean of {len(all_cmp)}", mean, f"{100 * np.mean(rms_all):.2f} ({100 * np.mean(os_all):.2f})"
            )
        )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
