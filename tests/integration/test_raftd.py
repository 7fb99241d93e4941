"""test_raftd.py: raftd's state API over the bus (proto/msg.def ids 15-43) on a real -dev agent.

Semantics are spec/http-api.md's: §1.9 consistency, §1.10 blocking, §1.11
errors, §4 catalog, §5 health, §6 KV, §7 sessions, §8.3 txn. One agent
serves the whole module; each test works under its own key prefix, node
and service names, so tests do not see each other's data.

The helpers here (RaftAgent, the call wrappers) are shared with the other
test_raftd_*.py modules.
"""
import json
import os
import re
import socket
import time

import pytest

import bus
from agent import Agent, free_port, wait_for

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEC = 1000 * 1000 * 1000  # ns
STALE, CONSISTENT = 1, 2

# --- agents -------------------------------------------------------------------



def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_config(dev):
    cfg = {
        "ports": {"server": free_port(), "http": free_port(), "dns": free_port(),
                  "serf_lan": free_port(), "serf_wan": free_port(), "grpc": -1},
        # musterd brings a dead raftd back quickly and keeps doing so.
        "supervisor": {"restart_backoff_min": "100ms", "restart_max_deaths": 30},
    }
    if not dev:
        # A one-server cluster elects itself quickly (-dev has these already).
        cfg["performance"] = {"raft_multiplier": 1}
        cfg["test_timings"] = {"raft": {"heartbeat_timeout": "50ms", "election_timeout": "100ms",
                                        "leader_lease_timeout": "25ms"}}
    return cfg


class RaftAgent(Agent):
    """An agent whose raftd the tests drive: -dev, or a durable server
    (-server -data-dir -bind 127.0.0.1 -node, -bootstrap unless told not to).
    Its config (a JSON document, which is YAML) gets free ports; pass
    cfg=<another agent's .cfg> to restart on the same ports."""

    def __init__(self, dev=True, data_dir=None, node="n1", bootstrap=True, config=None, cfg=None,
                 env=None):
        self.cfg = cfg if cfg is not None else merge(base_config(dev), config or {})
        if dev:
            args = ["-dev"]
        else:
            args = ["-server", "-data-dir", data_dir, "-bind", "127.0.0.1", "-node", node]
            if bootstrap:
                args.append("-bootstrap")
        super().__init__(args, env=env, config=json.dumps(self.cfg))
        self.server_port = self.cfg["ports"]["server"]

    def bus(self, self_name="httpd", peer="raftd"):
        return bus.Bus(self.run_dir, peer=peer, self_name=self_name)

    def conf(self):
        with open(os.path.join(self.run_dir, "config.json")) as f:
            return json.load(f)

    def node_name(self):
        return self.conf()["node_name"]

    def raftd_pid(self):
        return self.status()["raftd"]["pid"]

    def wait_leader(self, timeout=20):
        """Polls RAFT_CONFIG until it names a leader; returns the reply."""
        last = ["no reply"]

        def cond():
            if self.proc.poll() is not None:
                raise AssertionError("agent exited with %s%s" % (self.proc.returncode,
                                                                  self.tail()))
            with self.bus() as b:
                try:
                    name, f = b.call("RAFT_CONFIG", timeout=1.0, q={"consistency": STALE})
                except bus.BusTimeout:
                    last[0] = "no reply"
                    return None
            last[0] = "%s %r" % (name, f)
            return f if name == "RAFT_CONFIG_REPLY" and f["leader_addr"] != "" else None
        try:
            return wait_for(cond, timeout, "raftd to know a leader", interval=0.05)
        except AssertionError as e:
            raise AssertionError("%s; RAFT_CONFIG's last answer: %s" % (e, last[0]))

    def stop(self):
        # MUSTER_TEST_LOG_DIR=<dir> keeps each agent's log for a post-mortem.
        keep = os.environ.get("MUSTER_TEST_LOG_DIR")
        if keep and self.proc is not None:
            os.makedirs(keep, exist_ok=True)
            self.log.flush()
            dst = os.path.join(keep, "%s-%d.log" % (os.path.basename(self.dir), self.proc.pid))
            try:
                with open(self.log_path, "rb") as src, open(dst, "wb") as out:
                    out.write(src.read())
            except OSError:
                pass
        super().stop()

    def boot(self, timeout=20):
        self.start()
        self.wait_ready(timeout)
        self.wait_leader(timeout)
        return self


# --- calls --------------------------------------------------------------------


def call(b, name, expect, timeout=5.0, **fields):
    """One request whose reply must be of type expect; its fields."""
    rname, f = b.call(name, timeout=timeout, **fields)
    if rname != expect:
        raise AssertionError("%s %r: got %s %r, want %s" % (name, fields, rname, f, expect))
    return f


def error(b, name, timeout=5.0, **fields):
    """A request that must be refused: (status, error text) of its RESULT."""
    rname, f = b.call(name, timeout=timeout, **fields)
    if rname != "RESULT":
        raise AssertionError("%s %r: got %s %r, want RESULT" % (name, fields, rname, f))
    return f["status"], f["error"]


def put(b, key, value=b"", op="set", **kw):
    return call(b, "KV_PUT", "WRITE_REPLY", op=op, key=key, value=value, **kw)


def get(b, key, **q):
    return call(b, "KV_GET", "KV_GET_REPLY", key=key, q=q)


def entry(b, key, **q):
    """The key's entry, or None when it does not exist."""
    es = get(b, key, **q)["entries"]
    assert len(es) <= 1 and all(e["key"] == key for e in es), es
    return es[0] if es else None


def ls(b, prefix, **q):
    return call(b, "KV_GET", "KV_GET_REPLY", key=prefix, recurse=True, q=q)


def keys(b, prefix, separator="", **q):
    return call(b, "KV_GET", "KV_GET_REPLY", key=prefix, keys_only=True, separator=separator, q=q)


def delete(b, key, recurse=False, cas=None):
    return call(b, "KV_DELETE", "WRITE_REPLY", key=key, recurse=recurse, cas=cas)


def session_create(b, node, checks=(), behavior="release", lock_delay_ns=15 * SEC, ttl="",
                   name="", service_checks=()):
    """SESSION_CREATE as httpd sends it (defaults applied): the new id."""
    r = call(b, "SESSION_CREATE", "WRITE_REPLY", session={
        "name": name, "node": node, "lock_delay_ns": lock_delay_ns, "behavior": behavior,
        "ttl": ttl, "node_checks": list(checks), "service_checks": list(service_checks)})
    assert UUID_RE.match(r["id"]), r
    return r["id"]


def session_get(b, sid):
    ss = call(b, "SESSION_QUERY", "SESSIONS_REPLY", id=sid)["sessions"]
    assert len(ss) <= 1, ss
    return ss[0] if ss else None


def register(b, node, address="10.0.0.1", service=None, checks=(), meta=None, tagged=None,
             skip_node_update=False):
    return call(b, "CATALOG_REGISTER", "WRITE_REPLY",
                node={"node": node, "address": address, "meta": meta or {},
                      "tagged_addresses": tagged or {}},
                skip_node_update=skip_node_update, has_service=service is not None,
                service=service or {}, checks=list(checks))


def check(check_id, status="passing", service_id="", name=None, node=""):
    return {"check_id": check_id, "name": name if name is not None else check_id,
            "status": status, "service_id": service_id, "node": node}


def stats(b):
    f = call(b, "STATS", "STATS_REPLY")
    mine = [d for d in f["daemons"] if d["name"] == "raftd"]
    assert len(mine) == 1, f
    return {s["name"]: s["value"] for s in mine[0]["stats"]}


