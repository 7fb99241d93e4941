"""test_cluster_raft.py: three servers replicating over ports.server (8300, DESIGN.md §3;
issue 9): Raft messages between raftds, followers forwarding writes and default reads to
the leader (spec §5.5), a new leader after the leader's agent is SIGKILLed, the killed
server catching up when it comes back, and a far-behind server catching up through a
snapshot streamed to it.

The three stores are written beforehand by tests/helpers/mkstore with the same three-voter
configuration (ids from each agent's node_id, addresses 127.0.0.1:<its server port>), as
bootstrap_expect would have written them; the walkthrough test covers bootstrap_expect
itself. Fast Raft timings come from the documented test_timings; every wait polls."""
import os
import subprocess
import tempfile

import pytest
import requests

import agent as A
from agent import wait_for
from test_raftd import RaftAgent, base_config, merge

N = 3


def node_id(i):
    # raftd's Raft id is the first 16 hex digits of node_id
    return "0000000%d-1111-4111-8111-111111111111" % i


def raft_hex(i):
    return "0000000%d11114111" % i


class Cluster:
    def __init__(self, extra=None):
        self.cfgs = [merge(base_config(False), merge({"node_id": node_id(i + 1)}, extra or {}))
                     for i in range(N)]
        self.dirs = [tempfile.mkdtemp(prefix="mtc", dir="/tmp") for _ in range(N)]
        mkstore = os.path.join(A.BUILD, "tests", "mkstore")
        members = ["%s@127.0.0.1:%d" % (raft_hex(i + 1), c["ports"]["server"])
                   for i, c in enumerate(self.cfgs)]
        for d in self.dirs:
            subprocess.run([mkstore, os.path.join(d, "raft")] + members, check=True)
        self.agents = [None] * N

    def start(self, i):
        a = RaftAgent(dev=False, data_dir=self.dirs[i], node="s%d" % (i + 1), bootstrap=False,
                      cfg=self.cfgs[i])
        a.start()
        a.wait_ready()
        self.agents[i] = a
        return a

    def http(self, i):
        return "http://127.0.0.1:%d" % self.cfgs[i]["ports"]["http"]

    def leader(self, among=None):
        """The index of the server all live ones agree leads."""
        among = [i for i in (among if among is not None else range(N)) if self.agents[i]]

        def cond():
            seen = set()
            for i in among:
                try:
                    r = requests.get(self.http(i) + "/v1/status/leader", timeout=2)
                except requests.RequestException:
                    return None
                if r.status_code != 200 or r.json() in ("", None):
                    return None
                seen.add(r.json())
            if len(seen) != 1:
                return None
            addr = seen.pop()
            for i in among:
                if addr == "127.0.0.1:%d" % self.cfgs[i]["ports"]["server"]:
                    return ("ok", i)
            return None
        return wait_for(cond, 30, "one leader among %s" % among, interval=0.05)[1]

    def stop(self):
        for a in self.agents:
            if a is not None:
                a.stop()


@pytest.fixture
def cluster():
    c = Cluster()
    try:
        for i in range(N):
            c.start(i)
        yield c
    finally:
        c.stop()


def put(base, key, value):
    r = requests.put(base + "/v1/kv/" + key, data=value, timeout=10)
    assert r.status_code == 200 and r.json() is True, (r.status_code, r.text)


def stale_get(base, key):
    try:
        r = requests.get(base + "/v1/kv/" + key + "?stale&raw", timeout=5)
    except requests.RequestException:
        return None
    return r.text if r.status_code == 200 else None


