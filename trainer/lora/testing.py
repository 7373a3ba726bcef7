"""Helpers shared by the LoRA trainer's tests and benchmark (small synthetic SFT data, specs, processes)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENRES = ["drama", "comedy", "horror", "western", "romance", "thriller", "animation", "documentary"]


def sft_records(n: int, seed: int = 0) -> list[dict]:
    """Chat records whose answer is a function of the prompt, so a model can learn them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        liked, disliked = rng.sample(GENRES, 2)
        out.append(
            {
                "messages": [
                    {"role": "system", "content": "You are an expert recommender engine."},
                    {
                        "role": "user",
                        "content": f"User {i} rated {liked} films 5 and {disliked} films 1. Summarize the user preference.",
                    },
                    {"role": "assistant", "content": f"The user enjoys {liked} and avoids {disliked}."},
                ]
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def make_spec(tmp: Path, base_model: str, dataset: Path, work: str = "job", **train) -> Path:
    spec = {
        "jobKey": f"test-{work}",
        "baseModel": base_model,
        "dataset": str(dataset),
        "workDir": str(tmp / work),
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "targetModules": "all-linear"},
        "train": {"epochs": 3, "learningRate": 5e-3, "batchSize": 4, "cutoffLen": 256, "checkpointEvery": 4, "seed": 7, "threads": 1}
        | train,
    }
    path = tmp / f"{work}.spec.json"
    path.write_text(json.dumps(spec))
    return path


def start_trainer(spec: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainer.lora.train", "--spec", str(spec)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )


def events_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
