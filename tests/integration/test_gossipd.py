"""test_gossipd.py: gossipd between muster agents, over the bus (proto/msg.def MEMBERS..KEYRING).

Real agents on loopback (-dev: Consul's fast gossip timings, spec §3.4), each
with its own node name and serf ports. What is checked: joins both ways and
member events on gossipd's PUB; failure detection within the bound
memberlist's formulas give for the timings in force (spec §4.1-§4.2); a
graceful leave seen as left, not failed; force-leave and prune; Consul user
events across agents, blocking lists; encryption (same key joins, another key
or none does not) and the keyring through serf's _serf_*-key queries;
malformed packets counted and survived; the member snapshot that lets a
restarted gossipd rejoin at once. Serf interop is test_gossip_serf.py's.
"""
import json
import math
import os
import random
import signal
import socket
import time

import pytest

from agent import Agent, wait_for
from bus import Bus, Sub

KEY1 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes
KEY2 = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
KEY3 = "c2l4dGVlbiBieXRlIGtleQ=="  # 16 bytes


class GAgent(Agent):
    """A -dev agent with a node name of its own (and any extra config)."""

    def __init__(self, name, config=None, args=()):
        cfg = {"node_name": name}
        cfg.update(config or {})
        super().__init__(["-dev"] + list(args), config=json.dumps(cfg))
        self.name = name

    def conf(self):
        with open(os.path.join(self.run_dir, "config.json")) as f:
            return json.load(f)

    def serf_addr(self):
        return "127.0.0.1:%d" % self.conf()["ports"]["serf_lan"]

    def call(self, name, timeout=10.0, **fields):
        with Bus(self.run_dir, peer="gossipd", self_name="httpd") as b:
            return b.call(name, timeout=timeout, **fields)

    def members(self):
        kind, r = self.call("MEMBERS", wan=False)
        assert kind == "MEMBERS_REPLY", r
        return {m["name"]: m for m in r["members"]}

    def stats(self):
        with Bus(self.run_dir, peer="gossipd", self_name="httpd") as b:
            kind, r = b.call("STATS")
        return {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}

    def join(self, other, timeout=15.0):
        return self.call("JOIN", timeout=timeout, addrs=[other.serf_addr()], wan=False)


def start(*agents):
    for a in agents:
        a.start()
    for a in agents:
        a.wait_ready()
    return agents


def stop(*agents):
    for a in agents:
        a.stop()


def status_of(agent, name):
    m = agent.members().get(name)
    return m and m["status"]


def wait_status(agent, name, status, timeout, what):
    return wait_for(lambda: status_of(agent, name) == status, timeout, what)


def detection_bound_s(conf, n):
    """memberlist's worst case for a silent member (state.go): a full probe round
    before anybody probes it, the probe, then the suspicion timer at its maximum
    (SuspicionMaxTimeoutMult 6 x min, min = mult x max(1, log10 n) x interval),
    then the dead message's gossip to the others."""
    g = conf["gossip_lan"]
    interval = g["probe_interval"] / 1000.0 if isinstance(g["probe_interval"], (int, float)) \
        else parse_dur(g["probe_interval"])
    gossip = parse_dur(g["gossip_interval"]) if isinstance(g["gossip_interval"], str) \
        else g["gossip_interval"] / 1000.0
    mult = g["suspicion_mult"]
    smin = mult * max(1.0, math.log10(max(1, n))) * interval
    return n * interval + interval + 6 * smin + 3 * gossip


