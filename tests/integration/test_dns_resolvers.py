"""test_dns_resolvers.py: dnsd (spec/dns-cli-gossip-raft.md §1) behind real resolvers
(issue 7). One -dev agent for the module; its catalog is filled through
/v1/catalog/register, then:

* unbound runs as a stub resolver for consul. (contrib/dns/unbound-stub.conf.in) and
  dnspython / dig ask it for service A and SRV, a missing name, and a health change;
* HAProxy discovers the backends of service "web" with server-template over SRV
  (contrib/dns/haproxy-srv.cfg.in), balances real HTTP backends across them and drops
  an instance whose check goes critical;
* dnsviz probes the consul. zone as an authoritative zone and grok must find no error.

Every tool runs in the foreground on free loopback ports in a temporary directory and
is killed at the end; readiness is polled (a tool answering), never slept."""
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import requests

from agent import free_port, wait_for
from httpfix import HttpAgent, deregister, register

HERE = os.path.dirname(os.path.abspath(__file__))
CONTRIB = os.path.join(HERE, "..", "..", "contrib", "dns")
TIMEOUT = 2.0        # s: one DNS query
SETTLE_S = 10.0      # s: dnsd's cache follows a catalog write (raftd's index bump)
TOOL_UP_S = 15.0     # s: a resolver started and answering
HAPROXY_S = 20.0     # s: HAProxy's resolution (timeout resolve 1s) and checks (inter 2s)
DNSVIZ_S = 120       # s: a hung probe fails the test rather than blocking the suite


def need(*tools):
    # dnsviz itself looks for named in the sbin directories too
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [t for t in tools if shutil.which(t, path=path) is None]
    if missing:
        pytest.fail("missing %s: the Debian packages unbound haproxy socat dnsviz bind9-dnsutils, "
                    "and bind9 (named) and bind9-utils (named-checkconf) for dnsviz probe -N "
                    "(scripts/deps.sh)" % ", ".join(missing))


def render(template, out_path, **values):
    """Fills the @NAME@ placeholders of a contrib/dns template; all must be used."""
    with open(os.path.join(CONTRIB, template)) as f:
        text = f.read()
    for k, v in values.items():
        assert "@%s@" % k in text, "%s has no @%s@" % (template, k)
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, "unfilled placeholders in %s: %r" % (template, left)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


