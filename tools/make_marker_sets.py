"""Build the marker-set tables ``mmbio/models/data/markers_*.csv`` from OpenSim marker sets (run once, by hand).

Each marker's MyoFullBody body and offset is derived from an OpenSim Rajagopal-family marker (body + location in
that body's frame) **body to body** through :data:`BODY_MAP` (``mmbio/models/data/marker_sets.yaml``): the marker
is placed in the OpenSim model at its default pose (every coordinate 0), its position relative to the pelvis is
rotated into MuJoCo axes (``OPENSIM_TO_MUJOCO``) and put at the same place relative to MyoFullBody's pelvis at
``qpos0``, then expressed in the mapped MuJoCo body's frame. MyoFullBody's body frames are OpenSim's rotated by
``OPENSIM_TO_MUJOCO`` (printed here: the legs, pelvis, torso and arms within 0.2°), and its leg body origins agree with
Rajagopal's within 1 mm, so for the legs this is the OpenSim offset itself; the torso and arm origins differ by
2-3 cm (another upper-body skeleton) and the neutral-pose placement keeps those markers where OpenSim has them.

OpenSim default-pose body frames come from ``/work/venv-osim`` (opensim 4.6) on the Schreiber-Moissenet model,
whose bodies are the unscaled Rajagopal 2015 ones. Usage (repository root, main venv)::

    python tools/make_marker_sets.py [--osim-python /work/venv-osim/bin/python]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmbio.io.yaml_safe import load_yaml  # noqa: E402
from mmbio.models.anatomy import coupled_qpos  # noqa: E402
from mmbio.models.registry import load_model  # noqa: E402
from mmbio.sim.frames import OPENSIM_TO_MUJOCO as C  # noqa: E402

DATA = ROOT / "mmbio" / "models" / "data"
SCHREIBER_OSIM = ROOT.parent / "shared/reference/schreiber2019/Rajagopal2015_SchreiberMoissenet2019.osim"

#: Rajagopal2015.osim (opensim-org/opensim-models, commit 11a6203a72121626851d76f214c23c85f30705c7), MarkerSet:
#: name → (body, location in the body frame, m), verbatim; only the markers the TRC mapping below uses.
RAJAGOPAL2015 = {
    "RACR": ("torso", (-0.003, 0.425, 0.13)), "LACR": ("torso", (-0.003, 0.425, -0.13)),
    "CLAV": ("torso", (0.04, 0.38, 0.017)),
    "RUA2": ("humerus_r", (0.0, -0.2, 0.02)), "LUA2": ("humerus_l", (0.0, -0.2, -0.02)),
    "RLEL": ("humerus_r", (0.015, -0.28, 0.04)), "LLEL": ("humerus_l", (0.015, -0.28, -0.04)),
    "RFAsuperior": ("ulna_r", (0.00460453, -0.0800579, 0.0453196)),
    "LFAsuperior": ("ulna_l", (0.00460453, -0.0800579, -0.0453196)),
    "RFAradius": ("radius_r", (0.0005, -0.225, 0.05)), "LFAradius": ("radius_l", (0.0005, -0.225, -0.05)),
    "RASI": ("pelvis", (0.00953047, 0.0180816, 0.128464)), "LASI": ("pelvis", (0.00953047, 0.0180816, -0.128464)),
    "RPSI": ("pelvis", (-0.155, 0.035, 0.045)), "LPSI": ("pelvis", (-0.155, 0.035, -0.045)),
    "RTH1": ("femur_r", (0.018, -0.15, 0.064)), "RTH2": ("femur_r", (0.08, -0.23, 0.0047)),
    "RTH3": ("femur_r", (0.01, -0.3, 0.06)), "RLFC": ("femur_r", (0.0, -0.404, 0.05)),
    "LTH1": ("femur_l", (0.018, -0.15, -0.064)), "LTH2": ("femur_l", (0.08, -0.23, -0.0047)),
    "LTH3": ("femur_l", (0.01, -0.3, -0.06)), "LLFC": ("femur_l", (0.0, -0.404, -0.05)),
    "RTB1": ("tibia_r", (-0.00166178, -0.156488, 0.0492394)), "RTB2": ("tibia_r", (0.0369643, -0.230107, -0.00391699)),
    "RTB3": ("tibia_r", (0.0113793, -0.295236, 0.0553541)), "RLMAL": ("tibia_r", (-0.005, -0.3888, 0.053)),
    "LTB1": ("tibia_l", (-0.00166178, -0.156488, -0.0492394)), "LTB2": ("tibia_l", (0.0369643, -0.230107, 0.00391699)),
    "LTB3": ("tibia_l", (0.0113793, -0.295236, -0.0553541)), "LLMAL": ("tibia_l", (-0.005, -0.3888, -0.053)),
    "RCAL": ("calcn_r", (-0.025, 0.02, -0.005)), "RTOE": ("calcn_r", (0.205, 0.0297308, -0.03)),
    "RMT5": ("calcn_r", (0.145, 0.02491, 0.059)),
    "LCAL": ("calcn_l", (-0.025, 0.02, 0.005)), "LTOE": ("calcn_l", (0.205, 0.02973, 0.03)),
    "LMT5": ("calcn_l", (0.145, 0.024909, -0.059)),
}  # fmt: skip

#: markers_walk.trc name → (Rajagopal2015 marker, register): register = 1 where the TRC marker has no landmark
#: counterpart in the model's set (cluster or extra markers): the named marker is only a seed and the offset is
#: registered per trial (:func:`mmbio.sim.ik.marker_ik`, ``register=True``). The thigh and shank clusters (TH, SH)
#: are registered too: at the published IK pose the model's RTH/RTB markers lie 5-22 cm from the TRC's (another
#: cluster placement), while the landmarks (ASIS, PSIS, lateral epicondyle, malleolus) lie within 2-4 cm.
TRC_TO_RAJAGOPAL = {
    "R.Shoulder": ("RACR", 0), "L.Shoulder": ("LACR", 0), "R.Clavicle": ("CLAV", 1), "L.Clavicle": ("CLAV", 1),
    "R.Biceps": ("RUA2", 1), "R.Elbow": ("RLEL", 0), "R.Forearm": ("RFAsuperior", 1), "R.Wrist": ("RFAradius", 0),
    "L.Biceps": ("LUA2", 1), "L.Elbow": ("LLEL", 0), "L.Forearm": ("LFAsuperior", 1), "L.Wrist": ("LFAradius", 0),
    "R.ASIS": ("RASI", 0), "L.ASIS": ("LASI", 0), "R.PSIS": ("RPSI", 0), "L.PSIS": ("LPSI", 0),
    "S2": ("RPSI+LPSI", 1),
    "R.TH1": ("RTH1", 1), "R.TH2": ("RTH2", 1), "R.TH3": ("RTH3", 1), "R.Knee": ("RLFC", 0),
    "R.SH1": ("RTB1", 1), "R.SH2": ("RTB2", 1), "R.SH3": ("RTB3", 1), "R.SH4": ("RTB2", 1),
    "R.Ankle": ("RLMAL", 0), "R.Heel": ("RCAL", 0), "R.MT5": ("RMT5", 0), "R.Toe": ("RTOE", 0),
    "L.TH1": ("LTH1", 1), "L.TH2": ("LTH2", 1), "L.TH3": ("LTH3", 1), "L.TH4": ("LTH2", 1), "L.Knee": ("LLFC", 0),
    "L.SH1": ("LTB1", 1), "L.SH2": ("LTB2", 1), "L.SH3": ("LTB3", 1),
    "L.Ankle": ("LLMAL", 0), "L.Heel": ("LCAL", 0), "L.MT5": ("LMT5", 0), "L.Toe": ("LTOE", 0),
}  # fmt: skip

_FRAMES_SCRIPT = """
import json, sys, opensim as osim
m = osim.Model(sys.argv[1]); s = m.initSystem(); out = {}
for b in m.getBodySet():
    t = b.getTransformInGround(s); R = t.R(); p = t.p()
    out[b.getName()] = {"p": [p.get(i) for i in range(3)], "R": [[R.get(i, j) for j in range(3)] for i in range(3)]}
