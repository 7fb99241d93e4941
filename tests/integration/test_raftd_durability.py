"""test_raftd_durability.py: raftd's state survives kill -9, restarts, compaction, storage faults.

A durable one-server cluster (-server -bootstrap -data-dir, fsync on): a
write is acknowledged only once it is on disk (DESIGN.md §4, §5), so every
acknowledged write must be there after any crash, and a write whose
storage failed must be refused, never acknowledged, and absent afterwards.
Also: a server without a leader refuses leader reads and writes (spec §1.9).
"""
import os
import signal
import threading
import time

import pytest

import bus
from agent import BUILD, wait_for
from test_raftd import (STALE, CONSISTENT, RaftAgent, call, check, entry, ls, put, register,
                        session_create, session_get, stats)


def durable(data_dir, **kw):
    return RaftAgent(dev=False, data_dir=str(data_dir), **kw)


def restart_after_kill(a, old_pid, timeout=20):
    """Waits until musterd brought a new raftd up and it knows the leader."""
    a.wait_state(lambda st: st["raftd"]["state"] == "ready" and st["raftd"]["pid"] not in
                 (0, old_pid), timeout, "raftd restarted by musterd")
    a.wait_leader(timeout)


def kill_raftd(a):
    pid = a.raftd_pid()
    assert pid > 0
    os.kill(pid, signal.SIGKILL)
    return pid


def assert_self_registered(a, b, timeout=10):
    me = a.node_name()

    def cond():
        hc = call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=me)["checks"]
        return any(c["check_id"] == "serfHealth" and c["status"] == "passing" for c in hc)
    wait_for(cond, timeout, "n1 registered with a passing serfHealth", interval=0.05)
    inst = call(b, "SERVICE_NODES", "SERVICE_NODES_REPLY", service="consul")["entries"]
    assert [(e["node"]["node"], e["service"]["port"]) for e in inst] == [(me, a.server_port)]


# --- kill -9 under load -------------------------------------------------------


class Loader(threading.Thread):
    """One bus client keeping up to `window` writes in flight: KV_PUTs of
    unique keys, and every fifth a TXN setting two keys at once. It records
    what was acknowledged, and every txn it sent."""

    def __init__(self, agent, who, prefix, window=8, give_up_s=3.0):
        super().__init__(daemon=True)
        self.agent, self.who, self.prefix = agent, who, prefix
        self.window, self.give_up_s = window, give_up_s
        self.stop = threading.Event()
        self.acked = {}       # key -> value
        self.acked_at = {}    # key -> time acknowledged
        self.txns = []        # (key a, key b, value) of every txn sent
        self.txn_acked = set()
        self.acked_reqs = 0   # requests acknowledged (a txn is one)
        self.refused = []     # RESULT replies
        self.exc = None
        self.sent = 0

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test
            self.exc = e

    def _run(self):
        with self.agent.bus(self.who) as c:
            inflight = {}
            n = 0
            while not self.stop.is_set() or inflight:
                while not self.stop.is_set() and len(inflight) < self.window:
                    n += 1
                    value = ("%s-%d" % (self.who, n)).encode()
                    if n % 5 == 0:
                        ka, kb = "%stxn/%d/a" % (self.prefix, n), "%stxn/%d/b" % (self.prefix, n)
                        rid = c.send("TXN", ops=[
                            {"kind": "KV", "verb": "set", "kv": {"key": ka, "value": value}},
                            {"kind": "KV", "verb": "set", "kv": {"key": kb, "value": value}}])
                        self.txns.append((ka, kb, value))
                        inflight[rid] = ("txn", (ka, kb), value, time.monotonic())
                    else:
                        key = "%skv/%d" % (self.prefix, n)
                        rid = c.send("KV_PUT", op="set", key=key, value=value)
                        inflight[rid] = ("kv", key, value, time.monotonic())
                    self.sent += 1
                r = c.next_reply(0.05)
                now = time.monotonic()
                if r is None:
                    for rid, v in list(inflight.items()):
                        if now - v[3] > self.give_up_s:  # raftd died with it
                            del inflight[rid]
                            c.forget(rid)
                    continue
                rid, name, f = r
                req = inflight.pop(rid, None)
                if req is None:
                    continue  # a reply after we gave up: unknown outcome
                kind, key, value, _ = req
                if name == "WRITE_REPLY" and kind == "kv":
                    assert f["ok"] is True, f
                    self.acked_reqs += 1
                    self.acked[key] = value
                    self.acked_at[key] = now
                elif name == "TXN_REPLY" and kind == "txn":
                    if f["ok"]:
                        self.acked_reqs += 1
                        self.txn_acked.add(key)
                        for k in key:
                            self.acked[k] = value
                            self.acked_at[k] = now
                    else:
                        self.refused.append(f)
                elif name == "RESULT":
                    assert f["status"] != 200, f
                    self.refused.append(f)
                else:
                    raise AssertionError("%s answered %s %r" % (kind, name, f))


