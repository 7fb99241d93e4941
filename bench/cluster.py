#!/usr/bin/env python3
"""cluster.py: the cluster benchmark's driver (bench/cluster.sh runs it; bench/README.md,
"Cluster: 3 servers against a 3-member etcd").

Starts three durable muster servers (`-server -bootstrap-expect 3`, each on its own
loopback address with Consul's default ports and its own data dir, joined with
`muster join`) and a three-member etcd on free loopback ports, both on this machine.
Then:

  KV     wrk against each side's leader and one follower, the same threads,
         connections and duration on both, the two sides alternating who goes
         first; per cell the round with the median req/s (and its p50/p99), and
         the servers' CPU per request (utime+stime of every process of the three
         members over the run, divided by the requests).
  fail   FAILOVERS rounds, the two sides alternating: SIGKILL of the leader
         (muster: musterd and its five daemons at once; etcd: the member), then
         the two survivors polled every 10 ms until both name the same new
         leader. One key is written before the kill and read back from the new
         leader after it (a lost write is reported). One more key is written to
         the new leader; the killed member is restarted on its data dir, and the
         time until it holds that key and is healthy again is the rejoin time
         (muster: /v1/operator/autopilot/health says all three healthy; etcd: it
         names the leader and has applied the leader's index).

Every process it starts is recorded in <work>/pids (cluster.sh's trap ends what
is left) and stopped on the way out.

    cluster.py --work DIR --muster build/bin/muster --libexec build/libexec
               --etcd /usr/bin/etcd --wrk /usr/bin/wrk [--ips 127.0.0.31,...]
               [--rounds 3] [--duration 4] [--conns 64] [--threads 2]
               [--failovers 10] [--cells ...] [--results FILE]
"""
import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DAEMONS = ("raftd", "gossipd", "healthd", "dnsd", "httpd")
MUSTER_PORTS = (8300, 8301, 8302, 8500, 8600)  # Consul's defaults, on each server's address

# Consul's default timings, with the production recommendation raft_multiplier 1:
# hashicorp/raft's 1 s heartbeat and election timeouts, 500 ms leader lease (spec §5.1).
MUSTER_CONFIG = {"performance": {"raft_multiplier": 1}}

# The cells: (name, op, where). "stale" is a read served by the follower itself:
# muster's ?stale, etcd's serializable Range.
CELLS = {
    "put-leader": ("put", "leader"),
    "put-follower": ("put", "follower"),
    "get-leader": ("get", "leader"),
    "get-follower": ("get", "follower"),
    "stale-follower": ("stale", "follower"),
}


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


def wait_for(cond, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        # None and False mean "not yet": a leader's index may be 0.
        if v is not None and v is not False:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Http:
    """One kept-alive HTTP/1.1 connection to host:port, reopened after an error."""

    def __init__(self, host, port, timeout=2.0):
        self.host, self.port, self.timeout, self.c = host, port, timeout, None

    def req(self, method, path, body=None, headers=None):
        """(status, body bytes), or (None, error text)."""
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException) as e:
                if self.c is not None:
                    self.c.close()
                self.c = None
                err = "%s: %s" % (type(e).__name__, e)
                # A kept connection the server closed: once more on a new one.
                if attempt == 0 and isinstance(e, (http.client.RemoteDisconnected,
                                                   BrokenPipeError, ConnectionResetError)):
                    continue
                return None, err
        return None, "unreachable"

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


class Procs:
    """Every process started, written to <work>/pids for cluster.sh's trap."""

    def __init__(self, work):
        self.path = os.path.join(work, "pids")
        self.pids = set()

    def add(self, *pids):
        with open(self.path, "a") as f:
            for p in pids:
                if p and p not in self.pids:
                    self.pids.add(p)
                    f.write("%d\n" % p)


# --- muster ----------------------------------------------------------------------------


