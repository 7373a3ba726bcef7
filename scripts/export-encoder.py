#!/usr/bin/env python3
"""Exports a Hugging Face BERT-style encoder (BERT, XLM-RoBERTa, e.g. BGE-M3) to the directory layout
r4ec's encoder reads: model.onnx (last_hidden_state), tokenizer.json and r4ec-encoder.json.

  python scripts/export-encoder.py --model DIR_OF_HF_MODEL --out OUT_DIR [--pooling cls|mean]
         [--normalize|--no-normalize] [--max-length N] [--name NAME]

Pooling and normalisation default to what a sentence-transformers directory declares
(1_Pooling/config.json, a Normalize module); BGE-M3 is `--pooling cls --normalize --max-length 8192`.
Runs offline (HF_HUB_OFFLINE): the model directory must already be on disk. Before writing, the ONNX
graph is checked against PyTorch on a padded batch, so a bad trace never reaches the pipeline.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def fail(msg: str) -> None:
    print(f"export-encoder: {msg}", file=sys.stderr)
    sys.exit(1)


def st_defaults(model_dir: Path) -> dict:
    """Pooling/normalize/max length as a sentence-transformers model directory declares them."""
    out: dict = {}
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        cfg = json.loads(pooling.read_text())
        if cfg.get("pooling_mode_cls_token"):
            out["pooling"] = "cls"
        elif cfg.get("pooling_mode_mean_tokens"):
            out["pooling"] = "mean"
    modules = model_dir / "modules.json"
    if modules.exists():
        out["normalize"] = any(m.get("type", "").endswith(".Normalize") for m in json.loads(modules.read_text()))
    sbert = model_dir / "sentence_bert_config.json"
    if sbert.exists():
        msl = json.loads(sbert.read_text()).get("max_seq_length")
        if isinstance(msl, int):
            out["maxLength"] = msl
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--pooling", choices=["cls", "mean"])
    ap.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--max-length", type=int)
    ap.add_argument("--name")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()

    src: Path = args.model
    if not (src / "config.json").exists():
        fail(f"{src}: no config.json (expected a Hugging Face model directory)")
    if not (src / "tokenizer.json").exists():
        fail(f"{src}: no tokenizer.json (r4ec reads the fast-tokenizer file; save it with tokenizer.save_pretrained)")

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoConfig, AutoModel

    defaults = st_defaults(src)
    hf_cfg = AutoConfig.from_pretrained(src)
    pooling = args.pooling or defaults.get("pooling") or "cls"
    normalize = args.normalize if args.normalize is not None else defaults.get("normalize", True)
    max_positions = getattr(hf_cfg, "max_position_embeddings", 512)
    # XLM-R style models offset positions by padding_idx + 1, so fewer usable positions than the table.
    usable = max_positions - (hf_cfg.pad_token_id + 1 if getattr(hf_cfg, "model_type", "") in ("xlm-roberta", "roberta") else 0)
    max_length = args.max_length or defaults.get("maxLength") or usable
    if max_length > usable:
        fail(f"--max-length {max_length} exceeds the model's {usable} usable positions")

    # Eager attention: SDPA paths trace shape-dependent shortcuts (e.g. "mask is all ones") into the graph.
    model = AutoModel.from_pretrained(src, attn_implementation="eager").eval()
    use_type_ids = getattr(hf_cfg, "type_vocab_size", 0) > 1
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if use_type_ids else [])

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
            return self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state

    # Trace with a padded batch so the masking path is the general one.
    pad = hf_cfg.pad_token_id or 0
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, pad, pad, pad]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    inputs = (ids, mask) + ((torch.zeros_like(ids),) if use_type_ids else ())

    rng = np.random.default_rng(0)
    check_ids = rng.integers(5, min(hf_cfg.vocab_size, 20000), size=(3, 13))
    check_mask = np.ones_like(check_ids)
    check_mask[1, 7:] = 0
    check_mask[2, 3:] = 0
    check_ids[check_mask == 0] = pad
    feeds = {"input_ids": check_ids.astype(np.int64), "attention_mask": check_mask.astype(np.int64)}
    if use_type_ids:
        feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
    with torch.no_grad():
        reference = LastHidden(model)(*(torch.tensor(feeds[n]) for n in names)).numpy()

    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=args.out.parent if args.out.parent.exists() else None))
    tmp.chmod(0o755)  # mkdtemp makes it private; the encoder directory is read by workers of any user
    try:
        axes = {n: {0: "batch", 1: "sequence"} for n in names + ["last_hidden_state"]}
        with torch.no_grad():
            torch.onnx.export(
                LastHidden(model), inputs, str(tmp / "model.onnx"), input_names=names,
                output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=args.opset, dynamo=False,
            )
        session = ort.InferenceSession(str(tmp / "model.onnx"), providers=["CPUExecutionProvider"])
        got = session.run(None, feeds)[0]
        diff = float(np.abs((got - reference) * check_mask[..., None]).max())
        if not diff < 1e-3:
            fail(f"the exported graph disagrees with PyTorch by {diff:.3g} on a padded batch; not writing it")

        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
            if (src / f).exists():
                shutil.copy2(src / f, tmp / f)
        (tmp / "r4ec-encoder.json").write_text(json.dumps({
            "name": args.name or src.name,
            "pooling": pooling,
            "normalize": bool(normalize),
            "maxLength": int(max_length),
            "dim": int(hf_cfg.hidden_size),
            "output": "last_hidden_state",
        }, indent=1) + "\n")
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"export-encoder: wrote {args.out} ({pooling} pooling, normalize={bool(normalize)}, "
          f"maxLength={max_length}, dim={hf_cfg.hidden_size}; ONNX vs PyTorch max diff {diff:.2e})")


if __name__ == "__main__":
    main()