def kv_index(b):
    """The KV table's index (that of a key that never exists)."""
    return get(b, "\x7fnever/exists")["meta"]["index"]


# --- the shared -dev agent ----------------------------------------------------


@pytest.fixture(scope="module")
def dev():
    a = RaftAgent(dev=True, config={"test_timings": {"session_ttl_min": "1s"}})
    try:
        a.boot()
        yield a
    finally:
        a.stop()


@pytest.fixture
def b(dev):
    with dev.bus() as c:
        yield c


@pytest.fixture
def p(request):
    """A key prefix of this test's own."""
    return "t/%s/" % request.node.name


def wait_self_registered(dev, b, timeout=10):
    """The agent's own node, once the leader registered it with serfHealth."""
    me = dev.node_name()

    def cond():
        hc = call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=me)["checks"]
        return [c for c in hc if c["check_id"] == "serfHealth" and c["status"] == "passing"]
    wait_for(cond, timeout, "the agent's node with a passing serfHealth", interval=0.05)
    return me


# --- raft configuration, meta, consistency, callers ---------------------------


def test_raft_config_names_the_leader(dev, b):
    f = call(b, "RAFT_CONFIG", "RAFT_CONFIG_REPLY")
    addr = "127.0.0.1:%d" % dev.server_port
    assert f["leader_addr"] == addr
    assert len(f["servers"]) == 1, f
    s = f["servers"][0]
    assert s["address"] == addr and s["leader"] and s["voter"]
    assert s["node"] == dev.node_name()
    assert s["id"] != ""
    assert f["meta"]["known_leader"] and f["meta"]["index"] >= 1


def test_read_meta_in_each_consistency_mode(b, p):
    w = put(b, p + "k", b"v")
    for mode in (0, STALE, CONSISTENT):
        f = get(b, p + "k", consistency=mode)
        m = f["meta"]
        assert m["consistency"] == mode, (mode, m)
        assert m["known_leader"] is True, m
        assert m["last_contact_ms"] == 0, m  # the leader itself answers
        assert m["index"] == w["index"], m
        assert f["entries"][0]["value"] == b"v"


def test_every_state_caller_is_answered_and_others_are_not(dev, p):
    with dev.bus("httpd") as h:
        put(h, p + "k", b"v")
    for who in ("dnsd", "healthd"):
        with dev.bus(who) as c:
            assert entry(c, p + "k")["value"] == b"v", who
    # gossipd may not send KV_GET (msg.def): refused, unanswered.
    with dev.bus("gossipd") as g:
        rid = g.send("KV_GET", check_sender=False, key=p + "k")
        with pytest.raises(bus.BusTimeout):
            g.recv(rid, 0.5)
    with dev.bus("httpd") as h:  # and raftd carries on
        assert entry(h, p + "k")["value"] == b"v"


def test_stats_name_raftd_counters(dev, b, p):
    w = put(b, p + "k", b"v")
    st = stats(b)
    for name in ("store_syncs", "store_appends", "store_entries", "applied_index",
                 "commit_index", "watchers"):
        assert name in st, (name, sorted(st))
    assert st["applied_index"] >= w["index"]
    assert st["commit_index"] >= st["applied_index"]
    assert st["store_appends"] >= 1 and st["store_entries"] >= 1
    # -dev keeps its state in a temporary directory without fsync (DESIGN.md §4).
    assert st["store_syncs"] == 0, st
    # A held blocking query is a watcher.
    rid = b.send("KV_GET", key=p + "k", q={"min_index": w["index"], "wait_ms": 3000})
    time.sleep(0.1)
    assert stats(b)["watchers"] >= 1
    put(b, p + "k", b"v2")
    name, f = b.recv(rid, 3)
    assert name == "KV_GET_REPLY"


# --- KV (spec §6) -------------------------------------------------------------


def test_kv_set_get_and_indexes(b, p):
    k = p + "k"
    w1 = put(b, k, b"one")
    assert w1["ok"] is True and w1["index"] > 0
    f = get(b, k)
    assert f["meta"]["index"] == w1["index"]  # a found key: its ModifyIndex
    assert f["entries"] == [{"key": k, "create_index": w1["index"], "modify_index": w1["index"],
                             "lock_index": 0, "flags": 0, "value": b"one", "session": ""}]
    w2 = put(b, k, b"two", flags=42)
    assert w2["ok"] is True and w2["index"] > w1["index"]
    e = entry(b, k)
    assert (e["create_index"], e["modify_index"], e["flags"], e["value"]) == \
        (w1["index"], w2["index"], 42, b"two")
    # Flags go back to 0 unless given (§6.2).
    put(b, k, b"three")
    assert entry(b, k)["flags"] == 0
    # Any uint64 flags, stored exactly (api.Semaphore's is above INT64_MAX).
    for flags in (2**64 - 1, 0xe0f69a2baa414de0, 0x2ddccbc058a50c18):
        put(b, k, b"f", flags=flags)
        assert entry(b, k)["flags"] == flags
    # Values are bytes: NULs, 0xff, empty.
    raw = bytes(range(256)) * 4
    put(b, k, raw)
    assert entry(b, k)["value"] == raw
    put(b, k, b"")
    assert entry(b, k)["value"] == b""
    # Keys are case-sensitive and may hold any bytes but NUL.
    put(b, p + "K", b"upper")
    put(b, p + "sp ace/ü/%2F", b"odd")
    assert entry(b, k)["value"] == b"" and entry(b, p + "K")["value"] == b"upper"
    assert entry(b, p + "sp ace/ü/%2F")["value"] == b"odd"


def test_kv_missing_key_has_the_table_index(b, p):
    w = put(b, p + "other", b"x")
    f = get(b, p + "missing")
    assert f["entries"] == [] and f["keys"] == []
    assert f["meta"]["index"] >= w["index"]  # the KV table's index, never 0
    # A deleted key's index counts its tombstone.
    put(b, p + "gone", b"x")
    d = delete(b, p + "gone")
    f = get(b, p + "gone")
    assert f["entries"] == [] and f["meta"]["index"] >= d["index"]


def test_kv_empty_key_is_refused(b):
    assert error(b, "KV_PUT", op="set", key="", value=b"x") == (500, "Must provide key")
    assert error(b, "KV_DELETE", key="") == (500, "Must provide key")


def test_kv_recurse_and_keys(b, p):
    names = ["a", "b/c", "b/d", "c", "B", "b/e/f"]
    idx = {}
    for n in names:
        idx[n] = put(b, p + n, n.encode())["index"]
    put(b, p[:-1] + "x", b"sibling outside the prefix")  # "t/<test>x"
    f = ls(b, p)
    got = [e["key"] for e in f["entries"]]
    assert got == sorted(p + n for n in names), got  # byte order: "B" < "a"
    assert all(e["value"] == e["key"][len(p):].encode() for e in f["entries"])
    assert f["meta"]["index"] == max(idx.values())
    # keys: every name; with a separator cut after the first one past the prefix.
    f = keys(b, p)
    assert f["keys"] == sorted(p + n for n in names) and f["entries"] == []
    assert f["meta"]["index"] == max(idx.values())
    f = keys(b, p, separator="/")
    assert f["keys"] == [p + "B", p + "a", p + "b/", p + "c"], f["keys"]
    f = keys(b, p + "b/", separator="/")
    assert f["keys"] == [p + "b/c", p + "b/d", p + "b/e/"], f["keys"]
    # The prefix is a byte prefix, not a path.
    f = ls(b, p + "b")
    assert [e["key"] for e in f["entries"]] == [p + "b/c", p + "b/d", p + "b/e/f"]
    f = ls(b, p + "b/")
    assert f["meta"]["index"] == max(idx["b/c"], idx["b/d"], idx["b/e/f"])
    # The empty prefix: the whole table, with the table's index.
    f = ls(b, "")
    assert {p + n for n in names} <= {e["key"] for e in f["entries"]}
    assert f["meta"]["index"] == kv_index(b)
    # Nothing under a prefix: no entries (httpd's 404), an index all the same.
    f = ls(b, p + "none/")
    assert f["entries"] == [] and f["meta"]["index"] >= 1
    f = keys(b, p + "none/")
    assert f["keys"] == [] and f["meta"]["index"] >= 1


