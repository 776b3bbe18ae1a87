#!/usr/bin/env python3
"""Generates the quick start's example stream: 3 partitions of NDJSON in
OpenSearch's pull-based message format, with creates, updates (newer and
stale versions), deletes, auto-ids and some invalid lines.

Deterministic (fixed seed): run it again and the files are identical.
    python3 examples/generate_quickstart.py
"""
import json
import random
import zlib
from pathlib import Path

SHARDS = 3
MESSAGES = 3000
rng = random.Random(20261121)
out = Path(__file__).parent / "streams" / "quickstart"
out.mkdir(parents=True, exist_ok=True)

CITIES = ["Lisbon", "Oslo", "Lagos", "Lima", "Osaka", "Quito", "Tunis", "Perth"]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
INVALID = [
    '{"_id": "broken", "_source": {"name": "x"',                                      # truncated JSON
    '{"_id": "u-bad-age", "_version": 1, "_source": {"name": "x", "age": "abc"}}',    # age is an integer
    '{"_id": "u-bad-op", "_op_type": "upsert", "_source": {"name": "x"}}',            # unknown op type
    '{"_op_type": "delete", "_version": 3}',                                          # delete without _id
    '{"_id": "u-extra", "_source": {"name": "x", "nickname": "y"}}',                  # unmapped field, dynamic strict
    '{"_id": "u-neg", "_version": -4, "_source": {"name": "x"}}',                     # negative version
    'not json at all',
]

def shard_of(doc_id):
    return zlib.crc32(doc_id.encode()) % SHARDS

def source():
    return {
        "name": rng.choice(NAMES),
        "age": rng.randint(18, 90),
        "city": rng.choice(CITIES),
        "joined": f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }

lines = [[] for _ in range(SHARDS)]
versions = {}  # id -> last version sent
for i in range(MESSAGES):
    r = rng.random()
    if r < 0.05:
        line = rng.choice(INVALID)
        lines[rng.randrange(SHARDS)].append(line)
        continue
    if r < 0.10:
        # No _id: sluice derives "<shard>-<pointer>", stable across replays.
        s = rng.randrange(SHARDS)
        lines[s].append(json.dumps({"_source": source()}))
        continue
    if r < 0.55 or not versions:
        doc_id = f"user-{len(versions) + 1:05d}"
        versions[doc_id] = 1
        msg = {"_id": doc_id, "_version": "1", "_op_type": rng.choice(["index", "create"]), "_source": source()}
    else:
        doc_id = rng.choice(sorted(versions))
        if r < 0.80:
            versions[doc_id] += 1
            msg = {"_id": doc_id, "_version": versions[doc_id], "_source": source()}
        elif r < 0.88:
            # A stale update: an older version arriving late. Dropped as a version conflict.
            msg = {"_id": doc_id, "_version": max(1, versions[doc_id] - 1), "_source": source()}
        else:
            versions[doc_id] += 1
            msg = {"_id": doc_id, "_version": versions[doc_id], "_op_type": "delete"}
    lines[shard_of(doc_id)].append(json.dumps(msg))

for s in range(SHARDS):
    (out / f"{s}.ndjson").write_text("\n".join(lines[s]) + "\n")
    print(f"{out / f'{s}.ndjson'}: {len(lines[s])} messages")
