"""LoRA supervised fine-tuning of a causal LM on chat JSONL.

    python -m trainer.lora.train --spec spec.json

Progress is line-delimited JSON on stdout (trainer.common.progress; every line carries the trainer's
`pid`): `start`, `step` (step, loss, lr, tokens), `checkpoint` (step, path), then exactly one of
`done` (adapter directory + metrics), `stopped` (SIGTERM/SIGINT: a checkpoint was written first) or
`error` (`type`, `message`, `nonRetryable`, as the CTR job). Exit codes: 0 done, 2 bad spec/data/base
model or out of memory (a rerun cannot help), 75 another trainer holds this job, 143 stopped,
1 anything else (retryable).

One trainer per job: it holds the work directory's lock (`<workDir>/trainer.lock`, released by the
kernel when it dies) and writes `<workDir>/trainer.pid`, so a retried activity finds and re-attaches
to it. The job itself is trainer.lora.recipe: it resumes from the newest checkpoint in
`<workDir>/checkpoints` and writes the final adapter to `<workDir>/adapter`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from ..common.errors import EXIT_BUSY, EXIT_NON_RETRYABLE, EXIT_OK, EXIT_RETRYABLE, EXIT_STOPPED, JobError
from ..common.process import WorkDirLock
from ..common.progress import Progress, claim_stdout
from .model import is_oom
from .recipe import ADAPTER_DIR, LoraRecipe, Stopped, finished_adapter
from .spec import JobSpec, SpecError, load_spec


def run(spec: JobSpec, progress: Progress, stop_requested) -> int:
    work = Path(spec.work_dir)
    done = finished_adapter(work, spec.job_key)
    if done:
        progress.emit("done", adapterDir=str(work / ADAPTER_DIR), reused=True, **done.get("metrics", {}))
        return EXIT_OK
    recipe = LoraRecipe(spec, progress, stop_requested)
    try:
        recipe.setup()
        metrics = recipe.train()
        adapter = recipe.save_adapter(metrics)
        progress.emit("done", adapterDir=str(adapter), resumedFrom=recipe.resumed_from, reused=False, **metrics)
        return EXIT_OK
    except Stopped as s:
        if s.step is None:
            progress.emit("stopped", step=None, checkpoint=None, message="stopped before the first step")
        else:
            progress.emit("stopped", step=s.step, checkpoint=s.checkpoint)
        return EXIT_STOPPED
    finally:
        recipe.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.lora.train", description="LoRA SFT job")
    p.add_argument("--spec", required=True)
    args = p.parse_args(argv)
    # As a process, libraries' prints must not corrupt the progress stream; in-process (tests) the
    # current sys.stdout is used.
    progress = claim_stdout() if argv is None else Progress(sys.stdout)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a base model is a local directory; never download
    stop = {"requested": False}

    def on_signal(signum, _frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def error(err_type: str, message: str, non_retryable: bool) -> None:
        progress.emit("error", type=err_type, message=message, nonRetryable=non_retryable)

    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        error(e.kind, str(e), True)
        return EXIT_NON_RETRYABLE
    lock = WorkDirLock(spec.work_dir, args.spec)
    if not lock.acquire(wait=False):
        error("Busy", f"another trainer process is running job {spec.job_key} in {spec.work_dir}", False)
        return EXIT_BUSY
    try:
        return run(spec, progress, lambda: stop["requested"])
    except JobError as e:
        error(e.kind, str(e), e.non_retryable)
        return EXIT_NON_RETRYABLE if e.non_retryable else EXIT_RETRYABLE
    except Exception as e:
        if is_oom(e):
            # The same batch on the same device runs out again: retrying cannot help, a config change can.
            error(
                "OutOfMemory",
                f"out of memory: {str(e).splitlines()[0]} (lower finetune.lora.microBatchSize or cutoffLen, "
                "or enable finetune.lora.gradientCheckpointing)",
                True,
            )
            return EXIT_NON_RETRYABLE
        traceback.print_exc(file=sys.stderr)
        error(type(e).__name__, f"{type(e).__name__}: {e}", False)
        return EXIT_RETRYABLE
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
