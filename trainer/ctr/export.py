"""ONNX export of a trained backbone, checked against PyTorch with onnxruntime before it is kept.

The graph takes int32 ids (and float32 `dense` for the `full` features) in INPUT_ORDER with a
dynamic batch dimension and returns the click probability `prob` [B]. Knowledge tables are baked
in as initializers, so serving needs only ids.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .models import CtrModel, ExportWrapper


def export_onnx(model: CtrModel, sample: dict[str, np.ndarray], path: Path) -> dict:
    model = model.cpu().eval()
    wrapper = ExportWrapper(model).eval()
    names = list(wrapper.names)
    # ONNX names get a prefix: the exporter names nodes after ops ("cat" is torch.cat), and an
    # input called "cat" would collide with one.
    onnx_names = [onnx_input_name(n) for n in names]
    # batch of 3 so no dimension is specialised to 1 or 2
    args = tuple(torch.from_numpy(np.ascontiguousarray(sample[n][:3])) for n in names)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    method = "dynamo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            batch = torch.export.Dim("batch", min=1)
            program = torch.onnx.export(
                wrapper, args, dynamo=True, input_names=onnx_names, output_names=["prob"],
                dynamic_shapes=(tuple({0: batch} for _ in names),),  # one entry: the *args tuple external_data=False, verbose=False,
            )
            program.save(str(tmp), external_data=False)
        except Exception as e:  # noqa: BLE001 - fall back to the TorchScript exporter
            method = f"torchscript (dynamo export failed: {type(e).__name__})"
            torch.onnx.export(
                wrapper, args, str(tmp), dynamo=False, input_names=onnx_names, output_names=["prob"],
                dynamic_axes={n: {0: "batch"} for n in [*onnx_names, "prob"]}, opset_version=17,
            )
    os.replace(tmp, path)
    return {"inputs": names, "onnxInputs": onnx_names, "output": "prob", "method": method}


def onnx_input_name(feature: str) -> str:
    return f"in_{feature}"


def onnx_predict(path: Path, inputs: dict[str, np.ndarray], names: list[str], batch: int = 8192) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    n = len(inputs[names[0]])
    out = []
    for s in range(0, n, batch):
        feed = {onnx_input_name(k): np.ascontiguousarray(inputs[k][s : s + batch]) for k in names}
        out.append(sess.run(["prob"], feed)[0].reshape(-1))
    return np.concatenate(out)