def test_prefix_index_never_goes_backwards_after_delete(b, p):
    put(b, p + "a", b"1")
    w2 = put(b, p + "b", b"2")
    assert ls(b, p)["meta"]["index"] == w2["index"]
    d = delete(b, p + "b")  # the highest-index key under the prefix
    assert d["ok"] is True and d["index"] > w2["index"]
    f = ls(b, p)
    assert [e["key"] for e in f["entries"]] == [p + "a"]
    assert f["meta"]["index"] == d["index"], "the tombstone keeps the prefix index"
    assert keys(b, p)["meta"]["index"] == d["index"]
    dt = delete(b, p, recurse=True)
    f = ls(b, p)
    assert f["entries"] == [] and f["meta"]["index"] == dt["index"]
    # Writing elsewhere does not move this prefix's index.
    put(b, p[:-1] + "-elsewhere", b"x")
    assert ls(b, p)["meta"]["index"] == dt["index"]


def test_kv_cas(b, p):
    k = p + "k"
    w = put(b, k, b"first", op="cas", cas_index=0)  # create only if absent
    assert w["ok"] is True
    e = entry(b, k)
    assert e["value"] == b"first" and e["create_index"] == w["index"]
    assert put(b, k, b"again", op="cas", cas_index=0)["ok"] is False
    assert put(b, k, b"stale", op="cas", cas_index=e["modify_index"] + 1000)["ok"] is False
    assert entry(b, k) == e, "a failed cas changes nothing"
    w2 = put(b, k, b"second", op="cas", cas_index=e["modify_index"], flags=9)
    assert w2["ok"] is True
    e2 = entry(b, k)
    assert (e2["value"], e2["flags"], e2["create_index"], e2["modify_index"]) == \
        (b"second", 9, e["create_index"], w2["index"])
    assert put(b, k, b"old", op="cas", cas_index=e["modify_index"])["ok"] is False
    # cas=N on a missing key fails; nothing is created.
    assert put(b, p + "missing", b"x", op="cas", cas_index=5)["ok"] is False
    assert entry(b, p + "missing") is None


def test_kv_delete_variants(b, p):
    assert delete(b, p + "never")["ok"] is True  # nothing there: still true
    put(b, p + "k", b"v")
    assert delete(b, p + "k")["ok"] is True and entry(b, p + "k") is None
    # Delete-cas quirks (§6.3): a missing key is true, cas=0 on an existing one false.
    assert delete(b, p + "never", cas=7)["ok"] is True
    w = put(b, p + "c", b"v")
    assert delete(b, p + "c", cas=0)["ok"] is False
    assert delete(b, p + "c", cas=w["index"] + 1000)["ok"] is False
    assert entry(b, p + "c")["value"] == b"v"
    assert delete(b, p + "c", cas=w["index"])["ok"] is True
    assert entry(b, p + "c") is None
    # Delete-tree: everything under the byte prefix, nothing else.
    for n in ("tree/a", "tree/b/c", "treehouse", "tre"):
        put(b, p + n, b"x")
    assert delete(b, p + "tree/", recurse=True)["ok"] is True
    assert [e["key"] for e in ls(b, p)["entries"]] == [p + "tre", p + "treehouse"]
    delete(b, p + "tree", recurse=True)
    assert [e["key"] for e in ls(b, p)["entries"]] == [p + "tre"]


# --- locks (spec §6.4) --------------------------------------------------------


def test_acquire_and_release(dev, b, p):
    me = dev.node_name()
    s1 = session_create(b, me, checks=[])
    s2 = session_create(b, me, checks=[])
    k = p + "lock"
    # Missing key: created, LockIndex 1.
    w = put(b, k, b"v1", op="acquire", session=s1, flags=3)
    assert w["ok"] is True
    e = entry(b, k)
    assert (e["session"], e["lock_index"], e["create_index"], e["modify_index"], e["value"],
            e["flags"]) == (s1, 1, w["index"], w["index"], b"v1", 3)
    # The holder again: value and flags updated, LockIndex kept.
    w = put(b, k, b"v2", op="acquire", session=s1, flags=4)
    assert w["ok"] is True
    e = entry(b, k)
    assert (e["session"], e["lock_index"], e["value"], e["flags"], e["modify_index"]) == \
        (s1, 1, b"v2", 4, w["index"])
    # Another session: false, nothing changes.
    assert put(b, k, b"x", op="acquire", session=s2)["ok"] is False
    assert entry(b, k) == e
    # Release by a non-holder: false.
    assert put(b, k, b"x", op="release", session=s2)["ok"] is False
    assert entry(b, k)["session"] == s1
    # Release by the holder: session cleared, LockIndex kept, value and flags stored.
    w = put(b, k, b"released", op="release", session=s1, flags=7)
    assert w["ok"] is True
    e = entry(b, k)
    assert (e["session"], e["lock_index"], e["value"], e["flags"], e["modify_index"]) == \
        ("", 1, b"released", 7, w["index"])
    assert put(b, k, b"x", op="release", session=s1)["ok"] is False  # not locked
    # An unlocked existing key: LockIndex + 1.
    assert put(b, k, b"s2", op="acquire", session=s2)["ok"] is True
    e = entry(b, k)
    assert (e["session"], e["lock_index"], e["value"]) == (s2, 2, b"s2")
    # A plain set keeps the holder (no check against it) but, Consul's
    # quirk (§6.2), stores the request's LockIndex: 0.
    put(b, k, b"v3")
    e = entry(b, k)
    assert (e["session"], e["value"], e["lock_index"]) == (s2, b"v3", 0)
    # Release of a missing key: false, and no key appears.
    assert put(b, p + "nokey", b"", op="release", session=s1)["ok"] is False
    assert entry(b, p + "nokey") is None


def test_acquire_errors(dev, b, p):
    bogus = "00000000-0000-4000-8000-000000000000"
    assert error(b, "KV_PUT", op="acquire", key=p + "k", value=b"x", session=bogus) == \
        (500, 'invalid session "%s"' % bogus)
    assert error(b, "KV_PUT", op="acquire", key=p + "k", session="") == (500, "missing session")
    assert error(b, "KV_PUT", op="release", key=p + "k", session="") == (500, "missing session")
    assert entry(b, p + "k") is None
    # An unknown session releasing an existing key is merely false.
    put(b, p + "k", b"v")
    assert put(b, p + "k", b"", op="release", session=bogus)["ok"] is False


# --- catalog and health (spec §4, §5) -----------------------------------------


def test_own_node_is_registered_with_serf_health_and_consul_service(dev, b):
    me = wait_self_registered(dev, b)
    n = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=me)
    assert n["found"] is True
    assert n["node"]["node"] == me and n["node"]["address"] == "127.0.0.1"
    assert n["node"]["id"] == dev.conf()["node_id"]
    assert n["node"]["datacenter"] == "dc1"
    svcs = call(b, "CATALOG_SERVICES", "SERVICES_REPLY")["services"]
    assert "consul" in [s["name"] for s in svcs]
    inst = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service="consul",
                with_checks=True)["entries"]
    assert len(inst) == 1, inst
    assert inst[0]["node"]["node"] == me
    assert inst[0]["service"]["id"] == "consul" and inst[0]["service"]["service"] == "consul"
    assert inst[0]["service"]["port"] == dev.server_port
    assert "serfHealth" in [c["check_id"] for c in inst[0]["checks"]]
    nodes = [x["node"] for x in call(b, "CATALOG_NODES", "NODES_REPLY")["nodes"]]
    assert me in nodes


