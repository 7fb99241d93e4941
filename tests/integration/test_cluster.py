"""test_cluster.py: the product's walkthrough as a cluster (issue 9, Tests 1-4): three servers
and one client agent on their own loopback addresses (127.0.0.11-14, Consul's default ports),
started with the walkthrough's flags and joined with `muster join`; `muster members` and
`muster operator raft list-peers`; the gRPC hello service registered on the client agent,
found through it and through a server's DNS; then faults: the leader's agent SIGKILLed while
a writer keeps writing (no acknowledged write lost), the server restarted on its data dir,
a write and a consistent read through the client with one server dead, the client agent
SIGKILLed (serfHealth critical, HelloService gone from DNS), and `muster leave` on it.

Timings: the documented test settings -- raft_multiplier 1 with test_timings.raft (fast
elections), and short gossip_lan probes -- while the defaults stay Consul's. Every wait
polls a condition; the leader failover time is printed for bench/, not asserted."""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest
import requests

from agent import MUSTER, Agent, wait_for
from test_hello_walkthrough import GREETING, SERVICE, build_hello, need_tools

IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
NAMES = ["server_01", "server_02", "server_03", "client-01"]
FAST = {
    "performance": {"raft_multiplier": 1},
    "test_timings": {"raft": {"heartbeat_timeout": "100ms", "election_timeout": "200ms",
                              "leader_lease_timeout": "50ms"},
                     "server_health_interval": "200ms"},
    "gossip_lan": {"probe_interval": "200ms", "probe_timeout": "100ms", "suspicion_mult": 2,
                   "gossip_interval": "50ms"},
    "autopilot": {"server_stabilization_time": "1s"},
    "supervisor": {"restart_backoff_min": "100ms"},
}


def free_on(ip, ports=(8300, 8301, 8302, 8500, 8600)):
    import socket
    for p in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            # as the daemons do: a TIME_WAIT of an earlier run is no conflict
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, p))
            except OSError:
                return False
            finally:
                s.close()
    return True


class Node:
    def __init__(self, i, top):
        self.i, self.ip, self.name = i, IPS[i], NAMES[i]
        self.data = os.path.join(top, self.name)
        os.makedirs(self.data, exist_ok=True)
        args = ["-node=%s" % self.name, "-bind=%s" % self.ip, "-ui", "-data-dir=%s" % self.data,
                "-client", self.ip]
        if i < 3:
            args = ["-server", "-bootstrap-expect", "3"] + args
        self.agent = Agent(args, config=json.dumps(FAST), free_ports=False)
        self.http = "http://%s:8500" % self.ip

    def start(self):
        self.agent.start()
        self.agent.wait_ready(30)

    def kill(self):
        """SIGKILL of the whole agent, as a machine that dies."""
        self.agent.kill_all()
        wait_for(lambda: free_on(self.ip, (8300, 8500)), 20, "%s's ports free" % self.name)

    def cli(self, *args, check=True):
        r = subprocess.run([MUSTER] + list(args), capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, CONSUL_HTTP_ADDR=self.http))
        if check and r.returncode != 0:
            raise AssertionError("muster %s: exit %d: %s%s" % (" ".join(args), r.returncode,
                                                               r.stdout, r.stderr))
        return r


@pytest.fixture(scope="module")
def cluster():
    if not all(free_on(ip) for ip in IPS):
        pytest.fail("127.0.0.11-14 need Consul's default ports free (8300-8302, 8500, 8600)")
    top = tempfile.mkdtemp(prefix="mcl", dir="/tmp")
    nodes = [Node(i, top) for i in range(4)]
    try:
        for n in nodes:
            n.start()
        for n in nodes[1:]:
            r = n.cli("join", IPS[0])
            assert "Successfully joined cluster by contacting 1 nodes." in r.stdout
        yield nodes
    finally:
        for n in nodes:
            n.agent.stop()


