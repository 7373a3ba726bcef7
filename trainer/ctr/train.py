"""CLI: `python -m trainer.ctr.train --spec spec.json`.

Trains one CTR model (a backbone, or the logistic-regression floor) and writes to the spec's
outDir: metrics.json (test AUC/LogLoss and training figures), model.json (feature map, ONNX inputs),
model.onnx and weights.pt (backbones), test_pred.npy (test probabilities in test-split order) and,
for the `full` features, test_dense.npy (the numeric inputs the ONNX model needs).
Progress: line-delimited JSON on stdout; the last line is `done` or `error`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ..common.errors import EXIT_NON_RETRYABLE, EXIT_RETRYABLE, JobError
from ..common.process import WorkDirLock, die_with_parent
from ..common.progress import Progress, claim_stdout
from ..common.spec import load_spec
from .data import DataFiles, load_dataset
from .export import export_onnx, onnx_predict
from .fit import peak_memory_mb, run_training
from .floor import run_floor
from .job import CtrJob, parse_job
from .metrics import auc


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def save_npy(path: Path, a: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, a)
    os.replace(tmp, path)


def onnx_inputs(info: dict) -> list[dict]:
    """How a scorer feeds the model: each ONNX input, its dtype and the array holding it for the
    test split (`ingest:` = the ingest output, `model:` = this output directory)."""
    out = []
    for feature, name in zip(info["inputs"], info["onnxInputs"]):
        dense = feature == "dense"
        out.append({
            "name": name, "feature": feature, "dtype": "float32" if dense else "int32",
            "source": "model:test_dense.npy" if dense else f"ingest:test/{feature}.npy",
        })
    return out


def run(job: CtrJob, progress: Progress) -> dict:
    if job.threads:
        torch.set_num_threads(job.threads)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = DataFiles(job.data_files, job.data_dir)
    t0 = time.perf_counter()
    ds = load_dataset(files)
    progress.emit("data", train=len(ds.train), test=len(ds.test), users=ds.meta.users, items=ds.meta.items,
                  seconds=time.perf_counter() - t0)
    base = {"model": job.model, "features": job.features, "variant": job.variant, "seed": job.seed, "nTest": len(ds.test)}

    if job.model == "floor":
        r = run_floor(ds)
        save_npy(out / "test_pred.npy", r.pop("predictions"))
        metrics = {**base, **r, "device": "cpu", **peak_memory_mb(torch.device("cpu"))}
        write_json(out / "model.json", {"kind": "logistic-regression", "features": r["features"], "weights": r["weights"]})
        write_json(out / "metrics.json", metrics)
        return metrics

    trainer, result = run_training(job, ds, progress)
    probs = result.pop("predictions")
    save_npy(out / "test_pred.npy", probs.astype(np.float32))
    progress.emit("test", auc=result["auc"], logloss=result["logloss"], bestEpoch=trainer.best["epoch"])
    model_info: dict = {"kind": "ctr-backbone", "backbone": job.model, "featureMap": trainer.summary()["featureMap"]}
    torch.save(trainer.model.state_dict(), out / "weights.pt")
    if job.features == "full":
        save_npy(out / "test_dense.npy", trainer.test_inputs["dense"])
    summary = trainer.summary()  # before export: its peak memory is training's, not the exporter's
    summary.pop("featureMap")
    onnx_check = None
    if job.export:
        info = export_onnx(trainer.model, trainer.test_inputs, out / "model.onnx")
        ort_probs = onnx_predict(out / "model.onnx", trainer.test_inputs, info["inputs"])
        onnx_check = {
            "maxAbsDiff": float(np.max(np.abs(ort_probs - probs))),
            "auc": auc(trainer.test_y, ort_probs),
            "method": info["method"],
        }
        model_info["onnx"] = {"file": "model.onnx", "output": "prob", "inputs": onnx_inputs(info)}
        progress.emit("export", path=str(out / "model.onnx"), **onnx_check)
    write_json(out / "model.json", model_info)
    metrics = {**base, **result, **summary, "onnx": onnx_check}
    write_json(out / "metrics.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.ctr.train")
    ap.add_argument("--spec", required=True, help="JSON job spec (see trainer/ctr/job.py)")
    args = ap.parse_args(argv)
    progress = claim_stdout()
    lock = None
    try:
        job = parse_job(load_spec(args.spec))
        if job.die_with_parent:
            die_with_parent()
        lock = WorkDirLock(job.work_dir, args.spec)
        lock.acquire(wait=True, on_wait=lambda: progress.emit("waiting", reason=f"another process holds {lock.path}"))
        metrics = run(job, progress)
        done = {k: metrics.get(k) for k in ("model", "features", "variant", "seed", "auc", "logloss", "bestEpoch",
                                            "trainSamplesPerSec", "peakRssMb")}
        progress.emit("done", **done, outDir=job.out_dir)
        return 0
    except JobError as e:
        progress.emit("error", type=e.kind, message=str(e), nonRetryable=e.non_retryable)
        return EXIT_NON_RETRYABLE if e.non_retryable else EXIT_RETRYABLE
    except Exception as e:  # noqa: BLE001 - report anything else as a retryable failure
        traceback.print_exc(file=sys.stderr)
        progress.emit("error", type=type(e).__name__, message=str(e) or repr(e), nonRetryable=False)
        return EXIT_RETRYABLE
    finally:
        if lock is not None:
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
