"""Reference vectors for the encoder parity test: Python onnxruntime + Hugging Face `tokenizers`.

  python test/encode/reference.py MODEL_DIR TEXTS_JSON OUT_JSON

Each text is tokenized and run on its own (batch 1, no padding), so the reference shares nothing with
the TypeScript side's length bucketing and padding. Pooling and normalisation follow r4ec-encoder.json
the way sentence-transformers does them.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model_dir, texts_path, out_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
cfg = json.loads((model_dir / "r4ec-encoder.json").read_text())
tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
tok.no_padding()
tok.enable_truncation(cfg["maxLength"])
sess = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
inputs = {i.name for i in sess.get_inputs()}
output = cfg.get("output") or sess.get_outputs()[0].name

vectors = []
for text in json.loads(Path(texts_path).read_text()):
    enc = tok.encode(text)
    feeds = {"input_ids": np.array([enc.ids], dtype=np.int64)}
    if "attention_mask" in inputs:
        feeds["attention_mask"] = np.array([enc.attention_mask], dtype=np.int64)
    if "token_type_ids" in inputs:
        feeds["token_type_ids"] = np.array([enc.type_ids], dtype=np.int64)
    states = sess.run([output], feeds)[0][0]  # [seq, dim]
    mask = np.array(enc.attention_mask, dtype=np.float32)[:, None]
    v = states[0] if cfg["pooling"] == "cls" else (states * mask).sum(0) / max(mask.sum(), 1e-9)
    if cfg["normalize"]:
        v = v / max(np.linalg.norm(v), 1e-12)
    vectors.append({"tokens": len(enc.ids), "vector": v.astype(np.float64).tolist()})
Path(out_path).write_text(json.dumps(vectors))