def parse_dur(s):
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "us": 1e-6, "ns": 1e-9}
    total, num = 0.0, ""
    i = 0
    while i < len(s):
        c = s[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        for u in ("ms", "us", "ns", "s", "m", "h"):
            if s.startswith(u, i):
                total += float(num) * units[u]
                num = ""
                i += len(u)
                break
        else:
            raise ValueError(s)
    return total


def joined(trio):
    """The three agents in one pool (tests may run alone, with -k)."""
    a, b, c = trio
    names = ("g-alpha", "g-beta", "g-gamma")
    if not all(status_of(x, n) == 1 for x in trio for n in names):
        a.join(b)
        c.join(a)
        for x in trio:
            wait_for(lambda x=x: all(status_of(x, n) == 1 for n in names), 10,
                     "%s to see all three alive" % x.name)
    return trio


@pytest.fixture(scope="module")
def trio():
    a, b, c = GAgent("g-alpha"), GAgent("g-beta"), GAgent("g-gamma")
    start(a, b, c)
    yield a, b, c
    stop(a, b, c)


def test_members_lists_self_with_consul_tags(trio):
    a = trio[0]
    m = a.members()["g-alpha"]
    assert m["status"] == 1
    assert m["addr"] == "127.0.0.1"
    assert m["port"] == a.conf()["ports"]["serf_lan"]
    tags = m["tags"]
    assert tags["role"] == "consul" and tags["dc"] == "dc1"
    assert tags["id"] == a.conf()["node_id"]
    assert tags["port"] == str(a.conf()["ports"]["server"])
    assert (tags["vsn"], tags["vsn_min"], tags["vsn_max"]) == ("2", "2", "3")
    assert (m["protocol_min"], m["protocol_max"], m["protocol_cur"]) == (1, 5, 2)
    assert (m["delegate_min"], m["delegate_max"], m["delegate_cur"]) == (2, 5, 4)
    kind, r = a.call("MEMBERS", wan=True)
    assert [x["name"] for x in r["members"]] == ["g-alpha.dc1"]


def test_join_both_ways_and_member_events(trio):
    a, b, c = trio
    with Sub(a.run_dir, "gossipd", ["MEMBER_EVENT"]) as sub:
        time.sleep(0.2)  # ZeroMQ's slow joiner: let the subscription reach the PUB
        kind, r = a.join(b)
        assert kind == "JOIN_REPLY" and r["joined"] == 1, r
        kind, r = c.join(a)
        assert kind == "JOIN_REPLY" and r["joined"] == 1, r
        for x in trio:
            wait_for(lambda x=x: all(status_of(x, n) == 1 for n in ("g-alpha", "g-beta",
                                                                   "g-gamma")),
                     10, "%s to see all three alive" % x.name)
        seen = set()
        deadline = time.time() + 5
        while time.time() < deadline and seen != {"g-beta", "g-gamma"}:
            ev = sub.recv(timeout=1.0)
            if ev and ev[0] == "MEMBER_EVENT" and ev[2]["event"] == "member-join":
                assert ev[2]["wan"] is False
                seen.add(ev[2]["member"]["name"])
        assert seen == {"g-beta", "g-gamma"}


def test_join_errors(trio):
    a = trio[0]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    kind, r = a.call("JOIN", addrs=["127.0.0.1:%d" % port], wan=False)
    assert kind == "RESULT" and r["status"] == 500
    assert "Failed to join 127.0.0.1:%d" % port in r["error"], r
    kind, r = a.call("JOIN", addrs=["not an address:x"], wan=False)
    assert kind == "RESULT" and r["status"] == 500, r
    kind, r = a.call("JOIN", addrs=[], wan=False)
    assert kind == "RESULT" and r["status"] == 400, r


def test_user_events_cross_agents_and_block(trio):
    joined(trio)
    a, b, _ = trio
    kind, r = b.call("EVENT_LIST")
    idx = r["index"]
    with Bus(b.run_dir, peer="gossipd", self_name="httpd") as bb:
        t0 = time.time()
        req = bb.send("EVENT_LIST", min_index=idx, wait_ms=10000)
        kind, r = a.call("EVENT_FIRE", event={"name": "deploy", "payload": b"v1"})
        assert kind == "EVENT_REPLY", r
        fired = r["events"][0]
        assert fired["name"] == "deploy" and fired["version"] == 1 and fired["ltime"] == 0
        assert len(fired["id"]) == 36
        kind, r = bb.recv(req, timeout=10)
        assert time.time() - t0 < 5, "the blocked list was not woken by the event"
    assert kind == "EVENT_REPLY" and r["index"] != idx
    ev = [e for e in r["events"] if e["id"] == fired["id"]]
    assert ev and ev[0]["payload"] == b"v1" and ev[0]["ltime"] > 0
    # Consul's index: the newest ID's halves XORed
    h = r["events"][-1]["id"].replace("-", "")
    assert r["index"] == int(h[:16], 16) ^ int(h[16:], 16)


def test_event_filters(trio):
    joined(trio)
    a, b, c = trio
    kind, r = a.call("EVENT_FIRE", event={"name": "only-beta", "node_filter": "^g-beta$"})
    assert kind == "EVENT_REPLY", r
    eid = r["events"][0]["id"]
    wait_for(lambda: any(e["id"] == eid for e in b.call("EVENT_LIST")[1]["events"]), 5,
             "g-beta to accept the event")
    time.sleep(0.5)
    assert not any(e["id"] == eid for e in c.call("EVENT_LIST")[1]["events"])
    kind, r = a.call("EVENT_FIRE", event={"name": "x", "tag_filter": "v1"})
    assert (kind, r["status"]) == ("RESULT", 500)
    assert r["error"] == "Cannot provide tag filter without service filter"
    kind, r = a.call("EVENT_FIRE", event={"name": "x", "node_filter": "("})
    assert (kind, r["status"]) == ("RESULT", 500) and r["error"].startswith("Invalid node filter")
    kind, r = a.call("EVENT_FIRE", event={"name": "big", "payload": b"x" * 600})
    assert (kind, r["status"]) == ("RESULT", 500), r


def test_malformed_packets_are_counted_and_survived(trio):
    a = trio[0]
    before = a.stats()
    port = a.conf()["ports"]["serf_lan"]
    rnd = random.Random(8)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = [b"", b"\x00", b"\x07\x05", b"\x0c\x00\x00\x00\x00\x00", b"\x09\x81\xa1x\x01",
            b"\xf4\x03abc\x00", bytes(range(256))] + \
           [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 1400))) for _ in range(200)]
    for j in junk:
        s.sendto(j, ("127.0.0.1", port))
    s.close()
    # a truncated TCP stream and one of garbage
    for data in (b"\x06\x83", b"\xff" * 100):
        t = socket.create_connection(("127.0.0.1", port))
        t.sendall(data)
        t.close()

    def counted():
        st = a.stats()
        return st.get("lan_udp_bad", 0) + st.get("lan_msgs_bad", 0) >= \
            before.get("lan_udp_bad", 0) + before.get("lan_msgs_bad", 0) + 100
    wait_for(counted, 5, "malformed packets to be counted")
    assert status_of(a, "g-alpha") == 1
    assert a.status()["gossipd"]["restarts"] == 0


