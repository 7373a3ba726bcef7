"""Checkpoints of a LoRA job: adapter weights + optimizer/scheduler/RNG state + counters.

Each checkpoint is written into a temp directory and renamed into place (`checkpoints/step-NNNNNNNN`),
so a crash mid-save leaves the previous checkpoint as the newest complete one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

_NAME = re.compile(r"^step-(\d{8})$")
STATE = "state.json"
ADAPTER = "adapter.safetensors"
OPTIM = "optim.pt"


def _fsync_dir(path: Path) -> None:
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


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    out = []
    if root.is_dir():
        for p in root.iterdir():
            m = _NAME.match(p.name)
            if m and (p / STATE).is_file():
                out.append((int(m.group(1)), p))
    return sorted(out)


def rng_state() -> dict:
    import torch

    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: Path, step: int, model, optimizer, scheduler, state: dict, keep: int) -> Path:
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(weights, str(tmp / ADAPTER))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()}, tmp / OPTIM)
    (tmp / STATE).write_text(json.dumps({**state, "step": step}))
    for f in (ADAPTER, OPTIM, STATE):
        _fsync_file(tmp / f)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(root)
    for _, old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    # Leftovers of a save that crashed before its rename.
    for p in root.glob(".tmp-step-*"):
        if p != tmp:
            shutil.rmtree(p, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model, optimizer, scheduler, device) -> dict:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = json.loads((path / STATE).read_text())
    weights = load_file(str(path / ADAPTER), device=str(device))
    result = set_peft_model_state_dict(model, weights)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise RuntimeError(f"checkpoint {path} does not match the model: unexpected keys {unexpected[:3]}")
    # Our own file, written by save_checkpoint: tensors, numbers and dicts only.
    extra = torch.load(path / OPTIM, map_location=device, weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    rng = extra["rng"]
    rng["cpu"] = rng["cpu"].cpu()
    if "cuda" in rng:
        rng["cuda"] = [t.cpu() for t in rng["cuda"]]
    set_rng_state(rng)
    return state
