"""One LoRA supervised fine-tuning job, shaped like torchtune's recipes:

    recipe = LoraRecipe(spec, progress, stop_requested)
    recipe.setup()                 # data, base model + LoRA, optimizer, scheduler, resume from the newest checkpoint
    metrics = recipe.train()       # the steps; save_checkpoint() every `checkpointEvery` steps and on a stop
    recipe.save_adapter(metrics)   # the final adapter, complete or not at all
    recipe.cleanup()

Resuming restores the adapter weights, the optimizer, the scheduler, the RNGs and the counters, and
the batch order is a function of (seed, epoch): a resumed job ends with the uninterrupted job's adapter.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..common.checkpoint import fsync_file, replace_atomically
from ..common.progress import Progress
from .checkpoint import load_files, lora_checkpoints, write_files
from .data import collate, encode_record, ensure_chat_template, load_sft_jsonl, steps_per_epoch
from .model import load_base, resolve_device, resolve_target_modules
from .spec import JobSpec

ADAPTER_DIR = "adapter"
ADAPTER_META = "r4ec-adapter.json"
# Padded tokens per forward pass on the CPU when microBatchSize is unset: one pass of SmolLM2-135M
# keeps ~4.5 MB of activations per token for the backward pass (measured: 770 tokens, 4.4 GB peak).
MICRO_BATCH_TOKENS = 1024


class Stopped(Exception):
    """SIGTERM/SIGINT: training stopped after `step` with a checkpoint at `checkpoint` (None before the first step)."""

    def __init__(self, step: int | None, checkpoint: str | None):
        super().__init__(f"stopped at step {step}")
        self.step = step
        self.checkpoint = checkpoint


class Faults:
    """Test-only fault injection via R4EC_LORA_FAULT, e.g. "oom@3", "crash@2", "delay=0.2" (s per step):
    the failure paths (OOM, a crash after a checkpoint) cannot be produced on demand otherwise."""

    def __init__(self, raw: str) -> None:
        self.at: dict[int, str] = {}
        self.delay = 0.0
        for part in filter(None, (p.strip() for p in raw.split(","))):
            if part.startswith("delay="):
                self.delay = float(part[6:])
            else:
                kind, _, step = part.partition("@")
                self.at[int(step)] = kind

    def before_step(self, step: int) -> None:
        import torch

        if self.delay:
            time.sleep(self.delay)
        kind = self.at.get(step)
        if kind == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by R4EC_LORA_FAULT)")
        if kind == "crash":
            raise RuntimeError(f"injected crash at step {step} (R4EC_LORA_FAULT)")


def finished_adapter(work: Path, job_key: str) -> dict | None:
    """The metadata of this job's finished adapter, when an earlier run wrote it."""
    try:
        data = json.loads((work / ADAPTER_DIR / ADAPTER_META).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("jobKey") == job_key else None


class LoraRecipe:
    def __init__(self, spec: JobSpec, progress: Progress, stop_requested: Callable[[], bool]):
        self.spec = spec
        self.tc = spec.train
        self.progress = progress
        self.stop_requested = stop_requested
        self.work = Path(spec.work_dir)
        self.faults = Faults(os.environ.get("R4EC_LORA_FAULT", ""))
        self.counters = {"tokens": 0, "supervisedTokens": 0, "trainSeconds": 0.0, "firstLoss": None}
        self.start_step = 0
        self.resumed_from: str | None = None
        self.loss: float | None = None
        self.model = self.optimizer = self.scheduler = None

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        import warnings

        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import get_scheduler
        from transformers.utils import logging as hf_logging

        t0 = time.time()
        # trainer.log keeps what matters (warnings, tracebacks) without progress bars or a known
        # transformers-5 deprecation notice that peft triggers.
        hf_logging.disable_progress_bar()
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        spec, tc = self.spec, self.tc
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.device, self.dtype = resolve_device(spec)
        records = load_sft_jsonl(spec.dataset)
        self.tokenizer, model = load_base(spec, self.dtype)
        template = ensure_chat_template(self.tokenizer)
        self.examples = [encode_record(self.tokenizer, r, tc.cutoff_len) for r in records]
        self.truncated = sum(e.truncated for e in self.examples)

        model.config.use_cache = False
        if tc.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lora_config = LoraConfig(
            r=spec.lora.r,
            lora_alpha=spec.lora.alpha,
            lora_dropout=spec.lora.dropout,
            target_modules=resolve_target_modules(model, spec.lora.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )
        torch.manual_seed(tc.seed)  # LoRA A init
        self.model = get_peft_model(model, lora_config)
        self.model.to(self.device)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=tc.learning_rate, weight_decay=0.0)
        self.steps_per_epoch = steps_per_epoch(len(self.examples), tc.batch_size)
        self.total = max(1, math.ceil(tc.epochs * self.steps_per_epoch))
        self.scheduler = get_scheduler(
            "constant_with_warmup" if tc.scheduler == "constant" else tc.scheduler,
            self.optimizer,
            num_warmup_steps=math.ceil(tc.warmup_ratio * self.total),
            num_training_steps=self.total,
        )
        self._resume()
        self.progress.emit(
            "start",
            jobKey=spec.job_key,
            records=len(self.examples),
            truncated=self.truncated,
            totalSteps=self.total,
            stepsPerEpoch=self.steps_per_epoch,
            startStep=self.start_step,
            resumedFrom=self.resumed_from,
            device=str(self.device),
            dtype=str(self.dtype).replace("torch.", ""),
            chatTemplate=template,
            trainableParameters=sum(p.numel() for p in self.trainable),
            targetModules=sorted(self.model.peft_config["default"].target_modules),
            setupSeconds=round(time.time() - t0, 3),
        )

    def _resume(self) -> None:
        import torch

        self.checkpoints = lora_checkpoints(self.work, self.spec.job_key, self.tc.keep_checkpoints)
        state = self.checkpoints.newest(
            on_skip=lambda path, why: self.progress.emit("warning", message=f"checkpoint {path.name} passed over ({why}); trying an older one"),
            restore=lambda path, _state: load_files(path, self.model, self.optimizer, self.scheduler, self.device),
        )
        if state is None:
            torch.manual_seed(self.tc.seed + 1)  # dropout stream, restored from checkpoints on resume
            return
        self.start_step, self.resumed_from = state["step"], state["path"]
        for k in self.counters:
            self.counters[k] = state.get(k, self.counters[k])

    # ---- train -----------------------------------------------------------------------------------
    def train(self) -> dict:
        """Runs the remaining steps and returns the job's metrics; raises Stopped on SIGTERM/SIGINT."""
        import torch

        tc, spe, counters = self.tc, self.steps_per_epoch, self.counters
        pad_id = self.tokenizer.pad_token_id
        self.model.train()
        last_checkpoint = self.start_step
        for step in range(self.start_step, self.total):
            if self.stop_requested():
                raise Stopped(None, None)
            self.faults.before_step(step + 1)
            t0 = time.perf_counter()
            epoch, pos = divmod(step, spe)
            gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
            order = torch.randperm(len(self.examples), generator=gen)[pos * tc.batch_size : (pos + 1) * tc.batch_size].tolist()
            batch = [self.examples[i] for i in order]
            n_sup = sum(sum(1 for x in e.labels if x != -100) for e in batch)
            total_loss = 0.0
            for micro in self._micro_batches(batch):
                mb = collate(micro, pad_id)
                mb = {k: v.to(self.device) for k, v in mb.items()}
                # Logits only where a label is supervised: the vocabulary (49k for SmolLM2) times every
                # prompt position, kept for the backward pass, was most of a job's memory.
                targets = mb["labels"][:, 1:]
                keep = torch.zeros_like(mb["labels"], dtype=torch.bool)
                keep[:, :-1] = targets != -100
                logits = self.model(input_ids=mb["input_ids"], attention_mask=mb["attention_mask"], logits_to_keep=keep).logits
                # Token-weighted over the whole batch, so micro-batching does not change the loss.
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)).float(), targets[targets != -100], reduction="sum"
                ) / max(n_sup, 1)
                loss.backward()
                total_loss += loss.item()
                counters["tokens"] += int(mb["attention_mask"].sum())
            if tc.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.trainable, tc.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            counters["supervisedTokens"] += n_sup
            counters["trainSeconds"] += time.perf_counter() - t0
            self.loss = round(total_loss, 6)
            if counters["firstLoss"] is None:
                counters["firstLoss"] = self.loss
            done = step + 1
            self.progress.emit(
                "step", step=done, totalSteps=self.total, epoch=round(done / spe, 4), loss=self.loss,
                lr=self.scheduler.get_last_lr()[0], tokens=counters["tokens"],
            )
            if done % tc.checkpoint_every == 0 and done < self.total:
                self.save_checkpoint(done)
                last_checkpoint = done
            if self.stop_requested() and done < self.total:
                path = self.save_checkpoint(done) if last_checkpoint != done else str(self.checkpoints.path(done))
                raise Stopped(done, path)
        return {
            "steps": self.total,
            "records": len(self.examples),
            "truncatedRecords": self.truncated,
            "firstLoss": counters["firstLoss"],
            "finalLoss": self.loss,
            "tokens": counters["tokens"],
            "supervisedTokens": counters["supervisedTokens"],
            "trainSeconds": round(counters["trainSeconds"], 3),
            "tokensPerSecond": round(counters["tokens"] / counters["trainSeconds"], 1) if counters["trainSeconds"] else None,
            "device": str(self.device),
            "trainableParameters": sum(p.numel() for p in self.trainable),
        }

    def _micro_batches(self, batch: list) -> list[list]:
        """The batch in forward passes: `microBatchSize` examples each when set; else, on a GPU the
        whole batch, on the CPU as many examples as fit MICRO_BATCH_TOKENS padded tokens (at least
        one): activations grow with the tokens of a pass, and a CPU gains nothing from wide passes."""
        size = self.tc.micro_batch_size
        if size is None and self.device.type != "cpu":
            size = len(batch)
        if size is not None:
            return [batch[i : i + size] for i in range(0, len(batch), size)]
        out: list[list] = []
        for e in batch:
            cur = out[-1] if out else None
            if cur is not None and max(len(x.input_ids) for x in (*cur, e)) * (len(cur) + 1) <= MICRO_BATCH_TOKENS:
                cur.append(e)
            else:
                out.append([e])
        return out

    # ---- save ------------------------------------------------------------------------------------
    def save_checkpoint(self, step: int) -> str:
        state = {"jobKey": self.spec.job_key, **self.counters}
        path = self.checkpoints.save_dir(step, state, lambda d: write_files(d, self.model, self.optimizer, self.scheduler))
        self.progress.emit("checkpoint", step=step, path=str(path), loss=self.loss)
        return str(path)

    def save_adapter(self, metrics: dict) -> Path:
        """`<workDir>/adapter`: written to a temp directory and renamed, so it exists complete or not at all."""
        final = self.work / ADAPTER_DIR
        tmp = Path(tempfile.mkdtemp(prefix=".adapter-", dir=self.work))
        os.chmod(tmp, 0o755)  # the serving process may run as another user
        self.model.save_pretrained(str(tmp))
        (tmp / ADAPTER_META).write_text(json.dumps({"jobKey": self.spec.job_key, "baseModel": self.spec.base_model, "metrics": metrics}, indent=1))
        for f in tmp.iterdir():
            fsync_file(f)
        replace_atomically(tmp, final)
        return final

    # ---- cleanup ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Frees the model and optimizer (a long-lived caller, like the tests, runs many jobs in one process)."""
        self.model = self.optimizer = self.scheduler = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
