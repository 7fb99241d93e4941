"""test_dns_spec.py: dnsd row by row against spec/dns-cli-gossip-raft.md §1 (issue 7):
every situation of the §1.7 table, each name form of §1.2 and record type of §1.3,
health filtering (§1.5), the UDP limits and truncation of §1.6 with and without EDNS
and enable_truncate, EDNS echo (§1.8), TTLs and alt_domain, and reverse lookups.

Two -dev agents: `plain` with Consul's defaults, `tuned` with TTLs, only_passing,
enable_truncate, a_record_limit and alt_domain set. The catalog is filled through
/v1/catalog/register; queries go out with dnspython over UDP and TCP, and with dig
and kdig. Readiness and cache refreshes are polled, never slept."""
import ipaddress
import shutil
import socket
import struct
import subprocess
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from agent import wait_for
from httpfix import HttpAgent, register

TIMEOUT = 2.0
API = ["10.8.1.%d" % i for i in range(1, 6)]


def boot(config=None):
    a = HttpAgent(config=config)
    a.boot()
    a.dns_port = a.cfg["ports"]["dns"]
    wait_for(lambda: ask(a, "consul.", "SOA").rcode() == dns.rcode.NOERROR, 20,
             "dnsd answering on %d" % a.dns_port)
    return a


def ask(agent, name, rdtype="A", tcp=False, edns=None, payload=None, options=None, flags=None):
    q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload, options=options)
    if flags is not None:
        q.flags = flags
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=agent.dns_port, timeout=TIMEOUT)
    return dns.query.udp(q, "127.0.0.1", port=agent.dns_port, timeout=TIMEOUT,
                         ignore_trailing=True)


def raw(agent, wire, tcp=False):
    """Sends a hand-made packet; the reply's bytes, or None when dropped."""
    if tcp:
        with socket.create_connection(("127.0.0.1", agent.dns_port), timeout=TIMEOUT) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            try:
                hdr = s.recv(2)
                n = struct.unpack("!H", hdr)[0]
                data = b""
                while len(data) < n:
                    chunk = s.recv(n - len(data))
                    if not chunk:
                        break
                    data += chunk
                return data
            except (socket.timeout, struct.error):
                return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(wire, ("127.0.0.1", agent.dns_port))
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None


def rrs(r, rdtype, section="answer"):
    return [rd for rrset in getattr(r, section) if rrset.rdtype == rdtype for rd in rrset]


def rrsets(r, rdtype, section="answer"):
    return [rrset for rrset in getattr(r, section) if rrset.rdtype == rdtype]


def addrs(r, rdtype=dns.rdatatype.A, section="answer"):
    return sorted(rd.address for rd in rrs(r, rdtype, section))


def soa_of(r):
    s = rrsets(r, dns.rdatatype.SOA, "authority")
    assert len(s) == 1, r.to_text()
    return s[0]


def settle(agent, name, rdtype, cond, what, **kw):
    return wait_for(lambda: (lambda r: r if cond(r) else None)(ask(agent, name, rdtype, **kw)),
                    10, what)


