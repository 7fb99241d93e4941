"""test_dnsd.py: dnsd, the DNS interface (spec/dns-cli-gossip-raft.md §1), against a -dev
agent whose catalog is filled through /v1/catalog/register, queried with dnspython over
UDP and TCP. Readiness is polled (a query that gets any answer), never slept."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from agent import free_port, wait_for
from httpfix import HttpAgent, register

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent()
    try:
        a.boot()
        a.dns_port = a.cfg["ports"]["dns"]

        def answers():
            try:
                q = dns.message.make_query("consul.", "SOA")
                return dns.query.udp(q, "127.0.0.1", port=a.dns_port, timeout=0.5)
            except (dns.exception.Timeout, OSError):
                return None
        wait_for(answers, 20, "dnsd answering on %d" % a.dns_port)
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def http(agent):
    return agent.http


def udp(agent, name, rdtype="A"):
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, "127.0.0.1", port=agent.dns_port, timeout=TIMEOUT)


def tcp(agent, name, rdtype="A"):
    q = dns.message.make_query(name, rdtype)
    return dns.query.tcp(q, "127.0.0.1", port=agent.dns_port, timeout=TIMEOUT)


def addrs(r, rdtype=dns.rdatatype.A, section="answer"):
    return sorted(rd.address for rrset in getattr(r, section) if rrset.rdtype == rdtype
                  for rd in rrset)


def settle(agent, name, rdtype, cond, what):
    """Polls until the answer satisfies cond (dnsd's cache follows raftd's index bumps)."""
    return wait_for(lambda: (lambda r: r if cond(r) else None)(udp(agent, name, rdtype)), 10, what)


def test_node_a_udp_and_tcp(agent, http):
    register(http, "dn1", address="10.7.0.1")
    r = settle(agent, "dn1.node.consul.", "A", lambda r: addrs(r) == ["10.7.0.1"], "dn1 A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    r = tcp(agent, "dn1.node.consul.")
    assert addrs(r) == ["10.7.0.1"]
    r = tcp(agent, "dn1.node.dc1.consul.")
    assert addrs(r) == ["10.7.0.1"]


def test_service_a_and_srv(agent, http):
    for i in (1, 2):
        register(http, "ws%d" % i, address="10.7.1.%d" % i,
                 service={"Service": "web", "ID": "web%d" % i, "Port": 8080 + i},
                 check={"CheckID": "web%d-c" % i, "Name": "c", "ServiceID": "web%d" % i,
                        "Status": "passing"})
    r = settle(agent, "web.service.consul.", "A",
               lambda r: addrs(r) == ["10.7.1.1", "10.7.1.2"], "web A")
    assert r.flags & dns.flags.AA
    r = udp(agent, "web.service.consul.", "SRV")
    srv = sorted((rd.priority, rd.port, rd.target.to_text()) for rrset in r.answer for rd in rrset)
    assert srv == [(1, 8081, "ws1.node.dc1.consul."), (1, 8082, "ws2.node.dc1.consul.")]
    assert addrs(r, section="additional") == ["10.7.1.1", "10.7.1.2"]
    r = tcp(agent, "_web._tcp.service.consul.", "SRV")
    assert len(r.answer) == 1 and len(r.answer[0]) == 2


def test_critical_check_removes_instance(agent, http):
    for i in (1, 2):
        register(http, "cs%d" % i, address="10.7.2.%d" % i,
                 service={"Service": "crit", "ID": "crit%d" % i, "Port": 80},
                 check={"CheckID": "crit%d-c" % i, "Name": "c", "ServiceID": "crit%d" % i,
                        "Status": "passing"})
    settle(agent, "crit.service.consul.", "A", lambda r: addrs(r) == ["10.7.2.1", "10.7.2.2"],
           "both instances")
    register(http, "cs2", address="10.7.2.2",
             check={"CheckID": "crit2-c", "Name": "c", "ServiceID": "crit2", "Status": "critical"})
    settle(agent, "crit.service.consul.", "A", lambda r: addrs(r) == ["10.7.2.1"],
           "the critical instance gone")
    register(http, "cs1", address="10.7.2.1",
             check={"CheckID": "crit1-c", "Name": "c", "ServiceID": "crit1", "Status": "critical"})
    r = settle(agent, "crit.service.consul.", "A", lambda r: r.rcode() == dns.rcode.NXDOMAIN,
               "all critical: NXDOMAIN")
    assert any(rr.rdtype == dns.rdatatype.SOA for rr in r.authority)


def test_nxdomain_with_soa(agent):
    r = udp(agent, "nosuch.service.consul.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    soa = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
    assert len(soa) == 1 and soa[0].name.to_text() == "consul."
    r = udp(agent, "nosuch.node.consul.")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_outside_domain_refused(agent):
    r = udp(agent, "example.com.")
    assert r.rcode() == dns.rcode.REFUSED


def test_tcp_two_queries_one_connection(agent, http):
    register(http, "tc1", address="10.7.3.1")
    settle(agent, "tc1.node.consul.", "A", lambda r: addrs(r) == ["10.7.3.1"], "tc1 A")
    with socket.create_connection(("127.0.0.1", agent.dns_port), timeout=TIMEOUT) as s:
        qs = [dns.message.make_query("tc1.node.consul.", "A"),
              dns.message.make_query("nosuch.node.consul.", "A")]
        # both frames in one write: the daemon must split them
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in qs)))
        got = []
        for q in qs:
            r, _ = dns.query.receive_tcp(s, expiration=None)
            assert r.id == q.id
            got.append(r)
    assert addrs(got[0]) == ["10.7.3.1"]
    assert got[1].rcode() == dns.rcode.NXDOMAIN


def test_malformed_packets(agent):
    port = agent.dns_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        # a header only promising a question that is not there
        s.sendto(struct.pack("!HHHHHH", 0x1234, 0, 1, 0, 0, 0), ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
            r = dns.message.from_wire(data, question_only=True)
            assert r.id == 0x1234 and r.rcode() == dns.rcode.FORMERR
        except socket.timeout:
            pass  # dropping is allowed
        # a compression loop in the question name
        s.sendto(struct.pack("!HHHHHH", 0x4321, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
                 ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
            assert struct.unpack("!H", data[:2])[0] == 0x4321
            assert data[3] & 0xf == dns.rcode.FORMERR
        except socket.timeout:
            pass
        s.sendto(b"\x01\x02\x03", ("127.0.0.1", port))  # not even a header
    # a truncated TCP frame followed by a close
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"\x00\x40abc")
    r = udp(agent, "consul.", "SOA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.answer and r.answer[0].rdtype == dns.rdatatype.SOA


class FakeRecursor:
    """A DNS server on UDP and TCP (one port) standing in for a recursor: answers every
    A query with `address`, or every query with `rcode`; records the transports used."""

    def __init__(self, address="192.0.2.7", rcode=None):
        self.address, self.rcode = address, rcode
        # one port for UDP and TCP: free_port() checks both, and a race with
        # another binder is retried with the next one
        for _ in range(20):
            self.port = free_port()
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.udp.bind(("127.0.0.1", self.port))
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen(8)
        self.seen = []
        for fn in (self.serve_udp, self.serve_tcp):
            threading.Thread(target=fn, daemon=True).start()

    def reply(self, data, transport):
        q = dns.message.from_wire(data)
        self.seen.append((transport, q.question[0].name.to_text()))
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if self.rcode is not None:
            r.set_rcode(self.rcode)
        elif q.question[0].rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A",
                                                self.address))
        return r.to_wire()

    def serve_udp(self):
        while True:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            if not data:  # shut down
                return
            try:
                self.udp.sendto(self.reply(data, "udp"), peer)
            except OSError:
                return

    def serve_tcp(self):
        while True:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            with c:
                try:
                    n = struct.unpack("!H", c.recv(2))[0]
                    data = b""
                    while len(data) < n:
                        data += c.recv(n - len(data))
                    w = self.reply(data, "tcp")
                    c.sendall(struct.pack("!H", len(w)) + w)
                except (OSError, struct.error, dns.exception.DNSException):
                    pass

    def close(self):
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture(scope="module")
def recursing():
    bad = FakeRecursor(rcode=dns.rcode.SERVFAIL)
    good = FakeRecursor()
    a = HttpAgent(config={"recursors": ["127.0.0.1:%d" % bad.port, "127.0.0.1:%d" % good.port],
                          "dns_config": {"recursor_timeout": "300ms"}})
    try:
        a.boot()
        a.dns_port = a.cfg["ports"]["dns"]

        def answers():
            try:
                return udp(a, "consul.", "SOA")
            except (dns.exception.Timeout, OSError):
                return None
        wait_for(answers, 20, "dnsd answering on %d" % a.dns_port)
        a.bad, a.good = bad, good
        yield a
    finally:
        bad.close()
        good.close()
        a.stop()


def test_recursor_forwarding_then_servfail(recursing):
    """Spec §1.9: sequential strategy, a SERVFAIL moves on to the next recursor, the
    client's transport is kept, and SERVFAIL (RA set) once every recursor failed."""
    r = udp(recursing, "example.com.")
    assert r.rcode() == dns.rcode.NOERROR
    assert addrs(r) == ["192.0.2.7"]
    assert ("udp", "example.com.") in recursing.bad.seen  # tried first, in list order
    assert ("udp", "example.com.") in recursing.good.seen
    r = tcp(recursing, "www.example.org.")
    assert addrs(r) == ["192.0.2.7"]
    assert ("tcp", "www.example.org.") in recursing.good.seen
    assert ("udp", "www.example.org.") not in recursing.good.seen
    # a reverse lookup no node or service matches goes to the recursors too
    r = udp(recursing, "7.2.0.192.in-addr.arpa.", "PTR")
    assert ("udp", "7.2.0.192.in-addr.arpa.") in recursing.good.seen
    # local names still answered locally, with RA now that recursors exist
    r = udp(recursing, "consul.", "SOA")
    assert r.flags & dns.flags.RA and r.flags & dns.flags.AA
    recursing.good.close()
    for fn in (udp, tcp):
        r = fn(recursing, "example.net.")
        assert r.rcode() == dns.rcode.SERVFAIL
        assert r.flags & dns.flags.RA


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq-base not installed")
def test_forwarding_to_dnsmasq(tmp_path):
    """A real recursor: dnsmasq answering example.test itself."""
    port = free_port()
    dm = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--port=%d" % port,
                           "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                           "--no-hosts", "--address=/example.test/192.0.2.55",
                           "--pid-file=%s" % (tmp_path / "dm.pid"), "--user=root"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    a = HttpAgent(config={"recursors": ["127.0.0.1:%d" % port],
                          "dns_config": {"recursor_timeout": "500ms"}})
    try:
        def dm_up():
            try:
                q = dns.message.make_query("example.test.", "A")
                return dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3)
            except (dns.exception.Timeout, OSError):
                assert dm.poll() is None, dm.stderr.read()
                return None
        wait_for(dm_up, 10, "dnsmasq on %d" % port)
        a.boot()
        a.dns_port = a.cfg["ports"]["dns"]
        r = wait_for(lambda: (lambda r: r if r.rcode() == dns.rcode.NOERROR else None)(
            udp(a, "www.example.test.")), 10, "dnsd forwarding to dnsmasq")
        assert addrs(r) == ["192.0.2.55"] and r.flags & dns.flags.RA
        assert addrs(tcp(a, "mail.example.test.")) == ["192.0.2.55"]
    finally:
        a.stop()
        dm.terminate()
        dm.wait(10)