class MusterNode:
    def __init__(self, i, ip, a, work, procs):
        self.i, self.ip, self.a, self.procs = i, ip, a, procs
        self.name = "bench-s%d" % (i + 1)
        self.dir = os.path.join(work, "m%d" % (i + 1))
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "muster.json")
        with open(conf, "w") as f:
            json.dump(MUSTER_CONFIG, f)
        self.run_dir = os.path.join(self.dir, "r")
        self.sock = os.path.join(self.run_dir, "ctl.sock")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.argv = [a.muster, "agent", "-server", "-bootstrap-expect", "3",
                     "-node", self.name, "-bind", ip, "-client", ip,
                     "-data-dir", os.path.join(self.dir, "data"), "-config-file", conf]
        self.env = dict(os.environ, MUSTER_RUN_DIR=self.run_dir, MUSTER_LIBEXEC_DIR=a.libexec)
        self.env.pop("NOTIFY_SOCKET", None)
        self.proc = None
        self.http = Http(ip, 8500)
        self.url = "http://%s:8500" % ip
        self.raft_addr = "%s:8300" % ip

    def start(self):
        with open(self.log_path, "a") as lf:
            lf.write("--- %s: start\n" % time.strftime("%H:%M:%S"))
            lf.flush()
            # Its own session: a Ctrl-C on the terminal reaches only this driver, which
            # stops the agents itself.
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=lf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.procs.add(self.proc.pid)

    def status(self):
        """`muster ctl status` as {daemon: {key: value}}, or None."""
        try:
            r = subprocess.run([self.a.muster, "ctl", "-socket", self.sock, "status"],
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if parts:
                out[parts[0]] = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        return out

    def wait_ready(self, timeout=60):
        def cond():
            if self.proc.poll() is not None:
                raise Fail("%s exited (%s):\n%s" % (self.name, self.proc.returncode,
                                                    self.tail()))
            st = self.status()
            if st:
                self.procs.add(*[int(st[d]["pid"]) for d in DAEMONS if "pid" in st.get(d, {})])
            return bool(st and all(st.get(d, {}).get("state") == "ready" for d in DAEMONS))
        try:
            wait_for(cond, timeout, "%s's five daemons ready" % self.name, 0.1)
        except Fail as e:
            raise Fail("%s\n%s" % (e, self.tail()))

    def daemon_pids(self):
        st = self.status() or {}
        return [int(st[d]["pid"]) for d in DAEMONS if st.get(d, {}).get("pid")]

    def kill(self):
        """SIGKILL of the whole agent at once, as a machine that dies: musterd is
        stopped first (SIGSTOP), so that it neither respawns a daemon it sees die nor
        hands its children a SIGTERM through their parent-death signal; then its five
        daemons and musterd itself get SIGKILL. Returns the time of the kill."""
        pids = self.daemon_pids()
        if len(pids) != len(DAEMONS):
            raise Fail("%s: `muster ctl status` gave %d daemon pids" % (self.name, len(pids)))
        t0 = time.monotonic()
        os.kill(self.proc.pid, signal.SIGSTOP)
        for p in pids + [self.proc.pid]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.http.close()
        self.proc.wait(10)
        wait_for(lambda: not any(alive(p) for p in pids), 10, "%s's daemons gone" % self.name)
        return t0

    def leader(self):
        """The Raft address this server names as leader ("" for none), or None."""
        st, body = self.http.req("GET", "/v1/status/leader")
        if st != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.daemon_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for p in pids:
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join("  | " + l for l in f.readlines()[-n:])
        except OSError:
            return ""


def ports_free(ip, ports):
    for p in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, p))
            except OSError:
                return False
            finally:
                s.close()
    return True