def test_kill_9_during_a_write_load_loses_no_acknowledged_write(tmp_path):
    a = durable(tmp_path / "data")
    try:
        a.boot()
        loaders = [Loader(a, who, "load/%s/" % who) for who in ("httpd", "dnsd", "healthd")]
        for ld in loaders:
            ld.start()
        wait_for(lambda: all(len(ld.acked) >= 20 for ld in loaders), 15,
                 "writes acknowledged before the kill")
        t_kill = time.monotonic()
        old = kill_raftd(a)
        acked_before = sum(len(ld.acked) for ld in loaders)
        restart_after_kill(a, old)
        # The load carries on against the new raftd.
        n0 = [len(ld.acked) for ld in loaders]
        with a.bus() as b:
            st0, reqs0 = stats(b), sum(ld.acked_reqs for ld in loaders)
        wait_for(lambda: all(len(ld.acked) >= n + 20 for ld, n in zip(loaders, n0)), 20,
                 "writes acknowledged after the restart")
        with a.bus() as b:
            st1, reqs1 = stats(b), sum(ld.acked_reqs for ld in loaders)
        for ld in loaders:
            ld.stop.set()
        for ld in loaders:
            ld.join(10)
            assert not ld.is_alive()
            if ld.exc:
                raise ld.exc
        st = a.status()
        assert st["raftd"]["restarts"] >= 1 and st["raftd"]["pid"] != old
        assert acked_before >= 60

        with a.bus() as b:
            for ld in loaders:
                got = {e["key"]: e["value"] for e in ls(b, ld.prefix)["entries"]}
                lost = sorted(k for k in ld.acked if k not in got)
                assert not lost, "%d acknowledged writes lost, e.g. %s (acked %.3fs before "\
                    "the kill)" % (len(lost), lost[:5], t_kill - ld.acked_at[lost[0]])
                wrong = [(k, got[k], v) for k, v in ld.acked.items() if got[k] != v]
                assert not wrong, wrong[:5]
                # Atomic: a txn's two keys are both there or neither.
                for ka, kb, value in ld.txns:
                    assert (ka in got) == (kb in got), "half a txn applied: %s %s" % (ka, kb)
                    if ka in got:
                        assert got[ka] == got[kb] == value
                # Nothing that was never sent.
                sent = {"%skv/%d" % (ld.prefix, i) for i in range(1, ld.sent + 1)}
                sent |= {k for t in ld.txns for k in t[:2]}
                assert set(got) <= sent
        # A durable store syncs, and with 24 writes in flight it batches
        # them: fewer syncs than writes (group commit, DESIGN.md §5).
        syncs = st1["store_syncs"] - st0["store_syncs"]
        assert syncs >= 1
        assert syncs < reqs1 - reqs0, "%d syncs for %d writes" % (syncs, reqs1 - reqs0)
    finally:
        a.stop()


# --- restarts -----------------------------------------------------------------