def test_catalog_register_and_reads(b, p):
    tag = p.strip("/").replace("/", "-")  # names of this test's own
    svc, n1, n2, n3 = tag + "-web", tag + "-n1", tag + "-n2", tag + "-n3"
    w1 = register(b, n1, "10.0.0.1", meta={"rack": tag + "-r1"}, tagged={"lan": "10.0.0.1"},
                  service={"id": svc + "-1", "service": svc, "tags": ["Primary", "v1"],
                           "port": 80, "address": "10.1.0.1", "meta": {"m": "1"}},
                  checks=[check(svc + "-1-alive", "passing", service_id=svc + "-1")])
    assert w1["index"] > 0
    register(b, n2, "10.0.0.2", meta={"rack": tag + "-r2"},
             service={"id": svc + "-2", "service": svc, "tags": ["secondary", "V1"], "port": 81},
             checks=[check(svc + "-2-alive", "critical", service_id=svc + "-2")])
    # n3: a passing service check but a warning node check.
    w3 = register(b, n3, "10.0.0.3",
                  service={"id": svc + "-3", "service": svc, "tags": ["v1"], "port": 82},
                  checks=[check(svc + "-3-alive", "passing", service_id=svc + "-3"),
                          check(tag + "-n3-disk", "warning")])

    # catalog/nodes: sorted by name, node-meta filters.
    nodes = call(b, "CATALOG_NODES", "NODES_REPLY")
    names = [n["node"] for n in nodes["nodes"]]
    assert names == sorted(names) and {n1, n2, n3} <= set(names)
    assert nodes["meta"]["index"] >= w3["index"]
    f = call(b, "CATALOG_NODES", "NODES_REPLY", node_meta={"rack": tag + "-r1"})
    assert [n["node"] for n in f["nodes"]] == [n1]
    node1 = f["nodes"][0]
    assert node1["address"] == "10.0.0.1" and node1["tagged_addresses"] == {"lan": "10.0.0.1"}
    assert node1["meta"] == {"rack": tag + "-r1"}
    assert node1["create_index"] == w1["index"]

    # catalog/services: the union of the instances' tags, each once, sorted.
    svcs = {s["name"]: s["tags"] for s in call(b, "CATALOG_SERVICES", "SERVICES_REPLY")["services"]}
    assert svcs[svc] == sorted({"Primary", "v1", "secondary", "V1"}), svcs[svc]
    f = call(b, "CATALOG_SERVICES", "SERVICES_REPLY", node_meta={"rack": tag + "-r2"})
    assert [s["name"] for s in f["services"]] == [svc]

    # catalog/service: every instance, tags all matching case-insensitively.
    def inst(**kw):
        f = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=svc, **kw)
        return sorted(e["service"]["id"] for e in f["entries"]), f
    ids, f = inst()
    assert ids == [svc + "-1", svc + "-2", svc + "-3"]
    assert all(e["checks"] == [] for e in f["entries"])  # catalog: no checks
    assert f["meta"]["index"] >= w3["index"]
    e1 = [e for e in f["entries"] if e["service"]["id"] == svc + "-1"][0]
    assert e1["node"]["node"] == n1 and e1["node"]["address"] == "10.0.0.1"
    assert (e1["service"]["port"], e1["service"]["address"], e1["service"]["tags"],
            e1["service"]["meta"]) == (80, "10.1.0.1", ["Primary", "v1"], {"m": "1"})
    assert e1["service"]["node"] == n1
    assert inst(tags=["primary"])[0] == [svc + "-1"]
    assert inst(tags=["PRIMARY", "V1"])[0] == [svc + "-1"]
    assert inst(tags=["v1"])[0] == [svc + "-1", svc + "-2", svc + "-3"]
    assert inst(tags=["nope"])[0] == []
    assert inst(node_meta={"rack": tag + "-r2"})[0] == [svc + "-2"]
    # Service names match case-insensitively too (§4).
    f = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=svc.upper())
    assert len(f["entries"]) == 3
    assert call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=tag + "-none")["entries"] == []

    # health/service: checks included (node checks too); passing drops any
    # instance with a non-passing check, warning included.
    ids, f = inst(with_checks=True)
    assert ids == [svc + "-1", svc + "-2", svc + "-3"]
    e3 = [e for e in f["entries"] if e["service"]["id"] == svc + "-3"][0]
    assert sorted(c["check_id"] for c in e3["checks"]) == sorted([svc + "-3-alive",
                                                                  tag + "-n3-disk"])
    assert inst(with_checks=True, passing=True)[0] == [svc + "-1"]
    assert inst(with_checks=True, passing=True, tags=["SECONDARY"])[0] == []

    # catalog/node: the node and its services; an unknown node is not found.
    f = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=n1)
    assert f["found"] is True and f["node"]["node"] == n1
    assert [s["id"] for s in f["services"]] == [svc + "-1"]
    f = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=n1.upper())
    assert f["found"] is True and f["node"]["node"] == n1, "node names are case-insensitive"
    f = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=tag + "-nobody")
    assert f["found"] is False and f["services"] == []

    # health/node, health/checks (service checks only), health/state.
    hc = call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=n3)["checks"]
    assert sorted(c["check_id"] for c in hc) == sorted([svc + "-3-alive", tag + "-n3-disk"])
    c3 = [c for c in hc if c["check_id"] == svc + "-3-alive"][0]
    assert (c3["node"], c3["status"], c3["service_id"], c3["service_name"],
            c3["service_tags"]) == (n3, "passing", svc + "-3", svc, ["v1"])
    hc = call(b, "HEALTH_CHECKS", "CHECKS_REPLY", service=svc)["checks"]
    assert sorted(c["check_id"] for c in hc) == sorted(
        [svc + "-1-alive", svc + "-2-alive", svc + "-3-alive"])
    assert call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=tag + "-nobody")["checks"] == []

    def state(s):
        return {c["check_id"] for c in call(b, "HEALTH_CHECKS", "CHECKS_REPLY",
                                             state=s)["checks"] if c["node"].startswith(tag)}
    assert state("critical") == {svc + "-2-alive"}
    assert state("warning") == {tag + "-n3-disk"}
    assert state("passing") == {svc + "-1-alive", svc + "-3-alive"}
    assert state("any") == {svc + "-1-alive", svc + "-2-alive", svc + "-3-alive",
                            tag + "-n3-disk"}


def test_catalog_register_defaults_and_skip_node_update(b, p):
    tag = p.strip("/").replace("/", "-")
    n = tag + "-n"
    # A service without an ID gets its name; a check without an ID its name,
    # without a node the request's, without a status critical (§4.1).
    register(b, n, "10.0.0.9", meta={"a": "1"}, service={"service": tag + "-svc", "port": 1},
             checks=[{"name": tag + "-chk", "status": "", "node": ""}])
    f = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=n)
    assert [s["id"] for s in f["services"]] == [tag + "-svc"]
    hc = call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=n)["checks"]
    assert [(c["check_id"], c["node"], c["status"]) for c in hc] == [(tag + "-chk", n, "critical")]
    # SkipNodeUpdate leaves an existing node's address and meta alone.
    register(b, n, "10.9.9.9", meta={"b": "2"}, skip_node_update=True,
             service={"id": tag + "-svc2", "service": tag + "-svc2"})
    f = call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=n)
    assert f["node"]["address"] == "10.0.0.9" and f["node"]["meta"] == {"a": "1"}
    assert sorted(s["id"] for s in f["services"]) == [tag + "-svc", tag + "-svc2"]
    # ... and still creates a node that does not exist.
    register(b, tag + "-new", "", skip_node_update=True)
    assert call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=tag + "-new")["found"] is True


