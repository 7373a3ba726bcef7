"""Python baseline for bench/encode-bench.ts: onnxruntime + HF tokenizers on the same model and texts.

  python bench/encode-bench.py --model DIR --texts TEXTS.json --batches 32,128 [--threads 0] [--sorted]

Batches are padded to their longest text; with --sorted the texts are length-sorted first (the same
bucketing r4ec does), otherwise taken in input order (the usual way). Prints one JSON line per batch size.
"""
import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, type=Path)
ap.add_argument("--texts", required=True)
ap.add_argument("--batches", default="32,128")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--sorted", action="store_true")
args = ap.parse_args()

cfg = json.loads((args.model / "r4ec-encoder.json").read_text())
texts = json.loads(Path(args.texts).read_text())
tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
tok.no_padding()
tok.enable_truncation(cfg["maxLength"])
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
if args.threads:
    so.intra_op_num_threads = args.threads
sess = ort.InferenceSession(str(args.model / "model.onnx"), so, providers=["CPUExecutionProvider"])
names = {i.name for i in sess.get_inputs()}


def encode(batch_texts, batch_size):
    encs = tok.encode_batch(batch_texts)
    order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids)) if args.sorted else list(range(len(encs)))
    out = np.zeros((len(encs), 0), dtype=np.float32)
    rows = [None] * len(encs)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        L = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), L), dtype=np.int64)
        mask = np.zeros((len(idx), L), dtype=np.int64)
        for k, i in enumerate(idx):
            n = len(encs[i].ids)
            ids[k, :n] = encs[i].ids
            mask[k, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        h = sess.run(None, feeds)[0]
        if cfg["pooling"] == "cls":
            v = h[:, 0]
        else:
            m = mask[..., None].astype(np.float32)
            v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        if cfg["normalize"]:
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        for k, i in enumerate(idx):
            rows[i] = v[k]
    return np.stack(rows)


encode(texts[:64], 32)  # warm-up
for b in [int(x) for x in args.batches.split(",")]:
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    encode(texts, b)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"runtime": "python onnxruntime" + (" (length-sorted)" if args.sorted else " (input order)"), "batch": b,
                      "texts": len(texts), "seconds": round(dt, 3), "perSecond": round(len(texts) / dt, 1),
                      "cpuSeconds": round(cpu, 3), "perCpuSecond": round(len(texts) / cpu, 1),
                      "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}), flush=True)
