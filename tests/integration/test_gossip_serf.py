"""test_gossip_serf.py: gossipd against HashiCorp's own serf agent (issue 8, "Interop tests").

Debian's `serf` (0.9.4 sources, Serf protocol 5 over memberlist) is the peer:
it joins a muster agent and is joined by one, lists our agent with Consul's
tags, sees our crash as failed and our leave as left (and we see its), carries
user events both ways, refuses a wrong key, and keeps our agent as a member
while the agent's gossip port takes garbage.

Timings: serf runs memberlist's DefaultLocalConfig (`-profile=local`: probe
interval 1 s, probe timeout 200 ms, suspicion mult 3, retransmit mult 2,
gossip every 100 ms to 3); the muster agents get the same values in their
gossip_lan. Failure bounds are computed from those timings by
serfpeer.failure_bound_s (memberlist's formulas, explained there) for the
pool size in force, and asserted with a slack of two probe intervals for
polling and scheduling. Every test that measures a failure uses a fresh agent
and a fresh serf: exactly two members, so N is known (left and dead members
stay in memberlist's estNumNodes for a while and would change it).

The muster side is driven over HTTP (/v1/agent/members, join, leave,
/v1/event/fire and list, /v1/agent/metrics). Plain serf events (no
`consul:event:` prefix) reach no HTTP endpoint: they are observed on
gossipd's PUB as USER_EVENT.

What gossip_lan cannot set stays at muster's LAN values (indirect checks 3,
push/pull 30 s, gossip to the dead 30 s, where serf's local profile has 1,
15 s, 15 s): none of them moves a two-member pool's failure bound.
"""
import base64
import os
import random
import signal
import socket
import struct
import time
import zlib

import msgpack
import pytest

from agent import ROOT, wait_for
from bus import Sub
from httpfix import HttpAgent
from serfpeer import (TIMINGS_LOCAL, Serf, failure_bound_s, gossip_lan_config,
                      suspicion_timeout_s)

TIMINGS = TIMINGS_LOCAL
PI = TIMINGS["probe_interval"]
SLACK = 2 * PI            # polling (50 ms rounds of CLI/HTTP calls) and scheduling
JOIN_TIMEOUT = 10.0       # s: a join, a leave or an event to be seen on the other side
SETTLE = 3 * PI           # s: a wait in which something must NOT happen
STATUS = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}

# Measured times, printed at the end of the module (pytest -s shows them;
# bench/README.md records a run).
MEASURED = []


def key():
    return base64.b64encode(os.urandom(32)).decode()