def test_graceful_leave_is_left_not_failed():
    a, b = GAgent("l-alpha"), GAgent("l-beta")
    start(a, b)
    try:
        assert a.join(b)[0] == "JOIN_REPLY"
        wait_status(b, "l-alpha", 1, 10, "l-beta to see l-alpha")
        with Bus(a.run_dir, peer="musterd", self_name="httpd") as m:
            t0 = time.time()
            kind, r = m.call("LEAVE", timeout=35)
            took = time.time() - t0
        assert (kind, r["status"]) == ("RESULT", 200), r
        # Consul's LeavePropagateDelay is 3 s: the leave waits for it
        assert 2.5 < took < 20, took
        wait_status(b, "l-alpha", 3, 5, "l-beta to see l-alpha left")
        assert a.proc.wait(timeout=20) == 0
    finally:
        stop(a, b)


def test_sigkill_is_failed_within_the_bound_then_force_leave():
    agents = [GAgent("f-%d" % i) for i in range(3)]
    start(*agents)
    try:
        x, y, z = agents
        assert y.join(x)[0] == "JOIN_REPLY" and z.join(x)[0] == "JOIN_REPLY"
        for ag in agents:
            wait_for(lambda ag=ag: sum(m["status"] == 1 for m in ag.members().values()) == 3,
                     10, "%s to see 3 alive" % ag.name)
        bound = detection_bound_s(x.conf(), 3)
        z.proc.send_signal(signal.SIGKILL)  # musterd dies; its children follow, no leave
        t0 = time.time()
        wait_status(x, "f-2", 4, bound + 2.0, "f-0 to see f-2 failed")
        took = time.time() - t0
        assert took <= bound, (took, bound)
        wait_status(y, "f-2", 4, 3.0, "f-1 to see f-2 failed")
        # force-leave: failed -> left, everywhere; then prune forgets it
        kind, r = x.call("FORCE_LEAVE", node="f-2", prune=False, wan=False)
        assert (kind, r["status"]) == ("RESULT", 200), r
        wait_status(x, "f-2", 3, 5, "f-0 to see f-2 left")
        wait_status(y, "f-2", 3, 5, "f-1 to see f-2 left")
        kind, r = x.call("FORCE_LEAVE", node="f-2", prune=True, wan=False)
        assert r["status"] == 200, r
        wait_for(lambda: "f-2" not in x.members(), 10, "f-2 pruned")
        kind, r = x.call("FORCE_LEAVE", node="nobody", prune=False, wan=False)
        assert (kind, r["status"]) == ("RESULT", 500)
        assert r["error"] == "agent: No node found with name 'nobody'"
    finally:
        stop(*agents)


