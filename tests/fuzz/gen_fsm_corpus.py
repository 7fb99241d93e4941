#!/usr/bin/python3
"""gen_fsm_corpus.py: writes the seed inputs of the fsm fuzz target (tests/fuzz/fuzz_fsm.c).

Each input is a sequence of frames (2-byte big-endian length + a bus frame),
built with tests/integration/bus.py from proto/msg.def, so the seeds follow
the vocabulary when it grows. Run from the repository root:
    /usr/bin/python3 tests/fuzz/gen_fsm_corpus.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import bus  # noqa: E402

OUT = os.path.join(HERE, "corpus", "fsm")


def frames(*msgs):
    out = b""
    for name, fields in msgs:
        f = bus.encode(name, **fields)
        out += struct.pack(">H", len(f)) + f
    return out


NODE = {"node": "n1", "address": "10.0.0.1", "datacenter": "dc1"}
SVC = {"node": "n1", "id": "web1", "service": "web", "tags": ["v1", "Primary"], "port": 80,
       "weight_passing": 1, "weight_warning": 1}
CHK = {"node": "n1", "check_id": "serfHealth", "name": "Serf Health Status", "status": "passing"}
SCHK = {"node": "n1", "check_id": "service:web1", "name": "web", "status": "passing",
        "service_id": "web1"}
SESS = {"id": "0b6c4f3e-1f6e-4b7a-9d2f-2f1b8a6f0c11", "node": "n1", "behavior": "release",
        "lock_delay_ns": 15000000000, "node_checks": ["serfHealth"]}
SID = SESS["id"]

SEEDS = {
    "kv-basic": frames(
        ("KV_PUT", {"op": "set", "key": "a/b", "value": b"v1", "flags": 42}),
        ("KV_PUT", {"op": "cas", "key": "a/b", "value": b"v2", "cas_index": 2}),
        ("KV_PUT", {"op": "cas", "key": "a/c", "value": b"", "cas_index": 0}),
        ("KV_GET", {"key": "a/", "recurse": True}),
        ("KV_GET", {"key": "a/", "keys_only": True, "separator": "/"}),
        ("KV_DELETE", {"key": "a/b", "cas": 3}),
        ("KV_DELETE", {"key": "a", "recurse": True}),
        ("KV_GET", {"key": "a/b"}),
        ("TOMBSTONE_REAP", {"index": 100}),
    ),
    "catalog": frames(
        ("CATALOG_REGISTER", {"node": NODE, "has_service": True, "service": SVC,
                              "checks": [CHK, SCHK]}),
        ("CATALOG_NODES", {}),
        ("CATALOG_SERVICES", {}),
        ("SERVICE_NODES", {"service": "WEB", "tags": ["primary"], "with_checks": True,
                           "passing": True}),
        ("CATALOG_NODE", {"node": "N1"}),
        ("HEALTH_CHECKS", {"state": "any"}),
        ("HEALTH_CHECKS", {"service": "web"}),
        ("CATALOG_DEREGISTER", {"node": "n1", "service_id": "web1"}),
        ("CATALOG_DEREGISTER", {"node": "n1"}),
    ),
    "sessions-locks": frames(
        ("CATALOG_REGISTER", {"node": NODE, "checks": [CHK]}),
        ("SESSION_CREATE", {"session": SESS}),
        ("KV_PUT", {"op": "acquire", "key": "lock", "value": b"me", "session": SID}),
        ("KV_PUT", {"op": "acquire", "key": "lock", "value": b"me", "session": "nope"}),
        ("SESSION_QUERY", {"node": "n1"}),
        ("CATALOG_REGISTER", {"node": NODE, "skip_node_update": True,
                              "checks": [dict(CHK, status="critical")]}),
        ("KV_GET", {"key": "lock"}),
        ("KV_PUT", {"op": "release", "key": "lock", "session": SID}),
        ("SESSION_DESTROY", {"id": SID}),
    ),
    "txn": frames(
        ("TXN", {"ops": [
            {"kind": "KV", "verb": "set", "kv": {"key": "t/1", "value": b"x"}},
            {"kind": "KV", "verb": "cas", "kv": {"key": "t/2", "value": b"y",
                                                 "modify_index": 0}},
            {"kind": "KV", "verb": "get-tree", "kv": {"key": "t/"}},
            {"kind": "Node", "verb": "set", "node": NODE},
            {"kind": "Service", "verb": "set", "service": SVC},
            {"kind": "Check", "verb": "set", "check": SCHK},
        ]}),
        ("TXN", {"ops": [
            {"kind": "KV", "verb": "check-not-exists", "kv": {"key": "t/1"}},
            {"kind": "KV", "verb": "delete-tree", "kv": {"key": "t/"}},
        ]}),
        ("TXN", {"ops": [{"kind": "KV", "verb": "get", "kv": {"key": "t/1"}}]}),
    ),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    # Edge cases: nothing, a length past the end, garbage.
    for name, data in {"empty": b"", "short": b"\x00\x10\x93", "junk": b"\xff\xff" + b"\xc1" * 8}.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