def test_catalog_register_errors(b, p):
    tag = p.strip("/").replace("/", "-")
    assert error(b, "CATALOG_REGISTER", node={"node": "", "address": "10.0.0.1"}) == \
        (500, "Must provide node")
    assert error(b, "CATALOG_REGISTER", node={"node": tag, "address": ""}) == \
        (500, "Must provide address if SkipNodeUpdate is not set")
    assert error(b, "CATALOG_REGISTER", node={"node": tag, "address": "10.0.0.1"},
                 has_service=True, service={"id": tag + "-id", "service": ""}) == \
        (500, "Must provide service name with ID")
    assert error(b, "CATALOG_DEREGISTER", node="") == (500, "Must provide node")
    assert call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=tag)["found"] is False


def test_catalog_deregister(b, p):
    tag = p.strip("/").replace("/", "-")
    n, svc = tag + "-n", tag + "-svc"
    register(b, n, "10.0.0.1", service={"id": svc, "service": svc},
             checks=[check(svc + "-chk", service_id=svc), check(tag + "-nodechk"),
                     check(tag + "-other")])
    # One check.
    w = call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, check_id=tag + "-other")
    assert w["index"] > 0
    ids = sorted(c["check_id"] for c in call(b, "HEALTH_CHECKS", "CHECKS_REPLY",
                                              node=n)["checks"])
    assert ids == sorted([svc + "-chk", tag + "-nodechk"])
    # One service, with its checks.
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, service_id=svc)
    assert call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=svc)["entries"] == []
    assert [c["check_id"] for c in call(b, "HEALTH_CHECKS", "CHECKS_REPLY",
                                        node=n)["checks"]] == [tag + "-nodechk"]
    assert svc not in [s["name"] for s in call(b, "CATALOG_SERVICES",
                                               "SERVICES_REPLY")["services"]]
    # Things that do not exist: still fine.
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, service_id="nope")
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, check_id="nope")
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=tag + "-nobody")
    # The node, with everything on it.
    register(b, n, "10.0.0.1", service={"id": svc, "service": svc},
             checks=[check(svc + "-chk", service_id=svc)])
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n)
    assert call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=n)["found"] is False
    assert call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=n)["checks"] == []
    assert call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=svc)["entries"] == []


# --- sessions (spec §7) -------------------------------------------------------


def test_session_create_and_query(dev, b):
    me = wait_self_registered(dev, b)
    # What httpd sends for an empty body: its defaults applied (§7.1).
    r = call(b, "SESSION_CREATE", "WRITE_REPLY", session={
        "node": me, "lock_delay_ns": 15 * SEC, "behavior": "release", "ttl": "",
        "node_checks": ["serfHealth"]})
    sid = r["id"]
    assert UUID_RE.match(sid) and r["index"] > 0
    s = session_get(b, sid)
    assert s == {"id": sid, "name": "", "node": me, "lock_delay_ns": 15 * SEC,
                 "behavior": "release", "ttl": "", "node_checks": ["serfHealth"],
                 "service_checks": [], "create_index": r["index"], "modify_index": r["index"]}
    # Every field as given.
    sid2 = session_create(b, me, checks=[], behavior="delete", lock_delay_ns=1000000,
                          ttl="30s", name="named")
    s2 = session_get(b, sid2)
    assert (s2["name"], s2["behavior"], s2["ttl"], s2["lock_delay_ns"], s2["node_checks"]) == \
        ("named", "delete", "30s", 1000000, [])
    assert sid2 != sid
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id=sid2)  # its TTL must not lapse later
    assert session_get(b, sid2) is None
    sid2 = session_create(b, me, checks=[], behavior="delete", name="named")
    # An empty behavior is release (Consul's server default).
    sid3 = session_create(b, me, checks=[], behavior="")
    assert session_get(b, sid3)["behavior"] == "release"
    # session/node and session/list; the sessions table's index.
    f = call(b, "SESSION_QUERY", "SESSIONS_REPLY", node=me)
    assert {sid, sid2, sid3} <= {x["id"] for x in f["sessions"]}
    assert all(x["node"] == me for x in f["sessions"])
    assert f["meta"]["index"] >= r["index"]
    f = call(b, "SESSION_QUERY", "SESSIONS_REPLY")
    assert {sid, sid2, sid3} <= {x["id"] for x in f["sessions"]}
    # Unknown: an empty list, not an error (§7.4).
    f = call(b, "SESSION_QUERY", "SESSIONS_REPLY", id="00000000-0000-4000-8000-000000000001")
    assert f["sessions"] == [] and f["meta"]["index"] >= 1
    assert call(b, "SESSION_QUERY", "SESSIONS_REPLY", node="nobody-here")["sessions"] == []


def test_session_create_errors(dev, b, p):
    me = dev.node_name()
    tag = p.strip("/").replace("/", "-")

    def refused(**kw):
        sess = {"node": me, "lock_delay_ns": 0, "behavior": "release", "ttl": "",
                "node_checks": []}
        sess.update(kw)
        return error(b, "SESSION_CREATE", session=sess)
    assert refused(node=tag + "-nobody") == (500, "Missing node registration")
    assert refused(node_checks=["nope"]) == (500, "Missing check 'nope' registration")
    register(b, tag + "-n", checks=[check(tag + "-crit", "critical")])
    assert refused(node=tag + "-n", node_checks=[tag + "-crit"]) == \
        (500, "Check '%s-crit' is in critical state" % tag)
    assert refused(behavior="bogus") == (500, "Invalid Behavior setting 'bogus'")
    # session_ttl_min is 1s in this agent; the maximum is 24h.
    assert refused(ttl="25h") == \
        (500, "Invalid Session TTL '90000000000000', must be between [1s=24h0m0s]")
    assert refused(ttl="500ms") == \
        (500, "Invalid Session TTL '500000000', must be between [1s=24h0m0s]")
    st, text = refused(ttl="bogus")
    assert st == 500 and text.startswith("Session TTL 'bogus' invalid: "), text
    f = call(b, "SESSION_QUERY", "SESSIONS_REPLY", node=tag + "-n")
    assert f["sessions"] == []


def test_session_destroy_is_idempotent(dev, b):
    me = dev.node_name()
    sid = session_create(b, me, checks=[])
    w = call(b, "SESSION_DESTROY", "WRITE_REPLY", id=sid)
    assert w["index"] > 0
    assert session_get(b, sid) is None
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id=sid)
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id="00000000-0000-4000-8000-00000000beef")


def test_session_renew(dev, b):
    me = dev.node_name()
    sid = session_create(b, me, checks=[], ttl="10s")
    f = call(b, "SESSION_RENEW", "SESSIONS_REPLY", id=sid)
    assert [s["id"] for s in f["sessions"]] == [sid]
    assert f["sessions"][0]["ttl"] != ""  # §7.3: may be larger than asked
    # A session without a TTL renews as a no-op.
    sid2 = session_create(b, me, checks=[])
    assert [s["id"] for s in call(b, "SESSION_RENEW", "SESSIONS_REPLY",
                                  id=sid2)["sessions"]] == [sid2]
    gone = "00000000-0000-4000-8000-00000000dead"
    assert error(b, "SESSION_RENEW", id=gone) == (404, "Session id '%s' not found" % gone)
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id=sid)
    assert error(b, "SESSION_RENEW", id=sid) == (404, "Session id '%s' not found" % sid)