def leader_of(nodes, among):
    def cond():
        seen = set()
        for i in among:
            try:
                r = requests.get(nodes[i].http + "/v1/status/leader", timeout=2)
            except requests.RequestException:
                return None
            if r.status_code != 200 or not r.json():
                return None
            seen.add(r.json())
        if len(seen) != 1:
            return None
        addr = seen.pop()
        # the dead leader is still named until the others elect anew
        return addr if addr.split(":")[0] in [IPS[i] for i in among] else None
    addr = wait_for(cond, 30, "one leader among %s" % [nodes[i].name for i in among], 0.05)
    return IPS.index(addr.split(":")[0])


def dns_a(ip, name):
    q = dns.message.make_query(name, "A")
    try:
        r = dns.query.udp(q, ip, port=8600, timeout=2)
    except dns.exception.Timeout:
        return None
    return r


def test_1_members_leader_peers(cluster):
    nodes = cluster
    r = wait_for(lambda: (lambda r: r if r.stdout.count(" alive ") == 4 else None)(
        nodes[0].cli("members", check=False)), 20, "4 alive members")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC",
                                "Partition", "Segment"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == set(NAMES)
    for i, n in enumerate(NAMES):
        assert rows[n][1] == "%s:8301" % IPS[i]
        assert rows[n][2] == "alive"
        assert rows[n][3] == ("server" if i < 3 else "client")
    leader_of(nodes, range(3))

    def peers():
        r = nodes[1].cli("operator", "raft", "list-peers", check=False)
        rows = [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
        return rows if len(rows) == 3 and all(row[4] == "true" for row in rows) else None
    rows = wait_for(peers, 20, "3 voters in list-peers")
    assert sorted(row[0] for row in rows) == NAMES[:3]
    assert sum(1 for row in rows if row[3] == "leader") == 1
    # operator raft transfer-leader, through a follower: another server leads
    old = leader_of(nodes, range(3))
    via = (old + 1) % 3
    r = nodes[via].cli("operator", "raft", "transfer-leader")
    assert r.stdout == "Success\n"
    wait_for(lambda: leader_of(nodes, range(3)) != old, 20, "a new leader after the transfer")


def test_2_hello_through_the_cluster(cluster):
    need_tools()
    nodes = cluster
    bins = build_hello()
    srv = subprocess.Popen([bins[0], "-agent", "%s:8500" % IPS[3], "-addr", "127.0.0.1",
                            "-port", "18082"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for n in nodes[:3]:
            wait_for(lambda: (lambda r: r.status_code == 200 and r.json())(
                requests.get(n.http + "/v1/catalog/service/" + SERVICE, timeout=3)), 20,
                "%s in %s's catalog" % (SERVICE, n.name))
        r = wait_for(lambda: (lambda r: r if r and r.answer else None)(
            dns_a(IPS[0], SERVICE + ".service.consul.")), 20, "the service in a server's DNS")
        assert [rd.address for rr in r.answer for rd in rr] == ["127.0.0.1"]
        out = subprocess.run(["dig", "@" + IPS[0], "-p", "8600", "+short",
                              SERVICE + ".service.consul"], capture_output=True, text=True,
                             timeout=10).stdout.split()
        assert out == ["127.0.0.1"]
        cl = subprocess.run([bins[1], "-agent", "%s:8500" % IPS[3], "-host", "127.0.0.1"],
                            capture_output=True, text=True, timeout=30)
        assert GREETING in cl.stdout, cl.stdout + cl.stderr
    finally:
        srv.send_signal(signal.SIGKILL)  # stays registered: test 3 needs it
        srv.wait(10)


def test_3_faults(cluster):
    nodes = cluster
    lead = leader_of(nodes, range(3))
    acked, errors, stop = [], [], threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            k += 1
            try:
                r = requests.put(nodes[3].http + "/v1/kv/w/%d" % k, data=str(k), timeout=10)
                if r.status_code == 200 and r.json() is True:
                    acked.append(k)
                else:
                    errors.append((k, r.status_code, r.text))
            except requests.RequestException as e:
                errors.append((k, "exc", str(e)))
            time.sleep(0.01)
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    wait_for(lambda: len(acked) >= 20, 20, "writes through the client")
    t0 = time.monotonic()
    nodes[lead].kill()
    live = [i for i in range(3) if i != lead]
    new = leader_of(nodes, live)
    print("\nleader failover after SIGKILL: %.2f s" % (time.monotonic() - t0))
    assert new != lead
    n0 = len(acked)
    wait_for(lambda: len(acked) >= n0 + 20, 20, "writes continue under the new leader")

    def peers(via):
        r = nodes[via].cli("operator", "raft", "list-peers", check=False)
        return [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
    # autopilot's cleanup_dead_servers: the failed server leaves the configuration
    wait_for(lambda: sorted(row[0] for row in peers(new)) == sorted(NAMES[i] for i in live),
             30, "the dead server removed from Raft")

    # Test 4: one server dead, through the client: a write, a consistent read, the catalog
    r = requests.put(nodes[3].http + "/v1/kv/one-dead", data="ok", timeout=10)
    assert r.status_code == 200 and r.json() is True
    r = requests.get(nodes[3].http + "/v1/kv/one-dead?consistent&raw", timeout=10)
    assert r.status_code == 200 and r.text == "ok"
    r = requests.get(nodes[3].http + "/v1/catalog/service/" + SERVICE, timeout=10)
    assert r.status_code == 200 and len(r.json()) == 1

    # the killed server restarts on its data dir: no new bootstrap, it catches up
    nodes[lead].start()
    stop.set()
    th.join(20)
    last = max(acked)
    wait_for(lambda: (lambda r: r.status_code == 200 and r.text == str(last))(
        requests.get(nodes[lead].http + "/v1/kv/w/%d?stale&raw" % last, timeout=5)), 30,
        "the restarted server caught up")
    log = open(nodes[lead].agent.log_path).read()
    assert "bootstrapped a Raft configuration" not in log
    # added back as a non-voter, promoted once stable (server_stabilization_time)
    wait_for(lambda: (lambda rows: len(rows) == 3 and all(r[4] == "true" for r in rows))(
        peers(new)), 30, "the returning server a voter again")
    for k in acked:
        r = requests.get(nodes[new].http + "/v1/kv/w/%d?consistent&raw" % k, timeout=10)
        assert r.status_code == 200 and r.text == str(k), "acknowledged write %d lost" % k

    # SIGKILL of the client agent: serfHealth critical, HelloService gone from DNS
    nodes[3].kill()

    def client_critical():
        r = requests.get(nodes[new].http + "/v1/health/node/client-01", timeout=5)
        return any(c["CheckID"] == "serfHealth" and c["Status"] == "critical" for c in r.json())
    wait_for(client_critical, 30, "client-01's serfHealth critical")
    wait_for(lambda: (lambda r: r is not None and r.rcode() == dns.rcode.NXDOMAIN)(
        dns_a(IPS[new], SERVICE + ".service.consul.")), 20, "HelloService gone from DNS")

    # back, then a graceful leave: deregistered
    nodes[3].start()
    wait_for(lambda: not client_critical(), 30, "client-01 alive again")
    r = nodes[3].cli("leave")
    assert "Graceful leave complete" in r.stdout
    nodes[3].agent.proc.wait(40)

    def gone():
        r = requests.get(nodes[new].http + "/v1/catalog/node/client-01", timeout=5)
        return r.status_code == 200 and r.json() is None
    wait_for(gone, 30, "client-01 deregistered after its leave")


def test_4_leader_leaves_gracefully(cluster):
    """A leading server's `muster leave` hands leadership over first (spec §5.5): the
    others keep a leader, and it is removed from the Raft configuration."""
    nodes = cluster
    lead = leader_of(nodes, range(3))
    r = nodes[lead].cli("leave")
    assert "Graceful leave complete" in r.stdout
    log = open(nodes[lead].agent.log_path).read()
    assert "handing leadership over" in log
    nodes[lead].agent.proc.wait(40)
    live = [i for i in range(3) if i != lead]
    new = leader_of(nodes, live)
    assert new != lead

    def two_voters():
        r = nodes[new].cli("operator", "raft", "list-peers", check=False)
        rows = [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
        return rows if sorted(row[0] for row in rows) == sorted(NAMES[i] for i in live) else None
    wait_for(two_voters, 30, "the left server removed from Raft")
    put = requests.put(nodes[new].http + "/v1/kv/after-leave", data="ok", timeout=10)
    assert put.status_code == 200 and put.json() is True