class Muster:
    name = "muster"

    def __init__(self, a, work, procs):
        self.a = a
        self.nodes = [MusterNode(i, ip, a, work, procs) for i, ip in enumerate(a.ips)]

    def start(self):
        for n in self.nodes:
            if not ports_free(n.ip, MUSTER_PORTS):
                raise Fail("%s: Consul's default ports (8300-8302, 8500, 8600) are not all "
                           "free on %s (IPS= picks other addresses)" % (n.name, n.ip))
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready()
        for n in self.nodes[1:]:
            r = subprocess.run([self.a.muster, "join", self.nodes[0].ip], capture_output=True,
                               text=True, timeout=30,
                               env=dict(os.environ, CONSUL_HTTP_ADDR=n.url))
            if r.returncode != 0:
                raise Fail("%s: muster join %s: %s%s" % (n.name, self.nodes[0].ip, r.stdout,
                                                         r.stderr))

    def agreed_leader(self, among):
        """The index of the node all of `among` name as leader, if they agree on one of
        them."""
        seen = set()
        for i in among:
            l = self.nodes[i].leader()
            if not l:
                return None
            seen.add(l)
        if len(seen) != 1:
            return None
        addr = seen.pop()
        for i in among:
            if self.nodes[i].raft_addr == addr:
                return i
        return None

    def healthy(self, via):
        """Autopilot says all three servers are healthy voters (asked of node `via`)."""
        st, body = self.nodes[via].http.req("GET", "/v1/operator/autopilot/health")
        if st != 200:
            return False
        h = json.loads(body)
        return bool(h.get("Healthy") and len(h.get("Servers") or []) == 3 and
                all(s.get("Healthy") and s.get("Voter") for s in h["Servers"]))

    def put(self, i, key, value):
        st, body = self.nodes[i].http.req("PUT", "/v1/kv/" + key, value.encode())
        return st == 200 and body.strip() == b"true"

    def get_consistent(self, i, key):
        st, body = self.nodes[i].http.req("GET", "/v1/kv/%s?consistent&raw" % key)
        return body.decode(errors="replace") if st == 200 else None

    def wrk_target(self, i, op):
        """(url, script or None)."""
        u = self.nodes[i].url
        if op == "put":
            return u, self.a.put_kv
        if op == "get":
            return u + "/v1/kv/k1", None
        return u + "/v1/kv/k1?stale", None

    def pids(self):
        """Every process of the three agents: musterd and its five daemons each."""
        out = []
        for n in self.nodes:
            out += [n.proc.pid] + n.daemon_pids()
        return out

    def kill(self, i):
        return self.nodes[i].kill()

    def restart(self, i):
        n = self.nodes[i]
        wait_for(lambda: ports_free(n.ip, MUSTER_PORTS), 20, "%s's ports free" % n.name, 0.05)
        n.start()
        n.wait_ready()

    def get_local(self, i, key):
        """A read served by node i from its own state (?stale)."""
        st, body = self.nodes[i].http.req("GET", "/v1/kv/%s?stale&raw" % key)
        return body.decode(errors="replace") if st == 200 else None

    def stop(self):
        for n in self.nodes:
            n.stop()

    def describe(self):
        return ("3 servers, `muster agent -server -bootstrap-expect 3 -bind %s -client …`, "
                "Consul's default ports, performance.raft_multiplier 1 (1 s heartbeat and "
                "election timeouts)" % "/".join(self.a.ips))


# --- etcd -------------------------------------------------------------------------------


def free_ports(n):
    ss = [socket.socket() for _ in range(n)]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in ss]
    for s in ss:
        s.close()
    return ports


def b64(s):
    return base64.b64encode(s.encode()).decode()


