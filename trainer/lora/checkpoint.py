"""What a LoRA checkpoint holds: the adapter weights (safetensors), the optimizer, scheduler and RNG
state, and the job's counters (`state.json`). Numbering, atomic writes, keeping the newest and
passing over damaged or foreign ones is trainer.common.checkpoint's (`checkpoints/step-NNNNNNNN/`)."""

from __future__ import annotations

from pathlib import Path

from ..common.checkpoint import Checkpoints, capture_rng, restore_rng

ADAPTER = "adapter.safetensors"
OPTIM = "optim.pt"


def lora_checkpoints(work_dir: Path, job_key: str, keep: int) -> Checkpoints:
    # The work directory is the job key's own: a checkpoint of another key is a leftover, not an error.
    return Checkpoints(work_dir / "checkpoints", job_key, keep=keep, name="step-{:08d}", foreign="skip")


def write_files(directory: Path, model, optimizer, scheduler) -> None:
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    weights = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(weights, str(directory / ADAPTER))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": capture_rng()}, directory / OPTIM)


def load_files(directory: Path, model, optimizer, scheduler, device) -> None:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(directory / ADAPTER), device=str(device))
    result = set_peft_model_state_dict(model, weights)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise RuntimeError(f"checkpoint {directory} does not match the model: unexpected keys {unexpected[:3]}")
    # Our own file, written by write_files under the job's lock (the RNG state holds numpy arrays).
    extra = torch.load(directory / OPTIM, map_location=device, weights_only=False)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    restore_rng(extra["rng"])
