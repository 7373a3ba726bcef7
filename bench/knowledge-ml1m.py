"""Oracle knowledge on real data: does knowledge that is informative by construction lift a backbone,
and does it matter that user knowledge describes the labels the model is trained on?

The oracle vectors are computed from the ingested dataset, not written by a language model:
  user: smoothed like-rate, log interaction count, and per genre the smoothed like-rate and the
        share of the user's interactions (18 + 18), over the interactions the knowledge may see;
  item: smoothed like-rate, log popularity, genres (multi-hot), over the same interactions.
Two ways to build and train:
  full    knowledge from each user's whole training part, trained on every training sample (the
          paper's protocol: the knowledge describes the labels of the samples it is trained on);
  cutoff  knowledge from the first `--cutoff` of each user's training part (items: from every
          user's prefix), trained and validated only on samples after it (train.knowledgeCutoff).
Test samples are never seen by either. Prints AUC / LogLoss per backbone, set and seed.

usage:
  npx tsx bench/ctr-ingest.ts --data ../shared/data/ml-1m --store /tmp/r4ec-bench-store   # prints "dir"
  .tools/venv/bin/python bench/knowledge-ml1m.py --data DIR [--backbones deepfm] [--seeds 1,2]
      [--epochs 10] [--cutoff 0.5] [--configs before,after] [--sets base,full,cutoff] [--threads 1]
      [--out /tmp/knowledge-ml1m]
"before" is the trainer's knowledge settings before the connector work, "after" its defaults.
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
from trainer.ctr.data import DataFiles, Dataset, cutoff_positions, load_dataset  # noqa: E402
from trainer.ctr.sweep import sweep  # noqa: E402

PRIOR = 10.0
CONFIGS = {
    "before": {"knowledgeNorm": "none", "knowledgeCross": False, "knowledgeNoise": 0.0, "monitor": "auc"},
    "after": {},
    "after-no-noise": {"knowledgeNoise": 0.0},
}


def genre_matrix(ds: Dataset) -> tuple[np.ndarray, list[str]]:
    items = ds.meta.raw["items"]
    names = sorted({g for it in items for g in it.get("genres") or []})
    col = {g: k for k, g in enumerate(names)}
    m = np.zeros((ds.meta.items + 1, len(names)), dtype=np.float64)
    for r, it in enumerate(items, start=1):
        for g in it.get("genres") or []:
            m[r, col[g]] = 1.0
    return m, names


def oracle_vectors(ds: Dataset, visible_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user [U, 2+2G], item [I+1, 2+G]) from the interactions at positions < visible_end[u]."""
    off = ds.seq["offsets"].astype(np.int64)
    lengths = np.diff(off)
    user_of = np.repeat(np.arange(ds.meta.users), lengths)
    rank = np.arange(len(ds.seq["item"])) - np.repeat(off[:-1], lengths)
    seen = rank < visible_end[user_of]
    items = ds.seq["item"][seen].astype(np.int64)
    users = user_of[seen]
    liked = (ds.seq["rating"][seen].astype(np.float64) > ds.meta.label_threshold).astype(np.float64)
    g = liked.mean()
    genres, _ = genre_matrix(ds)
    n_g = genres.shape[1]

    i_likes = np.bincount(items, weights=liked, minlength=ds.meta.items + 1)
    i_count = np.bincount(items, minlength=ds.meta.items + 1).astype(np.float64)
    item = np.zeros((ds.meta.items + 1, 2 + n_g))
    item[:, 0] = (i_likes + PRIOR * g) / (i_count + PRIOR)
    item[:, 1] = np.log1p(i_count)
    item[:, 2:] = genres
    item[0] = 0.0

    u_likes = np.bincount(users, weights=liked, minlength=ds.meta.users)
    u_count = np.bincount(users, minlength=ds.meta.users).astype(np.float64)
    u_rate = (u_likes + 5 * g) / (u_count + 5)
    ig = genres[items]  # [n, G]
    ug_likes = np.zeros((ds.meta.users, n_g))
    ug_count = np.zeros((ds.meta.users, n_g))
    np.add.at(ug_likes, users, ig * liked[:, None])
    np.add.at(ug_count, users, ig)
    user = np.zeros((ds.meta.users, 2 + 2 * n_g))
    user[:, 0] = u_rate
    user[:, 1] = np.log1p(u_count)
    user[:, 2 : 2 + n_g] = (ug_likes + 3 * u_rate[:, None]) / (ug_count + 3)
    user[:, 2 + n_g :] = ug_count / np.maximum(u_count, 1)[:, None]
    return user.astype(np.float32), item.astype(np.float32)


def write_set(out: Path, name: str, ds: Dataset, user: np.ndarray, item: np.ndarray) -> dict:
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "user.npy", user)
    np.save(d / "item.npy", item)
    (d / "user.ids.json").write_text(json.dumps(ds.meta.user_ids))
    (d / "item.ids.json").write_text(json.dumps([None, *ds.meta.item_ids]))
    return {"set": name, "user": str(d / "user.npy"), "userIds": str(d / "user.ids.json"),
            "item": str(d / "item.npy"), "itemIds": str(d / "item.ids.json")}


class Printer(Progress):
    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, event: str, **f) -> None:
        if event == "run":
            print(f"{f['name']:<40} AUC {f['auc']:.4f}  LogLoss {f['logloss']:.4f}  best epoch {f['bestEpoch']}/{f['epochs']}"
                  f"  {f['seconds']:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="ingest output directory")
    ap.add_argument("--out", default="/tmp/knowledge-ml1m")
    ap.add_argument("--backbones", default="deepfm")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--cutoff", type=float, default=0.5)
    ap.add_argument("--configs", default="before,after", help="knowledge settings to compare (see CONFIGS)")
    ap.add_argument("--sets", default="base,full,cutoff", help="which of base, full, cutoff to train")
    ap.add_argument("--extra", default="{}", help="JSON merged into every run's train block")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    ds = load_dataset(DataFiles(directory=args.data))
    full = write_set(out / "vectors", "full", ds, *oracle_vectors(ds, ds.seq["train_end"].astype(np.int64)))
    prefix = write_set(out / "vectors", "cutoff", ds, *oracle_vectors(ds, cutoff_positions(ds, args.cutoff)))
    sets = args.sets.split(",")
    runs = []
    for model in args.backbones.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for cfg in args.configs.split(","):
                t = CONFIGS[cfg]
                if "base" in sets:
                    runs.append({"name": f"{model}/{cfg}/base/seed-{seed}", "model": model, "seed": seed, "train": t})
                if "full" in sets:
                    runs.append({"name": f"{model}/{cfg}/full/seed-{seed}", "model": model, "seed": seed, "variant": "kar",
                                 "knowledge": full, "train": t})
                if "cutoff" in sets:
                    runs.append({"name": f"{model}/{cfg}/cutoff{args.cutoff}/seed-{seed}", "model": model, "seed": seed,
                                 "variant": "kar", "knowledge": prefix, "train": {**t, "knowledgeCutoff": args.cutoff}})
    spec = {
        "common": {"features": "paper", "data": {"dir": args.data}, "threads": args.threads,
                   "train": {"epochs": args.epochs, "patience": args.patience, "batchSize": args.batch_size, **json.loads(args.extra)}},
        "runs": runs, "outDir": str(out / "runs"), "predictions": True,
    }
    print(f"{len(ds.train)} train / {len(ds.test)} test samples; {len(runs)} runs", flush=True)
    sweep(spec, Printer())


if __name__ == "__main__":
    main()
