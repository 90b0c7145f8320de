"""Build the demo checkpoint ``checkpoints/tracking_walk.pkl``: the contact-consistent muscle tracking controller
(:mod:`mmbio.control.tracking`, default settings) on MyoFullBody (no fingers) along one stride of the synthesised
1.25 m/s walk (:func:`mmbio.sim.motion.synthesize_motion`, Schwartz 2008 free-speed curves, foot-locked), which the
controller loops.

Run from the repository root: ``python checkpoints/build.py`` (a few seconds). The reference motion is built from
the package's own ``reference_data``, so the result only changes when mmbio's motion builder or the model does;
``tests/test_tracking.py`` checks that a rebuild reproduces the committed motion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbio.control.checkpoint import save_checkpoint
from mmbio.control.run import tracking_checkpoint
from mmbio.sim.motion import synthesize_motion

SPEED_M_S = 1.25
OUT = Path(__file__).resolve().parent / "tracking_walk.pkl"


def build(out: Path = OUT) -> Path:
    motion = synthesize_motion(speed_m_s=SPEED_M_S, gait="walk", n_cycles=1)
    ckpt = tracking_checkpoint(
        motion,
        metadata={
            "description": "demo: contact-consistent muscle tracking of a synthesised 1.25 m/s walk (one stride, looped)",
            "built_by": "checkpoints/build.py",
            "speed_m_s": SPEED_M_S,
        },
    )
    return save_checkpoint(ckpt, out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    print(build(ap.parse_args().out))