def dnsd_stats(agent):
    from bus import Bus
    with Bus(agent.run_dir, peer="dnsd", self_name="httpd") as b:
        kind, r = b.call("STATS")
    return {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}


def test_hot_name_served_from_cache(agent, http):
    """Issue 7: a hot name costs no bus round trip; a write invalidates it."""
    register(http, "hot1", address="10.7.4.1")
    settle(agent, "hot1.node.consul.", "A", lambda r: addrs(r) == ["10.7.4.1"], "hot1 A")
    before = dnsd_stats(agent)
    for _ in range(20):
        assert addrs(udp(agent, "hot1.node.consul.")) == ["10.7.4.1"]
    after = dnsd_stats(agent)
    assert after["cache_fetches"] == before["cache_fetches"]
    assert after["cache_hits"] >= before["cache_hits"] + 20
    register(http, "hot1", address="10.7.4.2")
    settle(agent, "hot1.node.consul.", "A", lambda r: addrs(r) == ["10.7.4.2"], "the new address")
    assert dnsd_stats(agent)["cache_invalidations"] > after["cache_invalidations"]


def test_reload_keeps_answering(agent, http):
    """The answerer is rebuilt on reload (it points into the configuration)."""
    register(http, "rl1", address="10.7.5.1")
    settle(agent, "rl1.node.consul.", "A", lambda r: addrs(r) == ["10.7.5.1"], "rl1 A")
    agent.ctl("reload")
    r = udp(agent, "rl1.node.dc1.consul.")
    assert addrs(r) == ["10.7.5.1"]
    assert udp(agent, "nosuch.node.consul.").rcode() == dns.rcode.NXDOMAIN


def test_raftd_restart_refreshes_the_cache():
    """A SUB loses what is published before it is (re)connected: after raftd restarts,
    dnsd proves its subscription live again (msg.def SUB_PROBE) and drops what it had,
    so a write right after the restart is seen, not served stale for DCACHE_MAX_AGE_MS."""
    a = HttpAgent()
    try:
        a.boot()
        a.dns_port = a.cfg["ports"]["dns"]
        register(a.http, "rr1", address="10.7.6.1")
        settle(a, "rr1.node.consul.", "A", lambda r: addrs(r) == ["10.7.6.1"], "rr1 A")
        old = a.status()["raftd"]["pid"]
        os.kill(int(old), signal.SIGKILL)
        a.wait_state(lambda st: st["raftd"]["state"] == "ready" and st["raftd"]["pid"] != old,
                     20, "raftd restarted")
        a.wait_leader()
        register(a.http, "rr1", address="10.7.6.2")  # at once: no wait for the SUB
        settle(a, "rr1.node.consul.", "A", lambda r: addrs(r) == ["10.7.6.2"], "the new address")
        st = dnsd_stats(a)
        assert st["sub_probes"] >= 2
    finally:
        a.stop()