class EtcdMember:
    def __init__(self, i, client_port, peer_port, cluster, work, a, procs):
        self.i, self.a, self.procs = i, a, procs
        self.name = "e%d" % (i + 1)
        self.dir = os.path.join(work, self.name)
        self.log_path = self.dir + ".log"
        self.url = "http://127.0.0.1:%d" % client_port
        self.argv = [a.etcd, "--name", self.name, "--data-dir", self.dir,
                     "--logger", "zap", "--log-level", "warn",
                     "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                     "--listen-peer-urls", "http://127.0.0.1:%d" % peer_port,
                     "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer_port,
                     "--initial-cluster", cluster, "--initial-cluster-token", "bench",
                     "--initial-cluster-state", "new"]
        self.http = Http("127.0.0.1", client_port)
        self.proc = None
        self.id = None

    def start(self):
        with open(self.log_path, "a") as lf:
            self.proc = subprocess.Popen(self.argv, stdout=lf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.add(self.proc.pid)

    def post(self, path, obj):
        st, body = self.http.req("POST", path, json.dumps(obj).encode(),
                                 {"Content-Type": "application/json"})
        if st != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def status(self):
        return self.post("/v3/maintenance/status", {})

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join("  | " + l for l in f.readlines()[-n:])
        except OSError:
            return ""


class Etcd:
    name = "etcd"

    def __init__(self, a, work, procs):
        self.a = a
        ports = free_ports(6)
        cluster = ",".join("e%d=http://127.0.0.1:%d" % (i + 1, ports[3 + i]) for i in range(3))
        self.members = [EtcdMember(i, ports[i], ports[3 + i], cluster, work, a, procs)
                        for i in range(3)]

    def start(self):
        for m in self.members:
            m.start()

    def leader_id(self, i):
        m = self.members[i]
        st = m.status()
        if not st:
            return None
        m.id = st["header"]["member_id"]
        return st.get("leader") or None

    def agreed_leader(self, among):
        seen = set()
        for i in among:
            l = self.leader_id(i)
            if l is None:
                return None
            seen.add(l)
        if len(seen) != 1:
            return None
        lid = seen.pop()
        for i in among:
            if self.members[i].id == lid:
                return i
        return None

    def put(self, i, key, value):
        r = self.members[i].post("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return r is not None and "header" in r

    def get_consistent(self, i, key):
        r = self.members[i].post("/v3/kv/range", {"key": b64(key)})
        if not r or not r.get("kvs"):
            return None
        return base64.b64decode(r["kvs"][0]["value"]).decode(errors="replace")

    def wrk_target(self, i, op):
        u = self.members[i].url
        if op == "put":
            return u, os.path.join(ROOT, "bench", "put-etcd-v3.lua")
        if op == "get":
            return u + "/v3/kv/range", os.path.join(ROOT, "bench", "get-etcd-v3.lua")
        return u + "/v3/kv/range", os.path.join(ROOT, "bench",
                                                "get-etcd-v3-serializable.lua")

    def pids(self):
        return [m.proc.pid for m in self.members]

    def kill(self, i):
        m = self.members[i]
        t0 = time.monotonic()
        m.proc.send_signal(signal.SIGKILL)
        m.http.close()
        m.proc.wait(10)
        return t0

    def restart(self, i):
        self.members[i].start()

    def get_local(self, i, key):
        """A read served by member i from its own state (serializable)."""
        r = self.members[i].post("/v3/kv/range", {"key": b64(key), "serializable": True})
        if not r or not r.get("kvs"):
            return None
        return base64.b64decode(r["kvs"][0]["value"]).decode(errors="replace")

    def in_step(self, i, leader):
        """Member i names the leader and has applied what the leader had when asked."""
        lst = self.members[leader].status()
        st = self.members[i].status()
        if not lst or not st or st.get("leader") != lst["header"]["member_id"]:
            return False
        return int(st.get("raftAppliedIndex", 0)) >= int(lst.get("raftIndex", 0))

    def healthy(self, via):
        return all(self.in_step(i, via) for i in range(3) if i != via)

    def stop(self):
        for m in self.members:
            m.stop()

    def describe(self):
        return ("3 members on 127.0.0.1 (free ports), etcd's defaults: --heartbeat-interval "
                "100 ms, --election-timeout 1000 ms")


# --- the KV cells -----------------------------------------------------------------------


def unit_us(v):
    m = re.match(r"^([0-9.]+)(us|ms|s|m)$", v)
    if not m:
        return -1
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]


def parse_wrk(text):
    out = {"rps": None, "p50_us": None, "p99_us": None, "requests": 0, "errors": 0}
    for line in text.splitlines():
        f = line.split()
        if line.startswith("Requests/sec:"):
            out["rps"] = float(f[1])
        elif re.match(r"^ +50% ", line):
            out["p50_us"] = unit_us(f[1])
        elif re.match(r"^ +99% ", line):
            out["p99_us"] = unit_us(f[1])
        elif " requests in " in line:
            out["requests"] = int(f[0])
        elif "Non-2xx or 3xx responses:" in line:
            out["errors"] += int(f[-1])
        elif line.strip().startswith("Socket errors:"):
            out["errors"] += sum(int(x) for x in re.findall(r"(\d+)", line))
    if out["rps"] is None:
        return None
    if out["requests"] == 0:
        out["errors"] += 1
    return out


HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pids):
    """utime + stime of these processes, in seconds (one that is gone counts 0)."""
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read().rsplit(")", 1)[1].split()
            t += int(st[11]) + int(st[12])
        except (OSError, IndexError, ValueError):
            pass
    return t / HZ


