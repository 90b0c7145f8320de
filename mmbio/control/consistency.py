"""Dynamic consistency of a periodic reference's root path, by iterative learning over gait cycles.

A measured or synthesised stride is rarely consistent with the model's contacts: tracked with its root residual
allowed, MyoFullBody's demo stride needs a lateral residual of ±70 N (≈ 0.1 BW) in every stance, the same in
every cycle. A controller without root help cannot produce it and drifts. The fix here is small and periodic:
fold the root residual force of a tracking run by gait phase, and move the reference pelvis by the periodic
displacement whose acceleration is ``−F/m`` (harmonics up to 8 Hz; the mean removed), so that the body's own
contacts can supply the motion. Repeating it (iterative learning control) converges in a few iterations; the
correction is one to three centimetres.

The tracking runs that measure the residual use the caller's settings with a fixed recipe: ideal joint torques
(the residual is a property of the reference and the contacts, not of the muscles; torques are 3–5× faster),
the root residual applied, stronger root tracking (4 Hz / weight 100 position, 6 Hz / weight 100 rotation, so
that the residual, not a drift, absorbs the inconsistency) and the default joint weights. Measured on the demo
stride (``benchmarks/RESULTS.md``, "A root-free teacher"): residual 0.064 → 0.015 BW RMS in 4 iterations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import MmbioError

__all__ = ["SAMPLES", "root_correction"]

#: samples of the correction table over one cycle
SAMPLES = 64
_MAX_HZ = 8.0


def root_correction(
    motion: Any,
    model: mujoco.MjModel,
    settings: Any,
    *,
    iterations: int | None = None,
    cycles: int = 4,
    log: list[dict[str, float]] | None = None,
) -> np.ndarray:
    """The ``(SAMPLES, 3)`` periodic correction (m, world frame) of the reference root path over one cycle.

    motion: a periodic reference (:class:`~mmbio.sim.motion.Motion`); model: the MuJoCo model to track on (its
    timestep is used); settings: :class:`~mmbio.control.tracking_settings.TrackingSettings` (mode 'contact');
    iterations: default ``settings.consistency_iterations``; cycles: tracked per iteration (the first is skipped
    when folding). ``log`` receives one dict per iteration (residual force RMS in BW before that iteration's
    update, correction size in m).
    """
    from mmbio.control.tracking import LoopedReference, track

    n_it = int(settings.consistency_iterations if iterations is None else iterations)
    if settings.mode != "contact":
        raise MmbioError("reference consistency needs simulated contacts (tracking mode 'contact')")
    try:  # asked for longer than any motion, a reference is looped or refused
        period = LoopedReference(motion, model, 1e9, cutoff_hz=settings.reference_cutoff_hz).period
    except MmbioError:
        raise MmbioError("reference consistency needs a periodic reference or one with a complete gait cycle "
                         "to loop") from None  # fmt: skip
    recipe = replace(
        settings, actuation="torques", root_residual="applied", phase_rate=0.0, consistency_iterations=0,
        root_pos_hz=4.0, w_root_pos=100.0, root_rot_hz=6.0, w_root_rot=100.0, w_joint=1.0, w_upper=10.0,
        w_residual=1e-2, w_residual_moment=0.03, substeps=1, planner="two_qp",
    )  # fmt: skip
    mass = float(mujoco.mj_getTotalmass(model))
    corr = np.zeros((SAMPLES, 3))
    freq = np.fft.rfftfreq(SAMPLES, period / SAMPLES)
    omega2 = (2 * np.pi * freq[1:, None]) ** 2
    for _ in range(n_it):
        _, res = track(motion, duration_s=cycles * period, settings=recipe, model=model,
                       root_correction=corr if np.any(corr) else None, record_every=1000)  # fmt: skip
        if res.fell:
            raise MmbioError(f"reference consistency: the tracking run fell at {res.fell_at_s:.2f} s "
                             "with its root residual applied; the reference cannot be corrected this way")  # fmt: skip
        keep = res.time >= period
        phase = (res.time[keep] % period) / period
        idx = np.minimum((phase * SAMPLES).astype(int), SAMPLES - 1)
        count = np.maximum(np.bincount(idx, minlength=SAMPLES), 1)
        force = np.stack([np.bincount(idx, weights=res.residuals[keep, k], minlength=SAMPLES) / count
                          for k in range(3)], axis=1)  # fmt: skip
        spec = np.fft.rfft(-force / mass, axis=0)
        spec[0] = 0.0
        spec[freq > _MAX_HZ] = 0.0
        disp = np.zeros_like(spec)
        disp[1:] = spec[1:] / -omega2
        step = np.fft.irfft(disp, n=SAMPLES, axis=0)
        corr = corr + step
        if log is not None:
            log.append({"residual_force_rms_bw": res.residual_force_rms_bw, "correction_m": float(np.abs(corr).max())})
    return corr
