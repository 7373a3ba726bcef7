#!/usr/bin/env python3
"""Plain single-stream generation with transformers (no server, no batching): the baseline that
`r4ec serve-model`'s throughput is compared with.

usage: .tools/venv/bin/python bench/plain-generate.py --base DIR --prompt-file PROMPTS.json [--max-tokens 128] [--threads 2] [--runs 2]

PROMPTS.json: a list of chat message lists; the first is used. Prints one JSON line: generated tokens/s
(prefill included, as a server request sees it), tokens, seconds, per run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--prompt-file", required=True)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=2)
    a = p.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.base)
    model = AutoModelForCausalLM.from_pretrained(a.base, dtype=torch.float32).eval()
    messages = json.load(open(a.prompt_file))[0]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=4, do_sample=False)  # warm-up
        runs = []
        for i in range(a.runs):
            t = time.perf_counter()
            out = model.generate(**ids, max_new_tokens=a.max_tokens, min_new_tokens=a.max_tokens, do_sample=True, temperature=0.7, top_p=0.9)
            sec = time.perf_counter() - t
            n = out.shape[1] - ids["input_ids"].shape[1]
            runs.append({"tokens": int(n), "seconds": round(sec, 2), "tokensPerSecond": round(n / sec, 1)})
    best = max(r["tokensPerSecond"] for r in runs)
    print(json.dumps({"engine": "transformers generate (single stream)", "promptTokens": int(ids["input_ids"].shape[1]), "tokensPerSecond": best, "runs": runs}))


if __name__ == "__main__":
    main()
