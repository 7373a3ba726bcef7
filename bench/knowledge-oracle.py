"""The knowledge path on the planted-latent set, per backbone: Base, the latent itself (multi-hot
vectors of each user's favourite genres and each item's genres: what a model given the latent
directly reaches through the same connectors), the oracle texts through the real encoder, and the
shuffled control; under the trainer's earlier knowledge settings ("before") and its current
defaults ("after"). Prints one table row per (backbone, settings).

usage:
  npx tsx bench/knowledge-planted.ts --out /tmp/planted          # prints ingestDir, encodeDir, truthFile
  .tools/venv/bin/python bench/knowledge-oracle.py --planted /tmp/planted [--backbones dien,...]
      [--configs before-1024,before,after] [--sets base,latent,oracle,shuffled] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.common.progress import Progress  # noqa: E402
from trainer.ctr.metrics import auc  # noqa: E402
from trainer.ctr.sweep import sweep  # noqa: E402

BACKBONES = ["dien", "gru4rec", "autoint", "fignn", "dcn", "deepfm"]
# The trainer's knowledge settings before and after the connector work (trainer/ctr/job.py).
BEFORE = {"knowledgeNorm": "none", "knowledgeCross": False, "knowledgeNoise": 0.0, "monitor": "auc"}
CONFIGS = {
    "before-1024": {**BEFORE, "batchSize": 1024},  # also the pipeline's default batch size
    "before": {**BEFORE, "batchSize": 256},
    "after": {"batchSize": 256},
    # The latent's own reference: low-dimensional multi-hot vectors need no protection against
    # memorisation, and the training noise only slows them down.
    "after-no-noise": {"batchSize": 256, "knowledgeNoise": 0.0},
}


def latent_set(planted: Path, ingest: Path) -> dict:
    truth = json.loads((planted / "raw" / "synth.json").read_text())
    meta = json.loads((ingest / "meta.json").read_text())
    col = {g: k for k, g in enumerate(truth["genres"])}
    fav = {u["user"]: u["favourites"] for u in truth["users"]}
    genres = {it["item"]: it["genres"] for it in truth["items"]}
    users = np.zeros((len(meta["users"]), len(col)), dtype=np.float32)
    items = np.zeros((len(meta["items"]) + 1, len(col)), dtype=np.float32)
    for r, u in enumerate(meta["users"]):
        users[r, [col[g] for g in fav[u]]] = 1.0
    for r, it in enumerate(meta["items"], start=1):
        items[r, [col[g] for g in genres[it["id"]]]] = 1.0
    d = planted / "encode" / "latent"
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "user.npy", users)
    np.save(d / "item.npy", items)
    (d / "user.ids.json").write_text(json.dumps(meta["users"]))
    (d / "item.ids.json").write_text(json.dumps([None, *[it["id"] for it in meta["items"]]]))
    return truth


def bayes_auc(truth: dict, ingest: Path, effect: float = 1.8) -> float:
    """AUC of the generator's own score (bias + quality + effect x match): the ceiling."""
    meta = json.loads((ingest / "meta.json").read_text())
    fav = {u["user"]: (set(u["favourites"]), u["bias"]) for u in truth["users"]}
    its = {it["item"]: (set(it["genres"]), it["quality"]) for it in truth["items"]}
    t = ingest / "test"
    users, items, y = np.load(t / "user.npy"), np.load(t / "item.npy"), np.load(t / "label.npy")
    s = []
    for u, i in zip(users, items):
        f, b = fav[meta["users"][u]]
        g, q = its[meta["items"][i - 1]["id"]]
        s.append(b + q + effect * bool(f & g))
    return auc(y, np.array(s))


class Collect(Progress):
    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.rows: dict[str, dict] = {}

    def emit(self, event: str, **f) -> None:
        if event == "run":
            self.rows[f["name"]] = f
            print(f"  {f['name']:<32} AUC {f['auc']:.4f}  LogLoss {f['logloss']:.4f}  best {f['bestEpoch']}/{f['epochs']}"
                  f"  {f['seconds']:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", required=True, help="--out of bench/knowledge-planted.ts")
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--configs", default="before-1024,before,after")
    ap.add_argument("--sets", default="base,latent,oracle,shuffled")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    planted = Path(args.planted)
    ingest = next((planted / "store" / "ingest").iterdir())
    truth = latent_set(planted, ingest)
    sets = args.sets.split(",")
    runs = []
    for model in args.backbones.split(","):
        for cfg in args.configs.split(","):
            for s in sets:
                r = {"name": f"{model}/{cfg}/{s}", "model": model, "train": CONFIGS[cfg]}
                if s != "base":
                    d = planted / "encode" / s
                    r.update(variant="kar", knowledge={"set": s, "user": str(d / "user.npy"), "userIds": str(d / "user.ids.json"),
                                                        "item": str(d / "item.npy"), "itemIds": str(d / "item.ids.json")})
                runs.append(r)
    out = Collect()
    sweep({"common": {"features": "paper", "seed": args.seed, "data": {"dir": str(ingest)}, "threads": args.threads,
                      "train": {"epochs": args.epochs, "patience": 3}},
           "runs": runs, "outDir": str(planted / "runs"), "predictions": True}, out)
    print(f"ceiling (the generator's own score): AUC {bayes_auc(truth, ingest):.4f}")
    print(f"| backbone | settings | {' | '.join(sets)} |")
    print(f"|---|---|{'---|' * len(sets)}")
    for model in args.backbones.split(","):
        for cfg in args.configs.split(","):
            base = out.rows[f"{model}/{cfg}/base"]["auc"] if "base" in sets else None
            cells = []
            for s in sets:
                a = out.rows[f"{model}/{cfg}/{s}"]["auc"]
                cells.append(f"{a:.4f}" if s == "base" or base is None else f"{a:.4f} ({a - base:+.4f})")
            print(f"| {model} | {cfg} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
