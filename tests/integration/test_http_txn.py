"""test_http_txn.py: PUT /v1/txn (spec/http-api.md §8.3) on an agent with a small kv_max_value_size."""
import json

import pytest

from httpfix import (HttpAgent, assert_text, b64, http, p, register,  # noqa: F401
                     session, unb64)

VALUE_MAX = 1024         # limits.kv_max_value_size of this module's agent
TXN_BODY_MAX = 524288    # limits.txn_max_req_len default
TXN_OPS_MAX = 128        # operations in one transaction (§8.3)


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent(config={"limits": {"kv_max_value_size": VALUE_MAX}})
    try:
        a.boot()
        yield a
    finally:
        a.stop()


def txn(http, ops, status=200, **params):
    r = http.put("/v1/txn", data=json.dumps(ops), params=params)
    assert r.status_code == status, "%d %r" % (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r


def kv_entry(http, key):
    r = http.get("/v1/kv/" + key)
    return r.json()[0] if r.status_code == 200 else None


def test_set_and_get(http, p):
    k1, k2 = p + "a", p + "b"
    r = txn(http, [{"KV": {"Verb": "set", "Key": k1, "Value": b64("one"), "Flags": 7}},
                   {"KV": {"Verb": "set", "Key": k2, "Value": b64("two")}}])
    body = r.json()
    assert body["Errors"] is None
    assert len(body["Results"]) == 2
    e1 = body["Results"][0]["KV"]
    assert e1["Key"] == k1 and e1["Flags"] == 7
    assert e1["Value"] is None  # only get verbs carry values (§8.3)
    assert e1["CreateIndex"] == e1["ModifyIndex"] >= 1
    # Both in one Raft entry.
    assert body["Results"][1]["KV"]["ModifyIndex"] == e1["ModifyIndex"]
    assert unb64(kv_entry(http, k1)["Value"]) == b"one"

    r = txn(http, [{"KV": {"Verb": "get", "Key": k1}}, {"KV": {"Verb": "get-tree", "Key": p}}])
    res = r.json()["Results"]
    assert unb64(res[0]["KV"]["Value"]) == b"one"
    assert [x["KV"]["Key"] for x in res[1:]] == [k1, k2]


def test_read_only_txn_is_a_read(http, p):
    k1 = p + "r"
    txn(http, [{"KV": {"Verb": "set", "Key": k1, "Value": b64("v")}}])
    r = txn(http, [{"KV": {"Verb": "get", "Key": k1}}])
    assert r.headers.get("X-Consul-KnownLeader") == "true"
    assert r.headers.get("X-Consul-LastContact", "").isdigit()
    assert "X-Consul-Index" not in r.headers  # §8.3: no index on a read txn
    r = txn(http, [{"KV": {"Verb": "get", "Key": k1}}], stale="")
    assert r.json()["Errors"] is None


def test_cas_failure_rolls_back_with_409(http, p):
    k1, k2 = p + "x", p + "y"
    txn(http, [{"KV": {"Verb": "set", "Key": k2, "Value": b64("old")}}])
    idx = kv_entry(http, k2)["ModifyIndex"]
    r = txn(http, [{"KV": {"Verb": "set", "Key": k1, "Value": b64("new")}},
                   {"KV": {"Verb": "cas", "Key": k2, "Value": b64("new"), "Index": idx + 100}}],
            status=409)
    body = r.json()
    assert body["Results"] is None
    assert body["Errors"] == [{"OpIndex": 1, "What": 'failed to set key "%s", index is stale' % k2}]
    assert kv_entry(http, k1) is None  # rolled back
    assert unb64(kv_entry(http, k2)["Value"]) == b"old"
    # The right index applies.
    r = txn(http, [{"KV": {"Verb": "cas", "Key": k2, "Value": b64("new"), "Index": idx}}])
    assert r.json()["Results"][0]["KV"]["ModifyIndex"] > idx


def test_get_missing_key_fails(http, p):
    r = txn(http, [{"KV": {"Verb": "get", "Key": p + "none"}}], status=409)
    assert r.json()["Errors"] == [{"OpIndex": 0, "What": 'key "%snone" doesn\'t exist' % p}]


def test_check_not_exists_and_deletes(http, p):
    k1 = p + "d"
    txn(http, [{"KV": {"Verb": "set", "Key": k1, "Value": b64("v")}}])
    r = txn(http, [{"KV": {"Verb": "check-not-exists", "Key": k1}}], status=409)
    assert r.json()["Errors"][0]["OpIndex"] == 0
    idx = kv_entry(http, k1)["ModifyIndex"]
    r = txn(http, [{"KV": {"Verb": "delete-cas", "Key": k1, "Index": idx + 1}}], status=409)
    assert r.json()["Errors"] == [{"OpIndex": 0,
                                   "What": 'failed to delete key "%s", index is stale' % k1}]
    r = txn(http, [{"KV": {"Verb": "delete-cas", "Key": k1, "Index": idx}},
                   {"KV": {"Verb": "check-not-exists", "Key": k1}}])
    assert r.json()["Results"] in (None, [])  # deletes and checks carry no result entry
    assert kv_entry(http, k1) is None


def test_lock_unlock_verbs(http, p):
    k1 = p + "l"
    sid = session(http, LockDelay="0s")
    r = txn(http, [{"KV": {"Verb": "lock", "Key": k1, "Value": b64("held"), "Session": sid}}])
    e = r.json()["Results"][0]["KV"]
    assert e["Session"] == sid and e["LockIndex"] == 1
    other = session(http, LockDelay="0s")
    r = txn(http, [{"KV": {"Verb": "lock", "Key": k1, "Value": b64("x"), "Session": other}}],
            status=409)
    assert r.json()["Errors"][0]["What"] == (
        'failed to lock key "%s", lock is already held' % k1)
    r = txn(http, [{"KV": {"Verb": "unlock", "Key": k1, "Value": b64(""), "Session": sid}}])
    assert "Session" not in r.json()["Results"][0]["KV"]


def test_node_ops(http, p):
    node = p + "n"
    register(http, node, address="10.6.0.1")
    r = txn(http, [{"Node": {"Verb": "get", "Node": {"Node": node}}}])
    n = r.json()["Results"][0]["Node"]
    assert n["Node"] == node and n["Address"] == "10.6.0.1"


def test_too_many_operations(http, p):
    ops = [{"KV": {"Verb": "set", "Key": "%s%d" % (p, i), "Value": b64("v")}}
           for i in range(TXN_OPS_MAX + 1)]
    r = http.put("/v1/txn", data=json.dumps(ops))
    assert_text(r, 413, "Transaction contains too many operations (%d > %d)" % (
        TXN_OPS_MAX + 1, TXN_OPS_MAX))
    # The limit itself is fine.
    txn(http, ops[:TXN_OPS_MAX])


def test_value_too_large(http, p):
    r = http.put("/v1/txn", data=json.dumps(
        [{"KV": {"Verb": "set", "Key": p + "big", "Value": b64("x" * (VALUE_MAX + 1))}}]))
    assert_text(r, 413, 'Value for key "%sbig" is too large (%d > %d bytes)' % (
        p, VALUE_MAX + 1, VALUE_MAX))
    txn(http, [{"KV": {"Verb": "set", "Key": p + "big", "Value": b64("x" * VALUE_MAX)}}])


def test_body_too_large(http, p):
    big = json.dumps([{"KV": {"Verb": "get", "Key": p + "k" * (TXN_BODY_MAX + 10)}}])
    r = http.put("/v1/txn", data=big)
    assert_text(r, 413, prefix="Request body too large, max size: %d bytes" % TXN_BODY_MAX)


@pytest.mark.parametrize("body", ["", "{", "[{", '{"KV": {}}', "[1]", '[{"KV": {"Verb": 5}}]'])
def test_bad_body(http, body):
    r = http.put("/v1/txn", data=body)
    assert_text(r, 400, prefix="Failed to parse body: ")


def test_methods(http):
    r = http.get("/v1/txn")
    assert_text(r, 405, "method GET not allowed")
    assert "PUT" in r.headers.get("Allow", "")
