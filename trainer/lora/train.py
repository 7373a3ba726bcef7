"""LoRA supervised fine-tuning of a causal LM on chat JSONL.

    python -m trainer.lora.train --spec spec.json

Progress is line-delimited JSON on stdout (trainer.common.progress; every line carries the trainer's
`pid`): `start`, `step` (step, loss, lr, tokens), `checkpoint` (step, path), then exactly one of
`done` (adapter directory + metrics), `stopped` (SIGTERM/SIGINT: a checkpoint was written first) or
`error` (`type`, `message`, `nonRetryable`, as the CTR job). Exit codes: 0 done, 2 bad spec/data/base
model or out of memory (a rerun cannot help), 75 another trainer holds this job, 143 stopped,
1 anything else (retryable).

One trainer per job: it holds an exclusive lock on `<workDir>/trainer.lock` (released by the kernel
when it dies) and writes `<workDir>/trainer.pid`, so a retried activity finds and re-attaches to it.

The job resumes from the newest checkpoint in `<workDir>/checkpoints`; the final adapter is written
to a temp directory and renamed to `<workDir>/adapter`, so it exists complete or not at all.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..common.errors import EXIT_NON_RETRYABLE, EXIT_OK, EXIT_RETRYABLE, JobError
from ..common.progress import Progress, claim_stdout
from .data import collate, encode_record, ensure_chat_template, load_sft_jsonl, steps_per_epoch
from .spec import JobSpec, SpecError, load_spec

EXIT_BUSY, EXIT_STOPPED = 75, 143
ADAPTER_DIR = "adapter"
ADAPTER_META = "r4ec-adapter.json"
PID_FILE = "trainer.pid"


class BaseModelError(JobError, ValueError):
    """The base model directory is missing or unreadable."""

    kind = "BaseModelError"
    non_retryable = True


class Stop(Exception):
    pass


_progress: Progress | None = None


def emit(event: str, **fields) -> None:
    (_progress or Progress(sys.stdout)).emit(event, pid=os.getpid(), **fields)


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


def _is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _resolve_device(spec: JobSpec):
    import torch

    if spec.train.device == "cuda" and not torch.cuda.is_available():
        raise SpecError('spec train.device is "cuda" but torch sees no CUDA device')
    use_cuda = spec.train.device in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


def _load_base(spec: JobSpec, dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(spec.base_model)
    if not (path / "config.json").is_file():
        raise BaseModelError(
            f'base model not found at "{spec.base_model}": expected a local Hugging Face model directory '
            "(config.json, weights, tokenizer files); set finetune.baseModel, or leave it unset for the tiny test model"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    except (OSError, ValueError) as e:
        raise BaseModelError(f'cannot load the base model at "{spec.base_model}": {e}') from e
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def resolve_target_modules(model, target):
    """'all-linear' → the short names of every linear layer but the output head (q_proj, ..., down_proj).
    Short names rather than peft's resolved full paths: serving stacks (vLLM) match adapters by them."""
    import torch
    from transformers.pytorch_utils import Conv1D

    if target != "all-linear":
        return list(target)
    head = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, mod in model.named_modules()
        if isinstance(mod, (torch.nn.Linear, Conv1D)) and mod is not head and name
    }
    if not names:
        raise BaseModelError("the base model has no linear layers to attach LoRA to")
    return sorted(names)


def _write_adapter(work: Path, model, tokenizer, meta: dict) -> Path:
    final = work / ADAPTER_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".adapter-", dir=work))
    os.chmod(tmp, 0o755)  # the serving process may run as another user
    model.save_pretrained(str(tmp))
    (tmp / ADAPTER_META).write_text(json.dumps(meta, indent=1))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    return final


def _finished(work: Path, job_key: str) -> dict | None:
    meta = work / ADAPTER_DIR / ADAPTER_META
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("jobKey") == job_key else None