class Muster(HttpAgent):
    """A -dev muster agent named `name`, with serf's local timings in gossip_lan."""

    def __init__(self, name, encrypt=None, config=None):
        cfg = {"node_name": name, "gossip_lan": gossip_lan_config(TIMINGS)}
        if encrypt is not None:
            cfg["encrypt"] = encrypt
        cfg.update(config or {})
        super().__init__(config=cfg)
        self.name = name
        self.serf_port = self.cfg["ports"]["serf_lan"]
        self.addr = "127.0.0.1:%d" % self.serf_port

    # --- the HTTP API --------------------------------------------------------

    def members(self):
        """{name: {"addr", "port", "tags", "status" (a word)}}: every member."""
        self.alive()
        r = self.http.get("/v1/agent/members")
        assert r.status_code == 200, "GET /v1/agent/members: %d %r" % (r.status_code, r.text)
        return {m["Name"]: {"addr": m["Addr"], "port": m["Port"], "tags": m["Tags"],
                            "status": STATUS.get(m["Status"], m["Status"]), "raw": m}
                for m in r.json()}

    def member(self, name):
        return self.members().get(name)

    def wait_status(self, name, status, timeout, interval=0.05):
        def cond():
            m = self.member(name)
            if m is not None and m["status"] == status:
                self.seen_at = time.monotonic()
                return m
            return None
        try:
            return wait_for(cond, timeout, "muster %s to list %s as %s" % (self.name, name,
                                                                          status), interval)
        except AssertionError as e:
            raise AssertionError("%s; last seen: %r%s" % (e, self.member(name), self.tail()))

    def join(self, addr):
        """(True, answer) or (False, "status text")."""
        r = self.http.put("/v1/agent/join/" + addr, timeout=30)
        if r.status_code == 200:
            return True, r.text
        return False, "%d %s" % (r.status_code, r.text)

    def leave(self):
        """PUT /v1/agent/leave: gossipd leaves, then the agent stops; 200 once
        the leave is done, as Consul."""
        r = self.http.put("/v1/agent/leave", timeout=30)
        assert r.status_code == 200, "PUT /v1/agent/leave: %d %r" % (r.status_code, r.text)

    def fire(self, name, payload):
        """PUT /v1/event/fire/<name>: the UserEvent answered."""
        r = self.http.put("/v1/event/fire/" + name, data=payload)
        assert r.status_code == 200, "event fire: %d %r" % (r.status_code, r.text)
        return r.json()

    def event_list(self, name):
        """[(name, payload bytes, id)] of /v1/event/list?name=."""
        r = self.http.get("/v1/event/list", params={"name": name})
        assert r.status_code == 200, "event list: %d %r" % (r.status_code, r.text)
        return [(e["Name"], base64.b64decode(e["Payload"] or ""), e["ID"]) for e in r.json()]

    def gossipd_stats(self):
        """gossipd's counters and gauges from GET /v1/agent/metrics, named
        muster.gossipd.<stat> there: {stat: value}."""
        r = self.http.get("/v1/agent/metrics")
        assert r.status_code == 200, "agent metrics: %d %r" % (r.status_code, r.text)
        body = r.json()
        out = {c["Name"]: c["Sum"] for c in body["Counters"]}
        out.update((g["Name"], g["Value"]) for g in body["Gauges"])
        pre = "muster.gossipd."
        return {k[len(pre):]: v for k, v in out.items() if k.startswith(pre)}

    def node_id(self):
        return self.conf()["node_id"]



@pytest.fixture
def peers():
    """Makes agents and serfs for one test; stops them all at its end."""
    made = []

    def mk(kind, *a, **kw):
        x = Muster(*a, **kw) if kind == "muster" else Serf(*a, **kw)
        made.append(x)
        x.boot()
        return x
    yield mk
    errors = []
    for x in reversed(made):
        try:
            x.stop()
        except AssertionError as e:  # a sanitizer report in an agent's log
            errors.append(e)
    if errors:
        raise errors[0]


def joined(m, s):
    """s joined m (serf join to m's serf_lan address); both list the other alive."""
    s.join(m.addr)
    s.wait_status(m.name, "alive", JOIN_TIMEOUT)
    m.wait_status(s.name, "alive", JOIN_TIMEOUT)


# --- membership --------------------------------------------------------------------


def test_serf_joins_us_and_we_join_serf_with_tags(peers):
    m = peers("muster", "mu-tags")
    s1 = peers("serf", "sf-one", tags={"role": "web", "rack": "r1"})
    s2 = peers("serf", "sf-two", tags={"role": "db"})

    # serf joins gossipd.
    r = s1.join(m.addr)
    assert "1 nodes" in r.stdout, r.stdout
    ours = s1.wait_status(m.name, "alive", JOIN_TIMEOUT)
    assert ours["addr"] == m.addr, ours
    t = ours["tags"]
    # Consul's tags (spec §4.4): a -dev agent is a bootstrapped server.
    assert t.get("role") == "consul", t
    assert t.get("dc") == "dc1", t
    assert t.get("id") == m.node_id(), t
    assert t.get("port") == str(m.server_port), t
    for k in ("vsn", "vsn_min", "vsn_max", "build", "raft_vsn"):
        assert t.get(k), "tag %s missing: %r" % (k, t)
    # serf shows the Serf (delegate) protocol range we advertise: 2..5.
    p = ours["protocol"]
    assert p["max"] == 5 and p["min"] <= p["version"] <= p["max"], p
    theirs = m.wait_status(s1.name, "alive", JOIN_TIMEOUT)
    assert theirs["tags"] == {"role": "web", "rack": "r1"}, theirs
    assert (theirs["addr"], theirs["port"]) == ("127.0.0.1", s1.port), theirs

    # gossipd joins serf.
    ok, why = m.join(s2.addr)
    assert ok, why
    assert s2.wait_status(m.name, "alive", JOIN_TIMEOUT)["tags"]["role"] == "consul"
    assert m.wait_status(s2.name, "alive", JOIN_TIMEOUT)["tags"] == {"role": "db"}
    # One pool of three: the serfs learn each other through us.
    s1.wait_status(s2.name, "alive", JOIN_TIMEOUT)
    s2.wait_status(s1.name, "alive", JOIN_TIMEOUT)
    assert set(s1.members()) == {m.name, s1.name, s2.name}
    assert set(m.members()) == {m.name, s1.name, s2.name}


