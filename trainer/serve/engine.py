"""Continuous batching over one base model and its resident LoRA adapters.

One thread owns the model. Each loop: apply adapter loads/unloads and cancellations, prefill waiting
requests (one at a time, up to a prompt-token budget, so running rows are not stalled for long), then
one decode step for every running row together. A row leaves the batch the step it finishes, and a
new one joins after its prefill, so a request never waits for a whole batch to drain.

Rows may name different adapters: peft applies each row's own adapter inside the same forward pass
(`adapter_names`, "__base__" for the base model).
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import cache as kv
from .sampling import choose

BASE = "__base__"


class RequestError(Exception):
    """A request the engine refuses; `kind` maps to an HTTP status on the server side."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Generate:
    id: int
    messages: list[dict]
    adapter: str | None
    temperature: float
    top_p: float
    max_tokens: int | None
    stop: list[str]
    seed: int | None
    received: float = field(default_factory=time.time)


@dataclass
class Row:
    req: Generate
    prompt_tokens: int
    max_tokens: int
    generator: torch.Generator
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    pos: int = 0  # position id of the next token fed


Reply = Callable[[dict], None]


class Engine:
    def __init__(self, base: str, threads: int, max_batch: int, prefill_budget: int, reply: Reply) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        path = Path(base)
        if not (path / "config.json").is_file():
            raise RequestError("bad_base", f'no Hugging Face model at "{base}" (expected config.json, weights and tokenizer files)')
        t0 = time.time()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        if not getattr(self.tokenizer, "chat_template", None):
            raise RequestError("bad_base", f'the model at "{base}" has no chat template')
        self.base = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
        self.model = self.base
        self.config = self.base.config
        self.context = int(getattr(self.config, "max_position_embeddings", 4096))
        eos = self.base.generation_config.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        self.eos.discard(None)
        self.max_batch = max_batch
        self.prefill_budget = prefill_budget
        self.reply = reply
        self.load_seconds = round(time.time() - t0, 2)
        self.adapters: dict[str, str] = {}
        self.inbox: queue.Queue = queue.Queue()
        self.waiting: list[Generate] = []
        self.rows: list[Row] = []
        self.cache = None
        self.mask: torch.Tensor | None = None
        self.cancelled: set[int] = set()
        self.stats = {
            "requests": 0,
            "generatedTokens": 0,
            "promptTokens": 0,
            "steps": 0,
            "maxBatch": 0,
            "prefillSeconds": 0.0,
            "decodeSeconds": 0.0,
            "sampleSeconds": 0.0,
        }

    # ------------------------------------------------------------------ inbox (any thread)

    def submit(self, op: dict) -> None:
        self.inbox.put(op)

    # ------------------------------------------------------------------ the loop (engine thread)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            busy = bool(self.rows or self.waiting)
            try:
                # Idle: block (no CPU) until something arrives; busy: only take what is already there.
                op = self.inbox.get_nowait() if busy else self.inbox.get()
            except queue.Empty:
                op = None
            while op is not None:
                self._handle(op)
                try:
                    op = self.inbox.get_nowait()
                except queue.Empty:
                    op = None
            if stop.is_set():
                break
            try:
                self._admit()
                if self.rows:
                    self._step()
            except Exception as e:  # a bug or an OOM: answer every request in flight instead of hanging them
                traceback.print_exc(file=sys.stderr)
                message = f"engine error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                for r in self.rows:
                    self._fail(r.req, "engine_error", message)
                self.rows, self.cache, self.mask = [], None, None

    def _handle(self, op: dict) -> None:
        kind = op.get("op")
        rid = op.get("id")
        try:
            if kind == "generate":
                self.waiting.append(self._parse_generate(op))
            elif kind == "load":
                self._load(str(op["name"]), str(op["path"]))
                self.reply({"id": rid, "ok": True})
            elif kind == "unload":
                self._unload(str(op["name"]))
                self.reply({"id": rid, "ok": True})
            elif kind == "cancel":
                self._cancel(int(op["target"]))
            elif kind == "stats":
                self.reply({"id": rid, "ok": True, "stats": {**self.stats, "adapters": sorted(self.adapters)}})
            elif kind == "stop":
                pass
            else:
                raise RequestError("bad_request", f"unknown op {json.dumps(kind)}")
        except RequestError as e:
            self.reply({"id": rid, "ok": False, "error": {"kind": e.kind, "message": str(e)}})

    def _parse_generate(self, op: dict) -> Generate:
        adapter = op.get("adapter")
        if adapter is not None and adapter not in self.adapters:
            raise RequestError("unknown_model", f"The model `{adapter}` does not exist.")
        stop = op.get("stop") or []
        return Generate(
            id=int(op["id"]),
            messages=list(op["messages"]),
            adapter=adapter,
            temperature=float(op.get("temperature", 1.0)),
            top_p=float(op.get("top_p", 1.0)),
            max_tokens=op.get("max_tokens"),
            stop=[s for s in stop if s],
            seed=op.get("seed"),
        )

    # ------------------------------------------------------------------ adapters

    def _load(self, name: str, path: str) -> None:
        from peft import PeftModel

        if name in self.adapters:
            raise RequestError("adapter_exists", f"The lora adapter '{name}' has already been loaded.")
        if name == BASE:
            raise RequestError("bad_adapter", f'"{BASE}" is reserved')
        p = Path(path)
        if not (p / "adapter_config.json").is_file():
            raise RequestError("bad_adapter", f'no LoRA adapter at "{path}" (expected adapter_config.json and adapter_model.safetensors)')
        try:
            if self.model is self.base:
                self.model = PeftModel.from_pretrained(self.base, str(p), adapter_name=name, is_trainable=False).eval()
            else:
                self.model.load_adapter(str(p), adapter_name=name, is_trainable=False)
        except Exception as e:  # shape mismatch (another base), unreadable weights, bad config
            if self.model is not self.base and name in getattr(self.model, "peft_config", {}):
                self._drop(name)
            raise RequestError("bad_adapter", f'cannot load the LoRA adapter at "{path}": {str(e).splitlines()[0][:400]}') from e
        self.adapters[name] = path

    def _drop(self, name: str) -> None:
        if len(self.model.peft_config) <= 1:
            # The last adapter: take the LoRA layers out and serve the plain base model again.
            self.model = self.model.unload()
            self.base = self.model
        else:
            self.model.delete_adapter(name)

    def _unload(self, name: str) -> None:
        if name not in self.adapters:
            raise RequestError("unknown_adapter", f"The lora adapter '{name}' cannot be found.")
        if any(r.req.adapter == name for r in self.rows) or any(w.adapter == name for w in self.waiting):
            # Finish what is running first would stall the loop; refuse instead, like a busy resource.
            raise RequestError("adapter_busy", f"The lora adapter '{name}' has requests in flight; unload it when they are done.")
        self._drop(name)
        del self.adapters[name]

    # ------------------------------------------------------------------ requests

    def _cancel(self, target: int) -> None:
        self.waiting = [w for w in self.waiting if w.id != target]
        if any(r.req.id == target for r in self.rows):
            self.cancelled.add(target)

    def _fail(self, req: Generate, kind: str, message: str) -> None:
        self.reply({"id": req.id, "ok": False, "error": {"kind": kind, "message": message}})

    def _forward(self, adapters: list[str | None], **inputs):
        kwargs = {}
        if self.model is not self.base:
            kwargs["adapter_names"] = [a or BASE for a in adapters]
        with torch.inference_mode():
            return self.model(**inputs, **kwargs, use_cache=True, logits_to_keep=1)

    def _admit(self) -> None:
        budget = self.prefill_budget
        while self.waiting and len(self.rows) < self.max_batch:
            req = self.waiting[0]
            try:
                text = self.tokenizer.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True)
            except Exception as e:
                self.waiting.pop(0)
                self._fail(req, "bad_request", f"the chat template cannot render these messages: {e}")
                continue
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            room = self.context - len(ids)
            max_tokens = room if req.max_tokens is None else int(req.max_tokens)
            if room < 1 or max_tokens > room:
                self.waiting.pop(0)
                self._fail(
                    req,
                    "context_length",
                    f"This model's maximum context length is {self.context} tokens. However, you requested "
                    f"{len(ids) + max_tokens} tokens ({len(ids)} in the messages, {max_tokens} in the completion).",
                )
                continue
            if budget < len(ids) and budget < self.prefill_budget:
                break  # this loop's prefill share is spent; decode a step first
            self.waiting.pop(0)
            budget -= len(ids)
            self._prefill(req, ids, max_tokens)

    def _prefill(self, req: Generate, ids: list[int], max_tokens: int) -> None:
        gen = torch.Generator()
        gen.manual_seed(req.seed if req.seed is not None else random.getrandbits(63))
        row = Row(req, len(ids), max_tokens, gen, pos=len(ids))
        self.stats["requests"] += 1
        self.stats["promptTokens"] += len(ids)
        if max_tokens == 0:
            self._finish(row, "length")
            return
        t0 = time.perf_counter()
        input_ids = torch.tensor([ids], dtype=torch.long)
        mask = torch.ones_like(input_ids)
        past = kv.new_cache(self.config)
        out = self._forward([req.adapter], input_ids=input_ids, attention_mask=mask, cache=past)
        tok = choose(out.logits[:, -1], [req.temperature], [req.top_p], [gen])[0]
        self.stats["prefillSeconds"] += time.perf_counter() - t0
        if self._append(row, tok):
            return
        layers = kv.layers_of(out.cache)
        if self.cache is None:
            self.cache, self.mask = kv.merge(self.config, [(layers, mask)])
        else:
            self.cache, self.mask = kv.merge(self.config, [(kv.layers_of(self.cache), self.mask), (layers, mask)])
        self.rows.append(row)
        self.stats["maxBatch"] = max(self.stats["maxBatch"], len(self.rows))

    def _append(self, row: Row, tok: int) -> bool:
        """Adds a sampled token; True when the row is finished (and answered)."""
        if tok in self.eos:
            row.tokens.append(tok)
            self._finish(row, "stop")
            return True
        row.tokens.append(tok)
        if row.req.stop:
            text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in row.req.stop) if i >= 0), default=-1)
            if cut >= 0:
                row.text = text[:cut]
                self._finish(row, "stop", text_ready=True)
                return True
        if len(row.tokens) >= row.max_tokens:
            self._finish(row, "length")
            return True
        return False

    def _finish(self, row: Row, reason: str, text_ready: bool = False) -> None:
        if not text_ready:
            content = [t for t in row.tokens if t not in self.eos]
            row.text = self.tokenizer.decode(content, skip_special_tokens=True)
        self.stats["generatedTokens"] += len(row.tokens)
        self.reply(
            {
                "id": row.req.id,
                "ok": True,
                "text": row.text,
                "finishReason": reason,
                "promptTokens": row.prompt_tokens,
                "completionTokens": len(row.tokens),
                "queueSeconds": round(time.time() - row.req.received, 3),
            }
        )

    def _step(self) -> None:
        rows = self.rows
        last = torch.tensor([[r.tokens[-1]] for r in rows], dtype=torch.long)
        pos = torch.tensor([[r.pos] for r in rows], dtype=torch.long)
        mask = torch.cat([self.mask, self.mask.new_ones((len(rows), 1))], dim=1)
        t0 = time.perf_counter()
        out = self._forward([r.req.adapter for r in rows], input_ids=last, attention_mask=mask, position_ids=pos, cache=self.cache)
        t1 = time.perf_counter()
        self.mask = mask
        self.stats["steps"] += 1
        toks = choose(out.logits[:, -1], [r.req.temperature for r in rows], [r.req.top_p for r in rows], [r.generator for r in rows])
        self.stats["decodeSeconds"] += t1 - t0
        self.stats["sampleSeconds"] += time.perf_counter() - t1
        keep = []
        for i, (r, t) in enumerate(zip(rows, toks)):
            r.pos += 1
            if r.req.id in self.cancelled:
                self.cancelled.discard(r.req.id)
                continue
            if not self._append(r, t):
                keep.append(i)
        if len(keep) == len(rows):
            return
        self.rows = [rows[i] for i in keep]
        if not keep:
            self.cache, self.mask = None, None
        else:
            self.cache, self.mask = kv.select(self.config, self.cache, self.mask, keep)