def acquire_until_true(b, key, sid, deadline):
    """Acquires key for sid until it is granted; the time of the granted try."""
    while True:
        t = time.monotonic()
        if put(b, key, b"second", op="acquire", session=sid)["ok"]:
            return t
        if t > deadline:
            raise AssertionError("acquire of %s still refused" % key)
        time.sleep(0.05)


@pytest.mark.parametrize("behavior", ["release", "delete"])
def test_critical_check_invalidates_session_then_lock_delay(dev, b, p, behavior):
    tag = p.strip("/").replace("/", "-").replace("[", "-").replace("]", "")
    n, chk, k = tag + "-n", tag + "-alive", p + "lock"
    me = dev.node_name()
    register(b, n, checks=[check(chk, "passing")])
    s1 = session_create(b, n, checks=[chk], behavior=behavior, lock_delay_ns=1500 * 1000 * 1000)
    s_free = session_create(b, n, checks=[], behavior=behavior)  # "Checks: []": none
    s_other = session_create(b, me, checks=[])
    assert put(b, k, b"held", op="acquire", session=s1, flags=5)["ok"] is True
    before = entry(b, k)
    # Warning does not invalidate.
    register(b, n, checks=[check(chk, "warning")])
    assert session_get(b, s1) is not None
    t0 = time.monotonic()
    w = register(b, n, checks=[check(chk, "critical")])
    assert session_get(b, s1) is None, "a linked check went critical"
    assert session_get(b, s_free) is not None, "a session without checks lives on"
    e = entry(b, k)
    if behavior == "release":
        assert e is not None
        assert (e["session"], e["value"], e["flags"], e["lock_index"], e["create_index"]) == \
            ("", b"held", 5, before["lock_index"], before["create_index"])
        assert e["modify_index"] > before["modify_index"]
        assert e["modify_index"] <= w["index"]
    else:
        assert e is None, "behavior delete deletes the held keys"
        assert ls(b, p)["meta"]["index"] > before["modify_index"]
    # Lock delay: another session's acquire is refused (false, no error, no
    # change) for lock_delay, then granted.
    assert put(b, k, b"second", op="acquire", session=s_other)["ok"] is False
    # A txn lock op is refused the same way, before Raft: the txn rolls back.
    name, f = b.call("TXN", ops=[
        {"kind": "KV", "verb": "set", "kv": {"key": p + "txn-side", "value": b"x"}},
        {"kind": "KV", "verb": "lock", "kv": {"key": k, "value": b"t", "session": s_other}}])
    assert name == "TXN_REPLY" and f["ok"] is False, (name, f)
    assert [(x["op_index"], x["what"]) for x in f["errors"]] == \
        [(1, 'failed to lock key "%s" due to lock delay' % k)]
    assert entry(b, p + "txn-side") is None
    assert entry(b, k) == e
    t = acquire_until_true(b, k, s_other, t0 + 1.5 + 3)
    assert t >= t0 + 1.5 - 0.1, "lock delay ended %.2fs early" % (t0 + 1.5 - t)
    assert entry(b, k)["session"] == s_other


def test_session_invalidated_by_deregistrations(dev, b, p):
    tag = p.strip("/").replace("/", "-")
    n, svc = tag + "-n", tag + "-svc"
    register(b, n, service={"id": svc, "service": svc},
             checks=[check(tag + "-c1"), check(tag + "-c2"),
                     check(svc + "-chk", service_id=svc)])
    by_check = session_create(b, n, checks=[tag + "-c1"], lock_delay_ns=0)
    by_svc = session_create(b, n, checks=[], service_checks=[svc + "-chk"], lock_delay_ns=0)
    by_node = session_create(b, n, checks=[tag + "-c2"], lock_delay_ns=0)
    plain = session_create(b, n, checks=[], lock_delay_ns=0, behavior="delete")
    put(b, p + "k", b"v", op="acquire", session=plain)
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, check_id=tag + "-c1")
    assert session_get(b, by_check) is None
    assert session_get(b, by_svc) is not None and session_get(b, by_node) is not None
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n, service_id=svc)
    assert session_get(b, by_svc) is None
    assert session_get(b, by_node) is not None
    # Deregistering the node ends every session on it, and their locks.
    call(b, "CATALOG_DEREGISTER", "WRITE_REPLY", node=n)
    assert session_get(b, by_node) is None and session_get(b, plain) is None
    assert entry(b, p + "k") is None


def test_lock_delay_zero_allows_immediate_reacquire(dev, b, p):
    tag = p.strip("/").replace("/", "-")
    n = tag + "-n"
    register(b, n, checks=[check(tag + "-c")])
    s1 = session_create(b, n, checks=[tag + "-c"], lock_delay_ns=0)
    s2 = session_create(b, dev.node_name(), checks=[])
    assert put(b, p + "k", b"v", op="acquire", session=s1)["ok"] is True
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id=s1)
    e = entry(b, p + "k")
    assert e["session"] == "" and e["value"] == b"v"
    assert put(b, p + "k", b"v2", op="acquire", session=s2)["ok"] is True


def test_session_ttl_expiry(dev, b, p):
    me = dev.node_name()
    t0 = time.monotonic()
    rel = session_create(b, me, checks=[], ttl="1s", lock_delay_ns=0, behavior="release")
    dl = session_create(b, me, checks=[], ttl="1s", lock_delay_ns=0, behavior="delete")
    kept = session_create(b, me, checks=[], ttl="1s", lock_delay_ns=0)
    assert put(b, p + "rel", b"r", op="acquire", session=rel)["ok"] is True
    assert put(b, p + "del", b"d", op="acquire", session=dl)["ok"] is True
    assert put(b, p + "kept", b"k", op="acquire", session=kept)["ok"] is True
    gone = {}
    last_renew = 0
    while len(gone) < 2:
        now = time.monotonic()
        if now - last_renew > 0.3:
            call(b, "SESSION_RENEW", "SESSIONS_REPLY", id=kept)
            last_renew = now
        for name, sid in (("rel", rel), ("del", dl)):
            if name not in gone and session_get(b, sid) is None:
                gone[name] = time.monotonic()
        assert now < t0 + 2 * 1.0 + 2.0, "TTL sessions still there after %.1fs: %s" % (
            now - t0, sorted(set(("rel", "del")) - set(gone)))
        time.sleep(0.05)
    for name, t in gone.items():
        # The timer is 2 x TTL (§7.6); never before 1 x TTL.
        assert t - t0 >= 1.0, "%s expired after %.2fs" % (name, t - t0)
    e = entry(b, p + "rel")
    assert e is not None and e["session"] == "" and e["value"] == b"r"
    assert entry(b, p + "del") is None
    assert session_get(b, kept) is not None, "renewed every 0.3s, it lives"
    assert entry(b, p + "kept")["session"] == kept
    call(b, "SESSION_DESTROY", "WRITE_REPLY", id=kept)  # no expiry during later tests


# --- txn (spec §8.3) ----------------------------------------------------------


def kv_op(verb, key, value=b"", flags=0, index=0, session=""):
    return {"kind": "KV", "verb": verb, "kv": {"key": key, "value": value, "flags": flags,
                                                "modify_index": index, "session": session}}


