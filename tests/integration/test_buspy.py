"""test_buspy.py: bus.py parses msg.def and round-trips every field kind through a real daemon."""
import os
import tempfile

import msgpack
import pytest

import bus
from agent import Agent


def test_msg_def_is_parsed_whole():
    assert bus.PEERS == {"musterd": 1, "raftd": 2, "gossipd": 4, "httpd": 8, "dnsd": 16,
                         "healthd": 32}
    ids = sorted(m.id for m in bus.MESSAGES.values())
    assert ids == list(range(1, len(ids) + 1)), "message ids are dense from 1"
    assert bus.MESSAGES["STATUS"].fields == []  # MSG_F_NONE
    kv_get = bus.MESSAGES["KV_GET"]
    assert kv_get.id == 15
    # MSG_STATE_CALLERS, a #define: httpd, dnsd, healthd, raftd.
    assert kv_get.senders == 8 | 16 | 32 | 2 and kv_get.receivers == 2
    assert [(f.name, f.kind, f.rec) for f in kv_get.fields] == [
        ("q", "REC", "query_opts"), ("key", "STR", None), ("recurse", "BOOL", None),
        ("keys_only", "BOOL", None), ("separator", "STR", None)]
    assert bus.MESSAGES["LEAVE"].receivers == 1 | 4 | 2  # musterd, gossipd, raftd
    assert [f.kind for f in bus.MESSAGES["ECHO"].fields] == [
        "U64", "I64", "BOOL", "F64", "STR", "BYTES", "OPT_U64", "OPT_STR", "OPT_BOOL",
        "STRLIST", "STRMAP", "REC", "LIST"]


def test_parser_handles_comments_continuations_and_defines():
    text = """
/* MSG_DEF_RECORD(fake, MSG_F_U64(x)) in a comment is not a record */
#define MY_MASK (MSG_PEER_HTTPD | \\
                 MSG_PEER_DNSD)
MSG_DEF_RECORD(r1, MSG_F_STR(a) // trailing comment (with parens)
	MSG_F_OPT_U64(b))
MSG_DEF_MESSAGE(ONE, one, 1, MY_MASK, MSG_PEER_ANY,
	MSG_F_NONE)
MSG_DEF_MESSAGE(TWO, two, 2, MSG_PEER_RAFTD, MY_MASK | MSG_PEER_RAFTD,
	MSG_F_LIST(rs, r1)
	MSG_F_REC(one, r1))
"""
    with tempfile.NamedTemporaryFile("w", suffix=".def") as f:
        f.write(text)
        f.flush()
        recs, msgs, peers = bus.parse(f.name)
    assert list(recs) == ["r1"]
    assert [(x.name, x.kind) for x in recs["r1"]] == [("a", "STR"), ("b", "OPT_U64")]
    assert msgs["ONE"].senders == 8 | 16 and msgs["ONE"].fields == []
    assert msgs["TWO"].receivers == 8 | 16 | 2
    assert [(x.name, x.kind, x.rec) for x in msgs["TWO"].fields] == [
        ("rs", "LIST", "r1"), ("one", "REC", "r1")]


def test_encoding_follows_the_wire_format():
    frame = bus.encode("KV_PUT", 7, op="set", key="k", value=b"\x00v", flags=2**64 - 1)
    assert msgpack.unpackb(frame, raw=False) == [17, 7, "set", "k", b"\x00v", 2**64 - 1, 0, ""]
    name, rid, f = bus.decode(frame)
    assert (name, rid) == ("KV_PUT", 7)
    assert f == {"op": "set", "key": "k", "value": b"\x00v", "flags": 2**64 - 1,
                 "cas_index": 0, "session": ""}
    # Missing trailing fields default, extra ones are ignored.
    name, _, f = bus.decode(msgpack.packb([18, 1, 5], use_bin_type=True))
    assert (name, f) == ("WRITE_REPLY", {"index": 5, "ok": False, "id": ""})
    _, _, f = bus.decode(msgpack.packb([12, 1, 404, "x", "extra", 9], use_bin_type=True))
    assert f == {"status": 404, "error": "x"}
    # Records nest as arrays, lists as arrays of arrays; OPT_* absent is nil.
    frame = bus.encode("KV_DELETE", 1, key="a")
    assert msgpack.unpackb(frame) == [19, 1, "a", False, None]
    frame = bus.encode("KV_GET", 2, q={"min_index": 3}, key="a")
    assert msgpack.unpackb(frame) == [15, 2, [0, 3, 0, 0], "a", False, False, ""]
    _, _, f = bus.decode(bus.encode("TXN", 3, ops=[{"kind": "KV", "verb": "get",
                                                     "kv": {"key": "x"}}]))
    assert f["ops"][0]["kv"]["key"] == "x" and f["ops"][0]["check"]["definition"]["ttl_ns"] == 0
    with pytest.raises(TypeError):
        bus.encode("KV_PUT", 1, nosuchfield=1)
    with pytest.raises(bus.DecodeError):  # a STR field holding an int
        bus.decode(msgpack.packb([12, 1, 200, 5]))
    # Topic: fixarray header of 2 + fields, then the type.
    assert bus.topic("INDEX_BUMP") == b"\x95\x29"
    assert bus.topic("STATUS") == b"\x92\x04"


