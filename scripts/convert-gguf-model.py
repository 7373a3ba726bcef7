"""Converts a GGUF chat model into a plain Hugging Face directory (float32 safetensors, tokenizer,
chat template) that the LoRA trainer and `r4ec serve-model` load like any other base model.

    python scripts/convert-gguf-model.py --gguf FILE --out DIR [--name NAME]

transformers reads GGUF through the `gguf` package and dequantizes every tensor; the loaded model
still carries the GGUF quantization marker, which refuses save_pretrained, so the weights are moved
into a fresh model built from the same config. Writes `r4ec-model.json` ({name, source, sha256}).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default=None, help="served model name (default: the file name without quantization suffix)")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gguf = Path(a.gguf).resolve()
    if not gguf.is_file():
        sys.exit(f"{gguf}: no such GGUF file")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.time()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings are the only keys allowed to be absent from the GGUF.
    missing = [k for k in result.missing_keys if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or result.unexpected_keys:
        sys.exit(f"{gguf}: weights do not match the model config (missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})")
    if not getattr(tokenizer, "chat_template", None):
        sys.exit(f"{gguf}: the file carries no chat template")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    name = a.name or gguf.stem.split(".")[0]
    (out / "r4ec-model.json").write_text(json.dumps({"name": name, "source": gguf.name, "sha256": digest}, indent=1) + "\n")
    for f in out.iterdir():
        os.chmod(f, 0o644)  # a serving process under another user reads them
    print(f"converted {gguf.name} -> {out} ({sum(x.numel() for x in model.parameters()):,} parameters) in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