def test_txn_rolls_back_on_any_error(b, p):
    put(b, p + "exists", b"e")
    before = kv_index(b)
    f = call(b, "TXN", "TXN_REPLY", ops=[
        kv_op("set", p + "a", b"1"),
        kv_op("set", p + "b", b"2"),
        kv_op("cas", p + "c", b"3", index=999999),
        kv_op("get", p + "missing"),
        kv_op("check-not-exists", p + "exists"),
        kv_op("delete", p + "exists"),
    ])
    assert f["ok"] is False and f["results"] == []
    assert [(e["op_index"], e["what"]) for e in f["errors"]] == [
        (2, 'failed to set key "%sc", index is stale' % p),
        (3, 'key "%smissing" doesn\'t exist' % p),
        (4, 'key "%sexists" exists' % p)]
    assert ls(b, p)["entries"] == [entry(b, p + "exists")], "nothing of it was applied"
    assert entry(b, p + "exists")["value"] == b"e"
    assert kv_index(b) == before


def test_txn_results(b, p):
    put(b, p + "gone", b"x")
    f = call(b, "TXN", "TXN_REPLY", ops=[
        kv_op("set", p + "a", b"1", flags=3),
        kv_op("set", p + "b", b"2"),
        kv_op("get", p + "a"),
        kv_op("delete", p + "gone"),
        kv_op("get-tree", p),
        kv_op("check-not-exists", p + "gone"),
        kv_op("delete-tree", p + "b"),
    ])
    assert f["ok"] is True and f["errors"] == [], f["errors"]
    r = f["results"]
    assert [x["kind"] for x in r] == ["KV"] * 5, r
    idx = r[0]["kv"]["modify_index"]
    assert idx > 0
    # A set's result carries no value; a get's does; get-tree gives one per entry.
    assert (r[0]["kv"]["key"], r[0]["kv"]["value"], r[0]["kv"]["flags"],
            r[0]["kv"]["create_index"]) == (p + "a", b"", 3, idx)
    assert (r[1]["kv"]["key"], r[1]["kv"]["value"]) == (p + "b", b"")
    assert (r[2]["kv"]["key"], r[2]["kv"]["value"], r[2]["kv"]["flags"]) == (p + "a", b"1", 3)
    assert [(x["kv"]["key"], x["kv"]["value"]) for x in r[3:5]] == [(p + "a", b"1"),
                                                                     (p + "b", b"2")]
    # One Raft entry: one index for all of it.
    assert entry(b, p + "a")["modify_index"] == idx
    assert entry(b, p + "b") is None and entry(b, p + "gone") is None
    assert ls(b, p)["meta"]["index"] == idx
    # cas, check-index and delete-cas against that index.
    f = call(b, "TXN", "TXN_REPLY", ops=[
        kv_op("check-index", p + "a", index=idx),
        kv_op("cas", p + "a", b"new", index=idx),
        kv_op("delete-cas", p + "a", index=idx + 1000),
    ])
    assert f["ok"] is False
    assert [(e["op_index"], e["what"]) for e in f["errors"]] == [
        (2, 'failed to delete key "%sa", index is stale' % p)]
    assert entry(b, p + "a")["value"] == b"1"


def test_txn_lock_verbs(dev, b, p):
    me = dev.node_name()
    s1 = session_create(b, me, checks=[])
    s2 = session_create(b, me, checks=[])
    bogus = "00000000-0000-4000-8000-0000000000aa"
    f = call(b, "TXN", "TXN_REPLY", ops=[kv_op("lock", p + "l", b"v", session=s1),
                                         kv_op("check-session", p + "l", session=s1)])
    assert f["ok"] is True, f["errors"]
    assert f["results"][0]["kv"]["session"] == s1 and f["results"][0]["kv"]["lock_index"] == 1
    assert entry(b, p + "l")["session"] == s1
    f = call(b, "TXN", "TXN_REPLY", ops=[
        kv_op("lock", p + "l", b"x", session=s2),
        kv_op("unlock", p + "l", b"x", session=s2),
        kv_op("lock", p + "m", b"x", session=bogus),
        kv_op("check-session", p + "l", session=s2),
        kv_op("check-index", p + "l", index=1),
    ])
    assert f["ok"] is False
    mi = entry(b, p + "l")["modify_index"]
    assert [(e["op_index"], e["what"]) for e in f["errors"]] == [
        (0, 'failed to lock key "%sl", lock is already held' % p),
        (1, 'failed to unlock key "%sl", lock isn\'t held, or is held by another session' % p),
        (2, 'invalid session "%s"' % bogus),
        (3, 'failed session check for key "%sl", current session "%s" != "%s"' % (p, s1, s2)),
        (4, 'failed index check for key "%sl", current modify index %d != 1' % (p, mi))]
    f = call(b, "TXN", "TXN_REPLY", ops=[kv_op("unlock", p + "l", b"u", session=s1)])
    assert f["ok"] is True
    e = entry(b, p + "l")
    assert (e["session"], e["value"]) == ("", b"u")


def test_txn_catalog_ops(b, p):
    tag = p.strip("/").replace("/", "-")
    n = tag + "-n"
    f = call(b, "TXN", "TXN_REPLY", ops=[
        {"kind": "Node", "verb": "set", "node": {"node": n, "address": "10.2.0.1"}},
        {"kind": "Service", "verb": "set",
         "service": {"node": n, "id": tag + "-s", "service": tag + "-s", "port": 7}},
        {"kind": "Check", "verb": "set",
         "check": {"node": n, "check_id": tag + "-c", "name": "c", "status": "passing",
                   "service_id": tag + "-s"}},
        kv_op("set", p + "k", b"v"),
    ])
    assert f["ok"] is True, f["errors"]
    assert [r["kind"] for r in f["results"]] == ["Node", "Service", "Check", "KV"]
    assert f["results"][0]["node"]["node"] == n
    assert f["results"][1]["service"]["port"] == 7
    assert f["results"][2]["check"]["status"] == "passing"
    f = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=tag + "-s", with_checks=True,
             passing=True)
    assert [e["service"]["id"] for e in f["entries"]] == [tag + "-s"]
    f = call(b, "TXN", "TXN_REPLY", ops=[
        {"kind": "Node", "verb": "get", "node": {"node": tag + "-nobody"}},
        {"kind": "Service", "verb": "get", "service": {"node": n, "id": "nope"}},
        {"kind": "Check", "verb": "get", "check": {"node": n, "check_id": "nope"}},
    ])
    assert f["ok"] is False
    assert [e["what"] for e in f["errors"]] == [
        'node "%s-nobody" doesn\'t exist' % tag,
        'service "nope" on node "%s" doesn\'t exist' % n,
        'check "nope" on node "%s" doesn\'t exist' % n]


def test_txn_read_only_is_a_read(dev, b, p):
    put(b, p + "a", b"1")
    put(b, p + "b", b"2")
    before = stats(b)["applied_index"]
    for mode in (0, STALE, CONSISTENT):
        f = call(b, "TXN", "TXN_REPLY", q={"consistency": mode},
                 ops=[kv_op("get", p + "a"), kv_op("get-tree", p)])
        assert f["ok"] is True, f["errors"]
        assert [(r["kv"]["key"], r["kv"]["value"]) for r in f["results"]] == [
            (p + "a", b"1"), (p + "a", b"1"), (p + "b", b"2")]
        assert f["meta"]["consistency"] == mode and f["meta"]["known_leader"] is True
    # No Raft entry for a read (nothing else writes meanwhile in this agent,
    # unless a TTL session of an earlier test expired: allow none of that).
    assert stats(b)["applied_index"] == before
    f = call(b, "TXN", "TXN_REPLY", ops=[kv_op("get", p + "nope")])
    assert f["ok"] is False and [e["op_index"] for e in f["errors"]] == [0]


# --- blocking queries (spec §1.10) --------------------------------------------