def test_encryption_same_key_joins_other_key_does_not():
    a = GAgent("e-alpha", {"encrypt": KEY1})
    b = GAgent("e-beta", {"encrypt": KEY1})
    w = GAgent("e-wrong", {"encrypt": KEY2})
    p = GAgent("e-plain")
    start(a, b, w, p)
    try:
        assert a.join(b)[0] == "JOIN_REPLY"
        wait_status(b, "e-alpha", 1, 10, "e-beta to see e-alpha")
        kind, r = w.join(a)
        assert (kind, r["status"]) == ("RESULT", 500), r
        kind, r = p.join(a)
        assert (kind, r["status"]) == ("RESULT", 500), r
        time.sleep(1.0)
        assert set(a.members()) == {"e-alpha", "e-beta"}
        assert a.stats()["encrypted"] == 1
        # the keyring through serf's queries: list, install, use, remove
        kind, r = a.call("KEYRING", op="list", timeout=15)
        lan = [x for x in r["pools"] if not x["wan"]][0]
        assert lan["num_nodes"] == 2 and lan["num_resp"] == 2 and lan["num_err"] == 0, lan
        assert {k["key"]: k["count"] for k in lan["keys"]} == {KEY1: 2}
        kind, r = a.call("KEYRING", op="install", key=KEY3, timeout=15)
        lan = [x for x in r["pools"] if not x["wan"]][0]
        assert lan["num_err"] == 0 and lan["error"] == "", lan
        kind, r = b.call("KEYRING", op="list", timeout=15)
        lan = [x for x in r["pools"] if not x["wan"]][0]
        assert {k["key"]: k["count"] for k in lan["keys"]} == {KEY1: 2, KEY3: 2}
        kind, r = a.call("KEYRING", op="remove", key=KEY1, timeout=15)
        lan = [x for x in r["pools"] if not x["wan"]][0]
        assert lan["num_err"] == 2 and "Removing the primary key is not allowed" in \
            json.dumps(lan["messages"]), lan
        assert a.call("KEYRING", op="use", key=KEY3, timeout=15)[1]["pools"][-1]["error"] == ""
        assert a.call("KEYRING", op="remove", key=KEY1, timeout=15)[1]["pools"][-1]["error"] == ""
        kind, r = a.call("KEYRING", op="list", local_only=True)
        lan = [x for x in r["pools"] if not x["wan"]][0]
        assert {k["key"]: k["count"] for k in lan["keys"]} == {KEY3: 1}
        assert {k["key"]: k["primary_count"] for k in lan["keys"]} == {KEY3: 1}
        # still talking, now under the new key
        kind, r = a.call("EVENT_FIRE", event={"name": "after-rotation"})
        eid = r["events"][0]["id"]
        wait_for(lambda: any(e["id"] == eid for e in b.call("EVENT_LIST")[1]["events"]), 5,
                 "the event under the rotated key")
        kind, r = a.call("KEYRING", op="install", key="not base64!")
        assert (kind, r["status"]) == ("RESULT", 500)
    finally:
        stop(a, b, w, p)


