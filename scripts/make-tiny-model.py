#!/usr/bin/env python3
"""Builds the tiny random-weight LoRA base model (tests, offline quick start). Prints one JSON line.

usage: .tools/venv/bin/python scripts/make-tiny-model.py OUT_DIR [--arch qwen2|llama] [--seed N]
       [--vocab-size N] [--corpus FILE.jsonl ...]
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.lora.tiny import build_tiny_model  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--corpus", nargs="*", default=[], help="extra text or chat JSONL files for the tokenizer")
    a = p.parse_args()
    info = build_tiny_model(a.out_dir, arch=a.arch, seed=a.seed, vocab_size=a.vocab_size, corpus_files=a.corpus)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