def blocked(b, name, **fields):
    """Sends a blocking read; returns a function that collects its reply
    as (elapsed seconds since sending, reply fields)."""
    t0 = time.monotonic()
    rid = b.send(name, **fields)

    def collect(timeout=10):
        rname, f = b.recv(rid, timeout)
        assert rname.endswith("_REPLY") and rname != "WRITE_REPLY", (rname, f)
        return time.monotonic() - t0, f
    return collect


def test_blocking_get_woken_by_a_write(b, p):
    w = put(b, p + "k", b"1")
    collect = blocked(b, "KV_GET", key=p + "k", q={"min_index": w["index"], "wait_ms": 5000})
    time.sleep(0.3)
    t_write = time.monotonic()
    w2 = put(b, p + "k", b"2")
    el, f = collect()
    assert f["meta"]["index"] == w2["index"] and f["entries"][0]["value"] == b"2"
    assert time.monotonic() - t_write < 0.5, "woken %.2fs after the write" % (
        time.monotonic() - t_write)
    assert el < 1.5


def test_blocking_get_times_out_with_the_same_index(b, p):
    w = put(b, p + "k", b"1")
    wait = 1.0
    collect = blocked(b, "KV_GET", key=p + "k", q={"min_index": w["index"], "wait_ms": 1000})
    el, f = collect()
    assert f["meta"]["index"] == w["index"] and f["entries"][0]["value"] == b"1"
    assert el >= wait - 0.05, "returned after %.2fs, before wait" % el
    assert el <= wait * 17 / 16 + 0.25, "returned after %.2fs, past wait*17/16" % el


def test_blocking_single_key_ignores_unrelated_writes(b, p):
    w = put(b, p + "k", b"1")
    collect = blocked(b, "KV_GET", key=p + "k", q={"min_index": w["index"], "wait_ms": 1500})
    time.sleep(0.2)
    put(b, p + "other", b"x")
    put(b, p + "k2", b"x")
    el, f = collect()
    assert el >= 1.5 - 0.05, "an unrelated write ended the block after %.2fs" % el
    assert f["meta"]["index"] == w["index"]


def test_blocking_missing_key_ignores_unrelated_writes(b, p):
    # Consul's "not found" optimisation (§1.10): a missing key's block ends
    # when the key appears, not on any KV write.
    idx = get(b, p + "missing")["meta"]["index"]
    collect = blocked(b, "KV_GET", key=p + "missing", q={"min_index": idx, "wait_ms": 1500})
    time.sleep(0.2)
    put(b, p + "other", b"x")
    el, f = collect()
    assert f["entries"] == []
    assert el >= 1.5 - 0.05, "an unrelated write ended the block after %.2fs" % el
    # ... and it does end when the key appears.
    idx = get(b, p + "missing")["meta"]["index"]
    collect = blocked(b, "KV_GET", key=p + "missing", q={"min_index": idx, "wait_ms": 5000})
    time.sleep(0.2)
    w = put(b, p + "missing", b"here")
    el, f = collect()
    assert el < 1.5 and f["meta"]["index"] == w["index"] and f["entries"][0]["value"] == b"here"


def test_blocking_prefix_woken_by_a_delete(b, p):
    put(b, p + "a", b"1")
    w = put(b, p + "b", b"2")
    idx = ls(b, p)["meta"]["index"]
    assert idx == w["index"]
    collect = blocked(b, "KV_GET", key=p, recurse=True, q={"min_index": idx, "wait_ms": 5000})
    keys_collect = blocked(b, "KV_GET", key=p, keys_only=True, separator="/",
                           q={"min_index": idx, "wait_ms": 5000})
    time.sleep(0.3)
    put(b, p[:-1] + "-outside", b"x")  # not under the prefix
    time.sleep(0.2)
    d = delete(b, p + "a")  # not even the highest index under the prefix
    el, f = collect()
    assert el < 1.5, "woken after %.2fs" % el
    assert f["meta"]["index"] == d["index"]
    assert [e["key"] for e in f["entries"]] == [p + "b"]
    el, f = keys_collect()
    assert el < 1.5 and f["keys"] == [p + "b"] and f["meta"]["index"] == d["index"]


def test_blocking_beyond_the_current_index_waits_it_out(b, p):
    collect = blocked(b, "KV_GET", key=p, recurse=True,
                      q={"min_index": 1 << 60, "wait_ms": 500})
    el, f = collect()
    assert 0.45 <= el <= 0.5 * 17 / 16 + 0.25, el
    assert 1 <= f["meta"]["index"] < 1 << 60


def test_blocking_catalog_and_sessions(dev, b, p):
    tag = p.strip("/").replace("/", "-")
    svc = tag + "-svc"
    f = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service=svc)
    c1 = blocked(b, "SERVICE_NODES", service=svc, with_checks=True,
                 q={"min_index": f["meta"]["index"], "wait_ms": 5000})
    f = call(b, "CATALOG_SERVICES", "SERVICES_REPLY")
    c2 = blocked(b, "CATALOG_SERVICES", q={"min_index": f["meta"]["index"], "wait_ms": 5000})
    f = call(b, "SESSION_QUERY", "SESSIONS_REPLY")
    c3 = blocked(b, "SESSION_QUERY", q={"min_index": f["meta"]["index"], "wait_ms": 5000})
    time.sleep(0.3)
    w = register(b, tag + "-n", service={"id": svc, "service": svc})
    el, f = c1()
    assert el < 1.5 and [e["service"]["id"] for e in f["entries"]] == [svc]
    assert f["meta"]["index"] >= w["index"]
    el, f = c2()
    assert el < 1.5 and svc in [s["name"] for s in f["services"]]
    sid = session_create(b, dev.node_name(), checks=[])
    el, f = c3()
    assert el < 2.0 and sid in [s["id"] for s in f["sessions"]]


# --- events -------------------------------------------------------------------


def test_index_bump_after_writes(dev, b, p):
    with bus.Sub(dev.run_dir, "raftd", ["INDEX_BUMP"]) as s:
        # A SUB misses what is published before its subscription reaches
        # the PUB: write until a first bump arrives.
        first = None
        for i in range(50):
            put(b, p + "warmup", str(i).encode())
            first = s.wait(lambda n, f: True, 0.1)
            if first:
                break
        assert first is not None, "no INDEX_BUMP on raftd.pub"
        w = put(b, p + "k", b"v")
        ev = s.wait(lambda n, f: f["index"] >= w["index"], 2.0)
        assert ev is not None, "no INDEX_BUMP for the write at %d" % w["index"]
        assert "kvs" in ev[1]["tables"], ev
        assert ev[1]["index"] == w["index"], "nothing else is written meanwhile"
        assert ev[1]["epoch"] == first[1]["epoch"] != 0
        tag = p.strip("/").replace("/", "-")
        w = register(b, tag + "-n", service={"id": tag, "service": tag},
                     checks=[check(tag + "-c")])
        ev = s.wait(lambda n, f: f["index"] >= w["index"], 2.0)
        assert ev is not None and {"nodes", "services", "checks"} <= set(ev[1]["tables"]), ev
        sid = session_create(b, dev.node_name(), checks=[])
        ev = s.wait(lambda n, f: "sessions" in f["tables"], 2.0)
        assert ev is not None, "no INDEX_BUMP for the session %s" % sid


# --- last: nothing above crashed raftd -----------------------------------------


def test_raftd_never_restarted_during_this_module(dev):
    # musterd revives a crashed raftd and -dev keeps its state, so a crash
    # could hide behind a passing test: check the record (runs last).
    st = dev.status()["raftd"]
    assert (st["restarts"], st["last-exit"]) == (0, "-"), st