def test_dev_raftd_restart_keeps_the_state_and_changes_the_epoch():
    # -dev has no fsync, but its state lives in a directory that outlives
    # raftd, so a raftd crash alone loses nothing (DESIGN.md §4).
    a = RaftAgent(dev=True)
    try:
        a.boot()
        with a.bus() as b, bus.Sub(a.run_dir, "raftd", ["INDEX_BUMP"]) as s:
            first = None
            for i in range(50):
                put(b, "dev/warmup", b"%d" % i)
                first = s.wait(lambda n, f: True, 0.1)
                if first:
                    break
            assert first is not None, "no INDEX_BUMP"
            for i in range(30):
                put(b, "dev/k%02d" % i, b"v%d" % i)
            before = ls(b, "dev/")
            old = kill_raftd(a)
            restart_after_kill(a, old)
            after = ls(b, "dev/")
            assert after["entries"] == before["entries"]
            assert after["meta"]["index"] == before["meta"]["index"]
            w = put(b, "dev/after", b"x")
            assert w["index"] > before["meta"]["index"]
            # The new raftd publishes with a new epoch: subscribers drop
            # caches. (The SUB reconnects by itself, missing what comes
            # meanwhile: write until a bump arrives.)
            ev = None
            for i in range(50):
                w = put(b, "dev/after", b"x%d" % i)
                ev = s.wait(lambda n, f: f["index"] >= w["index"], 0.1)
                if ev:
                    break
            assert ev is not None, "no INDEX_BUMP from the restarted raftd"
            assert ev[1]["epoch"] != first[1]["epoch"]
    finally:
        a.stop()


def snapshot_state(a, b, prefix, node):
    """What must survive a restart, as comparable values."""
    return {
        "kv": ls(b, prefix)["entries"],
        "kv_index": ls(b, prefix)["meta"]["index"],
        "node": call(b, "CATALOG_NODE", "CATALOG_NODE_REPLY", node=node),
        "checks": call(b, "HEALTH_CHECKS", "CHECKS_REPLY", node=node)["checks"],
        "sessions": call(b, "SESSION_QUERY", "SESSIONS_REPLY", node=node)["sessions"],
    }


def strip_meta(s):
    s = dict(s)
    s["node"] = {k: v for k, v in s["node"].items() if k != "meta"}
    return s


def test_agent_restart_keeps_the_state(tmp_path):
    data = tmp_path / "data"
    a = durable(data)
    try:
        a.boot()
        with a.bus() as b:
            assert_self_registered(a, b)
            for i in range(20):
                put(b, "keep/k%02d" % i, b"v%d" % i, flags=i)
            register(b, "app-1", "10.0.0.7", meta={"zone": "z1"},
                     service={"id": "app", "service": "app", "tags": ["t"], "port": 9},
                     checks=[check("app-alive", "passing", service_id="app"), check("disk")])
            sid = session_create(b, "app-1", checks=["disk"], behavior="delete")
            assert put(b, "keep/lock", b"mine", op="acquire", session=sid)["ok"] is True
            last = call(b, "KV_DELETE", "WRITE_REPLY", key="keep/k19")  # a tombstone
            before = snapshot_state(a, b, "keep/", "app-1")
            assert before["kv_index"] == last["index"]
        cfg = a.cfg
    finally:
        a.stop()
    a = durable(data, cfg=cfg)
    try:
        a.boot()
        with a.bus() as b:
            after = snapshot_state(a, b, "keep/", "app-1")
            assert strip_meta(after) == strip_meta(before)
            assert session_get(b, sid)["id"] == sid
            assert entry(b, "keep/lock")["session"] == sid
            assert_self_registered(a, b)
            # Indexes go on from where they were.
            w = put(b, "keep/new", b"n")
            assert w["index"] > last["index"]
            # The session still works: its check going critical deletes its lock.
            register(b, "app-1", "10.0.0.7", checks=[check("disk", "critical")])
            assert session_get(b, sid) is None and entry(b, "keep/lock") is None
    finally:
        a.stop()


