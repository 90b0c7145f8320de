"""One entry point that loads any supported trial file into a :class:`~mmbio.trial.Trial`."""

from __future__ import annotations

from pathlib import Path

from mmbio.errors import DataFileError
from mmbio.trial import Trial

TRIAL_SUFFIXES = (".c3d", ".mot", ".sto", ".npz")


def load_trial(
    path: str | Path,
    /,
    *,
    grf: str | Path | None = None,
    emg: str | Path | None = None,
    activations: str | Path | None = None,
    mass_kg: float | None = None,
    speed_m_s: float | None = None,
    episode: int | None = None,
) -> Trial:
    """Load a C3D file, or an OpenSim ``.mot``/``.sto`` of joint angles with optional GRF, EMG and
    (simulated) muscle-activation files — e.g. a simulated trial written by
    :func:`mmbio.io.opensim.write_opensim_trial` — or a rollout ``.npz`` (mmbio rollout or motion file, or
    an mm-evalkit rollout archive: ``episode`` picks the episode, default the longest complete one; see
    :mod:`mmbio.io.rollout_npz`).

    ``mass_kg`` overrides (C3D) or supplies (OpenSim) the subject mass used for body-weight units.
    Raises :class:`DataFileError` naming the file for anything missing or unreadable.
    """
    p = Path(path)
    for f in (p, grf, emg, activations):
        if f is not None and not Path(f).is_file():
            raise DataFileError(f, "no such file")
    suffix = p.suffix.lower()
    if episode is not None and suffix != ".npz":
        raise DataFileError(p, "--episode is for rollout .npz archives")
    if suffix == ".npz":
        if grf is not None or emg is not None or activations is not None:
            raise DataFileError(p, "--grf/--emg/--activations are for OpenSim trials; a rollout carries its own states")
        from mmbio.io.rollout_npz import npz_to_trial

        trial = npz_to_trial(p, episode=episode, mass_kg=mass_kg)
        if speed_m_s is not None:
            trial.subject.speed_m_s = float(speed_m_s)
        return trial
    if suffix == ".c3d":
        if grf is not None or emg is not None or activations is not None:
            raise DataFileError(
                p, "--grf/--emg/--activations are for OpenSim trials; a C3D file carries its own GRF and EMG"
            )
        from mmbio.io.c3d import read_c3d

        trial = read_c3d(p)
        if mass_kg is not None:
            said = trial.subject.mass_kg
            trial.subject.mass_kg = float(mass_kg)
            trial.notes = [
                n.replace("; forces cannot be expressed in body weights (pass --mass)", "") for n in trial.notes
            ]
            trial.notes.append(
                f"body mass {float(mass_kg):g} kg from --mass"
                + (f" (the file says {said:g} kg)" if said == said else " (the file gives none)")
            )
        if speed_m_s is not None:
            trial.subject.speed_m_s = float(speed_m_s)
        return trial
    if suffix in (".mot", ".sto"):
        from mmbio.io.opensim import read_opensim_trial

        return read_opensim_trial(p, grf=grf, emg=emg, activations=activations, mass_kg=mass_kg, speed_m_s=speed_m_s)
    raise DataFileError(
        p, f"unsupported trial format {suffix or '(no suffix)'}; expected one of {', '.join(TRIAL_SUFFIXES)}"
    )