def test_replication_forwarding_and_failover(cluster):
    lead = cluster.leader()
    follower = (lead + 1) % N
    # a write on a follower is forwarded to the leader, replicated everywhere
    put(cluster.http(follower), "c/one", "1")
    for i in range(N):
        wait_for(lambda: stale_get(cluster.http(i), "c/one") == "1", 10, "c/one on s%d" % i)
    # a default read on a follower is answered by the leader (X-Consul-KnownLeader)
    r = requests.get(cluster.http(follower) + "/v1/kv/c/one?raw", timeout=5)
    assert r.status_code == 200 and r.text == "1"
    assert r.headers["X-Consul-KnownLeader"] == "true"
    cfg = requests.get(cluster.http(follower) + "/v1/operator/raft/configuration",
                       timeout=5).json()
    assert sorted(s["Address"] for s in cfg["Servers"]) == sorted(
        "127.0.0.1:%d" % c["ports"]["server"] for c in cluster.cfgs)
    assert sum(1 for s in cfg["Servers"] if s["Leader"]) == 1
    assert all(s["Voter"] for s in cfg["Servers"])

    # SIGKILL of the leader's whole agent: the other two elect a new leader
    dead = cluster.agents[lead]
    dead.kill_all()
    dead.stop()
    cluster.agents[lead] = None
    live = [i for i in range(N) if i != lead]
    new = cluster.leader(live)
    assert new != lead
    acked = []
    for k in range(20):
        put(cluster.http(live[k % 2]), "c/after/%d" % k, str(k))
        acked.append(k)
    # the killed server comes back with its data and catches up
    cluster.start(lead)
    for k in acked:
        wait_for(lambda: stale_get(cluster.http(lead), "c/after/%d" % k) == str(k), 20,
                 "c/after/%d on the restarted server" % k)
    # every acknowledged write reads back, consistently
    for k in acked:
        r = requests.get(cluster.http(live[0]) + "/v1/kv/c/after/%d?consistent&raw" % k,
                         timeout=5)
        assert r.status_code == 200 and r.text == str(k)


def test_far_behind_server_catches_up_by_snapshot():
    """A server down while the others compact their log past it gets a snapshot."""
    c = Cluster(extra={"raft_snapshot_threshold": 16, "raft_trailing_logs": 4,
                       "raft_snapshot_interval": "200ms"})
    try:
        for i in range(N):
            c.start(i)
        lead = c.leader()
        away = (lead + 1) % N
        c.agents[away].stop()
        c.agents[away] = None
        live = [i for i in range(N) if i != away]
        c.leader(live)
        for k in range(60):
            put(c.http(live[0]), "s/%d" % k, str(k))

        def compacted():
            import bus
            with bus.Bus(c.agents[lead].run_dir, peer="raftd", self_name="httpd") as b:
                _, r = b.call("STATS")
            st = {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}
            return st.get("snapshot_index", 0) > 20
        wait_for(compacted, 20, "the leader's log compacted")
        c.start(away)
        for k in range(60):
            wait_for(lambda: stale_get(c.http(away), "s/%d" % k) == str(k), 30,
                     "s/%d on the returning server" % k)
        import bus
        with bus.Bus(c.agents[away].run_dir, peer="raftd", self_name="httpd") as b:
            _, r = b.call("STATS")
        st = {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}
        assert st["snapshots_installed"] >= 1
    finally:
        c.stop()