def test_log_compaction_then_restarts_keep_the_state(tmp_path):
    data = tmp_path / "data"
    a = durable(data, config={"raft_snapshot_threshold": 64, "raft_trailing_logs": 16,
                              "raft_snapshot_interval": "20ms"})
    n = 600
    try:
        a.boot()
        with a.bus() as b:
            # Pipelined, so the 600 writes take little time.
            rids = {}
            for i in range(n):
                rids[b.send("KV_PUT", op="set", key="c/%04d" % i, value=b"v%d" % i)] = i
                if len(rids) >= 64 or i == n - 1:
                    for rid in list(rids):
                        name, f = b.recv(rid, 10)
                        assert name == "WRITE_REPLY", (name, f)
                        del rids[rid]
            w = put(b, "c/last", b"end")
            # Overwrites and deletes, so compaction drops superseded entries.
            for i in range(0, n, 3):
                put(b, "c/%04d" % i, b"w%d" % i)
            d = call(b, "KV_DELETE", "WRITE_REPLY", key="c/0001")
            assert d["index"] > w["index"]
            st = stats(b)
            assert st["applied_index"] >= d["index"]
            wait_for(lambda: stats(b)["store_compactions"] >= 1, 5, "a log compaction")
            assert stats(b)["snapshot_index"] > 64, "the log was compacted behind the state"
            # Once fewer than the threshold are applied past the last one,
            # no more come: the newest file is that snapshot, two are kept.
            wait_for(lambda: stats(b)["applied_index"] - stats(b)["snapshot_index"] < 64, 5,
                     "compaction to catch up")
            snaps = sorted(os.listdir(data / "raft" / "snapshots"))
            assert 1 <= len(snaps) <= 2, snaps
            assert int(snaps[-1][:20]) == stats(b)["snapshot_index"], snaps

        def expect():
            with a.bus() as b:
                got = {e["key"]: e["value"] for e in ls(b, "c/")["entries"]}
                want = {"c/%04d" % i: (b"w%d" % i if i % 3 == 0 else b"v%d" % i)
                        for i in range(n) if i != 1}
                want["c/last"] = b"end"
                assert got == want
                assert ls(b, "c/")["meta"]["index"] == d["index"]
                return b
        expect()
        # kill -9 after compaction: raftd starts from the compacted store.
        old = kill_raftd(a)
        restart_after_kill(a, old)
        expect()
        cfg = a.cfg
    finally:
        a.stop()
    a = durable(data, cfg=cfg)
    try:
        a.boot()
        expect()
        with a.bus() as b:
            assert put(b, "c/after", b"x")["index"] > d["index"]
            assert entry(b, "c/after")["value"] == b"x"
    finally:
        a.stop()


# --- storage faults -----------------------------------------------------------

SHIM = os.path.join(BUILD, "tests", "libfaultfs.so")


