"""The ``mmbio`` command: a thin shell over the library.

Expected bad input (a missing or broken file, an unknown reference, no gait cycle) prints one line
``mmbio: error: <file>: <problem>`` on stderr and exits with status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmbio import __version__
from mmbio.cli_format import format_credibility, format_table
from mmbio.errors import DataFileError, MmbioError, printable

if TYPE_CHECKING:
    from mmbio.trial import Trial

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: Bounds of the numeric options (a hostile or mistyped value is refused before any work).
MASS_RANGE_KG = (1.0, 1000.0)
SPEED_RANGE_M_S = (0.01, 20.0)
MAX_SEED = 2**32 - 1
MAX_CYCLES = 50
MAX_UPDATES = 10**9


class _Parser(argparse.ArgumentParser):
    """argparse with mmbio's error style: one line ``mmbio: error: …`` on stderr, exit 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"mmbio: error: {printable(message, 600)} (see {self.prog} --help)\n")
        sys.exit(EXIT_BAD_INPUT)


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {printable(text, 40)!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in [{lo}, {hi:,}], got {v}")
        return v

    return parse


def _episode_arg(text: str) -> int | str:
    """``--episode``: an index in [0, 10⁶] or ``all``."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return _int_in(0, 10**6)(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or 'all')") from None


def _float_in(lo: float, hi: float, units: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {printable(text, 40)!r}") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise argparse.ArgumentTypeError(f"must be a number in [{lo:g}, {hi:g}] {units}, got {text[:40]}")
        return v

    return parse


def _is_checkpoint(path: str) -> bool:
    """A checkpoint by suffix (.pkl/.pickle), by the pickle protocol-2+ magic byte, or a MuscleMimic checkpoint folder."""
    p = Path(path)
    if p.is_dir():
        from mmbio.train.musclemimic import is_musclemimic_checkpoint

        return is_musclemimic_checkpoint(p)
    if p.suffix.lower() in (".pkl", ".pickle"):
        return True
    try:
        with p.open("rb") as fh:
            return fh.read(1) == b"\x80"
    except OSError:
        return False


class _StderrLine:
    """One status line on stderr: redrawn in place on a terminal, else written as a plain line."""

    def __init__(self) -> None:
        import time

        self.t0, self._time = time.perf_counter(), time.perf_counter
        self.tty = sys.stderr.isatty()
        self._shown = False

    def draw(self, line: str) -> None:
        print(("\r\033[K" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)
        self._shown = self.tty

    def clear(self) -> None:
        if self._shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            self._shown = False

    def close(self) -> None:
        if self._shown:
            print(file=sys.stderr, flush=True)
            self._shown = False


class _ProgressBar(_StderrLine):
    """``rollout [#####.....] 1.20/4.20 s simulated, 9 s`` (off a terminal, one line per 5 %)."""

    def __init__(self, label: str = "rollout", width: int = 30) -> None:
        super().__init__()
        self.label, self.width = label, width
        self._last = -1

    def __call__(self, t: float, total: float) -> None:
        frac = min(max(t / total, 0.0), 1.0) if total > 0 else 1.0
        tick = int(frac * 20)
        if not self.tty and tick == self._last:
            return
        self._last = tick
        n = int(frac * self.width)
        self.draw(f"{self.label} [{'#' * n}{'.' * (self.width - n)}] {t:.2f}/{total:.2f} s simulated, "
                  f"{self._time() - self.t0:.0f} s")  # fmt: skip


def _has_cycle(trial: object) -> bool:
    """Whether some side has two heel strikes (one complete gait cycle)."""
    hs = trial.events.heel_strike  # type: ignore[attr-defined]
    return any(np.asarray(v).size >= 2 for v in hs.values())


def _controller_summary(run: object) -> dict:
    """The controller's own numbers for metrics.json (value + units)."""
    out: dict = {"kind": run.checkpoint.kind, "fell": run.fell}  # type: ignore[attr-defined]
    tr = run.tracking  # type: ignore[attr-defined]
    roll = run.rollout  # type: ignore[attr-defined]
    out["simulated"] = {"value": float(roll.duration_s), "units": "s"}
    if roll.diverged:
        out["fell_at"] = {"value": roll.diverged_at_s, "units": "s"}
        out["fall_reason"] = roll.reason
    if tr is not None:
        out.update(
            mode="GRF prescribed" if tr.mode == "grf_prescribed" else "MuJoCo contacts",
            # 'none': no force acted on the pelvis at all (the residual checks then read 0 by construction)
            root_residual=tr.root_residual,
            root_residual_force_rms={"value": tr.residual_force_rms_bw, "units": "BW"},
            root_residual_moment_rms={"value": tr.residual_moment_rms_nm, "units": "N*m"},
            reserve_rms={n: {"value": v, "units": "N*m"} for n, v in tr.reserve_rms_nm.items()},
            tracking_rmse={n: {"value": v, "units": "deg"} for n, v in tr.tracking_rmse_deg.items()},
            real_time_factor={"value": tr.real_time_factor, "units": "1"},
            unsolved_qps=tr.unsolved,
        )
    so = run.static_opt  # type: ignore[attr-defined]
    if so is not None:
        out["static_optimisation"] = {
            "root_residual_force_rms": {"value": so.residual_force_rms_bw, "units": "BW"},
            "root_residual_moment_rms": {"value": so.residual_moment_rms_nm, "units": "N*m"},
            "frames": len(so.time),
        }
    out["wall"] = {k: {"value": v, "units": "s"} for k, v in run.wall_s.items()}  # type: ignore[attr-defined]
    return out


def _check_input(path: str) -> None:
    """The main input exists and is a file (a folder gets a line saying what mmbio takes)."""
    p = Path(path)
    if p.is_dir():
        from mmbio.train.musclemimic import describe_folder, is_musclemimic_checkpoint

        if is_musclemimic_checkpoint(p):
            return
        raise DataFileError(p, describe_folder(p))
    if not p.exists():
        raise DataFileError(p, "no such file")
    if not p.is_file():
        raise DataFileError(p, "is not a regular file (a device, pipe or socket); mmbio reads files")


def _cmd_validate(args: argparse.Namespace) -> int:
    from mmbio.cohort import is_cohort
    from mmbio.report.output_dir import OutputDir

    if is_cohort(args.trial):
        from mmbio.cli_cohort import cmd_cohort

        if args.source:
            raise MmbioError("--source names activations on one trial's clock; it does not apply to a cohort")

        return cmd_cohort(args)
    if args.workers or args.scheduler:
        raise MmbioError("--workers/--scheduler apply to a cohort (several inputs, a folder, a glob or a manifest)")
    args.trial = args.trial[0]
    _check_input(args.trial)
    with OutputDir(args.output, source=args.trial, command="validate", overwrite=args.overwrite) as od:
        return _validate_into(args, od)


def _validate_into(args: argparse.Namespace, od: object) -> int:
    from mmbio.analysis.activation_sources import STATIC_OPT_NAME, ActivationSource
    from mmbio.analysis.ceiling import activity
    from mmbio.analysis.validate import validate
    from mmbio.io.loader import load_trial
    from mmbio.reference.registry import parse_spec
    from mmbio.report.pdf import write_curves_csv, write_metrics_json, write_report
    from mmbio.report.protocol import load_protocol

    stage = od.stage  # type: ignore[attr-defined]
    run = None
    episodes: list = []
    motions = None
    if args.motion_list and args.episode != "all":
        raise MmbioError("--motion-list labels the episodes of --episode all")
    if _is_checkpoint(args.trial):
        from mmbio.control.run import run_checkpoint

        bar = _ProgressBar()
        try:
            run = run_checkpoint(args.trial, cycles=args.cycles, seed=args.seed, device=args.device, progress=bar,
                                 static_opt=not args.no_static_opt, motion=args.motion)  # fmt: skip
        finally:
            bar.close()
        trial = run.trial
    elif args.episode == "all":
        from mmbio.analysis.episodes import pool_trials

        if Path(args.trial).suffix.lower() != ".npz":
            raise DataFileError(args.trial, "--episode is for rollout .npz files (mm-evalkit archives)")
        from mmbio.io.rollout_npz import npz_episode_trials

        if args.motion_list:
            from mmbio.io.motion_lists import motion_list

            motions = motion_list(args.motion_list)
        episodes = npz_episode_trials(args.trial, mass_kg=args.mass)
        trial = pool_trials([t for _, t in episodes], [f"episode {e.index}" for e, _ in episodes])
    else:
        if args.device == "gpu":
            raise MmbioError(f"{printable(args.trial)}: --device applies to checkpoints only")
        trial = load_trial(
            args.trial,
            grf=args.grf,
            emg=args.emg,
            activations=args.activations,
            mass_kg=args.mass,
            speed_m_s=args.speed,
            episode=args.episode,
        )
        if trial.markers is not None and trial.angles is None and not args.no_ik:
            trial = _with_ik(trial, args.trial, args.static)
        elif args.static:
            raise MmbioError(f"{printable(args.trial)}: --static scales the model for marker IK, which this trial "
                             "does not need (it has joint angles, no markers, or --no-ik)")  # fmt: skip
    protocol = None if args.protocol == "none" else args.protocol
    reference = args.reference
    own_ref = str((run.checkpoint.metadata or {}).get("reference") or "") if run is not None else ""
    if reference is None and own_ref:  # e.g. mmbio track: the subject's own curves (schreiber2019:c4/2014001)
        reference = own_ref
        trial.notes.insert(0, f"reference {own_ref} by default: the checkpoint names it (its motion's own subject)")
    if reference is None:
        proto = load_protocol(protocol or "walking")
        reference = proto.reference
        if trial.kind == "simulated" and proto.simulated_reference:
            reference = _simulated_default(trial, proto.simulated_reference, proto.name)
    name, condition = parse_spec(reference)
    condition = _without_own_subject(trial, args.trial, name, condition)
    if args.protocol is None:
        act = activity(name, condition)
        protocol = "running" if act and act[0] == "running" else "walking"
    so = run.static_opt if run is not None else None
    if run is not None and not _has_cycle(trial):  # fell first, or stayed up without a stride: metrics are n/a
        from mmbio.report.no_cycle import no_cycle_reason, write_no_cycle_report

        ctl = _controller_summary(run)
        ctl["root_height"] = {"time": run.rollout.time, "value": run.rollout.qpos[:, 2], "units": "m"}
        write_no_cycle_report(trial, ctl, Path(args.output), pdf=not args.no_pdf, stage=stage)
        wrote = ", ".join(printable(p) for p in od.commit())  # type: ignore[attr-defined]
        if run.fell:
            print(f"mmbio: {printable(args.trial)}: the controller fell at {run.rollout.diverged_at_s:.2f} s "
                  f"({run.rollout.reason}) before completing a gait cycle; wrote {wrote}", file=sys.stderr)  # fmt: skip
            return 1
        print(f"mmbio: {printable(args.trial)}: {no_cycle_reason(ctl)}; wrote {wrote}", file=sys.stderr)
        return 0
    sources: dict[str, ActivationSource] | None = None
    if so is not None:  # the static optimisation of the simulated motion: one named activation source
        desc = "static optimisation of the simulated motion with its GRF: " + so.summary()
        sources = {STATIC_OPT_NAME: ActivationSource(so.activation_channels(), desc)}
    if args.source:
        from mmbio.analysis.activation_sources import sources_from_files

        sources = {**(sources or {}), **sources_from_files(args.source, set(sources or ()))}
    result = validate(
        trial,
        f"{name}:{condition}",
        emg_reference=args.emg_reference,
        protocol=protocol,
        spm=not args.no_spm,
        seed=args.seed,
        activation_sources=sources,
        simulation=run.credibility if run is not None else None,
        built_from=run.built_from if run is not None else (),
    )
    if run is not None:
        result.trial["controller"] = _controller_summary(run)
    if episodes:
        from mmbio.analysis.episodes import validate_episodes, write_episodes_csv

        rows = validate_episodes(result, episodes, f"{name}:{condition}", emg_reference=args.emg_reference,
                                 protocol=protocol, seed=args.seed, motions=motions)  # fmt: skip
        write_episodes_csv(result, rows, stage("episodes.csv"))
    if getattr(args, "compat", None):
        from mmbio.analysis.evalkit_compat import attach_compat

        attach_compat(result, args.trial, trial, args.episode, episodes)
    out = Path(args.output)
    write_metrics_json(result, stage("metrics.json"))
    write_curves_csv(result, stage("curves.csv"))
    if not args.no_pdf:
        write_report(result, stage("report.pdf"), seed=args.seed)
    doc = json.loads(stage("metrics.json").read_text())
    written = od.commit()  # type: ignore[attr-defined]
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        from mmbio.analysis.evalkit_compat import format_compat

        cred, compat = format_credibility(doc), format_compat(doc)
        print((cred + "\n\n" if cred else "") + format_table(doc) + ("\n\n" + compat if compat else ""))
        print(f"\nwrote {', '.join(printable(out / p.name) for p in written)}")
    if run is not None and run.fell:
        print(f"mmbio: the controller fell at {run.rollout.diverged_at_s:.2f} s ({run.rollout.reason}); "
              "the report covers the simulation up to the fall", file=sys.stderr)  # fmt: skip
        return 1
    if result.credible is False:
        print("mmbio: the simulation fails its credibility checks (see the first lines of the report)", file=sys.stderr)
    return 1 if result.passed is False or result.credible is False else 0


def _with_ik(trial: object, path: str, static: str | None) -> object:
    """The trial with joint angles from marker IK (the model scaled to ``static`` when given: a bad static file is
    an error); when IK cannot run (markers matching no marker set, no memory for the model) the trial as it was,
    its notes saying why its joint angles are n/a."""
    import mujoco

    from mmbio.sim.ik import trial_with_ik_angles

    scaled = None
    if static is not None:
        from mmbio.sim.scaling import scale_for_subject

        _check_input(static)
        mass = float(trial.subject.mass_kg)  # type: ignore[attr-defined]
        scaled = scale_for_subject(static, mass_kg=mass if math.isfinite(mass) else None)
    try:
        out = trial_with_ik_angles(trial, path, scaled)
    except (MmbioError, mujoco.FatalError) as e:
        trial.notes.insert(0, f"joint angles n/a: marker IK not run ({printable(str(e), 300)})")  # type: ignore[attr-defined]
        return trial
    if static is None:
        beside = sorted(Path(path).parent.glob("*_ST.c3d"))
        if beside:
            out.notes.insert(1, f"model not scaled to the subject; a static trial lies beside this file: "  # type: ignore[attr-defined]
                                f"--static {printable(str(beside[0]))} would scale it")  # fmt: skip
    return out


def own_reference_subject(trial: Trial, path: str, name: str, condition: str) -> str | None:
    """The reference subject a measured trial belongs to, from its file name (``2014001_C4_05.c3d`` against
    ``schreiber2019`` → ``'2014001'``); ``None`` for simulations, other datasets, or a subject-specific condition."""
    from mmbio.reference.registry import find_subject_reference, reference_subjects, split_condition

    base, subject = split_condition(condition)
    if trial.kind != "measured" or subject is not None:
        return None
    own = find_subject_reference(Path(path).name)
    if not own or not own.startswith(f"{name}:"):
        return None
    sid = own.rpartition("/")[2]
    return sid if sid in reference_subjects(name, base) else None


def _without_own_subject(trial: Trial, path: str, name: str, condition: str) -> str:
    """``COND/-SUBJECT`` when a measured trial's file names one of the reference's own subjects
    (:func:`own_reference_subject`): the reference without that subject, so that the trial is never scored against
    its own curves (the trial's notes say so). A subject-specific condition asked for explicitly is kept."""
    sid = own_reference_subject(trial, path, name, condition)
    if sid is None:
        return condition
    trial.notes.insert(0, f"reference {name}:{condition} without subject {sid}: the trial ({Path(path).name}) is "
                          f"that subject's own, so its curves are left out of the reference and of the ceilings "
                          f"(--reference {name}:{condition}/{sid} compares it with that subject alone)")  # fmt: skip
    return f"{condition}/-{sid}"


def _simulated_default(trial: object, name: str, protocol: str) -> str:
    """``NAME:CONDITION`` for a simulated trial when no reference was asked: the protocol's reference for simulated
    (adult-model) trials at the condition nearest the trial's speed; the trial's first note says so."""
    from mmbio.analysis.conditions import speed_condition
    from mmbio.reference.registry import get_reference

    ds = get_reference(name)
    sc = speed_condition(trial, name, ds.default_condition)  # type: ignore[arg-type]
    trial.notes.insert(  # type: ignore[attr-defined]
        0,
        f"reference {name}:{sc.band} by default: protocol {protocol!r} compares a simulated (adult-model) walk with "
        f"adult walking ({sc.note or 'speed unknown: the default condition'}); --reference schwartz2008:free for "
        "children's norms",
    )
    return f"{name}:{sc.band}"


def _cmd_reference(args: argparse.Namespace) -> int:
    from mmbio.reference.registry import format_reference_list, format_reference_show, parse_spec

    if args.ref_cmd == "list":
        print(format_reference_list())
    else:
        name, condition = parse_spec(args.spec)
        print(format_reference_show(name, condition))
    return 0


def _checkpoint_info(path: str) -> str:
    from mmbio.control.checkpoint import load_checkpoint

    if Path(path).is_dir():  # a MuscleMimic checkpoint_N folder: what it holds, without its reference motion
        from mmbio.train.musclemimic import read_checkpoint

        mm = read_checkpoint(path)
        lines = [f"MuscleMimic checkpoint {printable(path)}: policy with {mm.obs_size} observations and "
                 f"{mm.action_size} actions"]  # fmt: skip
        lines += [f"  {printable(n, 200)}" for n in mm.notes]
        lines += [f"  {printable(k, 60)}: {_summary(v)}" for k, v in list(mm.metadata.items())[:50]]
        return "\n".join(lines)
    ck = load_checkpoint(path)
    lines = [repr(ck), f"  created {ck.created}, mmbio {ck.mmbio_version}, model hash {ck.model_hash[:12]}… (matches)"]
    motion = ck.motion()
    if motion is not None:
        lines.append(f"  reference motion: {motion!r}")
        lines += [f"    {n}" for n in motion.notes]
    if ck.kind == "tracking":
        lines.append(f"  tracking settings: {ck.controller.get('settings')}")
    for k, v in list(ck.metadata.items())[:50]:
        lines.append(f"  {printable(k, 60)}: {_summary(v)}")
    return "\n".join(lines)


def _summary(v: object, limit: int = 160) -> str:
    """A one-line, bounded description of a metadata value (arrays by shape, containers by size)."""
    if isinstance(v, np.ndarray):
        return f"array {v.dtype} {v.shape}"
    if isinstance(v, dict):
        return f"dict of {len(v)} entries" if len(repr(list(v)[:20])) > limit or len(v) > 20 else _short(v, limit)
    if isinstance(v, (list, tuple)) and len(v) > 20:
        return f"{type(v).__name__} of {len(v)} items"
    return _short(v, limit)


def _short(v: object, limit: int) -> str:
    try:
        text = repr(v) if not isinstance(v, str) else v
    except ValueError:  # e.g. an integer too long to print
        text = f"<{type(v).__name__}>"
    return printable(text, limit)


def _cmd_export(args: argparse.Namespace) -> int:
    """A checkpoint (rolled out first) or a rollout .npz written as an mm-evalkit archive."""
    from mmbio.io.evalkit_write import write_evalkit_archive

    _check_input(args.input)
    if _is_checkpoint(args.input):
        from mmbio.control.run import run_checkpoint

        bar = _ProgressBar()
        try:
            run = run_checkpoint(args.input, cycles=args.cycles, seed=args.seed, progress=bar, static_opt=False)
        finally:
            bar.close()
        roll = run.rollout
    else:
        from mmbio.io.rollout_npz import read_rollout_npz

        roll = read_rollout_npz(args.input, episode=args.episode)
    state = f"diverged at {roll.diverged_at_s:.2f} s" if roll.diverged else "ok"
    if args.format == "opensim":
        from mmbio.io.opensim import write_opensim_trial
        from mmbio.sim.extract import rollout_to_trial

        files = write_opensim_trial(rollout_to_trial(roll), args.output, model_file=args.model)
        how = "" if args.model else " after setting <model_file> (or pass --model)"
        print(f"wrote {', '.join(printable(p) for p in files.values())}: OpenSim files of {roll.duration_s:.2f} s "
              f"({state}); inverse dynamics: opensim-cmd run-tool {printable(files['id_setup'])}{how}")  # fmt: skip
        return 0
    try:
        out = write_evalkit_archive(roll, args.output, phase=args.phase, kinetics=args.kinetics)
    except MmbioError as e:
        raise MmbioError(f"{printable(args.input)}: {e}") from None
    print(f"wrote {printable(out)}: mm-evalkit archive, 1 episode of {roll.duration_s:.2f} s ({state}), "
          f"activations {args.phase}")  # fmt: skip
    if roll.qfrc_applied is not None and np.any(roll.qfrc_applied):
        print("note: the archive cannot carry the controller's applied forces (root residual, reserves): contact "
              "forces recomputed from it differ from the simulated ones")  # fmt: skip
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from mmbio.io.loader import load_trial

    _check_input(args.trial)
    if _is_checkpoint(args.trial):
        print(_checkpoint_info(args.trial))
        return 0

    episode = None if args.episode == "all" else args.episode  # info lists every episode anyway
    trial = load_trial(
        args.trial, grf=args.grf, emg=args.emg, activations=args.activations, mass_kg=args.mass, episode=episode
    )
    if Path(args.trial).suffix.lower() == ".npz":
        from mmbio.io.rollout_npz import archive_kind, format_episodes

        if archive_kind(args.trial) == "evalkit":
            print(format_episodes(args.trial) + "\n")
    print(trial.summary())
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from mmbio.cli_train import cmd_train

    return cmd_train(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mmbio",
        description="Does a muscle-driven humanoid move like a human? Compare gait trials with experimental references.",
    )
    p.add_argument("--version", action="version", version=f"mmbio {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser(
        "validate",
        help="compare a trial with a reference: report.pdf, metrics.json, curves.csv",
        description="Compare a trial with an experimental reference and judge it against a validation protocol. "
        "Exit status: 0 protocol passed (or nothing could be judged), 1 protocol or simulation credibility failed, "
        "2 bad input, 130 interrupted.",
    )
    v.add_argument(
        "trial",
        nargs="+",
        help="checkpoint .pkl or MuscleMimic checkpoint_N folder (rolled out first), C3D file, OpenSim .mot/.sto "
        "of joint angles, or rollout .npz (mmbio or mm-evalkit); several of them, a folder, a quoted glob or a .csv "
        "manifest validate a cohort on Dask (one sub-folder each, cohort.csv and cohort.pdf; needs mmbio[cohort])",
    )
    v.add_argument("--reference", "-r", help="NAME[:CONDITION] (default: the protocol's reference)")
    v.add_argument(
        "--protocol",
        "-p",
        help="validation protocol name or YAML file (default: walking or running "
        "by the reference); 'none' for no checks",
    )
    v.add_argument("--emg-reference", help="NAME[:CONDITION] for activation/EMG (default: --reference if it has EMG)")
    v.add_argument(
        "--output",
        "-o",
        default="mmbio-out",
        help="output folder (default mmbio-out); it holds one input's results (mmbio-run.json says which)",
    )
    v.add_argument("--overwrite", action="store_true", help="replace results of another input in the output folder")
    v.add_argument("--format", choices=("human", "json"), default="human", help="what to print (default human)")
    v.add_argument("--no-spm", action="store_true", help="skip SPM (statistical parametric mapping)")
    v.add_argument("--no-pdf", action="store_true", help="write metrics.json and curves.csv only")
    v.add_argument(
        "--seed",
        type=_int_in(0, MAX_SEED),
        default=0,
        help="seed of the rollout and of the synergy NMF restarts (default 0)",
    )
    v.add_argument(
        "--cycles",
        type=_int_in(1, MAX_CYCLES),
        default=3,
        help=f"checkpoints: gait cycles to simulate, 1-{MAX_CYCLES} (default 3)",
    )
    v.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="checkpoints: where to roll out (default cpu; gpu needs mujoco-warp and a GPU)",
    )
    v.add_argument(
        "--no-static-opt",
        action="store_true",
        help="checkpoints: skip static optimisation of the simulated motion (redundancy comparison)",
    )
    v.add_argument(
        "--motion",
        metavar="TRAJ.npz",
        help="MuscleMimic checkpoints: the reference motion the policy tracks (a MuscleMimic trajectory .npz at "
        "100 Hz, e.g. from its AMASS cache; default: the cached motion its config names)",
    )
    _trial_options(v)
    v.add_argument(
        "--source",
        action="append",
        metavar="NAME=FILE.sto",
        help="another named activation source on the trial's clock (OpenSim .sto of activations: a teacher's, "
        "OpenSim static optimisation's or CMC's), compared with the same EMG beside the trial's own and static "
        "optimisation's, on the redundancy page and in metrics.json; repeatable",
    )
    v.add_argument(
        "--speed", type=_float_in(*SPEED_RANGE_M_S, "m/s"), help="walking/running speed in m/s when the file has none"
    )
    v.add_argument(
        "--static",
        metavar="STATIC.c3d",
        help="the subject's static trial: scale MyoFullBody to it before the marker IK of a C3D (OpenSim's Scale tool)",
    )
    v.add_argument(
        "--no-ik",
        action="store_true",
        help="C3D with markers but no joint angles: do not run marker IK (its kinematic checks are then n/a)",
    )
    v.add_argument(
        "--motion-list",
        metavar="NAME|FILE",
        help="with --episode all: the motion list the archive's traj_id index (a MuscleMimic/mm-evalkit set such as "
        "GAIT120_TESTING, or a file with one motion path per line): episodes are labelled with subject and trial",
    )
    v.add_argument(
        "--compat",
        choices=("mm-evalkit",),
        help="mm-evalkit archives: add mm-evalkit 0.1.0's numbers (its cycle, heel-strike, normalisation and GRF "
        "rules, re-implemented) beside mmbio's, each with the reason it differs",
    )
    v.add_argument(
        "--workers", type=_int_in(1, 4096), help="cohort: Dask worker processes on this machine (default: the cores)"
    )
    v.add_argument("--scheduler", metavar="ADDRESS", help="cohort: an existing Dask scheduler (tcp://host:8786)")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("reference", help="list or show the experimental reference datasets")
    rs = r.add_subparsers(dest="ref_cmd", required=True, metavar="ACTION")
    rs.add_parser("list", help="the available datasets with citation and conditions")
    show = rs.add_parser("show", help="provenance and variables of one dataset")
    show.add_argument("spec", metavar="NAME[:CONDITION]")
    r.set_defaults(func=_cmd_reference)

    t = sub.add_parser(
        "train",
        help="train an imitation policy (PPO in JAX on MuJoCo C or Warp); checkpoints go straight into validate",
        description="Train a muscle-driven imitation policy. Config: a preset (--list) plus KEY=VALUE overrides, "
        "e.g. ppo.lr=3e-4 env.backend=warp. Needs the train extra (JAX).",
    )
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    t.add_argument("--config", "-c", default="default", help="preset name (default: default; see --list)")
    t.add_argument("--list", action="store_true", help="list the presets and exit")
    t.add_argument("--output", "-o", default="mmbio-train", help="checkpoint directory (default mmbio-train)")
    t.add_argument(
        "--updates", type=_int_in(1, MAX_UPDATES), help="total PPO updates (default: from ppo.total_env_steps)"
    )
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT/latest.pkl")
    t.add_argument("--overwrite", action="store_true", help="start afresh in a folder that holds another run")
    t.add_argument("--motion", help="reference motion .npz (mmbio Motion.save); default: the model's built-in one")
    t.add_argument(
        "--validate",
        action="store_true",
        help="validate each checkpoint (MyoFullBody walking) and keep its metrics.json beside it",
    )
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "export",
        help="write a checkpoint's rollout or a rollout .npz as an mm-evalkit archive or OpenSim files",
    )
    e.add_argument("input", help="checkpoint .pkl (rolled out first) or rollout .npz")
    e.add_argument("--output", "-o", required=True, help="archive .npz (evalkit) or folder (opensim) to write")
    e.add_argument(
        "--format",
        choices=("evalkit", "opensim"),
        default="evalkit",
        help="evalkit: mm-evalkit rollout archive (default); opensim: coordinates.mot, grf.mot, "
        "external_loads.xml, id_setup.xml (OpenSim inverse dynamics)",
    )
    e.add_argument(
        "--phase",
        choices=("pre_step", "post_step"),
        default="pre_step",
        help="activation_sample_phase to write (default pre_step; post_step is MuscleMimic's default export)",
    )
    e.add_argument("--model", help="opensim: the .osim model named in id_setup.xml (e.g. a Rajagopal 2015 model)")
    e.add_argument(
        "--kinetics",
        action="store_true",
        help="also write the embedded-kinetics block (muscle joint moments, foot force sensors, model mass)",
    )
    e.add_argument("--cycles", type=_int_in(1, MAX_CYCLES), default=3, help="checkpoints: gait cycles (default 3)")
    e.add_argument("--seed", type=_int_in(0, MAX_SEED), default=0, help="checkpoints: rollout seed (default 0)")
    e.add_argument("--episode", type=_int_in(0, 10**6), metavar="N", help="episode of an mm-evalkit archive input")
    e.set_defaults(func=_cmd_export)

    i = sub.add_parser(
        "info", help="what a trial file or checkpoint holds (channels, rates, events, subject; controller)"
    )
    i.add_argument("trial")
    _trial_options(i)
    i.set_defaults(func=_cmd_info)

    from mmbio.cli_compare import add_compare_parser

    add_compare_parser(sub)
    from mmbio.cli_ik import add_ik_parser

    add_ik_parser(sub)
    from mmbio.cli_track import add_track_parser

    add_track_parser(sub)
    return p