class Proc:
    """A tool in the foreground, its output in a log file, killed at stop()."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    def alive(self):
        if self.p.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.p.args[0], self.p.returncode,
                                                            self.tail()))

    def tail(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.log.close()


def query(port, name, rdtype="A", tcp=False):
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=TIMEOUT)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=TIMEOUT)


def try_query(port, name, rdtype="A"):
    try:
        return query(port, name, rdtype)
    except (dns.exception.Timeout, OSError):
        return None


def addrs(r, section="answer"):
    return sorted(rd.address for rrset in getattr(r, section)
                  if rrset.rdtype == dns.rdatatype.A for rd in rrset)


def srvs(r):
    return sorted((rd.port, rd.target.to_text()) for rrset in r.answer
                  if rrset.rdtype == dns.rdatatype.SRV for rd in rrset)


def ttls(r):
    return {rrset.ttl for rrset in r.answer + r.authority}


def settle(port, name, rdtype, cond, what):
    """Polls the server on port until its answer satisfies cond."""
    def ok():
        r = try_query(port, name, rdtype)
        return r if r is not None and cond(r) else None
    return wait_for(ok, SETTLE_S, what)


def instance(http, node, address, svc, sid, port, status="passing"):
    register(http, node, address=address,
             service={"Service": svc, "ID": sid, "Port": port},
             check={"CheckID": sid + "-c", "Name": "c", "ServiceID": sid, "Status": status})


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent()
    try:
        a.boot()
        a.dns_port = a.cfg["ports"]["dns"]
        wait_for(lambda: try_query(a.dns_port, "consul.", "SOA"), 20,
                 "dnsd answering on %d" % a.dns_port)
        yield a
    finally:
        a.stop()


@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="dnsres-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---- unbound: a stub zone for consul. ----

@pytest.fixture
def unbound(agent, tmp):
    need("unbound", "dig")
    port = free_port()
    conf = render("unbound-stub.conf.in", os.path.join(tmp, "unbound.conf"),
                  LISTEN_ADDR="127.0.0.1", LISTEN_PORT=port,
                  DNS_ADDR="127.0.0.1", DNS_PORT=agent.dns_port)
    p = Proc(["unbound", "-d", "-c", conf], os.path.join(tmp, "unbound.log"))
    try:
        def up():
            p.alive()
            r = try_query(port, "consul.", "SOA")
            return r is not None and r.rcode() == dns.rcode.NOERROR
        try:
            wait_for(up, TOOL_UP_S, "unbound answering on %d" % port)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, p.tail()))
        yield port
    finally:
        p.stop()


def test_unbound_stub(agent, unbound):
    api, ub = agent.http, unbound
    want = {"u%d" % i: ("127.0.0.2%d" % i, 8080 + i) for i in (1, 2, 3)}
    try:
        for node, (addr, port) in want.items():
            instance(api, node, addr, "web", "uweb-" + node, port)
        # an instance critical from the start is never answered (spec §1.5)
        instance(api, "u4", "127.0.0.24", "web", "uweb-u4", 8084, status="critical")
        healthy = sorted(a for a, _ in want.values())
        settle(agent.dns_port, "web.service.consul.", "A", lambda r: addrs(r) == healthy,
               "dnsd answering the three healthy instances")

        r = query(ub, "web.service.consul.")
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA  # unbound's, not dnsd's
        assert addrs(r) == healthy
        # dnsd's TTLs are 0 (spec §1.5 service_ttl, §1.7 soa min_ttl): what keeps
        # unbound from caching; the fresh answers below depend on it.
        assert ttls(r) == {0}
        r = query(ub, "web.service.consul.", tcp=True)
        assert addrs(r) == healthy

        out = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "-p", str(ub), "@127.0.0.1",
                              "web.service.consul.", "A"],
                             capture_output=True, text=True, timeout=15)
        assert out.returncode == 0, out.stderr
        assert sorted(out.stdout.split()) == healthy

        r = query(ub, "_web._tcp.service.consul.", "SRV")
        assert srvs(r) == sorted((p, "%s.node.dc1.consul." % n) for n, (_, p) in want.items())
        assert ttls(r) == {0}
        # unbound answers minimally (no additional section): each target resolves by itself
        for n, (a, _) in want.items():
            assert addrs(query(ub, "%s.node.dc1.consul." % n)) == [a]

        r = query(ub, "nosuch.service.consul.")
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]
        assert ttls(r) == {0}
        assert query(ub, "nosuch.node.consul.").rcode() == dns.rcode.NXDOMAIN

        # u2 goes critical. Once dnsd itself has dropped it, the very next query
        # through unbound must too: with TTL 0 unbound kept nothing from the
        # identical query above.
        instance(api, "u2", "127.0.0.22", "web", "uweb-u2", 8082, status="critical")
        healthy.remove("127.0.0.22")
        settle(agent.dns_port, "web.service.consul.", "A", lambda r: addrs(r) == healthy,
               "dnsd dropping the critical instance")
        assert addrs(query(ub, "web.service.consul.")) == healthy
        r = query(ub, "_web._tcp.service.consul.", "SRV")
        assert [t for _, t in srvs(r)] == ["u1.node.dc1.consul.", "u3.node.dc1.consul."]

        # The negative answer (SOA min_ttl 0) is not cached either: a service
        # that was NXDOMAIN through unbound is answered as soon as dnsd has it.
        assert query(ub, "late.service.consul.").rcode() == dns.rcode.NXDOMAIN
        instance(api, "u5", "127.0.0.25", "late", "late-u5", 9000)
        settle(agent.dns_port, "late.service.consul.", "A", lambda r: addrs(r) == ["127.0.0.25"],
               "dnsd answering late")
        assert addrs(query(ub, "late.service.consul.")) == ["127.0.0.25"]
    finally:
        # service "web" is HAProxy's next: leave it empty
        for node in ("u1", "u2", "u3", "u4", "u5"):
            deregister(api, node)


# ---- HAProxy: server-template over SRV ----

class Backend:
    """A tiny HTTP server on 127.0.0.1 answering its own id."""

    def __init__(self, ident):
        body = ident.encode()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.ident = ident
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def servers_state(sock):
    """`show servers state web` as one dict per server slot (the header line names the
    fields; the first line is the format version)."""
    out = subprocess.run(["socat", "stdio", "unix-connect:" + sock], input="show servers state web\n",
                         capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return None
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# "):
        return None
    fields = lines[1][2:].split()
    rows = [dict(zip(fields, line.split())) for line in lines[2:]]
    assert all(len(r) == len(fields) for r in rows), out.stdout
    return rows


SRV_ADMF_RMAINT = 0x20   # HAProxy: server in maintenance because its name does not resolve
SRV_OP_RUNNING = 2


def live(rows):
    """(addr, port) of the slots HAProxy would use: resolved, not in resolution maintenance."""
    return sorted((r["srv_addr"], int(r["srv_port"])) for r in rows
                  if r["srv_addr"] != "-" and not int(r["srv_admin_state"]) & SRV_ADMF_RMAINT
                  and int(r["srv_op_state"]) == SRV_OP_RUNNING)


def through(port, n):
    """The bodies of n requests through the HAProxy frontend, one connection each."""
    got = []
    for _ in range(n):
        r = requests.get("http://127.0.0.1:%d/" % port, timeout=5, headers={"Connection": "close"})
        assert r.status_code == 200, (r.status_code, r.text)
        got.append(r.text)
    return got


def test_haproxy_server_template(agent, tmp):
    need("haproxy", "socat")
    api = agent.http
    backends = [Backend("h%d" % i) for i in (1, 2, 3)]
    hp = None
    try:
        # three instances of web on one address, told apart by port and node name
        for b in backends:
            instance(api, b.ident, "127.0.0.1", "web", "hweb-" + b.ident, b.port)
        want = sorted(("127.0.0.1", b.port) for b in backends)
        settle(agent.dns_port, "_web._tcp.service.consul.", "SRV",
               lambda r: sorted(p for p, _ in srvs(r)) == [p for _, p in want]
               and addrs(r, "additional") == ["127.0.0.1"] * 3,
               "dnsd answering exactly the three backends with A in additional")

        sock = os.path.join(tmp, "haproxy.sock")
        fe = free_port()
        cfg = render("haproxy-srv.cfg.in", os.path.join(tmp, "haproxy.cfg"), ADMIN_SOCK=sock,
                     BIND_ADDR="127.0.0.1", BIND_PORT=fe, DNS_ADDR="127.0.0.1", DNS_PORT=agent.dns_port)
        hp = Proc(["haproxy", "-f", cfg, "-db"], os.path.join(tmp, "haproxy.log"))
        last = [None]

        def state(cond):
            hp.alive()
            rows = servers_state(sock) if os.path.exists(sock) else None
            last[0] = rows
            return rows is not None and cond(rows)
        try:
            wait_for(lambda: state(lambda rows: live(rows) == want), HAPROXY_S,
                     "HAProxy's three web slots resolved to the backends and UP")
        except AssertionError as e:
            raise AssertionError("%s; last state %r\n%s" % (e, last[0], hp.tail()))
        # each slot carries the SRV target it was filled from
        assert sorted(r["srv_fqdn"] for r in last[0]) == ["h1.node.dc1.consul", "h2.node.dc1.consul",
                                                          "h3.node.dc1.consul"]
        got = through(fe, 6)
        # roundrobin over three UP servers: each backend twice in six requests
        assert sorted(got) == ["h1", "h1", "h2", "h2", "h3", "h3"], got

        # h2 critical: it leaves the SRV answer and HAProxy puts its slot in maintenance
        instance(api, "h2", "127.0.0.1", "web", "hweb-h2", backends[1].port, status="critical")
        want.remove(("127.0.0.1", backends[1].port))
        try:
            wait_for(lambda: state(lambda rows: live(rows) == want and any(
                int(r["srv_admin_state"]) & SRV_ADMF_RMAINT for r in rows)), HAPROXY_S,
                "HAProxy dropping h2")
        except AssertionError as e:
            raise AssertionError("%s; last state %r\n%s" % (e, last[0], hp.tail()))
        got = through(fe, 4)
        assert sorted(got) == ["h1", "h1", "h3", "h3"], got
    finally:
        if hp is not None:
            hp.stop()
        for b in backends:
            b.stop()


# ---- dnsviz: the consul. zone as an authoritative zone ----

def test_dnsviz_consul_zone(agent, tmp):
    need("dnsviz", "named", "named-checkconf")
    # The NS set dnsd answers (spec §1.7: healthy instances of service "consul",
    # `<node>.node.<dc>.<domain>`, A glue in additional): -N and -x name it.
    r = query(agent.dns_port, "consul.", "NS")
    ns = sorted(rd.target.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.NS
                for rd in rrset)
    assert ns == ["%s.node.dc1.consul." % agent.node_name()], r
    assert addrs(r, "additional") == ["127.0.0.1"], r
    name = ns[0].rstrip(".")
    p_json = os.path.join(tmp, "p.json")
    # -N is the delegation of consul. (dnsviz serves a stub root zone holding it with
    # its own named, on the fixed port 50053: named and named-checkconf are needed);
    # -x sends the probe to dnsd's port; -d 2 is dnsviz's log level.
    with open(p_json, "w") as out:
        pr = subprocess.run(["dnsviz", "probe", "-A", "-N", "consul:%s=127.0.0.1" % name,
                             "-x", "consul:%s=127.0.0.1:%d" % (name, agent.dns_port), "-d", "2",
                             "consul"],
                            stdout=out, stderr=subprocess.PIPE, text=True, timeout=DNSVIZ_S)
    assert pr.returncode == 0, pr.stderr

    def grok(level):
        with open(p_json) as f:
            g = subprocess.run(["dnsviz", "grok", "-l", level], stdin=f, capture_output=True,
                               text=True, timeout=DNSVIZ_S)
        assert g.returncode == 0, g.stderr
        return json.loads(g.stdout) if g.stdout.strip() else {}

    def findings(node, key):
        """(path, code, description) of every `key` entry anywhere in grok's output."""
        found = []

        def walk(x, path):
            if isinstance(x, dict):
                for k, v in x.items():
                    if k == key and isinstance(v, list):
                        found.extend((path, e.get("code"), e.get("description")) for e in v)
                    else:
                        walk(v, path + "/" + str(k))
            elif isinstance(x, list):
                for v in x:
                    walk(v, path)
        walk(node, "")
        return found

    # grok -l error lists only what has an error: empty output when there is none.
    errors = findings(grok("error"), "errors")
    assert errors == [], "dnsviz errors for consul.:\n%s" % "\n".join(map(str, errors))
    # The full analysis shows the probe reached dnsd through its own NS name: the SOA
    # answered, the apex's other types NODATA, a random name below NXDOMAIN. So an
    # empty error list means something.
    full = grok("info")
    assert full["consul."]["status"] == "NOERROR", full["consul."]
    q = full["consul."]["queries"]
    kinds = {k: sorted(v) for k, v in q.items()}
    assert kinds.pop("consul./IN/SOA") == ["answer"], q
    assert [a["ns_names"] for a in q["consul./IN/SOA"]["answer"]] == [ns], q
    assert kinds.pop("consul./IN/CNAME") == ["nodata"], q
    assert kinds.pop("consul./IN/DNSKEY") == ["nodata"], q
    assert [v for k, v in kinds.items() if k.endswith(".consul./IN/A")] == [["nxdomain"]], q
    assert findings(full, "errors") == []
    # grok -l warning, dnsviz 0.9.4, this dnsd: none. Before the apex fix (answer.c,
    # spec §1.7) it warned INCONSISTENT_NXDOMAIN: consul. SOA was NOERROR while
    # consul. CNAME and consul. DNSKEY were NXDOMAIN (RFC 8020 reads that as "no
    # consul. at all"). That one must not come back; others are only reported.
    warnings = findings(grok("warning"), "warnings")
    assert [w for w in warnings if w[1] == "INCONSISTENT_NXDOMAIN"] == [], warnings
    if warnings:
        print("dnsviz warnings for consul.:\n%s" % "\n".join(map(str, warnings)))
