#!/usr/bin/env python3
"""dnsbench.py: the DNS benchmark's helper (bench/dns.sh runs it; bench/README.md, "DNS: dnsd
against NSD"). The shell script starts and stops the servers and runs dnsperf; this file
holds the one description of the data both servers answer from, so the catalog muster is
given and the zone NSD loads cannot drift apart. (Not named dns.py: that would shadow
dnspython's `dns` package.)

  nodes      node1..nodeN (127.0.1.i), the web instances' nodes
  web        5 instances on node1..node5, port 8080, tags v1 (+ primary on web1), passing
  big        BIG instances, one per node big-0001.. (127.2.x.y), port 9090, passing
  the agent  its own node (the `consul` service, the NS of `consul.`), as muster has it

    dnsbench.py register URL          PUT /v1/catalog/register for every node and instance
    dnsbench.py zone DIR NODE ADDR    DIR/consul.zone and DIR/nsd.conf (port: $NSD_PORT)
    dnsbench.py queries DIR           DIR/mix.txt, big.txt, big-a.txt: dnsperf's input files
    dnsbench.py wait PORT SECONDS     polls dnsd until it serves every instance (its cache
                                      follows raftd's index bumps)
    dnsbench.py answers MPORT NPORT   what each side returns for every query and transport;
                                      fails when a record is not the zone's
    dnsbench.py stats RUN_DIR         dnsd's cache counters (STATS over the bus)
    dnsbench.py pct FILE              p50/p99/p99.9 (µs) from `dnsperf -v` output

The sizes come from the environment: NODES (10), BIG (1000).
"""
import http.client
import json
import os
import socket
import sys
import time

NODES = int(os.environ.get("NODES", "10"))
BIG = int(os.environ.get("BIG", "1000"))
WEB = 5
WEB_PORT, BIG_PORT = 8080, 9090
DC, DOMAIN = "dc1", "consul."

MIX = [("web.service.consul.", "A"), ("web.service.consul.", "SRV"),
       ("_web._tcp.service.consul.", "SRV"), ("node3.node.consul.", "A"),
       ("nosuch.service.consul.", "A")]
