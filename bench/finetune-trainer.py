#!/usr/bin/env python3
"""LoRA trainer throughput: tokens/second of trainer.lora.train on the tiny model (CPU, or CUDA when
torch sees one), with the paper's hyper-parameters except the number of steps.

usage: .tools/venv/bin/python bench/finetune-trainer.py [--records 64] [--batch 16] [--micro 16]
       [--data FILE.jsonl | --authors ../shared/data/r4ec/amz_user_refine.json] [--model DIR]
       [--hidden 64] [--layers 2] [--device auto|cpu|cuda]

Prints one JSON line: tokens/s (all non-pad tokens through forward+backward), supervised tokens/s,
step time, setup time (imports, model load, tokenization), and the machine's thread count.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from trainer.lora import train as lora_train  # noqa: E402
from trainer.lora.testing import sft_records, write_jsonl  # noqa: E402
from trainer.lora.tiny import build_tiny_model  # noqa: E402


def authors_records(path: str, n: int) -> list[dict]:
    raw = json.loads(Path(path).read_text())
    system = "You are an experienced analyst for a recommender system."
    return [
        {"messages": [{"role": "system", "content": system}, {"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["answer"]}]}
        for r in raw[:n]
    ]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--micro", type=int, default=None)
    p.add_argument("--cutoff", type=int, default=2048)
    p.add_argument("--data")
    p.add_argument("--authors")
    p.add_argument("--model")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        if a.data:
            data = Path(a.data)
            source = a.data
        elif a.authors:
            data = write_jsonl(tmpd / "sft.jsonl", authors_records(a.authors, a.records))
            source = "authors' D_refine sample"
        else:
            data = write_jsonl(tmpd / "sft.jsonl", sft_records(a.records))
            source = "synthetic short records"
        # The tokenizer learns the data's vocabulary, as a real model's would cover it.
        model = a.model or build_tiny_model(str(tmpd / "tiny"), hidden_size=a.hidden, layers=a.layers, corpus_files=[str(data)])["path"]
        spec = {
            "jobKey": "bench",
            "baseModel": model,
            "dataset": str(data),
            "workDir": str(tmpd / "job"),
            "train": {
                "epochs": 1,
                "batchSize": a.batch,
                "microBatchSize": a.micro or a.batch,
                "cutoffLen": a.cutoff,
                "checkpointEvery": 10**6,
                "device": a.device,
                "threads": a.threads,
            },
        }
        (tmpd / "spec.json").write_text(json.dumps(spec))
        out = io.StringIO()
        t0 = time.time()
        with contextlib.redirect_stdout(out):
            code = lora_train.main(["--spec", str(tmpd / "spec.json")])
        wall = time.time() - t0
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        if code != 0:
            print(json.dumps({"error": events[-1]}))
            return code
        start, done = events[0], events[-1]
        steps = [e for e in events if e["event"] == "step"]
        import torch

        print(
            json.dumps(
                {
                    "data": source,
                    "records": done["records"],
                    "truncatedRecords": done["truncatedRecords"],
                    "steps": done["steps"],
                    "batch": a.batch,
                    "device": done["device"],
                    "threads": torch.get_num_threads(),
                    "cpus": os.cpu_count(),
                    "hidden": a.hidden,
                    "layers": a.layers,
                    "tokens": done["tokens"],
                    "supervisedTokens": done["supervisedTokens"],
                    "trainSeconds": done["trainSeconds"],
                    "tokensPerSecond": done["tokensPerSecond"],
                    "supervisedTokensPerSecond": round(done["supervisedTokens"] / done["trainSeconds"], 1),
                    "secondsPerStep": round(done["trainSeconds"] / max(1, len(steps)), 4),
                    "setupSeconds": start["setupSeconds"],
                    "wallSeconds": round(wall, 3),
                    "firstLoss": done["firstLoss"],
                    "finalLoss": done["finalLoss"],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