def run_wrk(a, work, system, cell, rnd, url, script, pids):
    out = os.path.join(work, "wrk-%s-%s-%d.txt" % (system, cell, rnd))
    argv = [a.wrk, "-t%d" % a.threads, "-c%d" % a.conns, "-d%ds" % a.duration, "--latency"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    c0 = cpu_s(pids)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + 60)
    cpu = cpu_s(pids) - c0
    with open(out, "w") as f:
        f.write(r.stdout + r.stderr)
    res = parse_wrk(r.stdout)
    if res is None:
        log("%s %s round %d: no result from wrk:\n%s" % (system, cell, rnd,
                                                          (r.stdout + r.stderr)[-600:]))
        return None
    # The servers' CPU per request: all processes of the three members, over the run.
    res.update(system=system, cell=cell, round=rnd,
               cpu_us=cpu * 1e6 / res["requests"] if res["requests"] else None)
    log("round=%d system=%s cell=%s rps=%.0f p50_us=%.0f p99_us=%.0f cpu_us=%s requests=%d "
        "errors=%d" % (rnd, system, cell, res["rps"], res["p50_us"], res["p99_us"],
                       fmt(res["cpu_us"]), res["requests"], res["errors"]))
    if res["errors"]:
        log("  wrk: " + r.stdout.replace("\n", "\n  wrk: "))
    return res


def kv_bench(a, work, systems, results):
    """systems: {name: (system, leader index, follower index)}."""
    order = list(systems)
    for cell in a.cells:
        op, where = CELLS[cell]
        for name, (s, l, f) in list(systems.items()):
            # The leader of now: a cell aimed at the leader must not land on a follower.
            l = wait_for(lambda: s.agreed_leader(range(3)), 60,
                         "%s: one leader among all three" % name, 0.05)
            if l != systems[name][1]:
                log("%s: the leader moved to %d" % (name, l))
                systems[name] = (s, l, (l + 1) % 3)
        if op != "put":
            # The gets read k1: written once more right before, and read back once.
            for name, (s, l, f) in systems.items():
                if not s.put(l, "k1", "v") or s.get_consistent(f, "k1") != "v":
                    log("%s: PUT k1 then GET k1 before the gets failed" % name)
        for rnd in range(1, a.rounds + 1):
            # Who goes first alternates, so a drift of the machine's load does not always
            # land on the same side.
            for k in range(len(order)):
                name = order[(rnd - 1 + k) % len(order)]
                s, l, f = systems[name]
                url, script = s.wrk_target(l if where == "leader" else f, op)
                r = run_wrk(a, work, name, cell, rnd, url, script, s.pids())
                if r:
                    results["kv"].append(r)


