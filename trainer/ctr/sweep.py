"""CLI: `python -m trainer.ctr.sweep --spec sweep.json`.

Several CTR jobs in one process, for comparisons that train many small models (the oracle check,
connector and seed measurements): the dataset is read once and torch is imported once, which on a
small dataset costs more than the training. Each run is an ordinary job spec (trainer/ctr/job.py):
`common` merged with the run's own fields (`train` merged key by key), trained with the same loop
as `trainer.ctr.train`, without the ONNX export.

{
  "common": { "features": "paper", "seed": 1, "data": {...}, "threads": 1, "train": {...} },
  "runs": [ { "name": "deepfm/base", "model": "deepfm" },
            { "name": "deepfm/oracle", "model": "deepfm", "variant": "kar", "knowledge": {...} } ],
  "outDir": PATH,          // <outDir>/<name>/ gets metrics.json (and test_pred.npy with predictions)
  "predictions": false
}
Progress: one `{"event":"run", "name", "auc", "logloss", "bestEpoch", ...}` line per run, then
`done` with every run, or `error`.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ..common.errors import EXIT_NON_RETRYABLE, EXIT_RETRYABLE, JobError, SpecError
from ..common.progress import Progress, claim_stdout
from ..common.spec import load_spec
from .data import DataFiles, load_dataset
from .fit import run_training
from .job import parse_job
from .train import save_npy, write_json

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class _Discard:
    """A run's own epoch lines are not part of the sweep's stream (its metrics.json keeps them)."""

    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


def run_spec(raw: dict, name: str, common: dict, out: Path) -> dict:
    if not isinstance(raw, dict):
        raise SpecError(f"spec field runs[{name}]: expected an object")
    spec = {**common, **raw}
    spec["train"] = {**(common.get("train") or {}), **(raw.get("train") or {})}
    spec.pop("name", None)
    spec.setdefault("workDir", str(out / name / "work"))
    spec["outDir"] = str(out / name)
    spec["export"] = False
    return spec


def sweep(raw: dict, progress: Progress) -> list[dict]:
    common = raw.get("common") or {}
    runs = raw.get("runs")
    if not isinstance(common, dict):
        raise SpecError("spec field common: expected an object of job spec fields")
    if not isinstance(runs, list) or not runs:
        raise SpecError("spec field runs: expected a non-empty list of job specs, each with a name")
    if not isinstance(raw.get("outDir"), str) or not raw["outDir"]:
        raise SpecError("spec field outDir is required")
    out = Path(raw["outDir"])
    names = [r.get("name") if isinstance(r, dict) else None for r in runs]
    for i, n in enumerate(names):
        if not isinstance(n, str) or not NAME.match(n) or ".." in n:
            raise SpecError(f"spec field runs[{i}].name: expected a path-safe name like \"deepfm/base\", got {n!r}")
        if names.index(n) != i:
            raise SpecError(f"spec field runs[{i}].name: {n!r} is used twice")
    jobs = [parse_job(run_spec(r, n, common, out)) for r, n in zip(runs, names)]  # every spec checked first
    if jobs[0].threads:
        torch.set_num_threads(jobs[0].threads)
    datasets: dict[str, object] = {}
    results = []
    for name, job in zip(names, jobs):
        files = DataFiles(job.data_files, job.data_dir)
        key = json.dumps([job.data_files, job.data_dir], sort_keys=True)
        if key not in datasets:
            datasets[key] = load_dataset(files)
        t0 = time.perf_counter()
        trainer, r = run_training(job, datasets[key], Progress(_Discard()))  # type: ignore[arg-type]
        probs = r.pop("predictions")
        row = {"name": name, "model": job.model, "variant": job.variant, "knowledge": job.knowledge.set if job.knowledge else None,
               "seed": job.seed, "auc": r["auc"], "logloss": r["logloss"], "bestEpoch": trainer.best["epoch"],
               "valAuc": trainer.best["valAuc"], "epochs": trainer.epoch, "seconds": time.perf_counter() - t0}
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)
        if raw.get("predictions"):
            save_npy(Path(job.out_dir) / "test_pred.npy", probs.astype(np.float32))
        write_json(Path(job.out_dir) / "metrics.json", {**row, "history": trainer.history})
        progress.emit("run", **row)
        results.append(row)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.ctr.sweep")
    ap.add_argument("--spec", required=True, help="JSON sweep spec (see the module docstring)")
    args = ap.parse_args(argv)
    progress = claim_stdout()
    try:
        results = sweep(load_spec(args.spec), progress)
        progress.emit("done", runs=results)
        return 0
    except JobError as e:
        progress.emit("error", type=e.kind, message=str(e), nonRetryable=e.non_retryable)
        return EXIT_NON_RETRYABLE if e.non_retryable else EXIT_RETRYABLE
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        progress.emit("error", type=type(e).__name__, message=str(e) or repr(e), nonRetryable=False)
        return EXIT_RETRYABLE


if __name__ == "__main__":
    sys.exit(main())