def _trial_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grf", help="OpenSim .mot/.sto with the ground reaction forces (OpenSim trials)")
    p.add_argument("--emg", help="OpenSim .sto with EMG envelopes (OpenSim trials)")
    p.add_argument("--activations", help="OpenSim .sto with simulated muscle activations (e.g. written by mmbio)")
    p.add_argument(
        "--mass",
        type=_float_in(*MASS_RANGE_KG, "kg"),
        help="body mass in kg (needed for body-weight units when the file has none)",
    )
    p.add_argument(
        "--episode",
        type=_episode_arg,
        metavar="N|all",
        help="episode of an mm-evalkit rollout .npz (default: the longest complete one; the trial notes say which); "
        "validate: 'all' pools every episode's cycles and adds per-episode metrics and their spread",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mmbio`` command; returns the exit status (0, 1, 2 bad input, 130 interrupted).

    Expected problems are one printable line on stderr (control characters in names escaped); a real bug still
    shows its traceback. MuJoCo's warnings go to the run's notes, never to ``MUJOCO_LOG.TXT`` in the working folder.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MmbioError as e:
        code = int(getattr(e, "exit_code", EXIT_BAD_INPUT))
        print(f"mmbio: {'' if code == EXIT_INTERRUPTED else 'error: '}{printable(e, 1200)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("mmbio: interrupted; no results were written for this run", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
