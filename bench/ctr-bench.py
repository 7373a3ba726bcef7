"""CTR benchmark: the floor and every backbone (Base variant) for the `paper` and `full` feature
sets on an ingested dataset, one trainer process at a time, as the train stage runs them.
Prints test AUC / LogLoss, the best epoch, training samples/second and peak memory per model.

usage:
  npx tsx bench/ctr-ingest.ts --data ../shared/data/ml-1m --store /tmp/r4ec-bench-store   # prints "dir"
  .tools/venv/bin/python bench/ctr-bench.py --data DIR [--threads 2] [--backbones dcn,deepfm]
      [--features paper,full] [--epochs 20] [--patience 3] [--out /tmp/ctr-bench] [--throughput 102400]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKBONES = ["dien", "gru4rec", "autoint", "fignn", "dcn", "deepfm"]


def run_job(spec: dict, work: Path, log: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    with open(log, "w") as lf:
        proc = subprocess.Popen([sys.executable, "-m", "trainer.ctr.train", "--spec", str(spec_path)],
                                stdout=subprocess.PIPE, stderr=lf, text=True, env=env, cwd=ROOT)
        last = {}
        for line in proc.stdout:  # type: ignore[union-attr]
            lf.write(line)
            lf.flush()
            ev = json.loads(line)
            last = ev
            if ev["event"] == "epoch":
                print(f"    epoch {ev['epoch']}: loss {ev['loss']:.4f} val AUC {ev['valAuc']:.4f} "
                      f"({ev['samplesPerSec']:.0f} samples/s)", flush=True)
        proc.wait()
    if last.get("event") != "done":
        raise SystemExit(f"job failed: {last} (log {log})")
    metrics = json.loads((Path(spec["outDir"]) / "metrics.json").read_text())
    metrics["wallSeconds"] = time.time() - t0
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="ingest output directory (meta.json, train/, test/, seq/)")
    ap.add_argument("--out", default="/tmp/ctr-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--features", default="paper,full")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--export", action="store_true", help="also export ONNX and check it (slower)")
    ap.add_argument("--throughput", type=int, default=0, metavar="SAMPLES",
                    help="speed only: one epoch over this many training samples per model, no floor (AUC meaningless)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"data": args.data, "threads": args.threads, "rows": []}

    def job(model: str, features: str) -> dict:
        name = f"{model}-{features}"
        return {
            "model": model, "features": features, "variant": "base", "seed": args.seed,
            "data": {"dir": args.data}, "workDir": str(out / name / "work"), "outDir": str(out / name / "out"),
            "threads": args.threads, "export": args.export, "progressEverySteps": 100,
            "train": {"epochs": 1 if args.throughput else args.epochs, "patience": args.patience,
                      "batchSize": args.batch_size, "learningRate": args.lr},
            **({"debug": {"maxTrainSamples": args.throughput}} if args.throughput else {}),
        }

    if not args.throughput:
        print("floor", flush=True)
        floor = run_job(job("floor", "paper"), out / "floor", out / "floor.log")
        results["floor"] = {"auc": floor["auc"], "logloss": floor["logloss"]}
        print(f"  floor AUC {floor['auc']:.4f} LogLoss {floor['logloss']:.4f}", flush=True)
    for features in args.features.split(","):
        for model in args.backbones.split(","):
            print(f"{model} / {features}", flush=True)
            m = run_job(job(model, features), out / f"{model}-{features}", out / f"{model}-{features}.log")
            row = {k: m.get(k) for k in ("model", "features", "auc", "logloss", "bestEpoch", "epochs",
                                         "trainSamplesPerSec", "peakRssMb", "parameters", "wallSeconds")}
            results["rows"].append(row)
            print(f"  AUC {m['auc']:.4f} LogLoss {m['logloss']:.4f} best epoch {m['bestEpoch']}/{m['epochs']} "
                  f"{m['trainSamplesPerSec']:.0f} samples/s peak RSS {m['peakRssMb']:.0f} MB", flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=1))

    print("\n| backbone | features | AUC | LogLoss | best epoch | train samples/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    if "floor" in results:
        print(f"| floor (LR) | - | {results['floor']['auc']:.4f} | {results['floor']['logloss']:.4f} | | | |")
    for r in results["rows"]:
        print(f"| {r['model']} | {r['features']} | {r['auc']:.4f} | {r['logloss']:.4f} | {r['bestEpoch']}/{r['epochs']} "
              f"| {r['trainSamplesPerSec']:.0f} | {r['peakRssMb']:.0f} |")


if __name__ == "__main__":
    main()
