"""Runs mm-evalkit 0.1.0's own functions on one archive (in mm-evalkit's interpreter) and prints what they find.

Usage: ``python evalkit_worker.py ARCHIVE.npz OUT.json``. Used by tests/test_evalkit_compat.py through the python
named by MMBIO_EVALKIT_PYTHON; imports nothing from mmbio.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from mm_evalkit.workflows.gait.channels import joint_names_myo, muscle_names_myo
from mm_evalkit.workflows.gait.cycles import detect_gait_events, get_feet_contacts
from mm_evalkit.workflows.gait.loading import build_channels
from mm_evalkit.workflows.gait.policy_data import extract_trajectory_data
from mm_evalkit.workflows.gait.rollout_validation import validate_rollout_archive


def main(archive: str, out: str) -> None:
    with np.load(archive, allow_pickle=True) as a:
        n = validate_rollout_archive(
            a,
            archive,
            subject_based=False,
            motion_count=None,
            expected_joint_names=tuple(joint_names_myo),
            expected_joint_width=len(joint_names_myo) + 6,
            expected_activation_width=len(muscle_names_myo),
        )
        events = []
        for e in range(n):
            ev = detect_gait_events(get_feet_contacts(touch_sensors_data=a[f"episode_{e}_touch_observations"],
                                                      threshold=0.05))  # fmt: skip
            events.append({s[0]: [x.index for x in ev if x.event == "heel_strike" and x.side == s]
                           for s in ("right", "left")})  # fmt: skip
    channels = build_channels("Gait120")
    ex = extract_trajectory_data(channels, archive, subject_based=False)
    doc = {
        "n_episodes": n,
        "heel_strikes": events,
        "gait_indexes": [[list(map(int, g)) for g in r["gait_indexes"]] for r in ex.episode_gait_records],
        "joint_names": list(channels.joint_names),
        "muscle_names": list(channels.muscle_names),
        "avg_joint_gaits": ex.profiles.avg_joint_gaits.tolist(),
        "avg_muscle_gaits": ex.profiles.avg_muscle_gaits.tolist(),
    }
    with open(out, "w") as fh:
        json.dump(doc, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
