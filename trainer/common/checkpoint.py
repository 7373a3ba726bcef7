"""Numbered checkpoints of a job (one per epoch, or every N steps), written atomically, resumed from
the newest readable one.

A checkpoint is everything needed to continue as if the process had never stopped: model,
optimizer, scheduler, every RNG the job draws from, its counters. It is written under a temporary
name and renamed into place, so a crash mid-save leaves the previous one as the newest complete
checkpoint; only the newest `keep` are kept. Two layouts: one torch file (`save`, the CTR jobs:
`ckpt-epoch-0001.pt`) or one directory of files whose `state.json` holds the counters (`save_dir`,
the LoRA jobs: `step-00000004/`). The job's fingerprint (a hash of what changes its result) is stored
with each, so a work directory reused by a different job is refused (`foreign="refuse"`) or its
checkpoints passed over (`foreign="skip"`), never silently mixed.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .errors import CheckpointError

STATE_FILE = "state.json"

OnSkip = Callable[[Path, str], None]


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
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda"]])


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_atomically(tmp: Path, final: Path) -> None:
    """Moves a finished file or directory into place (a directory replaces an older one of that name)."""
    if tmp.is_dir() and final.exists():
        _remove(final)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same directory, fsync, rename: readers never see a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Checkpoints:
    def __init__(
        self,
        root: str | Path,
        fingerprint: str,
        keep: int = 2,
        name: str = "ckpt-epoch-{:04d}.pt",
        foreign: str = "refuse",
    ):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fingerprint = fingerprint
        self.keep = max(1, keep)
        self.name = name
        prefix, _, rest = name.partition("{")
        self._pattern = re.compile(f"^{re.escape(prefix)}(\\d+){re.escape(rest.partition('}')[2])}$")
        if foreign not in ("refuse", "skip"):
            raise ValueError(f"foreign: expected 'refuse' or 'skip', got {foreign!r}")
        self.foreign = foreign

    def path(self, number: int) -> Path:
        return self.dir / self.name.format(number)

    def numbers(self) -> list[int]:
        """The complete checkpoints' numbers, oldest first."""
        found = []
        for p in self.dir.iterdir():
            m = self._pattern.match(p.name)
            if m and (p.is_file() or (p / STATE_FILE).is_file()):
                found.append(int(m.group(1)))
        return sorted(found)

    def save(self, number: int, state: dict[str, Any]) -> Path:
        """One torch file holding `state` (and the epoch number and fingerprint)."""
        return self._commit(number, lambda tmp: atomic_save({**state, "epoch": number, "fingerprint": self.fingerprint}, tmp))

    def save_dir(self, number: int, state: dict[str, Any], write: Callable[[Path], None]) -> Path:
        """One directory: `write(dir)` puts the job's files there, `state.json` holds `state` (JSON)."""

        def build(tmp: Path) -> None:
            tmp.mkdir()
            write(tmp)
            (tmp / STATE_FILE).write_text(json.dumps({**state, "step": number, "fingerprint": self.fingerprint}))
            for f in tmp.iterdir():
                fsync_file(f)

        return self._commit(number, build)

    def _commit(self, number: int, build: Callable[[Path], None]) -> Path:
        final = self.path(number)
        tmp = self.dir / f".{final.name}.{os.getpid()}.tmp"
        _remove(tmp)
        build(tmp)
        replace_atomically(tmp, final)
        for old in self.numbers()[: -self.keep]:
            _remove(self.path(old))
        # Leftovers of a save that crashed before its rename.
        for p in self.dir.iterdir():
            if p != tmp and p.name.startswith(".") and p.name.endswith(".tmp") and self._pattern.match(p.name[1:-4].rsplit(".", 1)[0]):
                _remove(p)
        return final

    def _read(self, path: Path) -> dict[str, Any]:
        if path.is_dir():
            return json.loads((path / STATE_FILE).read_text())
        return torch.load(path, map_location="cpu", weights_only=False)

    def newest(self, on_skip: OnSkip | None = None, restore: Callable[[Path, dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
        """The newest readable checkpoint of this job (with its `path`), or None. Unreadable ones (a
        crash cannot leave one, but a full disk or a copy can) are reported and passed over in favour
        of older ones; so is one whose `restore` (loading its files into the job) fails."""
        for number in reversed(self.numbers()):
            path = self.path(number)
            try:
                state = self._read(path)
            except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped, not fatal
                if on_skip:
                    on_skip(path, f"{type(e).__name__}: {e}")
                continue
            if state.get("fingerprint") != self.fingerprint:
                why = f"{path} belongs to a different job (fingerprint {state.get('fingerprint')!r}, this job {self.fingerprint!r})"
                if self.foreign == "refuse":
                    raise CheckpointError(f"{why}; use a fresh workDir or delete it")
                if on_skip:
                    on_skip(path, why)
                continue
            if restore is not None:
                try:
                    restore(path, state)
                except Exception as e:  # noqa: BLE001 - a damaged checkpoint falls back to the one before it
                    if on_skip:
                        on_skip(path, f"{type(e).__name__}: {e}")
                    continue
            state["path"] = str(path)
            return state
        return None