def test_forwarded_read_goes_again_when_its_server_dies(cluster):
    """A blocking read a follower forwarded to the leader is not lost with the leader: the
    lost connection is seen at once (a socket monitor) and the read, safe to retry, goes to
    the next leader, where a write wakes it -- well before its own 60 s wait."""
    import threading
    import time
    import bus
    lead = cluster.leader()
    follower = (lead + 1) % N
    other = (lead + 2) % N
    put(cluster.http(follower), "b/key", "1")
    r = requests.get(cluster.http(follower) + "/v1/kv/b/key", timeout=5)
    index = int(r.headers["X-Consul-Index"])
    out = {}

    def block():
        t = time.monotonic()
        try:
            out["r"] = requests.get(cluster.http(follower) + "/v1/kv/b/key?index=%d&wait=60s"
                                    % index, timeout=90)
        except requests.RequestException as e:
            out["r"] = e
        out["t"] = time.monotonic() - t
    th = threading.Thread(target=block)
    th.start()

    def parked():
        with bus.Bus(cluster.agents[lead].run_dir, peer="raftd", self_name="httpd") as b:
            _, st = b.call("STATS")
        return {x["name"]: x["value"] for d in st["daemons"] for x in d["stats"]}["watchers"] >= 1
    wait_for(parked, 10, "the forwarded blocking read parked on the leader")
    dead = cluster.agents[lead]
    dead.kill_all()
    dead.stop()
    cluster.agents[lead] = None
    cluster.leader([follower, other])
    put(cluster.http(other), "b/key", "2")
    th.join(90)
    assert "t" in out
    assert isinstance(out["r"], requests.Response), out["r"]
    assert out["r"].status_code == 200, out["r"].text
    assert out["r"].json()[0]["Value"] == "Mg=="  # base64 of "2"
    assert out["t"] < 30, "the forwarded read took %.1f s" % out["t"]
    with bus.Bus(cluster.agents[follower].run_dir, peer="raftd", self_name="httpd") as b:
        _, st = b.call("STATS")
    st = {x["name"]: x["value"] for d in st["daemons"] for x in d["stats"]}
    assert st["peer_forward_retries"] >= 1


def test_min_quorum_keeps_a_dead_server():
    """autopilot.min_quorum: with 3, cleanup_dead_servers does not prune a failed server
    from a 3-voter configuration (spec §5.2). Two reconciliation rounds after gossip shows it
    failed, it is still there."""
    import bus
    fast = {"gossip_lan": {"probe_interval": "200ms", "probe_timeout": "100ms",
                           "suspicion_mult": 2, "gossip_interval": "50ms"},
            "autopilot": {"min_quorum": 3}, "bootstrap_expect": 3}
    ags = []
    try:
        for i in range(N):
            cfg = merge(base_config(False), merge({"node_id": node_id(i + 1)}, fast))
            a = RaftAgent(dev=False, data_dir=tempfile.mkdtemp(prefix="mtq", dir="/tmp"),
                          node="q%d" % (i + 1), bootstrap=False, cfg=cfg)
            a.start()
            a.wait_ready()
            ags.append(a)
        http = ["http://127.0.0.1:%d" % a.cfg["ports"]["http"] for a in ags]
        for i in (1, 2):
            r = requests.put(http[i] + "/v1/agent/join/127.0.0.1:%d"
                             % ags[0].cfg["ports"]["serf_lan"], timeout=10)
            assert r.status_code == 200, r.text

        def servers(i):
            r = requests.get(http[i] + "/v1/operator/raft/configuration?stale", timeout=5)
            return r.json()["Servers"] if r.status_code == 200 else []
        # (i,): server 0 leading must not read as "not yet"
        lead = wait_for(lambda: next(((i,) for i in range(N) for s in servers(i)
                                      if s["Leader"] and s["Node"] == "q%d" % (i + 1)), None)
                        if len(servers(0)) == 3 else None, 30, "a leader of 3")[0]
        victim = (lead + 1) % N
        ags[victim].kill_all()

        def failed():
            ms = requests.get(http[lead] + "/v1/agent/members", timeout=5).json()
            return any(m["Name"] == "q%d" % (victim + 1) and m["Status"] == 4 for m in ms)
        wait_for(failed, 30, "gossip shows the killed server failed")

        def stats():
            with bus.Bus(ags[lead].run_dir, peer="raftd", self_name="httpd") as b:
                _, st = b.call("STATS")
            return {x["name"]: x["value"] for d in st["daemons"] for x in d["stats"]}
        r0 = stats()["cluster_refreshes"]
        wait_for(lambda: stats()["cluster_refreshes"] >= r0 + 2, 20, "two reconciliation rounds")
        assert len(servers(lead)) == 3
        assert stats()["cluster_raft_removed"] == 0
    finally:
        for a in ags:
            a.stop()