BIGQ = [("big.service.consul.", "A"), ("big.service.consul.", "SRV")]


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def nodes():
    """(name, address) of every node but the agent's own."""
    out = [("node%d" % i, "127.0.1.%d" % i) for i in range(1, NODES + 1)]
    out += [("big-%04d" % i, "127.2.%d.%d" % (i // 250, i % 250 + 1)) for i in range(1, BIG + 1)]
    return out


def instances():
    """(service, id, node, address, port, tags) of every instance."""
    out = [("web", "web%d" % i, "node%d" % i, "127.0.1.%d" % i, WEB_PORT,
            ["v1", "primary"] if i == 1 else ["v1"]) for i in range(1, WEB + 1)]
    out += [("big", "big%d" % i, n, a, BIG_PORT, [])
            for i, (n, a) in enumerate(nodes()[NODES:], 1)]
    return out


# --- muster's side: the catalog -------------------------------------------------------


def register(url):
    host, port = url.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def put(body):
        conn.request("PUT", "/v1/catalog/register", body=json.dumps(body))
        r = conn.getresponse()
        data = r.read()
        if r.status != 200 or data.strip() != b"true":
            raise RuntimeError("register %s: %d %r" % (body["Node"], r.status, data[:200]))

    t0 = time.monotonic()
    svc = {i[2]: i for i in instances()}
    for n, a in nodes():
        body = {"Datacenter": DC, "Node": n, "Address": a}
        if n in svc:
            s, sid, _, _, port, tags = svc[n]
            body["Service"] = {"Service": s, "ID": sid, "Port": port, "Tags": tags}
            body["Check"] = {"CheckID": sid + "-c", "Name": "c", "ServiceID": sid,
                             "Status": "passing"}
        put(body)
    log("registered %d nodes, %d instances in %.1f s" % (
        len(nodes()), len(svc), time.monotonic() - t0))


# --- NSD's side: the same answers from a static zone ------------------------------------


def zone_text(agent_node, agent_addr):
    """consul. as Consul answers it with the defaults (spec §1.5, §1.7): TTL 0 everywhere,
    SOA ns./hostmaster. 3600 600 86400 0, NS = the server's node, SRV priority 1 weight 1
    with targets <node>.node.dc1.consul."""
    ln = ["$ORIGIN consul.", "$TTL 0",
          "@ SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0",
          "@ NS %s.node.%s.consul." % (agent_node, DC)]
    for n, a in [(agent_node, agent_addr)] + nodes():
        ln.append("%s.node A %s" % (n, a))
        ln.append("%s.node.%s A %s" % (n, DC, a))
    by = {}
    for s, _, n, a, port, _ in instances():
        by.setdefault(s, []).append((n, a, port))
    for s, inst in sorted(by.items()):
        for n, a, port in inst:
            ln.append("%s.service A %s" % (s, a))
            for owner in ("%s.service" % s, "_%s._tcp.service" % s):
                ln.append("%s SRV 1 1 %d %s.node.%s.consul." % (owner, port, n, DC))
    return "\n".join(ln) + "\n"


NSD_CONF = """server:
	ip-address: 127.0.0.1
	port: {port}
	# one server process, as dnsd is one event loop
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "{d}"
	database: ""
	pidfile: "{d}/nsd.pid"
	xfrdfile: "{d}/xfrd.state"
	zonelistfile: "{d}/zone.list"
	xfrdir: "{d}"
	logfile: "{d}/nsd.log"
	verbosity: 1
	# Consul shuffles every answer (spec §1.5); the nearest NSD has is rotation
	round-robin: yes
	# response rate limiting would drop most of a benchmark's answers
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
	tcp-count: 256
remote-control:
	control-enable: no
zone:
	name: consul.
	zonefile: consul.zone
"""


def zone(d, agent_node, agent_addr):
    with open(os.path.join(d, "consul.zone"), "w") as f:
        f.write(zone_text(agent_node, agent_addr))
    with open(os.path.join(d, "nsd.conf"), "w") as f:
        f.write(NSD_CONF.format(port=os.environ["NSD_PORT"], d=d))


def queries(d):
    # big-a: dnsperf 2.10 reads TCP answers of at most 16 KiB; 1,000 SRV do not fit.
    for name, qs in (("mix", MIX), ("big", BIGQ), ("big-a", BIGQ[:1])):
        with open(os.path.join(d, name + ".txt"), "w") as f:
            for q, t in qs:
                f.write("%s %s\n" % (q.rstrip("."), t))


# --- checks ---------------------------------------------------------------------------


def ask(port, name, rdtype, how):
    """One query; the parsed answer and its size on the wire (as sent, not re-encoded)."""
    import dns.message
    q = dns.message.make_query(name, rdtype, use_edns=(0 if how == "udp+edns" else False),
                               payload=4096)
    q.flags &= ~0x0100  # no RD, as an authoritative server is asked
    wire = q.to_wire()
    if how == "tcp":
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            data = b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError("the server closed the connection")
                data += chunk
            data = data[2:2 + int.from_bytes(data[:2], "big")]
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(wire, ("127.0.0.1", port))
            data = s.recv(65536)
    return dns.message.from_wire(data), len(data)


def wait(port, seconds):
    """dnsd serves every instance over TCP (no answer cap): the registrations reached
    raftd and dnsd's cache was invalidated since."""
    import dns.rdatatype
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        try:
            ok = True
            for name, want in (("web.service.consul.", WEB), ("big.service.consul.", BIG)):
                r, _ = ask(port, name, "A", "tcp")
                got = sum(len(s) for s in r.answer if s.rdtype == dns.rdatatype.A)
                last = "%s: %d of %d A" % (name, got, want)
                ok = ok and got == want
            if ok:
                return 0
        except Exception as e:  # OSError, EOFError, dns.exception.*: not up yet
            last = repr(e)
        time.sleep(0.1)
    log("dnsd did not serve every instance in %d s (last: %s)" % (seconds, last))
    return 1


def answers(mport, nport):
    """One query per name, type and transport to each side: rcode, records per section,
    size on the wire, TC. Every record either side returns must be in the zone (same owner,
    type and data), and over TCP dnsd must return the whole RRset unless its answer reached
    the 65,523-byte cap. Prints a markdown table."""
    import dns.flags
    import dns.rcode
    import dns.rdatatype
    bad = []
    print("| query | transport | dnsd: rcode answer/authority/additional, bytes | "
          "nsd: rcode answer/authority/additional, bytes |")
    print("| --- | --- | --- | --- |")
    for name, t in MIX + BIGQ:
        for how in ("udp", "udp+edns", "tcp"):
            cells = []
            got = {}
            for side, port in (("dnsd", mport), ("nsd", nport)):
                r, size = ask(port, name, t, how)
                an = {(s.name.to_text(), s.rdtype, rd.to_text()) for s in r.answer for rd in s}
                # only the records of the question's type (TXT node meta would be extra)
                ar = {(s.name.to_text(), rd.to_text()) for s in r.additional
                      if s.rdtype == dns.rdatatype.A for rd in s}
                got[side] = (r.rcode(), an, ar, size)
                cells.append("%s %d/%d/%d, %d B%s" % (
                    dns.rcode.to_text(r.rcode()), sum(len(s) for s in r.answer),
                    sum(len(s) for s in r.authority), sum(len(s) for s in r.additional), size,
                    ", TC" if r.flags & dns.flags.TC else ""))
            print("| %s %s | %s | %s | %s |" % (name, t, how, cells[0], cells[1]))
            (mr, man, mar, msize), (nr, nan, nar, _) = got["dnsd"], got["nsd"]
            if mr != nr:
                bad.append("%s %s %s: rcode dnsd %s, nsd %s" % (name, t, how, mr, nr))
            want = zone_answers(name, t)
            for side, an, ar in (("dnsd", man, mar), ("nsd", nan, nar)):
                if not an <= want:
                    bad.append("%s %s %s: %s answers not in the zone: %s" % (
                        name, t, how, side, sorted(an - want)[:3]))
                if not ar <= zone_addrs():
                    bad.append("%s %s %s: %s additional A not in the zone: %s" % (
                        name, t, how, side, sorted(ar - zone_addrs())[:3]))
            # Over TCP the whole RRset, unless it reached the 65,523-byte cap (spec §1.6).
            if how == "tcp" and man != want and msize < 65000:
                bad.append("%s %s tcp: dnsd returns %d of %d records in %d bytes" % (
                    name, t, len(man), len(want), msize))
    for b in bad:
        log(b)
    return 1 if bad else 0


_ZONE = None


def _zone():
    global _ZONE
    if _ZONE is None:
        import dns.zone
        _ZONE = dns.zone.from_text(zone_text(os.environ.get("AGENT_NODE", "bench"), "127.0.0.1"),
                                   origin=DOMAIN, relativize=False)
    return _ZONE


def zone_answers(name, t):
    import dns.rdatatype
    rt = dns.rdatatype.from_text(t)
    z = _zone()
    node = z.get_node(name)
    if node is None:
        return set()
    rs = node.get_rdataset(1, rt)
    return {(name, rt, rd.to_text()) for rd in rs} if rs else set()


def zone_addrs():
    import dns.rdatatype
    return {(n.to_text(), rd.to_text()) for n, node in _zone().nodes.items()
            for rs in node.rdatasets if rs.rdtype == dns.rdatatype.A for rd in rs}


def stats(run_dir):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                    "integration"))
    from bus import Bus
    with Bus(run_dir, peer="dnsd", self_name="httpd") as b:
        _, r = b.call("STATS")
    st = {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}
    print(" ".join("%s=%s" % (k, st.get(k, "?")) for k in (
        "cache_hits", "cache_misses", "cache_fetches", "cache_invalidations")))
    return 0


def pct(path):
    """dnsperf -v prints one line per answer: `> RCODE name type latency-seconds`."""
    lat = []
    with open(path) as f:
        for line in f:
            if line.startswith("> "):
                try:
                    lat.append(float(line.rsplit(None, 1)[1]))
                except ValueError:
                    pass
    if not lat:
        return 1
    lat.sort()

    def p(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
    print("answered=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f" % (len(lat), p(.5), p(.99), p(.999)))
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, a = a[0], a[1:]
    if cmd == "register":
        register(a[0])
        return 0
    if cmd == "zone":
        zone(*a)
        return 0
    if cmd == "queries":
        queries(a[0])
        return 0
    if cmd == "wait":
        return wait(int(a[0]), float(a[1]))
    if cmd == "answers":
        return answers(int(a[0]), int(a[1]))
    if cmd == "stats":
        return stats(a[0])
    if cmd == "pct":
        return pct(a[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
