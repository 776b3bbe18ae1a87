"""Drives sluice's HTTP API with the official OpenSearch Python client
(opensearch-py), as an OpenSearch user's script would. Run by
tests/integration/http.rs against a real `sluice serve --http-listen`:

    python3 http_opensearch_py.py URL TOKEN BASE_DIRECTORY STREAM

The stream has 2 partitions: partition 0 holds p-0..p-9 (external versions
1), partition 1 holds q-0..q-4. Every step asserts the response and, where
the call changes something, its effect on the ingestion. Prints one JSON
line of facts for the Rust side to check, then "ok".
"""

import json
import sys
import time

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError

url, token, base_directory, stream = sys.argv[1:5]
client = OpenSearch(hosts=[url], headers={"Authorization": f"Bearer {token}"}, timeout=60)
INDEX = "py-index"


def wait_for(what, check, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def shard_stats(shard):
    stats = client.indices.stats(index=INDEX)
    return stats["indices"][INDEX]["shards"][str(shard)][0]["polling_ingest_stats"]


def processed(shard):
    return shard_stats(shard)["message_processor_stats"]["total_processed_count"]


# Create: the index-creation body from OpenSearch's documentation, no `name`.
BODY = {
    "settings": {
        "index": {"number_of_shards": 2, "number_of_replicas": 1},
        "ingestion_source": {
            "type": "file",
            "pointer.init.reset": "earliest",
            "poll.timeout": 50,
            "param": {"stream": stream, "base_directory": base_directory},
        },
    },
    "mappings": {"properties": {"n": {"type": "integer"}}},
}
created = client.indices.create(index=INDEX, body=BODY)
assert created == {"acknowledged": True, "shards_acknowledged": True, "index": INDEX}, created
assert client.indices.exists(index=INDEX) is True
assert client.indices.exists(index="py-missing") is False
try:
    client.indices.create(index=INDEX, body=BODY)
    raise AssertionError("creating an existing index must fail")
except RequestError as e:
    assert e.status_code == 400 and e.error == "resource_already_exists_exception", e.info

wait_for("15 documents", lambda: client.count(index=INDEX)["count"] == 15)
# The statistics follow the commit that the count reads (they are updated
# right after it): wait for them too, then they must be exact.
wait_for("the statistics of 15 messages", lambda: processed(0) + processed(1) == 15)
assert processed(0) == 10 and processed(1) == 5

# Documents.
doc = client.get(index=INDEX, id="p-3")
assert (doc["found"], doc["_index"], doc["_id"], doc["_source"], doc["_version"]) == (True, INDEX, "p-3", {"n": 3}, 1), doc
try:
    client.get(index=INDEX, id="nope")
    raise AssertionError("a missing document must be 404")
except NotFoundError as e:
    assert e.info["found"] is False, e.info
try:
    client.get(index="py-missing", id="p-3")
    raise AssertionError("a missing index must be 404")
except NotFoundError as e:
    assert e.error == "index_not_found_exception", e.info

assert client.count(index=INDEX, body={"query": {"ids": {"values": ["p-1", "q-4", "zz"]}}})["count"] == 2
hits = client.search(index=INDEX, body={"query": {"ids": {"values": ["q-2", "p-7"]}}})["hits"]
assert [h["_id"] for h in hits["hits"]] == ["p-7", "q-2"] and hits["total"]["value"] == 2, hits
hits = client.search(index=INDEX, body={"query": {"term": {"_id": "q-1"}}})["hits"]["hits"]
assert [(h["_id"], h["_source"]) for h in hits] == [("q-1", {"n": 1})], hits
page = client.search(index=INDEX, body={"query": {"match_all": {}}}, params={"size": 4, "from": 2})["hits"]
assert [h["_id"] for h in page["hits"]] == ["p-2", "p-3", "p-4", "p-5"] and page["total"]["value"] == 15, page
# search_after on _id visits every document once, in _id order.
seen, after = [], None
while True:
    body = {"size": 6, "sort": [{"_id": "asc"}]}
    if after:
        body["search_after"] = after
    batch = client.search(index=INDEX, body=body)["hits"]["hits"]
    if not batch:
        break
    seen += [h["_id"] for h in batch]
    after = batch[-1]["sort"]
assert seen == sorted([f"p-{i}" for i in range(10)] + [f"q-{i}" for i in range(5)]), seen
try:
    client.search(index=INDEX, body={"query": {"match": {"n": 3}}})
    raise AssertionError("full-text queries are refused")
except RequestError as e:
    assert e.status_code == 400 and "match_all, ids, and term or terms on _id" in str(e.info), e.info

# Settings: the body exactly as OpenSearch's documentation shows it, then nested.
assert client.indices.put_settings(index=INDEX, body={"index.ingestion_source.error_strategy": "BLOCK"}) == {
    "acknowledged": True
}
got = client.indices.get_settings(index=INDEX)[INDEX]["settings"]["index"]
assert got["ingestion_source"]["error_strategy"] == "BLOCK" and got["number_of_shards"] == "2", got
state = client.transport.perform_request("GET", f"/{INDEX}/ingestion/_state")
assert [s["error_policy"] for s in state["ingestion_state"][INDEX]] == ["BLOCK", "BLOCK"], state
client.indices.put_settings(index=INDEX, body={"index": {"ingestion_source": {"error_strategy": "DROP"}}})
assert client.indices.get(index=INDEX)[INDEX]["settings"]["index"]["ingestion_source"]["error_strategy"] == "DROP"
try:
    client.indices.put_settings(index=INDEX, body={"index.number_of_shards": 5})
    raise AssertionError("a static setting must be refused")
except RequestError as e:
    assert "index.number_of_shards" in str(e.info), e.info

# Pause, state (paged), resume with a reset of shard 0 to offset 6.
paused = client.transport.perform_request("POST", f"/{INDEX}/ingestion/_pause")
assert paused["acknowledged"] is True and paused["shards_acknowledged"] is True, paused
first = client.transport.perform_request("GET", f"/{INDEX}/ingestion/_state", params={"size": 1})
shard0 = first["ingestion_state"][INDEX][0]
assert (shard0["shard"], shard0["poller_paused"], shard0["poller_state"]) == (0, True, "PAUSED"), first
assert first["next_page_token"] == "1", first
second = client.ingestion.get_state(index=INDEX, params={"size": 1, "next_token": first["next_page_token"]})
assert [s["shard"] for s in second["ingestion_state"][INDEX]] == [1] and "next_page_token" not in second, second
resumed = client.transport.perform_request(
    "POST",
    f"/{INDEX}/ingestion/_resume",
    body={"reset_settings": [{"shard": 0, "mode": "offset", "value": "6"}]},
)
assert resumed["acknowledged"] is True, resumed
# Lines 6..9 of partition 0 are read again: 4 more processed, same 15 documents.
wait_for("shard 0 re-read lines 6..9", lambda: processed(0) == 14)
state = client.transport.perform_request("GET", f"/{INDEX}/ingestion/_state")["ingestion_state"][INDEX]
assert [s["poller_paused"] for s in state] == [False, False], state
assert state[0]["last_pointer"] == "9", state
assert shard_stats(0)["message_processor_stats"]["total_version_conflicts_count"] == 4
assert client.count(index=INDEX)["count"] == 15

nodes = client.nodes.stats(metric="indices", params={"level": "shards"})
shards = nodes["nodes"]["sluice"]["indices"]["shards"][INDEX]
assert shards[1]["1"]["polling_ingest_stats"]["message_processor_stats"]["total_processed_count"] == 5, shards

print(json.dumps({"shard0_processed": processed(0), "shard1_processed": processed(1)}))
deleted = client.indices.delete(index=INDEX, params={"delete_data": "true"})
assert deleted == {"acknowledged": True}, deleted
assert client.indices.exists(index=INDEX) is False
print("ok")
