"""Writing a dataset in the ingest output format (docs/ARCHITECTURE.md, "The ingested dataset")
from per-user interaction sequences, with the authors' split rule (docs/DESIGN.md, "ingest").

Used by the trainer's tests (a tiny synthetic dataset with a planted signal) so they do not
depend on the TypeScript side; the pipeline's ingest stage (core/data) is the reference
implementation of the contract, and this follows its rule.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

Interaction = tuple[int, int, int]  # (timestamp, raw item id, rating)


def write_ingest(
    out: str | Path,
    sequences: dict[str, list[Interaction]],
    catalog: dict[str, tuple[str, list[str]]],
    threshold: int,
    history: int = 10,
    train_fraction: float = 0.8,
    kind: str = "synthetic",
) -> dict:
    """sequences: raw user id -> interactions in file order; catalog: raw item id -> (title, genres)."""
    # As core/data/split.ts: 0-based target positions history+1..k are train, k+1..n-1 test; the
    # training part is 0..k (train_end = k+1); items are every item of the kept users' sequences
    # in raw-id order; categories sorted by name.
    users, seqs = [], []
    for u, inter in sequences.items():
        seq = sorted(inter, key=lambda x: x[0])  # stable: ties keep file order
        k = int(len(seq) * train_fraction)
        n_train = max(0, min(k + 1, len(seq)) - (history + 1))
        n_test = max(0, len(seq) - max(k + 1, 1))
        if n_train > 0 or n_test > 0:
            users.append(u)
            seqs.append((seq, k))
    order_key = lambda x: (len(str(x)), str(x))  # numeric ids in numeric order
    all_items = sorted({i for seq, _ in seqs for _, i, _ in seq}, key=order_key)
    item_index = {raw: n + 1 for n, raw in enumerate(all_items)}
    cats = sorted({catalog[raw][1][0] for raw in all_items})
    cat_index = {c: j + 1 for j, c in enumerate(cats)}
    item_cat = np.zeros(len(all_items) + 1, dtype=np.int32)
    for raw, n in item_index.items():
        item_cat[n] = cat_index[catalog[raw][1][0]]
    train_count = np.zeros(len(all_items) + 1, dtype=np.int64)

    out = Path(out)
    rows: dict[str, list] = {"train": [], "test": []}
    flat_item, flat_rating, flat_ts, offsets, train_end = [], [], [], [0], []
    for uidx, (seq, k) in enumerate(seqs):
        items = [item_index[i] for _, i, _ in seq]
        ratings = [r for _, _, r in seq]
        end = min(k + 1, len(seq))
        flat_item += items
        flat_rating += ratings
        flat_ts += [t for t, _, _ in seq]
        offsets.append(len(flat_item))
        train_end.append(end)
        np.add.at(train_count, items[:end], 1)
        for p in range(history + 1, len(seq)):
            lo = max(0, p - history)
            pad = history - (p - lo)  # zero padding at the end when shorter
            rows["train" if p <= k else "test"].append(
                (uidx, p, items[lo:p] + [0] * pad, ratings[lo:p] + [0] * pad, items[p], ratings[p])
            )

    counts: dict[str, int] = {"users": len(users), "items": int((train_count[1:] > 0).sum())}
    for split, rs in rows.items():
        d = out / split
        d.mkdir(parents=True, exist_ok=True)
        item = np.array([r[4] for r in rs], dtype=np.int32)
        hist_item = np.array([r[2] for r in rs], dtype=np.int32).reshape(len(rs), history)
        rating = np.array([r[5] for r in rs], dtype=np.int8)
        label = (rating > threshold).astype(np.int8)
        arrays = {
            "user": np.array([r[0] for r in rs], dtype=np.int32),
            "pos": np.array([r[1] for r in rs], dtype=np.int32),
            "item": item,
            "cat": item_cat[item],
            "rating": rating,
            "label": label,
            "hist_item": hist_item,
            "hist_rating": np.array([r[3] for r in rs], dtype=np.int8).reshape(len(rs), history),
            "hist_cat": item_cat[hist_item],
        }
        for name, a in arrays.items():
            np.save(d / f"{name}.npy", a)
        counts[split] = len(rs)
        counts[f"{split}Positive"] = int(label.sum())
    (out / "seq").mkdir(parents=True, exist_ok=True)
    np.save(out / "seq/offsets.npy", np.array(offsets, dtype=np.int64))
    np.save(out / "seq/item.npy", np.array(flat_item, dtype=np.int32))
    np.save(out / "seq/rating.npy", np.array(flat_rating, dtype=np.int8))
    np.save(out / "seq/ts.npy", np.array(flat_ts, dtype=np.int64))
    np.save(out / "seq/train_end.npy", np.array(train_end, dtype=np.int32))
    counts.update(interactions=len(flat_item), allItems=len(all_items), categories=len(cats))
    meta = {
        "kind": kind,
        "labelThreshold": threshold,
        "historyLength": history,
        "trainFraction": train_fraction,
        "counts": counts,
        "users": list(users),
        "items": [
            {"id": raw, "title": catalog[raw][0], "year": None, "genres": catalog[raw][1], "category": int(item_cat[n]),
             "categoryName": cats[item_cat[n] - 1], "trainCount": int(train_count[n])}
            for raw, n in item_index.items()
        ],
        "categories": cats,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return counts


def make_synthetic(out: str | Path, users: int = 80, items: int = 60, categories: int = 4, seed: int = 0,
                   min_len: int = 16, max_len: int = 40, knowledge: str | Path | None = None, dim: int = 8) -> dict:
    """A tiny dataset whose labels a CTR model can learn: each item has a quality, each user a
    mood and a favourite category; rating = round(3 + quality + mood + 1.5 * likes-category + noise).

    With `knowledge`, also writes knowledge vector sets there in the encode stage's format
    (`<set>/user.npy` + `user.ids.json`, `<set>/item.npy` + `item.ids.json`, item row 0 padding)
    for sets kar, r2ec, r4ec: the vectors carry the hidden quality / mood / favourite category
    plus noise, so knowledge can help a model."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1.0, items)
    cat_of = rng.integers(0, categories, items)
    genres = [f"Genre{c}" for c in range(categories)]
    catalog = {str(i + 1): (f"Item {i + 1} ({1990 + i % 20})", [genres[cat_of[i]]]) for i in range(items)}
    popularity = np.exp(rng.normal(0, 0.7, items))
    popularity /= popularity.sum()
    sequences: dict[str, list[Interaction]] = {}
    moods: dict[str, tuple[float, int]] = {}
    for u in range(users):
        mood = rng.normal(0, 0.8)
        fav = rng.integers(0, categories)
        n = int(rng.integers(min_len, max_len + 1))
        chosen = rng.choice(items, size=min(n, items), replace=False, p=popularity)
        inter = []
        for t, i in enumerate(chosen):
            score = 3 + quality[i] + mood + 1.5 * (cat_of[i] == fav) - 0.5 + rng.normal(0, 0.6)
            inter.append((1_000_000 + 60 * t, str(i + 1), int(np.clip(np.rint(score), 1, 5))))
        sequences[str(u + 1)] = inter
        moods[str(u + 1)] = (mood, int(fav))
    counts = write_ingest(out, sequences, catalog, threshold=3)
    if knowledge is not None:
        write_knowledge(out, knowledge, quality, cat_of, moods, categories, dim, rng)
    return counts


def write_knowledge(data_dir, out, quality, cat_of, moods, categories, dim, rng) -> None:
    meta = json.loads((Path(data_dir) / "meta.json").read_text())
    user_ids = meta["users"]
    item_ids = [it["id"] for it in meta["items"]]
    for k, name in enumerate(("kar", "r2ec", "r4ec")):
        noise = 0.3 + 0.2 * k
        users = rng.normal(0, noise, (len(user_ids), dim)).astype(np.float32)
        for r, u in enumerate(user_ids):
            mood, fav = moods[u]
            users[r, 0] += mood
            users[r, 1 + fav % (dim - 1)] += 1.5
        items = rng.normal(0, noise, (len(item_ids) + 1, dim)).astype(np.float32)
        items[0] = 0.0
        for r, i in enumerate(item_ids, start=1):
            items[r, 0] += quality[int(i) - 1]
            items[r, 1 + cat_of[int(i) - 1] % (dim - 1)] += 1.5
        d = Path(out) / name
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "user.npy", users)
        np.save(d / "item.npy", items)
        (d / "user.ids.json").write_text(json.dumps(user_ids))
        (d / "item.ids.json").write_text(json.dumps([None, *item_ids]))