def run(spec: JobSpec, stop: dict) -> int:
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import get_scheduler
    from transformers.utils import logging as hf_logging

    # trainer.log keeps what matters (warnings, tracebacks) without progress bars or a known
    # transformers-5 deprecation notice that peft triggers.
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

    t_process = time.time()
    work = Path(spec.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    done = _finished(work, spec.job_key)
    if done:
        emit("done", adapterDir=str(work / ADAPTER_DIR), reused=True, **done.get("metrics", {}))
        return EXIT_OK

    faults = Faults(os.environ.get("R4EC_LORA_FAULT", ""))
    if spec.train.threads:
        torch.set_num_threads(spec.train.threads)
    device, dtype = _resolve_device(spec)
    records = load_sft_jsonl(spec.dataset)
    tokenizer, model = _load_base(spec, dtype)
    template = ensure_chat_template(tokenizer)
    examples = [encode_record(tokenizer, r, spec.train.cutoff_len) for r in records]
    truncated = sum(e.truncated for e in examples)
    tc = spec.train

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
    model = get_peft_model(model, lora_config)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=tc.learning_rate, weight_decay=0.0)
    spe = steps_per_epoch(len(examples), tc.batch_size)
    total = max(1, math.ceil(tc.epochs * spe))
    scheduler = get_scheduler(
        "constant_with_warmup" if tc.scheduler == "constant" else tc.scheduler,
        optimizer,
        num_warmup_steps=math.ceil(tc.warmup_ratio * total),
        num_training_steps=total,
    )

    ckpt_root = work / "checkpoints"
    counters = {"tokens": 0, "supervisedTokens": 0, "trainSeconds": 0.0, "firstLoss": None}
    start_step = 0
    resumed_from = None
    for step, path in reversed(list_checkpoints(ckpt_root)):
        try:
            state = load_checkpoint(path, model, optimizer, scheduler, device)
        except Exception as e:  # a damaged newest checkpoint: fall back to the one before it
            emit("warning", message=f"checkpoint {path.name} unreadable ({e}); trying an older one")
            continue
        if state.get("jobKey") != spec.job_key:
            emit("warning", message=f"checkpoint {path.name} belongs to another job; ignored")
            continue
        start_step, resumed_from = step, str(path)
        for k in counters:
            counters[k] = state.get(k, counters[k])
        break
    if resumed_from is None:
        torch.manual_seed(tc.seed + 1)  # dropout stream, restored from checkpoints on resume

    trainable_count = sum(p.numel() for p in trainable)
    emit(
        "start",
        jobKey=spec.job_key,
        records=len(examples),
        truncated=truncated,
        totalSteps=total,
        stepsPerEpoch=spe,
        startStep=start_step,
        resumedFrom=resumed_from,
        device=str(device),
        dtype=str(dtype).replace("torch.", ""),
        chatTemplate=template,
        trainableParameters=trainable_count,
        targetModules=sorted(model.peft_config["default"].target_modules),
        setupSeconds=round(time.time() - t_process, 3),
    )

    pad_id = tokenizer.pad_token_id
    model.train()
    last_ckpt = start_step
    loss_value = None

    def checkpoint(step: int) -> str:
        state = {"jobKey": spec.job_key, **counters}
        path = save_checkpoint(ckpt_root, step, model, optimizer, scheduler, state, tc.keep_checkpoints)
        emit("checkpoint", step=step, path=str(path), loss=loss_value)
        return str(path)

    for step in range(start_step, total):
        if stop["requested"]:
            raise Stop()
        faults.before_step(step + 1)
        t0 = time.perf_counter()
        epoch, pos = divmod(step, spe)
        gen = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
        order = torch.randperm(len(examples), generator=gen)[pos * tc.batch_size : (pos + 1) * tc.batch_size].tolist()
        batch = [examples[i] for i in order]
        n_sup = sum(sum(1 for x in e.labels if x != -100) for e in batch)
        total_loss = 0.0
        for m0 in range(0, len(batch), tc.micro_batch_size):
            mb = collate(batch[m0 : m0 + tc.micro_batch_size], pad_id)
            mb = {k: v.to(device) for k, v in mb.items()}
            logits = model(input_ids=mb["input_ids"], attention_mask=mb["attention_mask"]).logits
            # Token-weighted over the whole batch, so micro-batching does not change the loss.
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                mb["labels"][:, 1:].reshape(-1),
                ignore_index=-100,
                reduction="sum",
            ) / max(n_sup, 1)
            loss.backward()
            total_loss += loss.item()
            counters["tokens"] += int(mb["attention_mask"].sum())
        if tc.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable, tc.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        counters["supervisedTokens"] += n_sup
        counters["trainSeconds"] += time.perf_counter() - t0
        loss_value = round(total_loss, 6)
        if counters["firstLoss"] is None:
            counters["firstLoss"] = loss_value
        emit(
            "step",
            step=step + 1,
            totalSteps=total,
            epoch=round((step + 1) / spe, 4),
            loss=loss_value,
            lr=scheduler.get_last_lr()[0],
            tokens=counters["tokens"],
        )
        if (step + 1) % tc.checkpoint_every == 0 and step + 1 < total:
            checkpoint(step + 1)
            last_ckpt = step + 1
        if stop["requested"] and step + 1 < total:
            path = checkpoint(step + 1) if last_ckpt != step + 1 else str(ckpt_root / f"step-{step + 1:08d}")
            emit("stopped", step=step + 1, checkpoint=path)
            return EXIT_STOPPED

    metrics = {
        "steps": total,
        "records": len(examples),
        "truncatedRecords": truncated,
        "firstLoss": counters["firstLoss"],
        "finalLoss": loss_value,
        "tokens": counters["tokens"],
        "supervisedTokens": counters["supervisedTokens"],
        "trainSeconds": round(counters["trainSeconds"], 3),
        "tokensPerSecond": round(counters["tokens"] / counters["trainSeconds"], 1) if counters["trainSeconds"] else None,
        "device": str(device),
        "trainableParameters": trainable_count,
    }
    meta = {"jobKey": spec.job_key, "baseModel": spec.base_model, "metrics": metrics}
    adapter = _write_adapter(work, model, tokenizer, meta)
    emit("done", adapterDir=str(adapter), resumedFrom=resumed_from, reused=False, **metrics)
    return EXIT_OK