@pytest.fixture(scope="module")
def dev():
    a = Agent(["-dev"]).start()
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


ECHO = dict(u=2**64 - 1, i=-2**63, b=True, d=0.25, s="échö", raw=b"\x00\xff\x01",
            ou=0, os="", ob=False, list=["a", "", "c"], map={"k": "v", "": "e"},
            one={"name": "raftd", "pid": 42, "state": "ready", "ready": True,
                 "restarts": 1, "uptime_ms": 9, "last_exit": "signal 9"},
            many=[{"name": "n1", "kind": 1, "value": 1.5, "labels": {"a": "b"}},
                  {"name": "n2", "kind": 0, "value": -2.0, "labels": {}}])


def test_echo_round_trips_through_raftd(dev):
    with bus.Bus(dev.run_dir) as b:
        name, f = b.call("ECHO", **ECHO)
        assert name == "ECHO"
        assert f == ECHO
        # Absent OPT_* come back absent, empty values empty.
        name, f = b.call("ECHO")
        assert name == "ECHO"
        assert f["ou"] is None and f["os"] is None and f["ob"] is None
        assert f["raw"] == b"" and f["list"] == [] and f["map"] == {} and f["many"] == []
        name, f = b.call("PING", nonce=99)
        assert name == "PONG" and f["nonce"] == 99


def test_several_identities_and_pipelined_requests(dev):
    clients = [bus.Bus(dev.run_dir, self_name=n) for n in ("httpd", "dnsd", "healthd")]
    try:
        reqs = [(c, c.send("PING", nonce=i * 100 + j)) for i, c in enumerate(clients)
                for j in range(20)]
        for c, rid in reqs:
            name, f = c.recv(rid, 5.0)
            assert name == "PONG"
    finally:
        for c in clients:
            c.close()


def test_two_clients_of_one_daemon_name_do_not_steal_replies(dev):
    # Each Bus has its own routing id "<name>/<tag>" (a ROUTER hands a
    # reused id to the newest connection); raftd counts it as <name>.
    a, b = bus.Bus(dev.run_dir), bus.Bus(dev.run_dir)
    try:
        assert a.routing_id != b.routing_id and a.routing_id.startswith("httpd/")
        ra = [a.send("PING", nonce=i) for i in range(10)]
        rb = [b.send("PING", nonce=100 + i) for i in range(10)]
        assert [a.recv(r, 5.0)[1]["nonce"] for r in ra] == list(range(10))
        assert [b.recv(r, 5.0)[1]["nonce"] for r in rb] == list(range(100, 110))
    finally:
        a.close()
        b.close()


def test_refused_sender_gets_no_answer(dev):
    # CHILD_STATE may come from musterd only; bus.py refuses to send it
    # unless told to, and raftd drops it unanswered.
    with bus.Bus(dev.run_dir) as b:
        with pytest.raises(bus.BusError):
            b.send("CHILD_STATE")
        rid = b.send("CHILD_STATE", check_sender=False)
        with pytest.raises(bus.BusTimeout):
            b.recv(rid, 0.3)


def test_musterd_status_over_bus(dev):
    with bus.Bus(dev.run_dir, peer="musterd") as b:
        name, f = b.call("STATUS")
    assert name == "STATUS_REPLY"
    kids = {c["name"]: c for c in f["children"]}
    assert kids["raftd"]["state"] == "ready"
    assert kids["raftd"]["pid"] == dev.status()["raftd"]["pid"]
    assert os.path.exists(os.path.join(dev.run_dir, "raftd.pub"))