@pytest.mark.skipif(not os.path.exists(SHIM), reason="no %s in this build" % SHIM)
@pytest.mark.parametrize("rule", ["fsync EIO", "write EIO", "fsync ENOSPC", "write ENOSPC"])
def test_storage_fault_is_refused_and_leaves_nothing(tmp_path, rule):
    """A write whose storage failed is refused, never acknowledged. After
    a failed write() it is gone. After a failed fsync its bytes may still
    reach the disk (RocksDB replays the WAL record on reopen, as Linux may
    keep the page): then Raft commits it after the restart, like a write
    whose reply was lost -- whole, never in part. Acknowledged writes are
    all there either way."""
    data = tmp_path / "data"
    os.makedirs(data)
    ctl = str(tmp_path / "fault.ctl")  # absent: no fault (tests/fault/faultfs.c)
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    env = {"LD_PRELOAD": SHIM, "MUSTER_FAULT_DIR": str(data), "MUSTER_FAULT_CTL": ctl,
           "ASAN_OPTIONS": asan}
    a = durable(data, env=env)

    def fault(text):
        """Switches a rule on, or every rule off (None); the file is
        replaced whole, as raftd's threads may be reading it."""
        if text is None:
            if os.path.exists(ctl):
                os.unlink(ctl)
            return
        with open(ctl + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(ctl + ".tmp", ctl)

    try:
        a.boot()
        acked = {}
        with a.bus() as b:
            for i in range(5):
                put(b, "ok/pre%d" % i, b"p%d" % i)
                acked["ok/pre%d" % i] = b"p%d" % i
        pid = a.raftd_pid()
        fault(rule)
        try:
            with a.bus() as b:
                name, f = b.call("TXN", timeout=5, ops=[
                    {"kind": "KV", "verb": "set", "kv": {"key": "bad/k1", "value": b"r1"}},
                    {"kind": "KV", "verb": "set", "kv": {"key": "bad/k2", "value": b"r2"}}])
        finally:
            fault(None)
        assert name == "RESULT", "a write was acknowledged: %s %r" % (name, f)
        assert f["status"] == 500 and f["error"].startswith("storage write failed"), f
        # raftd exits after a storage failure; musterd brings it back.
        restart_after_kill(a, pid)
        with a.bus() as b:
            bad = {e["key"]: e["value"] for e in (ls(b, "bad/") or {}).get("entries", [])}
            if rule.startswith("write"):
                assert bad == {}, "the refused write is there after the restart: %r" % bad
            else:
                assert bad in ({}, {"bad/k1": b"r1", "bad/k2": b"r2"}), "half a txn: %r" % bad
            assert {e["key"]: e["value"] for e in ls(b, "ok/")["entries"]} == acked
            assert put(b, "ok/after", b"after")["ok"] is True
            assert entry(b, "ok/after")["value"] == b"after"
    finally:
        a.stop()


# --- without a leader (spec §1.9) ---------------------------------------------


def test_no_leader_refuses_leader_reads_and_writes_but_serves_stale(tmp_path):
    # A server that was never bootstrapped has no leader, ever.
    a = durable(tmp_path / "data", bootstrap=False)
    try:
        a.start()
        a.wait_ready()
        with a.bus() as b:
            # Consul holds such a request a while for a leader to appear
            # (RPCHoldTimeout): send them all at once.
            rids = {
                "default": b.send("KV_GET", key="k"),
                "consistent": b.send("KV_GET", key="k", q={"consistency": CONSISTENT}),
                "put": b.send("KV_PUT", op="set", key="k", value=b"v"),
                "txn": b.send("TXN", ops=[{"kind": "KV", "verb": "set", "kv": {"key": "k"}}]),
                "session": b.send("SESSION_CREATE", session={"node": a.node_name(),
                                                             "behavior": "release"}),
                "stale": b.send("KV_GET", key="k", q={"consistency": STALE}),
                "stale_list": b.send("KV_GET", key="", recurse=True,
                                     q={"consistency": STALE}),
                "stale_txn": b.send("TXN", q={"consistency": STALE},
                                    ops=[{"kind": "KV", "verb": "get-tree", "kv": {"key": "k"}}]),
                "config": b.send("RAFT_CONFIG", q={"consistency": STALE}),
            }
            got = {k: b.recv(rid, 20) for k, rid in rids.items()}
        for k in ("default", "consistent", "put", "txn", "session"):
            assert got[k] == ("RESULT", {"status": 500, "error": "No cluster leader"}), \
                (k, got[k])
        name, f = got["stale"]
        assert name == "KV_GET_REPLY" and f["entries"] == []
        assert f["meta"]["known_leader"] is False and f["meta"]["consistency"] == STALE
        assert f["meta"]["index"] >= 1
        name, f = got["stale_list"]
        assert name == "KV_GET_REPLY" and f["meta"]["known_leader"] is False
        name, f = got["stale_txn"]
        assert name == "TXN_REPLY" and f["ok"] is True and f["meta"]["known_leader"] is False
        name, f = got["config"]
        assert name == "RAFT_CONFIG_REPLY" and f["leader_addr"] == "", f
    finally:
        a.stop()