def _error(err_type: str, message: str, non_retryable: bool) -> None:
    emit("error", type=err_type, message=message, nonRetryable=non_retryable)


def main(argv: list[str] | None = None) -> int:
    global _progress
    p = argparse.ArgumentParser(prog="python -m trainer.lora.train", description="LoRA SFT job")
    p.add_argument("--spec", required=True)
    args = p.parse_args(argv)
    # As a process, libraries' prints must not corrupt the progress stream; in-process (tests) the
    # current sys.stdout is used.
    _progress = claim_stdout() if argv is None else Progress(sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a base model is a local directory; never download
    stop = {"requested": False}

    def on_signal(signum, _frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        _error(e.kind, str(e), True)
        return EXIT_NON_RETRYABLE
    work = Path(spec.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    lock = open(work / "trainer.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _error("Busy", f"another trainer process is running job {spec.job_key} in {work}", False)
        return EXIT_BUSY
    # Written under the lock: whoever reads it while the lock is held sees the running trainer.
    pid_tmp = work / f".{PID_FILE}.{os.getpid()}"
    pid_tmp.write_text(json.dumps({"pid": os.getpid(), "startedAt": time.time(), "spec": str(Path(args.spec).resolve())}))
    os.replace(pid_tmp, work / PID_FILE)
    try:
        return run(spec, stop)
    except Stop:
        emit("stopped", step=None, checkpoint=None, message="stopped before the first step")
        return EXIT_STOPPED
    except JobError as e:
        _error(e.kind, str(e), e.non_retryable)
        return EXIT_NON_RETRYABLE if e.non_retryable else EXIT_RETRYABLE
    except Exception as e:
        if _is_oom(e):
            # The same batch on the same device runs out again: retrying cannot help, a config change can.
            _error(
                "OutOfMemory",
                f"out of memory: {str(e).splitlines()[0]} (lower finetune.lora.microBatchSize or cutoffLen, "
                "or enable finetune.lora.gradientCheckpointing)",
                True,
            )
            return EXIT_NON_RETRYABLE
        traceback.print_exc(file=sys.stderr)
        _error(type(e).__name__, f"{type(e).__name__}: {e}", False)
        return EXIT_RETRYABLE
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