def median_round(rows):
    rows = sorted(rows, key=lambda r: r["rps"])
    return rows[(len(rows) - 1) // 2] if rows else None


# --- failover ---------------------------------------------------------------------------


def failover_round(a, s, rnd, lead, results, lost):
    """One round on one system: the leader killed, the time until the survivors agree on
    a new one, the killed member restarted until healthy. Returns the new leader."""
    every = range(3)
    wait_for(lambda: s.healthy(lead), 120, "%s: all three healthy before round %d" %
             (s.name, rnd), 0.1)
    key = "failover-%d" % rnd
    if not s.put(lead, key, str(rnd)):
        raise Fail("%s: the write of %s before the kill was not acknowledged" % (s.name, key))
    live = [i for i in every if i != lead]
    t0 = s.kill(lead)
    new = None
    while new is None:
        new = s.agreed_leader(live)
        if new is None:
            if time.monotonic() - t0 > a.failover_timeout:
                raise Fail("%s: no new leader among the survivors %.0f s after the SIGKILL "
                           "of the leader (round %d)" % (s.name, a.failover_timeout, rnd))
            time.sleep(0.01)
    dt = time.monotonic() - t0
    got = s.get_consistent(new, key)
    if got != str(rnd):
        lost.append("%s round %d: %s read back %r from the new leader" % (s.name, rnd, key,
                                                                          got))
    # One write under the new leader, which the restarted member must come to hold.
    after = key + "-after"
    if not s.put(new, after, str(rnd)):
        raise Fail("%s: the write of %s to the new leader was not acknowledged" % (s.name,
                                                                                  after))
    t1 = time.monotonic()
    s.restart(lead)
    # The parts of the way back, for the log: the process up (muster: its five daemons
    # ready), the write under the new leader held, the member healthy.
    up, data, healthy = time.monotonic() - t1, None, None
    deadline = t1 + 120
    while data is None or healthy is None:
        if data is None and s.get_local(lead, after) == str(rnd):
            data = time.monotonic() - t1
        if healthy is None and s.healthy(new):
            healthy = time.monotonic() - t1
        if time.monotonic() > deadline:
            raise Fail("%s: the restarted member not back after 120 s (holds %s: %s, "
                       "healthy: %s)" % (s.name, after, data is not None, healthy is not None))
        time.sleep(0.02)
    back = max(data, healthy)
    log("failover system=%s round=%d killed=%d new=%d failover_s=%.3f rejoin_s=%.2f "
        "(up %.2f, data %.2f, healthy %.2f)" % (s.name, rnd, lead, new, dt, back, up, data,
                                                healthy))
    results["failover"].append({"system": s.name, "round": rnd, "failover_s": dt,
                                "rejoin_s": back, "up_s": up, "data_s": data,
                                "healthy_s": healthy})
    return new


def failover(a, systems, results, lost):
    """FAILOVERS rounds, the systems alternating who goes first."""
    lead = {}
    for s in systems:
        lead[s.name] = wait_for(lambda: s.agreed_leader(range(3)), 60,
                                "%s: one leader among all three" % s.name, 0.05)
    for rnd in range(1, a.failovers + 1):
        for k in range(len(systems)):
            s = systems[(rnd - 1 + k) % len(systems)]
            lead[s.name] = failover_round(a, s, rnd, lead[s.name], results, lost)


# --- the table --------------------------------------------------------------------------


def fmt(v, p=0):
    return "-" if v is None else ("%.*f" % (p, v))


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.2f" % (a / b)


LABELS = {
    "put-leader": "put to the leader",
    "put-follower": "put to a follower",
    "get-leader": "get from the leader",
    "get-follower": "get from a follower",
    "stale-follower": "stale get from a follower",
}


def table(a, results):
    """One table: per KV cell the median round's req/s, p50/p99 and CPU per request;
    then the failover and rejoin times. Ratios are muster/etcd."""
    print()
    print("| measure | muster | etcd | muster/etcd |")
    print("| --- | ---: | ---: | ---: |")
    for cell in a.cells:
        r = {}
        for sysname in ("muster", "etcd"):
            r[sysname] = median_round([x for x in results["kv"] if x["system"] == sysname and
                                       x["cell"] == cell])
        m, e = r["muster"], r["etcd"]
        g = lambda x, k: None if x is None else x[k]
        err = " (errors)" if any(x["errors"] for x in results["kv"] if x["cell"] == cell) else ""
        lab = LABELS[cell]
        print("| %s, req/s%s | %s | %s | %s |" % (lab, err, fmt(g(m, "rps")), fmt(g(e, "rps")),
                                                 ratio(g(m, "rps"), g(e, "rps"))))
        print("| %s, p50 / p99 µs | %s / %s | %s / %s | %s / %s |" % (
            lab, fmt(g(m, "p50_us")), fmt(g(m, "p99_us")), fmt(g(e, "p50_us")),
            fmt(g(e, "p99_us")), ratio(g(m, "p50_us"), g(e, "p50_us")),
            ratio(g(m, "p99_us"), g(e, "p99_us"))))
        print("| %s, servers' CPU µs/req | %s | %s | %s |" % (
            lab, fmt(g(m, "cpu_us")), fmt(g(e, "cpu_us")), ratio(g(m, "cpu_us"), g(e, "cpu_us"))))
    if a.failovers:
        for what, key in (("failover after SIGKILL of the leader", "failover_s"),
                          ("killed member restarted to healthy", "rejoin_s")):
            st = {}
            for sysname in ("muster", "etcd"):
                v = [x[key] for x in results["failover"] if x["system"] == sysname]
                st[sysname] = (statistics.median(v), min(v), max(v)) if v else None
            cellv = lambda x: "-" if x is None else "%.2f (%.2f–%.2f)" % x
            n = max(len([x for x in results["failover"] if x["system"] == y])
                    for y in ("muster", "etcd"))
            print("| %s, s: median (min–max) of %d | %s | %s | %s |" % (
                what, n, cellv(st["muster"]), cellv(st["etcd"]),
                ratio(st["muster"] and st["muster"][0], st["etcd"] and st["etcd"][0])))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--muster", required=True)
    p.add_argument("--libexec", required=True)
    p.add_argument("--etcd", required=True)
    p.add_argument("--wrk", required=True)
    p.add_argument("--put-kv", required=True)
    p.add_argument("--ips", default="127.0.0.31,127.0.0.32,127.0.0.33")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=4)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--failovers", type=int, default=10)
    p.add_argument("--failover-timeout", type=float, default=30)
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--results")
    a = p.parse_args()
    a.ips = a.ips.split(",")
    a.cells = [c for c in a.cells.split(",") if c]
    if len(a.ips) != 3:
        sys.exit("bench: --ips wants three addresses")
    for c in a.cells:
        if c not in CELLS:
            sys.exit("bench: unknown cell %s (%s)" % (c, ", ".join(CELLS)))

    # SIGTERM (cluster.sh's trap, a timeout) unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Procs(a.work)
    m, e = Muster(a, a.work, procs), Etcd(a, a.work, procs)
    results = {"kv": [], "failover": []}
    lost, rc = [], 0
    print("# muster: " + m.describe())
    print("# etcd: " + e.describe())
    print("# wrk -t%d -c%d -d%ds --latency; rounds=%d; failovers=%d" % (
        a.threads, a.conns, a.duration, a.rounds, a.failovers), flush=True)
    try:
        m.start()
        e.start()
        leaders = {}
        for s in (m, e):
            leaders[s.name] = wait_for(lambda: s.agreed_leader(range(3)), 60,
                                       "%s: one leader among all three" % s.name, 0.05)
            wait_for(lambda: s.healthy(leaders[s.name]), 60, "%s: all three healthy" % s.name,
                     0.1)
        log("leaders: muster %s, etcd %s" % (m.nodes[leaders["muster"]].name,
                                              e.members[leaders["etcd"]].name))
        systems = {}
        for s in (m, e):
            l = leaders[s.name]
            systems[s.name] = (s, l, (l + 1) % 3)
        kv_bench(a, a.work, systems, results)
        failover(a, [m, e], results, lost)
    except Fail as ex:
        log(str(ex))
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    finally:
        # A second signal (cluster.sh's trap after a Ctrl-C) must not cut the stops short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        m.stop()
        e.stop()
    if a.results:
        with open(a.results, "w") as f:
            json.dump(results, f, indent=1)
    table(a, results)
    for l in lost:
        log("LOST WRITE: " + l)
    if lost or any(r["errors"] for r in results["kv"]):
        rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