def test_restarted_gossipd_rejoins_from_its_snapshot(tmp_path):
    a = GAgent("s-alpha", {"data_dir": str(tmp_path / "a")})
    b = GAgent("s-beta", {"data_dir": str(tmp_path / "b")})
    start(a, b)
    try:
        assert a.join(b)[0] == "JOIN_REPLY"
        wait_status(b, "s-alpha", 1, 10, "s-beta to see s-alpha")
        snap = tmp_path / "b" / "serf" / "local.snapshot"
        wait_for(lambda: snap.exists() and "alive: s-alpha" in snap.read_text(), 5,
                 "the snapshot to name s-alpha")
        old = b.status()["gossipd"]["pid"]
        os.kill(old, signal.SIGKILL)
        b.wait_state(lambda st: st["gossipd"]["state"] == "ready" and
                     st["gossipd"]["pid"] not in (0, old), 10, "gossipd back")
        t0 = time.time()
        # push/pull is every 30 s: only the snapshot's rejoin is this fast
        wait_status(b, "s-alpha", 1, 3.0, "the new gossipd to rejoin s-alpha")
        assert time.time() - t0 < 3.0
    finally:
        stop(a, b)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_wan_pool_of_servers():
    a, b = GAgent("w-alpha"), GAgent("w-beta")
    start(a, b)
    try:
        addr = "127.0.0.1:%d" % b.conf()["ports"]["serf_wan"]
        kind, r = a.call("JOIN", addrs=[addr], wan=True)
        assert kind == "JOIN_REPLY", r
        for x in (a, b):
            wait_for(lambda x=x: sorted(m["name"] for m in x.call("MEMBERS", wan=True)[1]["members"]
                                        if m["status"] == 1) == ["w-alpha.dc1", "w-beta.dc1"],
                     10, "%s to see both servers in the WAN pool" % x.name)
        # the LAN pools stay apart
        assert set(a.members()) == {"w-alpha"}
    finally:
        stop(a, b)


def test_retry_join_until_the_peer_appears():
    port = free_port()
    b = GAgent("r-beta", {"retry_join": ["127.0.0.1:%d" % port], "retry_interval": "200ms"})
    start(b)
    a = GAgent("r-alpha", {"ports": {"serf_lan": port}})
    try:
        wait_for(lambda: "join failed, retrying" in open(b.log_path).read(), 5,
                 "a failed first attempt")
        start(a)
        wait_status(b, "r-alpha", 1, 10, "r-beta to join r-alpha by retry_join")
        wait_status(a, "r-beta", 1, 5, "r-alpha to see r-beta")
    finally:
        stop(a, b)


def test_plaintext_accepted_while_verify_incoming_is_off():
    # Consul's rolling introduction of encryption: the encrypted side neither demands
    # nor sends encryption until encrypt_verify_* are turned back on.
    x = GAgent("v-enc", {"encrypt": KEY1, "encrypt_verify_incoming": False,
                         "encrypt_verify_outgoing": False})
    p = GAgent("v-plain")
    start(x, p)
    try:
        assert p.join(x)[0] == "JOIN_REPLY"
        wait_status(x, "v-plain", 1, 10, "v-enc to see v-plain")
        wait_status(p, "v-enc", 1, 10, "v-plain to see v-enc")
    finally:
        stop(x, p)


