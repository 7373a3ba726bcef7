"""Epoch checkpoints under a job's work directory, written atomically, resumed from the newest.

A checkpoint is everything needed to continue as if the process had never stopped: model,
optimizer, scheduler, every RNG the job draws from, the epoch and the early-stopping state. The
job's fingerprint (a hash of the spec fields that change results) is stored with it, so a work
directory reused by a different job is refused instead of silently mixed.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .errors import CheckpointError

_NAME = re.compile(r"^ckpt-epoch-(\d+)\.pt$")


def capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same directory, fsync, rename: readers never see a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Checkpoints:
    def __init__(self, work_dir: str | Path, fingerprint: str, keep: int = 2):
        self.dir = Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fingerprint = fingerprint
        self.keep = max(1, keep)

    def path(self, epoch: int) -> Path:
        return self.dir / f"ckpt-epoch-{epoch:04d}.pt"

    def epochs(self) -> list[int]:
        found = (_NAME.match(p.name) for p in self.dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, epoch: int, state: dict[str, Any]) -> Path:
        path = self.path(epoch)
        atomic_save({**state, "epoch": epoch, "fingerprint": self.fingerprint}, path)
        for old in self.epochs()[: -self.keep]:
            self.path(old).unlink(missing_ok=True)
        return path

    def newest(self, on_skip: Callable[[Path, str], None] | None = None) -> dict[str, Any] | None:
        """The newest readable checkpoint of this job, or None. Unreadable files (a crash cannot
        leave one, but a full disk or a copy can) are reported and skipped in favour of older ones."""
        for epoch in reversed(self.epochs()):
            path = self.path(epoch)
            try:
                state = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, not fatal
                if on_skip:
                    on_skip(path, f"{type(e).__name__}: {e}")
                continue
            if state.get("fingerprint") != self.fingerprint:
                raise CheckpointError(
                    f"{path} belongs to a different job (fingerprint {state.get('fingerprint')!r}, "
                    f"this job {self.fingerprint!r}); use a fresh workDir or delete it"
                )
            state["path"] = str(path)
            return state
        return None
