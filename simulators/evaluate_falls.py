"""Falls on real recordings: SisFall trials through the whole pipeline, subject-wise CV.

Run ``python -m simulators.evaluate_falls --data ../shared/data`` (``--quick`` for a small
subset). Protocol:

1. The subjects of ``sisfall-dev`` are dealt into ``--folds`` leave-subjects-out folds
   (:func:`detectors.fit.fit_falls.subject_folds`).
2. For each fold, the fall model is fitted on the *other* folds' trials only
   (:func:`detectors.fit.fit_falls.fit_model`: weights, bias and threshold).
3. The fold's own trials are imported as one trace (:func:`simulators.sisfall.import_sisfall`:
   one wearer per trial, 200 Hz ``accel`` in 1 s payloads, the final posture held
   ``--hold-seconds``, devices registered as worn at the waist), replayed into a fresh
   SQLite database through the same decode / engine / rules / storage path as ``vitals
   replay --register``, with that fold's parameters.
4. A trial counts as flagged when its wearer has a ``fall_detected`` row in
   ``healthAlerts``: sensitivity over fall trials, specificity over activity trials, per
   fall type and activity code.

Nothing is scored on the subjects it was fitted on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors.config import DEFAULT, DetectorConfig
from detectors.fit.fit_falls import (
    FOLDS,
    fit_model,
    subject_folds,
    subject_of,
    trial_candidates,
    trial_files,
)
from simulators.sisfall import CODES, import_sisfall, parse_trial_name

#: ``--quick``: a few subjects (two young adults, the elderly subject who also fell, one
#: elderly subject without falls) and a few codes, two folds.
QUICK_SUBJECTS = ("SA01", "SA02", "SE06", "SE01")
QUICK_CODES = ("F01", "F05", "F10", "F13", "D01", "D07", "D13", "D19")


@dataclass(frozen=True)
class TrialResult:
    trial: str
    fold: int
    flagged: bool

    @property
    def code(self) -> str:
        return self.trial[:3]

    @property
    def is_fall(self) -> bool:
        return self.trial.startswith("F")


def replay_fold(
    files: Sequence[Path], config: DetectorConfig, workdir: Path, hold_s: float
) -> dict[str, bool]:
    """Import ``files`` as one trace, replay it through the pipeline into a fresh SQLite
    database with ``config``; return trial name -> flagged."""
    from ingest.engine import Engine, EngineConfig  # noqa: PLC0415 - the pipeline under test
    from ingest.processor import BatchProcessor  # noqa: PLC0415
    from ingest.replay import Replayer, read_trace  # noqa: PLC0415
    from storage.engine import create_engine_from_url, session_factory  # noqa: PLC0415
    from storage.migrate import upgrade  # noqa: PLC0415
    from storage.repositories.outcomes import alerts_from_db  # noqa: PLC0415
    from vitals.commands.register import register_manifest  # noqa: PLC0415

    trace = workdir / "trials.jsonl.gz"
    imported = import_sisfall(workdir, trace, hold_s=hold_s, paths=files, compresslevel=1)
    db = create_engine_from_url(f"sqlite:///{workdir / 'replay.db'}")
    upgrade(db)
    sessions = session_factory(db)
    register_manifest(trace, sessions)
    processor = BatchProcessor(sessions, Engine(EngineConfig(detector=config)))
    Replayer(processor).run(read_trace(trace))
    open_ids = {f"sisfall-{user}": user for user in imported.users}
    fallen = {a.user for a in alerts_from_db(db, open_ids) if a.type == "fall_detected"}
    db.dispose()
    pairs = zip(imported.trials, imported.users, strict=True)
    return {str(name): user in fallen for name, user in pairs}


def evaluate(
    data: Path,
    *,
    folds: int = FOLDS,
    hold_s: float = 120.0,
    subjects: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
    log: bool = True,
) -> list[TrialResult]:
    """Cross-validated, replayed verdict for every selected trial."""
    files = [
        p
        for p in trial_files(data)
        if (subjects is None or parse_trial_name(p).subject in subjects)
        and (codes is None or parse_trial_name(p).code in codes)
    ]
    started = time.perf_counter()
    features = trial_candidates(files)
    results: list[TrialResult] = []
    for k, held in enumerate(subject_folds([subject_of(n) for n in features], folds)):
        train = {n: f for n, f in features.items() if subject_of(n) not in held}
        model = fit_model(train)
        test_files = [p for p in files if parse_trial_name(p).subject in held]
        with tempfile.TemporaryDirectory(prefix="sisfall-fold-") as tmp:
            flagged = replay_fold(test_files, model.config(DEFAULT), Path(tmp), hold_s)
        results += [TrialResult(name, k, hit) for name, hit in sorted(flagged.items())]
        if log:
            print(
                f"fold {k + 1}: held out {', '.join(held)} ({len(test_files)} trials), "
                f"model fitted on {len(train)} trials, threshold {model.threshold:.2f}, "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    return results


def rates(results: Sequence[TrialResult]) -> tuple[float, float]:
    """(sensitivity over fall trials, specificity over activity trials)."""
    falls = [r.flagged for r in results if r.is_fall]
    acts = [not r.flagged for r in results if not r.is_fall]
    return (
        sum(falls) / len(falls) if falls else float("nan"),
        sum(acts) / len(acts) if acts else float("nan"),
    )


def format_table(results: Sequence[TrialResult]) -> str:
    """Markdown table per code, then the overall figures (pastes into the README)."""
    by_code: dict[str, list[TrialResult]] = defaultdict(list)
    for r in results:
        by_code[r.code].append(r)
    lines = [
        "| code | trial | trials | flagged as fall | correct |",
        "|---|---|---:|---:|---:|",
    ]
    for code in sorted(by_code, key=lambda c: (c[0] != "F", c)):
        rows = by_code[code]
        flagged = sum(r.flagged for r in rows)
        correct = flagged if code.startswith("F") else len(rows) - flagged
        lines.append(
            f"| {code} | {CODES.get(code, '')} | {len(rows)} | {flagged} "
            f"| {correct / len(rows):.1%} |"
        )
    sens, spec = rates(results)
    n_falls = sum(r.is_fall for r in results)
    n_acts = len(results) - n_falls
    caught = sum(r.flagged for r in results if r.is_fall)
    quiet = sum(not r.flagged for r in results if not r.is_fall)
    lines += [
        "",
        f"falls: sensitivity {caught}/{n_falls} = {sens:.1%}; "
        f"activities: specificity {quiet}/{n_acts} = {spec:.1%}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[TrialResult]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--folds", type=int, default=FOLDS, help=f"subject folds ({FOLDS})")
    parser.add_argument("--hold-seconds", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="a few subjects and codes")
    parser.add_argument("--subjects", nargs="+", help="only these subjects (SA01 ...)")
    parser.add_argument("--codes", nargs="+", help="only these codes (F01 D07 ...)")
    args = parser.parse_args(argv)
    subjects = args.subjects or (QUICK_SUBJECTS if args.quick else None)
    codes = args.codes or (QUICK_CODES if args.quick else None)
    folds = min(args.folds, 2) if args.quick else args.folds
    results = evaluate(
        args.data, folds=folds, hold_s=args.hold_seconds, subjects=subjects, codes=codes
    )
    print(
        f"SisFall dev, {len(results)} trials, {folds}-fold leave-subjects-out, "
        f"replayed through the pipeline ({args.hold_seconds:.0f} s hold):"
    )
    print(format_table(results))
    return results


def main_from_evaluate_real(argv: Sequence[str] | None = None) -> list[TrialResult]:
    """``python -m simulators.evaluate_real --data DIR [--quick]`` runs this too; its other
    options belong to the other evaluations and are ignored here."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.data is None or not (args.data / "sisfall-dev").is_dir():
        return []
    return main(["--data", str(args.data), *(["--quick"] if args.quick else [])])


if __name__ == "__main__":
    main()
