"""Shared helpers of the CTR trainer tests: a tiny synthetic dataset in the ingest format, job
specs with small dimensions, and running the CLI as the activity does (a subprocess reading
line-delimited JSON progress)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Small enough that a backbone trains in about a second on one shared core.
SMALL_TRAIN = {
    "epochs": 2, "patience": 2, "batchSize": 64, "learningRate": 0.01, "embeddingDim": 8, "mlp": [16],
    "connector": [16], "validationFraction": 0.2, "evalBatchSize": 512,
}


def small_spec(data_dir: Path, tmp: Path, **over) -> dict:
    spec = {
        "model": "dcn", "features": "paper", "variant": "base", "seed": 1,
        "data": {"dir": str(data_dir)}, "workDir": str(tmp / "work"), "outDir": str(tmp / "out"),
        "threads": 1, "export": False, "progressEverySteps": 5, "train": dict(SMALL_TRAIN),
    }
    train = over.pop("train", None)
    spec.update(over)
    if train:
        spec["train"].update(train)
    return spec


def cli_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def write_spec(spec: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    return path


def run_cli(spec: dict, tmp: Path, name: str = "spec.json", timeout: float = 600) -> tuple[int, list[dict], str]:
    """Runs `python -m trainer.ctr.train` to the end: (exit code, progress events, stderr)."""
    path = write_spec(spec, tmp / name)
    p = subprocess.run([sys.executable, "-m", "trainer.ctr.train", "--spec", str(path)], capture_output=True,
                       text=True, env=cli_env(), cwd=ROOT, timeout=timeout)
    return p.returncode, parse_events(p.stdout), p.stderr


def parse_events(stdout: str) -> list[dict]:
    # Every stdout line must be JSON: that is the progress contract.
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def events(evs: list[dict], kind: str) -> list[dict]:
    return [e for e in evs if e["event"] == kind]