json.dump(out, open(sys.argv[2], "w"))
"""


def osim_frames(python: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """OpenSim default-pose body frames of the Schreiber model: body → (origin (3,), rotation (3, 3)) in ground."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.json"
        subprocess.run([python, "-c", _FRAMES_SCRIPT, str(SCHREIBER_OSIM), str(out)], check=True, capture_output=True)
        raw = json.loads(out.read_text())
    return {b: (np.array(v["p"]), np.array(v["R"])) for b, v in raw.items()}


def schreiber_markers() -> dict[str, tuple[str, tuple[float, float, float]]]:
    """The Schreiber-Moissenet model's 48 markers: name → (body, location m), as written in the .osim."""
    text = SCHREIBER_OSIM.read_text()
    block = text[text.index("<MarkerSet") : text.index("</MarkerSet>")]
    out = {}
    for mk in re.finditer(r'<Marker name="([^"]+)">(.*?)</Marker>', block, re.S):
        body = re.search(r"<socket_parent_frame>/bodyset/([^<]+)<", mk.group(2)).group(1)
        loc = tuple(float(x) for x in re.search(r"<location>([^<]+)<", mk.group(2)).group(1).split())
        out[mk.group(1)] = (body, loc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--osim-python", default="/work/venv-osim/bin/python")
    args = ap.parse_args()
    body_map = load_yaml(DATA / "marker_sets.yaml")["body_map"]
    frames = osim_frames(args.osim_python)
    m = load_model("myofullbody").model
    d = mujoco.MjData(m)
    d.qpos[:] = coupled_qpos(m, m.qpos0)
    mujoco.mj_kinematics(m, d)
    pel_os = frames["pelvis"][0]
    pel_mj = d.xpos[m.body("pelvis").id]
    for os_body, mj_body in body_map.items():  # the frames must agree up to OPENSIM_TO_MUJOCO
        r_mj = d.xmat[m.body(mj_body).id].reshape(3, 3)
        q = r_mj.T @ C @ frames[os_body][1]
        ang = np.degrees(np.arccos(np.clip((np.trace(q) - 1) / 2, -1, 1)))
        print(f"frame check {os_body:>10s} -> {mj_body:<10s} {ang:5.2f} deg")

    def place(os_body: str, loc: tuple[float, float, float]) -> tuple[str, np.ndarray]:
        p_os = frames[os_body][0] + frames[os_body][1] @ np.asarray(loc)
        p_mj = pel_mj + C @ (p_os - pel_os)
        b = m.body(body_map[os_body]).id
        return body_map[os_body], d.xmat[b].reshape(3, 3).T @ (p_mj - d.xpos[b])

    head = ["marker", "source_marker", "opensim_body", "opensim_x", "opensim_y", "opensim_z", "body", "x", "y", "z",
            "register"]  # fmt: skip

    def write(path: Path, rows: list[list[object]]) -> None:
        with path.open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(head)
            w.writerows(rows)
        print(f"wrote {path.relative_to(ROOT)}: {len(rows)} markers")

    rows = []
    for name, (src, reg) in TRC_TO_RAJAGOPAL.items():
        if "+" in src:  # midpoint of two markers on one body
            a, b = (RAJAGOPAL2015[s] for s in src.split("+"))
            os_body, loc = a[0], tuple((np.asarray(a[1]) + np.asarray(b[1])) / 2)
        else:
            os_body, loc = RAJAGOPAL2015[src]
        body, off = place(os_body, loc)
        rows.append([name, src, os_body, *(f"{v:.6g}" for v in loc), body, *(f"{v:.6f}" for v in off), reg])
    write(DATA / "markers_rajagopal2016_walk.csv", rows)
    rows = []
    for name, (os_body, loc) in schreiber_markers().items():
        body, off = place(os_body, loc)
        rows.append([name, name, os_body, *(f"{v:.6g}" for v in loc), body, *(f"{v:.6f}" for v in off), 0])
    write(DATA / "markers_isb_schreiber2019.csv", rows)


if __name__ == "__main__":
    main()