def test_a_left_agent_rejoins_only_with_rejoin_after_leave(tmp_path):
    bport = free_port()
    a = GAgent("j-alpha", {"data_dir": str(tmp_path / "a")})
    bconf = {"data_dir": str(tmp_path / "b"), "ports": {"serf_lan": bport}}
    b = GAgent("j-beta", bconf)
    start(a, b)
    b2 = b3 = None
    try:
        assert b.join(a)[0] == "JOIN_REPLY"
        wait_status(a, "j-beta", 1, 10, "j-alpha to see j-beta")
        with Bus(b.run_dir, peer="musterd", self_name="httpd") as m:
            assert m.call("LEAVE", timeout=35)[1]["status"] == 200
        assert b.proc.wait(timeout=20) == 0
        wait_status(a, "j-beta", 3, 5, "j-alpha to see j-beta left")
        # the snapshot's leave holds: no rejoin
        b2 = GAgent("j-beta", bconf)
        start(b2)
        time.sleep(2.0)
        assert set(b2.members()) == {"j-beta"}
        assert status_of(a, "j-beta") == 3
        stop(b2)
        b2 = None
        # -rejoin: the snapshot's members are joined again
        b3 = GAgent("j-beta", dict(bconf, rejoin_after_leave=True))
        start(b3)
        wait_status(b3, "j-alpha", 1, 5, "j-beta to rejoin j-alpha")
        wait_status(a, "j-beta", 1, 5, "j-alpha to see j-beta back")
    finally:
        stop(*[x for x in (a, b, b2, b3) if x])


def test_service_filtered_event_waits_for_the_local_services(trio):
    joined(trio)
    # An event for agents running service "web": none of these runs it, so
    # none accepts it; an unfiltered event fired right after still comes in,
    # after it (events are taken in order).
    a, b, _ = trio
    kind, r = a.call("EVENT_FIRE", event={"name": "svc-only", "service_filter": "^web$"})
    assert kind == "EVENT_REPLY", r
    fid = r["events"][0]["id"]
    kind, r = a.call("EVENT_FIRE", event={"name": "after-svc"})
    aid = r["events"][0]["id"]
    wait_for(lambda: any(e["id"] == aid for e in b.call("EVENT_LIST")[1]["events"]), 5,
             "the unfiltered event on g-beta")
    assert not any(e["id"] == fid for e in b.call("EVENT_LIST")[1]["events"])


def test_service_filtered_event_reaches_the_agent_running_it(trio):
    joined(trio)
    # g-beta runs "web" (tag "v2", registered with healthd): the event for
    # web agents with a v2 tag is accepted there and nowhere else.
    a, b, c = trio
    with Bus(b.run_dir, peer="healthd", self_name="httpd") as h:
        kind, r = h.call("SERVICE_REGISTER", timeout=10,
                         service={"service": {"id": "web1", "service": "web", "tags": ["v2"]}})
        assert (kind, r["status"]) == ("RESULT", 200), r
    kind, r = a.call("EVENT_FIRE", event={"name": "web-v2", "service_filter": "^web",
                                           "tag_filter": "^v2$"})
    fid = r["events"][0]["id"]
    wait_for(lambda: any(e["id"] == fid for e in b.call("EVENT_LIST")[1]["events"]), 5,
             "g-beta (running web v2) to accept the event")
    kind, r = a.call("EVENT_FIRE", event={"name": "marker"})
    mid = r["events"][0]["id"]
    wait_for(lambda: any(e["id"] == mid for e in c.call("EVENT_LIST")[1]["events"]), 5,
             "g-gamma to take the next event")
    assert not any(e["id"] == fid for e in c.call("EVENT_LIST")[1]["events"])


def test_a_joining_agent_does_not_replay_old_events(trio):
    # Consul joins with serf's ignoreOld: events from before the join, which
    # the push/pull's event buffer carries, are not news to the newcomer.
    a = joined(trio)[0]
    kind, r = a.call("EVENT_FIRE", event={"name": "before-join"})
    old = r["events"][0]["id"]
    d = GAgent("g-delta")
    start(d)
    try:
        assert d.join(a)[0] == "JOIN_REPLY"
        kind, r = a.call("EVENT_FIRE", event={"name": "after-join"})
        new = r["events"][0]["id"]
        wait_for(lambda: any(e["id"] == new for e in d.call("EVENT_LIST")[1]["events"]), 5,
                 "the event fired after the join")
        assert not any(e["id"] == old for e in d.call("EVENT_LIST")[1]["events"])
    finally:
        stop(d)