# --- failure detection -------------------------------------------------------------


def bound():
    """The bound for our two-member pools, and the earliest a failure may be
    declared (the suspicion timeout alone: an earlier one would be a false
    positive for a node that was merely slow)."""
    return (failure_bound_s(TIMINGS, 2) + SLACK,
            suspicion_timeout_s(TIMINGS["suspicion_mult"], 2, PI))


def test_serf_crash_seen_as_failed(peers):
    m = peers("muster", "mu-watch")
    s = peers("serf", "sf-crash")
    joined(m, s)
    hi, lo = bound()
    t0 = time.monotonic()
    s.kill()
    m.wait_status(s.name, "failed", hi + 5)
    took = m.seen_at - t0
    MEASURED.append(("muster sees a SIGKILLed serf as failed", took, hi))
    assert lo <= took <= hi, "failed after %.2fs, want [%.2f, %.2f]" % (took, lo, hi)


def test_muster_crash_seen_as_failed_by_serf(peers):
    """A crash of our gossip: gossipd SIGKILLed. musterd restarts a daemon that
    dies at once (sup.c), and a new gossipd answers pings to our name, so serf
    would never see a failure; musterd is therefore stopped (SIGSTOP) first,
    and continued once serf saw the failure, to shut down as usual."""
    m = peers("muster", "mu-crash")
    s = peers("serf", "sf-watch")
    joined(m, s)
    st = m.status()
    musterd, gossipd = st["musterd"]["pid"], st["gossipd"]["pid"]
    hi, lo = bound()
    os.kill(musterd, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        os.kill(gossipd, signal.SIGKILL)
        s.wait_status(m.name, "failed", hi + 5)
        took = s.seen_at - t0
    finally:
        os.kill(musterd, signal.SIGCONT)
    MEASURED.append(("serf sees a SIGKILLed gossipd as failed", took, hi))
    assert lo <= took <= hi, "failed after %.2fs, want [%.2f, %.2f]" % (took, lo, hi)


# --- leave ----------------------------------------------------------------------------


def test_serf_leave_seen_as_left(peers):
    m = peers("muster", "mu-stay")
    s = peers("serf", "sf-leave")
    joined(m, s)
    s.leave()
    m.wait_status(s.name, "left", JOIN_TIMEOUT)


def test_muster_leave_seen_as_left(peers):
    m = peers("muster", "mu-leave")
    s = peers("serf", "sf-stay")
    joined(m, s)
    m.leave()
    s.wait_status(m.name, "left", JOIN_TIMEOUT)


# --- user events ------------------------------------------------------------------------


def consul_event(name, payload):
    """A Consul UserEvent as serf carries it (consul agent/user_event.go: msgpack,
    codec tags ID, n, p, nf, sf, tf, v)."""
    return msgpack.packb({"ID": "5c1e8e6e-3f3a-4d1f-9c4e-0a1b2c3d4e5f", "n": name,
                          "p": payload, "v": 1}, use_bin_type=False)


def test_user_events_both_ways(peers):
    m = peers("muster", "mu-events")
    s = peers("serf", "sf-events")
    joined(m, s)

    # serf -> us, a plain serf event: gossipd publishes it (USER_EVENT).
    with Sub(m.run_dir, "gossipd", ["USER_EVENT"]) as sub:
        time.sleep(0.2)  # a SUB joins late (ZeroMQ): give it its connection
        s.event("plain-ev", b"hello from serf")

        def got():
            ev = sub.recv(0.2)
            return ev if ev and ev[2]["name"] == "plain-ev" else None
        ev = wait_for(got, JOIN_TIMEOUT, "USER_EVENT plain-ev on gossipd's PUB")
        assert ev[2]["payload"] == b"hello from serf", ev

    # serf -> us, a Consul event: listed by /v1/event/list.
    s.rpc_event("consul:event:deploy", consul_event("deploy", b"v1.2\x00bin"))
    evs = wait_for(lambda: m.event_list("deploy"), JOIN_TIMEOUT,
                   "event deploy in /v1/event/list")
    assert [(n, p) for n, p, _ in evs] == [("deploy", b"v1.2\x00bin")], evs

    # us -> serf: Consul's event, named consul:event:<name>, payload a UserEvent.
    fired = m.fire("restart", b"now please")
    (ltime, name, raw), = s.wait_event("consul:event:restart", JOIN_TIMEOUT)
    # The handler's stdin: the msgpack UserEvent, then the '\n' serf adds.
    assert raw.endswith(b"\n"), raw
    ue = msgpack.unpackb(raw[:-1], raw=False)
    assert ue["n"] == "restart" and ue["p"] == b"now please", ue
    assert ue["ID"] == fired["ID"] and ue["v"] == 1, (ue, fired)


# --- encryption ----------------------------------------------------------------------


def test_encrypted_same_key(peers):
    k = key()
    m = peers("muster", "mu-enc", encrypt=k)
    s1 = peers("serf", "sf-enc1", encrypt=k)
    s2 = peers("serf", "sf-enc2", encrypt=k)
    joined(m, s1)
    ok, why = m.join(s2.addr)
    assert ok, why
    s2.wait_status(m.name, "alive", JOIN_TIMEOUT)
    m.wait_status(s2.name, "alive", JOIN_TIMEOUT)
    s1.wait_status(s2.name, "alive", JOIN_TIMEOUT)
    # serf's keyring query (_serf_list-keys) answered by gossipd too.
    r = s1.cli("keys", "-list")
    assert k in r.stdout and "[3/3]" in r.stdout, r.stdout


@pytest.mark.parametrize("ours,theirs", [("k1", "k2"), ("k1", None), (None, "k2")],
                         ids=["wrong-key", "we-encrypt", "serf-encrypts"])
def test_encryption_mismatch_never_joins(peers, ours, theirs):
    keys = {"k1": key(), "k2": key(), None: None}
    m = peers("muster", "mu-key", encrypt=keys[ours])
    s1 = peers("serf", "sf-key1", encrypt=keys[theirs])
    s2 = peers("serf", "sf-key2", encrypt=keys[theirs])
    r = s1.join(m.addr, check=False)
    assert r.returncode != 0, "serf join succeeded: %s%s" % (r.stdout, s1.tail())
    ok, why = m.join(s2.addr)
    assert not ok, "join API succeeded: %r" % (why,)
    # And nothing forms later either (no half-open membership).
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        assert set(m.members()) == {m.name}, m.members()
        assert set(s1.members()) == {s1.name} and set(s2.members()) == {s2.name}
        time.sleep(0.2)


# --- garbage on the gossip port ----------------------------------------------------------


def ping(seq, node, source_node="probe", source_port=0):
    """memberlist's ping (type 0) as serf encodes it: msgpack map, strings and
    byte strings as raw (go-msgpack's old-spec encoding)."""
    body = {"SeqNo": seq, "Node": node, "SourceAddr": b"\x7f\x00\x00\x01",
            "SourcePort": source_port, "SourceNode": source_node}
    return b"\x00" + msgpack.packb(body, use_bin_type=False)


def with_crc(pkt, good=True):
    """hasCrc (type 12): crc32 (IEEE, big-endian) of the packet, then it."""
    crc = zlib.crc32(pkt) & 0xffffffff
    if not good:
        crc ^= 0x5a5a5a5a
    return b"\x0c" + struct.pack(">I", crc) + pkt


def lzw_decode(data):
    """Go's compress/lzw reader, LSB order, 8-bit literals (memberlist's compress
    message: lzw.NewReader(buf, lzw.LSB, 8)): clear 256, EOF 257, codes from 9
    bits up to 12, the width growing when the next code would not fit."""
    clear, eof = 256, 257
    width, hi, last = 9, eof, None
    prefix, suffix = {}, {}
    out = bytearray()
    bits = nbits = 0
    pos = 0

    def expand(c):
        s = bytearray()
        while c >= clear:
            s.append(suffix[c])
            c = prefix[c]
        s.append(c)
        return bytes(reversed(s))
    while True:
        while nbits < width:
            if pos >= len(data):
                raise ValueError("lzw: unexpected end")
            bits |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = bits & ((1 << width) - 1)
        bits >>= width
        nbits -= width
        if code == clear:
            width, hi, last = 9, eof, None
            continue
        if code == eof:
            return bytes(out)
        if code < clear:
            seq = bytes([code])
        elif code < hi and code in prefix:
            seq = expand(code)
        elif code == hi and last is not None:
            e = expand(last)
            seq = e + e[:1]
        else:
            raise ValueError("lzw: invalid code %d" % code)
        out += seq
        if last is not None:
            suffix[hi], prefix[hi] = seq[0], last
        last, hi = code, hi + 1
        if hi >= 1 << width:
            if width == 12:
                last, hi = None, hi - 1
            else:
                width += 1


def messages(pkt):
    """The messages of a memberlist packet: hasCrc (12) stripped, a compress
    message (9: msgpack {Algo: 0, Buf: LZW}) inflated, a compound (7: count,
    big-endian u16 lengths, the parts) opened, recursively."""
    if pkt[:1] == b"\x0c":
        return messages(pkt[5:])
    if pkt[:1] == b"\x09":
        c = msgpack.unpackb(pkt[1:], raw=True)  # Buf is a raw string of bytes
        assert c[b"Algo"] == 0, c
        return messages(lzw_decode(c[b"Buf"]))
    if pkt[:1] != b"\x07":
        return [pkt]
    n = pkt[1]
    lens = struct.unpack(">%dH" % n, pkt[2:2 + 2 * n])
    out, off = [], 2 + 2 * n
    for ln in lens:
        out += messages(pkt[off:off + ln])
        off += ln
    return out


def ack_for(sock, seq, timeout):
    """Waits for an ack (type 2) with SeqNo seq on sock (alone or in a compound)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        for msg in messages(data):
            if msg[:1] != b"\x02":
                continue
            body = msgpack.unpackb(msg[1:], raw=False, strict_map_key=False)
            if isinstance(body, dict) and body.get("SeqNo") == seq:
                return body
    return None


def garbage(name, rng):
    """The bad datagrams, each with what it is."""
    real = ping(7, name)
    out = [("empty", b"")]
    out += [("random %d B" % n, rng.randbytes(n)) for n in (1, 2, 5, 17, 64, 300, 1400, 9000)]
    out += [("truncated ping at %d" % i, real[:i]) for i in range(1, len(real), 7)]
    out += [("ping with a bad CRC", with_crc(real, good=False))]
    out += [("truncated CRC header", with_crc(real)[:3])]
    # memberlist's encrypted packet layout (version 1, 12-byte nonce, sealed
    # data, 16-byte tag) on an agent that has no key.
    out += [("encrypted-looking", b"\x01" + rng.randbytes(12 + 40 + 16))]
    out += [("compound claiming 255 parts", b"\x07\xff" + rng.randbytes(20))]
    out += [("compress with junk", b"\x09" + rng.randbytes(50))]
    out += [("unknown type 200", b"\xc8" + rng.randbytes(10))]
    out += [("label without room", b"\xf4\xff" + b"x" * 10)]
    corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", "gossip")
    for fn in sorted(os.listdir(corpus)) if os.path.isdir(corpus) else []:
        if fn.startswith("crafted") or fn.startswith("trunc") or fn.startswith("bad"):
            with open(os.path.join(corpus, fn), "rb") as f:
                out.append(("corpus " + fn, f.read()[:65000]))
    return out


def bad_count(m):
    """What gossipd counts as dropped input on its LAN pool: datagrams it could
    not open (lan_udp_bad: CRC, key, label, layout) and messages it could not
    decode or use (lan_msgs_bad: memberlist and Serf messages, push/pulls)."""
    st = m.gossipd_stats()
    return st["lan_udp_bad"] + st["lan_msgs_bad"]


def test_garbage_on_the_gossip_port(peers):
    m = peers("muster", "mu-garbage")
    s = peers("serf", "sf-garbage")
    joined(m, s)
    pid = m.status()["gossipd"]["pid"]
    rng = random.Random(8)
    bad = garbage(m.name, rng)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    me = sock.getsockname()[1]
    uncounted = []
    try:
        # A real ping is answered before the garbage...
        sock.sendto(ping(1, m.name, source_port=me), ("127.0.0.1", m.serf_port))
        assert ack_for(sock, 1, 2.0), "no ack to a well-formed ping" + m.tail()
        # ... each bad datagram is dropped and counted (the corpus's crafted
        # inputs only must not crash it: some are well-formed) ...
        for what, data in bad:
            n0 = bad_count(m)
            sock.sendto(data, ("127.0.0.1", m.serf_port))
            if what.startswith("corpus"):
                continue
            try:
                wait_for(lambda: bad_count(m) > n0, 2.0, "a count of " + what)
            except AssertionError:
                uncounted.append(what)
        # ... and a ping is still answered after it, with a CRC too.
        sock.sendto(with_crc(ping(2, m.name, source_port=me)), ("127.0.0.1", m.serf_port))
        assert ack_for(sock, 2, 2.0), "no ack to a ping after the garbage" + m.tail()
    finally:
        sock.close()
    assert not uncounted, "bad datagrams gossipd did not count: %s" % uncounted

    # TCP, on the stream port: each bad stream is closed by gossipd and counted,
    # as a bad message (lan_msgs_bad) when one could be read, else as a failed
    # stream (lan_tcp_failed: a message cut by the peer's EOF).
    for what, data, eof in (("random bytes", rng.randbytes(200), False),
                            ("encrypted-looking", b"\x01" + rng.randbytes(60), False),
                            ("truncated push/pull", b"\x06\x83", True)):
        st0 = m.gossipd_stats()
        c = socket.create_connection(("127.0.0.1", m.serf_port), timeout=5)
        try:
            c.sendall(data)
            if eof:
                c.shutdown(socket.SHUT_WR)
            try:
                assert c.recv(4096) == b"", what  # closed, no answer
            except ConnectionResetError:
                pass
        finally:
            c.close()

        def counted():
            st = m.gossipd_stats()
            return (st["lan_msgs_bad"] - st0["lan_msgs_bad"] +
                    st["lan_tcp_failed"] - st0["lan_tcp_failed"]) >= 1
        wait_for(counted, 2.0, "a count of the TCP stream: " + what)

    # Still the same gossipd, still a member to serf (two probe rounds later).
    time.sleep(2 * PI)
    st = m.status()
    assert st["gossipd"]["pid"] == pid and st["gossipd"]["restarts"] == 0, st
    assert s.member(m.name)["status"] == "alive"
    assert m.member(s.name)["status"] == "alive"


def teardown_module(module):
    for what, took, hi in MEASURED:
        print("measured: %s after %.2f s (bound %.2f s)" % (what, took, hi))