def fill(http):
    """The catalog both agents answer from."""
    register(http, "n1", address="10.8.0.1", NodeMeta={"rack": "r1", "rfc1035-raw": "v=spf1"})
    register(http, "n6", address="2001:db8::6",
             service={"Service": "v6svc", "ID": "v6svc", "Port": 6000})
    register(http, "nh", address="host.example.com")
    for i, ip in enumerate(API, 1):
        register(http, "a%d" % i, address=ip,
                 service={"Service": "api", "ID": "api%d" % i, "Port": 9000 + i,
                          "Tags": ["primary"] if i == 1 else ["secondary"],
                          "Weights": {"Passing": 10, "Warning": 1}},
                 check={"CheckID": "api%d-c" % i, "Name": "c", "ServiceID": "api%d" % i,
                        "Status": "passing"})
    register(http, "s1", address="10.8.2.1",
             service={"Service": "sa", "ID": "sa", "Address": "10.8.9.9", "Port": 7000})
    register(http, "s2", address="10.8.2.2",
             service={"Service": "sa6", "ID": "sa6", "Address": "2001:db8::99", "Port": 7001})
    register(http, "w1", address="10.8.3.1",
             service={"Service": "warn", "ID": "warn1", "Port": 80,
                      "Weights": {"Passing": 10, "Warning": 1}},
             check={"CheckID": "warn1-c", "Name": "c", "ServiceID": "warn1", "Status": "passing"})
    register(http, "w2", address="10.8.3.2",
             service={"Service": "warn", "ID": "warn2", "Port": 80,
                      "Weights": {"Passing": 10, "Warning": 1}},
             check={"CheckID": "warn2-c", "Name": "c", "ServiceID": "warn2", "Status": "warning"})
    register(http, "m1", address="10.8.4.1",
             service={"Service": "maint", "ID": "maint1", "Port": 80},
             check={"CheckID": "_service_maintenance:maint1", "Name": "Service Maintenance Mode",
                    "ServiceID": "maint1", "Status": "critical"})
    register(http, "m2", address="10.8.4.2",
             service={"Service": "maint", "ID": "maint2", "Port": 80})
    register(http, "nc", address="10.8.5.1",
             service={"Service": "ncsvc", "ID": "ncsvc", "Port": 80},
             check={"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "critical"})
    for i in range(40):
        register(http, "big-instance-with-a-long-node-name-%02d" % i, address="10.9.0.%d" % (i + 1),
                 service={"Service": "big", "ID": "big%d" % i, "Port": 80})
    register(http, "db1", address="10.8.6.1",
             service={"Service": "db-main", "ID": "db-main", "Port": 5432})
    register(http, "hs1", address="10.8.8.1",
             service={"Service": "hsvc", "ID": "hsvc", "Address": "svc.example.com", "Port": 443})
    for sid in ("dup1", "dup2"):  # same node, address and port: one answer
        register(http, "d1", address="10.8.8.2",
                 service={"Service": "dup", "ID": sid, "Port": 80})
    register(http, "o1", address="10.8.7.1",
             service={"Service": "other", "ID": "other", "Port": 1})


def filled(agent):
    fill(agent.http)
    settle(agent, "other.service.consul.", "A", lambda r: addrs(r) == ["10.8.7.1"], "the catalog")
    return agent


@pytest.fixture(scope="module")
def plain():
    a = boot()
    try:
        yield filled(a)
    finally:
        a.stop()


@pytest.fixture(scope="module")
def tuned():
    a = boot({"alt_domain": "muster.",
              "dns_config": {"node_ttl": "10s", "only_passing": True, "enable_truncate": True,
                             "udp_answer_limit": 2, "a_record_limit": 4,
                             "enable_additional_node_meta_txt": False,
                             "disable_compression": True,
                             "service_ttl": {"*": "5s", "api": "30s", "db-*": "20s"},
                             "soa": {"min_ttl": 7, "refresh": 100, "retry": 20,
                                     "expire": 1000}}})
    try:
        yield filled(a)
    finally:
        a.stop()


# ---- §1.7: NXDOMAIN vs NODATA, SOA, NS, REFUSED, NOTIMP, FORMERR ----

@pytest.mark.parametrize("name", [
    "nosuch.node.consul.",           # unknown node
    "nosuch.service.consul.",        # unknown service
    "ncsvc.service.consul.",         # zero healthy instances (serfHealth critical)
    "foo.consul.",                   # a bad name under the domain
    "a.b.c.consul.",
    "api.service.dc9.consul.",       # another datacenter
    "n1.node.dc9.consul.",
    "myquery.query.consul.",         # prepared queries do not exist yet
    "_myquery._tcp.query.consul.",
    "zz.addr.dc1.consul.",           # wrong length / not hex
    "0a08010g.addr.dc1.consul.",
])
def test_nxdomain_rows(plain, name):
    r = ask(plain, name)
    assert r.rcode() == dns.rcode.NXDOMAIN, r.to_text()
    assert r.flags & dns.flags.AA
    assert not r.answer
    soa = soa_of(r)
    assert soa.name.to_text() == "consul."


def test_nodata_has_soa(plain):
    """A name that exists without a record of the type: NOERROR, no answer, SOA (RFC 2308
    type 2)."""
    for name, t in (("api.service.consul.", "AAAA"), ("v6svc.service.consul.", "A"),
                    ("api.service.consul.", "TXT"), ("api.service.consul.", "MX")):
        r = ask(plain, name, t)
        assert r.rcode() == dns.rcode.NOERROR, (name, t)
        assert not r.answer, (name, t, r.to_text())
        assert soa_of(r).name.to_text() == "consul."
        assert r.flags & dns.flags.AA


def test_node_other_type_is_empty_noerror(plain):
    """§1.3: the node handler returns nothing for other types, and no SOA."""
    r = ask(plain, "n1.node.consul.", "MX")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_soa_record_fields(plain):
    now = time.time()
    r = ask(plain, "consul.", "SOA")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    (soa_set,) = rrsets(r, dns.rdatatype.SOA)
    assert soa_set.ttl == 0  # = soa.min_ttl, default 0
    soa = soa_set[0]
    assert soa.mname.to_text() == "ns.consul."
    assert soa.rname.to_text() == "hostmaster.consul."
    assert abs(soa.serial - now) < 30  # the current Unix time
    assert (soa.refresh, soa.retry, soa.expire, soa.minimum) == (3600, 600, 86400, 0)
    # SOA query: the NS records in authority, their glue in additional
    ns = rrs(r, dns.rdatatype.NS, "authority")
    assert ns, r.to_text()
    glue = {rr.name.to_text() for rr in r.additional if rr.rdtype == dns.rdatatype.A}
    assert {n.target.to_text() for n in ns} <= glue


def test_ns_answers_servers(plain):
    """§1.7: NS = up to 3 healthy `consul` instances as <node>.node.<dc>.<domain>, A glue."""
    r = ask(plain, "consul.", "NS")
    ns = rrs(r, dns.rdatatype.NS)
    assert 1 <= len(ns) <= 3
    node = plain.node_name()
    assert [n.target.to_text() for n in ns] == ["%s.node.dc1.consul." % node]
    assert addrs(r, section="additional") == ["127.0.0.1"]


def test_refused_outside_domain_and_empty_question(plain):
    assert ask(plain, "example.com.").rcode() == dns.rcode.REFUSED
    r = ask(plain, "example.com.")
    assert not r.flags & dns.flags.RA  # no recursors: RA never set
    # v2: an empty question section is REFUSED
    data = raw(plain, struct.pack("!HHHHHH", 0x5151, 0x0100, 0, 0, 0, 0))
    assert data is not None and data[:2] == b"\x51\x51"
    assert data[3] & 0x0f == dns.rcode.REFUSED


def test_axfr_and_unknown_opcode_notimp(plain):
    q = dns.message.make_query("consul.", "AXFR")
    data = raw(plain, q.to_wire(), tcp=True)
    assert data is not None
    assert dns.message.from_wire(data).rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query("consul.", "SOA")
    q.set_opcode(dns.opcode.STATUS)
    data = raw(plain, q.to_wire())
    assert data is not None and data[3] & 0x0f == dns.rcode.NOTIMP


@pytest.mark.parametrize("wire,what", [
    (struct.pack("!HHHHHH", 0x7001, 0, 1, 0, 0, 0), "a missing question"),
    (struct.pack("!HHHHHH", 0x7002, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
     "a compression loop"),
    (struct.pack("!HHHHHH", 0x7003, 0, 1, 0, 0, 0) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
     "a label over 63 bytes"),
    (struct.pack("!HHHHHH", 0x7004, 0, 1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 5 +
     b"\x00\x00\x01\x00\x01", "a name over 255 bytes"),
    (struct.pack("!HHHHHH", 0x7005, 0, 1, 0, 0, 0) + b"\x03abc", "a name cut short"),
    (struct.pack("!HHHHHH", 0x7006, 0, 1, 0, 0, 0) + b"\x06consul\x00\x00", "a cut type"),
])
def test_malformed_formerr_or_drop(plain, wire, what):
    for tcp in (False, True):
        data = raw(plain, wire, tcp=tcp)
        if data is not None:  # dropping is allowed; an answer must be FORMERR
            assert data[:2] == wire[:2], what
            assert data[3] & 0x0f == dns.rcode.FORMERR, what
    assert ask(plain, "consul.", "SOA").rcode() == dns.rcode.NOERROR  # still serving


def test_response_to_a_response_is_dropped(plain):
    q = dns.message.make_query("consul.", "SOA")
    q.flags |= dns.flags.QR
    assert raw(plain, q.to_wire()) is None


# ---- §1.2 / §1.3: name forms and record types ----

def test_node_forms(plain):
    for name in ("n1.node.consul.", "n1.node.dc1.consul.", "n1.node.dc1.dc.consul.",
                 "N1.NODE.CONSUL."):
        r = ask(plain, name)
        assert addrs(r) == ["10.8.0.1"], name
        assert r.flags & dns.flags.AA


def test_node_txt_and_any(plain):
    r = ask(plain, "n1.node.consul.", "TXT")
    txt = sorted(b"".join(rd.strings).decode() for rd in rrs(r, dns.rdatatype.TXT))
    assert txt == ["rack=r1", "v=spf1"]  # rfc1035- keys give the raw value
    r = ask(plain, "n1.node.consul.", "ANY")
    assert addrs(r) == ["10.8.0.1"]
    assert len(rrs(r, dns.rdatatype.TXT)) == 2
    # A for a node: the meta also in additional (enable_additional_node_meta_txt)
    r = ask(plain, "n1.node.consul.")
    assert len(rrs(r, dns.rdatatype.TXT, "additional")) == 2


def test_node_aaaa_and_cname(plain):
    r = ask(plain, "n6.node.consul.", "AAAA")
    assert addrs(r, dns.rdatatype.AAAA) == ["2001:db8::6"]
    r = ask(plain, "n6.node.consul.", "A")
    assert r.rcode() == dns.rcode.NOERROR and not rrs(r, dns.rdatatype.A)
    r = ask(plain, "nh.node.consul.")
    (cname,) = rrs(r, dns.rdatatype.CNAME)
    assert cname.target.to_text() == "host.example.com."


def test_service_forms(plain):
    r = ask(plain, "api.service.consul.", tcp=True)
    assert addrs(r) == API
    r = ask(plain, "api.service.dc1.consul.", tcp=True)
    assert addrs(r) == API
    r = ask(plain, "primary.api.service.consul.")
    assert addrs(r) == ["10.8.1.1"]
    r = ask(plain, "secondary.api.service.consul.", tcp=True)
    assert addrs(r) == API[1:]
    assert ask(plain, "nosuchtag.api.service.consul.").rcode() == dns.rcode.NXDOMAIN


def test_rfc2782_forms(plain):
    for name, want in (("_api._tcp.service.consul.", 5), ("_api._tcp.consul.", 5),
                       ("_api._primary.service.consul.", 1),
                       ("_api._tcp.service.dc1.consul.", 5)):
        r = ask(plain, name, "SRV", tcp=True)
        assert r.rcode() == dns.rcode.NOERROR, name
        assert len(rrs(r, dns.rdatatype.SRV)) == want, name
        assert {rs.name.to_text() for rs in r.answer} == {name}  # owner = question


def test_srv_records(plain):
    r = ask(plain, "api.service.consul.", "SRV", tcp=True)
    srv = sorted((rd.priority, rd.weight, rd.port, rd.target.to_text())
                 for rd in rrs(r, dns.rdatatype.SRV))
    assert srv == [(1, 10, 9000 + i, "a%d.node.dc1.consul." % i) for i in range(1, 6)]
    extra = {rr.name.to_text(): [rd.address for rd in rr] for rr in r.additional
             if rr.rdtype == dns.rdatatype.A}
    assert extra == {"a%d.node.dc1.consul." % i: [API[i - 1]] for i in range(1, 6)}


def test_srv_weight_follows_health(plain):
    r = ask(plain, "warn.service.consul.", "SRV")
    w = sorted((rd.target.to_text(), rd.weight) for rd in rrs(r, dns.rdatatype.SRV))
    assert w == [("w1.node.dc1.consul.", 10), ("w2.node.dc1.consul.", 1)]


def test_srv_service_address_targets_addr(plain):
    r = ask(plain, "sa.service.consul.", "SRV")
    (srv,) = rrs(r, dns.rdatatype.SRV)
    assert (srv.port, srv.target.to_text()) == (7000, "0a080909.addr.dc1.consul.")
    assert addrs(r, section="additional") == ["10.8.9.9"]
    assert addrs(ask(plain, "sa.service.consul.")) == ["10.8.9.9"]
    r = ask(plain, "sa6.service.consul.", "SRV")
    (srv,) = rrs(r, dns.rdatatype.SRV)
    hexip = ipaddress.ip_address("2001:db8::99").exploded.replace(":", "")
    assert srv.target.to_text() == "%s.addr.dc1.consul." % hexip
    assert addrs(r, dns.rdatatype.AAAA, "additional") == ["2001:db8::99"]


def test_service_hostname_address(plain):
    """§1.4: a service address that is a host name is the SRV target itself; A gives a
    CNAME to it (§1.3)."""
    (srv,) = rrs(ask(plain, "hsvc.service.consul.", "SRV"), dns.rdatatype.SRV)
    assert (srv.port, srv.target.to_text()) == (443, "svc.example.com.")
    (cname,) = rrs(ask(plain, "hsvc.service.consul."), dns.rdatatype.CNAME)
    assert cname.target.to_text() == "svc.example.com."


def test_duplicates_suppressed_and_any(plain):
    r = ask(plain, "dup.service.consul.", "SRV")
    assert len(rrs(r, dns.rdatatype.SRV)) == 1
    assert addrs(ask(plain, "dup.service.consul.")) == ["10.8.8.2"]
    r = ask(plain, "api.service.consul.", "ANY", tcp=True)
    assert addrs(r) == API  # ANY for a service: its A records


def test_addr_lookups(plain):
    r = ask(plain, "0a080101.addr.dc1.consul.")
    assert addrs(r) == ["10.8.1.1"] or addrs(r, section="additional") == ["10.8.1.1"]
    hexip = ipaddress.ip_address("2001:db8::99").exploded.replace(":", "")
    r = ask(plain, "%s.addr.dc1.consul." % hexip, "AAAA")
    got = addrs(r, dns.rdatatype.AAAA) + addrs(r, dns.rdatatype.AAAA, "additional")
    assert got == ["2001:db8::99"]


# ---- §1.5: health filtering, shuffling ----

def test_health_filtering_default(plain):
    # warning kept (only_passing off), maintenance and node-level critical dropped
    assert addrs(ask(plain, "warn.service.consul.")) == ["10.8.3.1", "10.8.3.2"]
    assert addrs(ask(plain, "maint.service.consul.")) == ["10.8.4.2"]
    assert ask(plain, "ncsvc.service.consul.").rcode() == dns.rcode.NXDOMAIN


def test_answers_are_shuffled(plain):
    firsts = set()
    for _ in range(40):
        r = ask(plain, "api.service.consul.", tcp=True)
        firsts.add(rrs(r, dns.rdatatype.A)[0].address)
        if len(firsts) > 2:
            break
    assert len(firsts) > 2  # 5 instances: 40 same first answers would be 1 in 5^39


# ---- §1.6 / §1.8: UDP limits, EDNS, truncation ----

def test_plain_udp_caps_at_three_without_tc(plain):
    r = ask(plain, "api.service.consul.")
    assert len(rrs(r, dns.rdatatype.A)) == 3  # udp_answer_limit default 3
    assert not r.flags & dns.flags.TC  # enable_truncate off: no TC
    r = ask(plain, "api.service.consul.", "SRV")
    assert len(rrs(r, dns.rdatatype.SRV)) == 3
    # the additional section only carries the kept targets
    targets = {rd.target.to_text() for rd in rrs(r, dns.rdatatype.SRV)}
    assert {rr.name.to_text() for rr in r.additional if rr.rdtype == dns.rdatatype.A} == targets


def test_edns_lifts_the_cap_and_is_echoed(plain):
    r = ask(plain, "api.service.consul.", edns=0, payload=1400)
    assert len(rrs(r, dns.rdatatype.A)) == 5
    assert r.edns == 0 and r.payload == 1400  # the client's size, echoed
    r = ask(plain, "api.service.consul.", tcp=True)
    assert len(rrs(r, dns.rdatatype.A)) == 5


def test_edns_size_trims_without_tc(plain):
    r = ask(plain, "big.service.consul.", "SRV", edns=0, payload=1232)
    n = len(rrs(r, dns.rdatatype.SRV))
    assert 1 <= n < 40
    assert len(r.to_wire()) <= 1232
    assert not r.flags & dns.flags.TC
    r = ask(plain, "big.service.consul.", "SRV", tcp=True)
    assert len(rrs(r, dns.rdatatype.SRV)) == 40


def test_ecs_echoed_with_scope_zero(plain):
    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    r = ask(plain, "api.service.consul.", edns=0, payload=1232, options=[ecs])
    got = [o for o in r.options if o.otype == dns.edns.ECS]
    assert len(got) == 1
    assert (got[0].address, got[0].srclen, got[0].scopelen) == ("192.0.2.0", 24, 0)
    r = ask(plain, "nosuch.service.consul.", edns=0, options=[ecs])
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert [o.scopelen for o in r.options if o.otype == dns.edns.ECS] == [0]


def test_flags_rd_echoed_ra_clear(plain):
    r = ask(plain, "n1.node.consul.", flags=0)
    assert not r.flags & dns.flags.RD and not r.flags & dns.flags.RA
    r = ask(plain, "n1.node.consul.", flags=dns.flags.RD)
    assert r.flags & dns.flags.RD and not r.flags & dns.flags.RA


# ---- reverse lookups (§1.2) ----

def test_ptr_node_and_service_address(plain):
    r = ask(plain, "1.0.8.10.in-addr.arpa.", "PTR")
    (ptr,) = rrs(r, dns.rdatatype.PTR)
    assert ptr.target.to_text() == "n1.node.dc1.consul."
    assert r.answer[0].ttl == 0  # PTR TTL is always 0
    r = ask(plain, "9.9.8.10.in-addr.arpa.", "PTR")
    (ptr,) = rrs(r, dns.rdatatype.PTR)
    assert ptr.target.to_text() == "sa.service.dc1.consul."
    rev = dns.reversename.from_address("2001:db8::6").to_text()
    (ptr,) = rrs(ask(plain, rev, "PTR"), dns.rdatatype.PTR)
    assert ptr.target.to_text() == "n6.node.dc1.consul."
    r = ask(plain, "254.254.254.10.in-addr.arpa.", "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert soa_of(r)


# ---- the tuned agent: TTLs, only_passing, enable_truncate, limits, alt_domain ----

def test_ttls(tuned):
    r = ask(tuned, "n1.node.consul.")
    assert r.answer[0].ttl == 10  # node_ttl
    for svc, ttl in (("api", 30), ("db-main", 20), ("other", 5)):  # exact, prefix*, "*"
        r = ask(tuned, "%s.service.consul." % svc)
        assert {rs.ttl for rs in r.answer} == {ttl}, svc
        r = ask(tuned, "%s.service.consul." % svc, "SRV")
        assert {rs.ttl for rs in r.answer} == {ttl}, svc
    r = ask(tuned, "nosuch.service.consul.")
    soa = soa_of(r)
    assert soa.ttl == 7 and soa[0].minimum == 7
    assert (soa[0].refresh, soa[0].retry, soa[0].expire) == (100, 20, 1000)


def test_only_passing_drops_warning(tuned):
    assert addrs(ask(tuned, "warn.service.consul.")) == ["10.8.3.1"]


def test_enable_truncate_sets_tc(tuned):
    r = ask(tuned, "api.service.consul.")
    assert len(rrs(r, dns.rdatatype.A)) == 2  # udp_answer_limit 2
    assert r.flags & dns.flags.TC
    r = ask(tuned, "big.service.consul.", "SRV", edns=0, payload=1232)
    assert r.flags & dns.flags.TC and len(r.to_wire()) <= 1232
    # nothing trimmed: no TC
    r = ask(tuned, "other.service.consul.")
    assert not r.flags & dns.flags.TC


def test_a_record_limit(tuned):
    r = ask(tuned, "api.service.consul.", tcp=True)
    assert len(rrs(r, dns.rdatatype.A)) == 4  # a_record_limit, TCP too
    r = ask(tuned, "api.service.consul.", "SRV", tcp=True)
    assert len(rrs(r, dns.rdatatype.SRV)) == 5  # not applied to SRV


def test_no_meta_txt_in_additional(tuned):
    r = ask(tuned, "n1.node.consul.")
    assert not rrs(r, dns.rdatatype.TXT, "additional")
    assert len(rrs(ask(tuned, "n1.node.consul.", "TXT"), dns.rdatatype.TXT)) == 2


def test_disable_compression(tuned, plain):
    q = dns.message.make_query("api.service.consul.", "A")
    full = b"\x03api\x07service\x06consul\x00"
    wire = raw(tuned, q.to_wire(), tcp=True)
    n = len(rrs(dns.message.from_wire(wire), dns.rdatatype.A))
    assert n == 4
    # every owner name written out in full: the question's and the n answers'
    assert wire.count(full) == 1 + n
    assert raw(plain, q.to_wire(), tcp=True).count(full) == 1  # compressed by default


def test_alt_domain(tuned):
    r = ask(tuned, "api.service.muster.", "SRV", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR
    targets = {rd.target.to_text() for rd in rrs(r, dns.rdatatype.SRV)}
    assert targets == {"a%d.node.dc1.muster." % i for i in range(1, 6)}
    r = ask(tuned, "nosuch.node.muster.")
    assert r.rcode() == dns.rcode.NXDOMAIN and soa_of(r).name.to_text() == "muster."
    # PTR answers always use the primary domain
    (ptr,) = rrs(ask(tuned, "1.0.8.10.in-addr.arpa.", "PTR"), dns.rdatatype.PTR)
    assert ptr.target.to_text() == "n1.node.dc1.consul."


# ---- real command-line clients ----

@pytest.mark.skipif(shutil.which("dig") is None, reason="bind9-dnsutils not installed")
def test_dig(plain):
    def dig(*args):
        return subprocess.run(["dig", "@127.0.0.1", "-p", str(plain.dns_port)] + list(args),
                              capture_output=True, text=True, timeout=10, check=True).stdout
    # dig sends EDNS (1232): all five; without it, udp_answer_limit's three
    got = [line.split() for line in dig("+norec", "+short", "api.service.consul",
                                        "SRV").split("\n") if line]
    assert sorted(int(g[2]) for g in got) == [9001, 9002, 9003, 9004, 9005]
    got = [line for line in dig("+noedns", "+short", "api.service.consul",
                                "SRV").split("\n") if line]
    assert len(got) == 3
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(plain.dns_port), "+tcp", "+short",
                          "api.service.consul"], capture_output=True, text=True, timeout=10,
                         check=True).stdout.split()
    assert sorted(out) == API
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(plain.dns_port), "+noedns",
                          "nosuch.service.consul"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    assert "status: NXDOMAIN" in out and "flags: qr aa" in out


@pytest.mark.skipif(shutil.which("kdig") is None, reason="knot-dnsutils not installed")
def test_kdig_tcp(plain):
    out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(plain.dns_port), "+tcp", "+short",
                          "_api._tcp.service.consul", "SRV"], capture_output=True, text=True,
                         timeout=10, check=True).stdout.split("\n")
    got = sorted(tuple(line.split()) for line in out if line)
    assert got == [("1", "10", str(9000 + i), "a%d.node.dc1.consul." % i) for i in range(1, 6)]
