"""The serving engine's continuous batching on the tiny random model (CPU, no downloads): rows that
join and leave a running batch, left-padded to each other, decode exactly what transformers' own
greedy generate() decodes for each prompt alone; seeds, stop strings, usage and errors."""

import threading
import time

import pytest
import torch

from trainer.lora.tiny import build_tiny_model
from trainer.serve.engine import Engine


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_model(str(tmp_path_factory.mktemp("serve") / "tiny"), arch="llama", seed=3, vocab_size=512)["path"]


class Running:
    def __init__(self, base, **kw):
        self.replies = {}
        self.engine = Engine(base, threads=1, max_batch=kw.get("max_batch", 8), prefill_budget=kw.get("prefill_budget", 40), reply=self._reply)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.engine.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def _reply(self, obj):
        self.replies[obj["id"]] = obj

    def ask(self, rid, content, **params):
        op = {"op": "generate", "id": rid, "messages": [{"role": "user", "content": content}], "temperature": 0.0, "top_p": 1.0, "max_tokens": 12, "stop": [], "seed": None}
        self.engine.submit(op | params)

    def wait(self, ids, timeout=120):
        until = time.time() + timeout
        while time.time() < until and not all(i in self.replies for i in ids):
            time.sleep(0.01)
        return [self.replies[i] for i in ids]

    def close(self):
        self.stop.set()
        self.engine.submit({"op": "stop"})
        self.thread.join(5)


PROMPTS = ["The user enjoys dramas", "Heat (1995)", "A reflection points out that the previous preference ignored the low ratings", "Toy Story", "user will like the target movie", "Casablanca (1942), The Matrix (1999), Fargo (1996)"]


def reference(engine, content, n):
    tok = engine.tokenizer
    ids = tok(tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True), add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        out = engine.base.generate(**ids, max_new_tokens=n, do_sample=False, eos_token_id=list(engine.eos), pad_token_id=tok.pad_token_id)
    gen = [t for t in out[0, ids["input_ids"].shape[1] :].tolist() if t not in engine.eos]
    return tok.decode(gen, skip_special_tokens=True), ids["input_ids"].shape[1]


def test_batched_rows_decode_what_each_prompt_decodes_alone(base):
    run = Running(base)
    try:
        # Staggered: a small prefill budget admits a few per loop, so rows join a batch already decoding,
        # and different max_tokens make rows leave it at different steps.
        lengths = [5, 12, 3, 9, 12, 7]
        for i, (p, n) in enumerate(zip(PROMPTS, lengths)):
            run.ask(i, p, max_tokens=n)
        replies = run.wait(range(len(PROMPTS)))
        assert run.engine.stats["maxBatch"] >= 3
        for (p, n), r in zip(zip(PROMPTS, lengths), replies):
            text, prompt_tokens = reference(run.engine, p, n)
            assert r["ok"] and r["text"] == text, (p, r, text)
            assert r["promptTokens"] == prompt_tokens
            assert r["completionTokens"] <= n
            if r["finishReason"] == "length":
                assert r["completionTokens"] == n
    finally:
        run.close()


def test_seed_stop_and_errors(base):
    run = Running(base)
    try:
        run.ask(1, "Heat (1995)", temperature=1.0, seed=5)
        run.ask(2, "Toy Story", temperature=0.0)  # a neighbour in the batch
        first = run.wait([1])[0]
        run.ask(3, "Heat (1995)", temperature=1.0, seed=5)
        assert run.wait([3])[0]["text"] == first["text"], "same seed, same sample"
        greedy = run.wait([2])[0]["text"]
        assert len(greedy) > 2
        stop = greedy[1:3]
        run.ask(4, "Toy Story", stop=[stop])
        cut = run.wait([4])[0]
        assert cut["finishReason"] == "stop" and cut["text"] == greedy[: greedy.find(stop)]
        run.ask(5, "x", max_tokens=10**6)
        assert run.wait([5])[0]["error"]["kind"] == "context_length"
        run.ask(6, "x", adapter="nope")
        assert run.wait([6])[0]["error"]["kind"] == "unknown_model"
        run.engine.submit({"op": "load", "id": 7, "name": "a", "path": "/nonexistent"})
        err = run.wait([7])[0]["error"]
        assert err["kind"] == "bad_adapter" and "/nonexistent" in err["message"]
    finally:
        run.close()
