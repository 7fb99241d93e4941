#!/usr/bin/env python3
"""gossip.py: the gossip benchmark's driver (bench/gossip.sh runs it; bench/README.md).

For each N: N members on loopback for each system (muster client agents,
whose gossipd does the gossip, and `serf agent`s), one system after the
other, the same memberlist timings on both. Per system it measures:

  join convergence   every member joins member 0 at t0 (all requests sent at
                     once); the time until every member lists N alive
                     (first and last member to see it);
  bytes/s per node   over a quiet window after convergence, every IPv4
                     packet on lo from or to one of the system's gossip
                     ports (UDP and TCP), counted once (the outgoing copy:
                     an AF_PACKET socket on lo sees each packet twice), IP
                     header included, divided by N and by the window;
  CPU per node       the gossip process's utime+stime over the same window
                     (gossipd alone for muster; the serf process for serf);
  failure detection  SIGKILL of member N-1 at t1; the time until every other
                     member lists it as failed (first and last).

Member lists are polled: serf through its RPC (msgpack over TCP, one kept
connection per agent), muster through GET /v1/agent/members (one kept HTTP
connection per agent). A poll round visits every member not yet done; the
time recorded for a member is when its answer arrived.

    gossip.py run --muster build/bin/muster --libexec build/libexec
              --sizes 10,30,60 --systems muster,serf --profile lan --window 30
    gossip.py sniff SECONDS PORT...   (root: counts lo traffic, prints JSON)
"""
import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from serfpeer import SerfRPC  # noqa: E402  (one copy of serf's RPC client)
import bus as busmod  # noqa: E402  (gossipd's bus, while httpd lacks the endpoints)

SERF = shutil.which("serf") or "/usr/bin/serf"

# memberlist's DefaultLANConfig / DefaultLocalConfig as muster's gossip_lan keys.
PROFILES = {
    "lan": {"probe_interval": "1s", "probe_timeout": "500ms", "suspicion_mult": 4,
            "retransmit_mult": 4, "gossip_interval": "200ms", "gossip_nodes": 3},
    "local": {"probe_interval": "1s", "probe_timeout": "200ms", "suspicion_mult": 3,
              "retransmit_mult": 2, "gossip_interval": "100ms", "gossip_nodes": 3},
}
DAEMONS = ("raftd", "gossipd", "healthd", "dnsd", "httpd")


# memberlist's PushPullInterval (30 s LAN, 15 s local) scaled by pushPullScale
# (util.go): × (ceil(log2(N) - 5) + 1) above 32 members.
def push_pull_s(profile, n):
    base = 30.0 if profile == "lan" else 15.0
    if n <= 32:
        return base
    return base * (math.ceil(math.log2(n) - 5.0) + 1)


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def free_ports(n):
    """n ports free for TCP and UDP on 127.0.0.1, all bound at once (no repeats)."""
    out, held = [], []
    while len(out) < n:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        p = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
        except OSError:
            t.close()
            u.close()
            continue
        held += [t, u]
        out.append(p)
    for s in held:
        s.close()
    return out


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f = f.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return None


def deadline_loop(timeout, what):
    end = time.monotonic() + timeout
    while True:
        yield
        if time.monotonic() > end:
            raise TimeoutError("timed out after %ds: %s" % (timeout, what))


# --- serf ---------------------------------------------------------------------------


class SerfSystem:
    name = "serf"

    def __init__(self, n, profile, work):
        self.n, self.profile, self.work = n, profile, work
        self.procs, self.rpcs, self.ports, self.rpc_ports = [], [], [], []

    def start(self):
        ports = free_ports(2 * self.n)
        for i in range(self.n):
            port, rpc = ports[2 * i], ports[2 * i + 1]
            lg = open(os.path.join(self.work, "serf%d.log" % i), "w")
            # The tags a muster client agent carries (Consul's), so that alive
            # messages and push/pull states are the same size on both sides.
            tags = {"build": "0.1.0:0000000", "dc": "dc1", "id": str(uuid.uuid4()),
                    "role": "node", "segment": "", "vsn": "2", "vsn_max": "3", "vsn_min": "2"}
            p = subprocess.Popen([SERF, "agent", "-node=s%d" % i, "-bind=127.0.0.1:%d" % port,
                                  "-rpc-addr=127.0.0.1:%d" % rpc, "-profile=" + self.profile,
                                  "-log-level=info"] +
                                 ["-tag=%s=%s" % kv for kv in sorted(tags.items())],
                                 stdout=lg, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            lg.close()
            self.procs.append(p)
            self.ports.append(port)
            self.rpc_ports.append(rpc)
        for i in range(self.n):
            for _ in deadline_loop(30, "serf agent s%d's RPC" % i):
                if self.procs[i].poll() is not None:
                    raise RuntimeError("serf agent s%d exited" % i)
                try:
                    self.rpcs.append(SerfRPC(("127.0.0.1", self.rpc_ports[i])))
                    break
                except OSError:
                    time.sleep(0.05)
        self.gossip_pids = [p.pid for p in self.procs]

    def names(self):
        return ["s%d" % i for i in range(self.n)]

    def join_all(self):
        """Every join on a connection of its own: the RPC answers it only when the
        push/pull is done, and the polling must not read that answer."""
        seed = "127.0.0.1:%d" % self.ports[0]
        self.joins = [SerfRPC(("127.0.0.1", p)) for p in self.rpc_ports[1:]]
        for r in self.joins:
            r.send("join", {"Existing": [seed], "Replay": False})

    def join_wait(self):
        """The joins that answered an error."""
        errors = 0
        for i, r in enumerate(self.joins, 1):
            try:
                if r.recv()["Num"] != 1:
                    errors += 1
            except (RuntimeError, OSError) as e:
                log("join error: s%d: %s" % (i, e))
                errors += 1
            r.close()
        return errors

    def statuses(self, i):
        """{name: "alive"|"failed"|"left"|...}"""
        return self.rpcs[i].statuses()

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        t = time.monotonic()
        self.procs[i].wait()
        self.rpcs[i].close()
        self.rpcs[i] = None
        return t

    def stop(self):
        for r in self.rpcs:
            if r is not None:
                r.close()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# --- muster --------------------------------------------------------------------------

# Consul's serf member status numbers, as /v1/agent/members gives them.
MUSTER_STATUS = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}


class MusterSystem:
    """N `muster agent`s in client mode (no -server: no Raft, no disk
    syncs); each runs its five daemons, and gossipd does the gossip."""
    name = "muster"

    def __init__(self, n, profile, work, muster, libexec):
        self.n, self.profile, self.work = n, profile, work
        self.muster, self.libexec = muster, libexec
        self.procs, self.ports, self.http = [], [], []

    def start(self):
        cfg = os.path.join(self.work, "gossip.json")
        with open(cfg, "w") as f:
            json.dump({"gossip_lan": PROFILES[self.profile]}, f)
        ports = free_ports(3 * self.n)
        self.dirs = []
        for i in range(self.n):
            serf_lan, http_port, dns = ports[3 * i:3 * i + 3]
            d = os.path.join(self.work, "m%d" % i)
            os.mkdir(d)
            env = dict(os.environ, MUSTER_RUN_DIR=os.path.join(d, "r"),
                       MUSTER_LIBEXEC_DIR=self.libexec)
            env.pop("NOTIFY_SOCKET", None)
            lg = open(os.path.join(d, "agent.log"), "w")
            p = subprocess.Popen([self.muster, "agent", "-data-dir", os.path.join(d, "data"),
                                  "-node", "m%d" % i, "-bind", "127.0.0.1",
                                  "-serf-lan-port", str(serf_lan), "-serf-wan-port", "-1",
                                  "-http-port", str(http_port), "-dns-port", str(dns),
                                  "-config-file", cfg],
                                 stdout=lg, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env)
            lg.close()
            self.procs.append(p)
            self.ports.append(serf_lan)
            self.http.append(http_port)
            self.dirs.append(d)
        self.status = []
        for i in range(self.n):
            self.status.append(self.wait_ready(i))
        self.gossip_pids = [st["gossipd"] for st in self.status]
        self.conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in self.http]

    def ctl_status(self, i):
        r = subprocess.run([self.muster, "ctl", "-socket",
                            os.path.join(self.dirs[i], "r", "ctl.sock"), "status"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if not parts:
                continue
            kv = dict(x.split("=", 1) for x in parts[1:] if "=" in x)
            out[parts[0]] = kv
        return out

    def wait_ready(self, i):
        for _ in deadline_loop(60, "muster agent m%d ready" % i):
            if self.procs[i].poll() is not None:
                raise RuntimeError("muster agent m%d exited; see %s" % (i, self.dirs[i]))
            st = self.ctl_status(i)
            if st and all(st.get(d, {}).get("state") == "ready" for d in DAEMONS):
                return {d: int(st[d]["pid"]) for d in ("musterd",) + DAEMONS}
            time.sleep(0.05)

    def names(self):
        return ["m%d" % i for i in range(self.n)]

    def request(self, i, method, path):
        c = self.conns[i]
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            c.close()
            raise

    def run_dir(self, i):
        return os.path.join(self.dirs[i], "r")

    def use_bus(self):
        """True while httpd answers 503 "not built yet" for /v1/agent/members: then
        MEMBERS and JOIN go to gossipd over the bus, as httpd will send them."""
        if not hasattr(self, "_use_bus"):
            st, body = self.request(0, "GET", "/v1/agent/members")
            self._use_bus = st == 503 and b"not built" in body
            if self._use_bus:
                self.buses = [busmod.Bus(self.run_dir(i), peer="gossipd", self_name="httpd")
                              for i in range(self.n)]
        return self._use_bus

    def join_all(self):
        seed = "127.0.0.1:%d" % self.ports[0]
        self.join_errors = []
        bus = self.use_bus()

        def one(i):
            if bus:
                with busmod.Bus(self.run_dir(i), peer="gossipd", self_name="httpd") as b:
                    try:
                        name, f = b.call("JOIN", timeout=30, addrs=[seed], wan=False)
                    except busmod.BusError as e:
                        name, f = "error", repr(e)
                if name != "JOIN_REPLY" or f["joined"] != 1:
                    self.join_errors.append("m%d: %s %r" % (i, name, f))
                return
            c = http.client.HTTPConnection("127.0.0.1", self.http[i], timeout=30)
            try:
                c.request("PUT", "/v1/agent/join/" + seed)
                r = c.getresponse()
                body = r.read()
                if r.status != 200:
                    self.join_errors.append("m%d: %d %r" % (i, r.status, body[:200]))
            except (http.client.HTTPException, OSError) as e:
                self.join_errors.append("m%d: %r" % (i, e))
            finally:
                c.close()
        self.join_threads = [threading.Thread(target=one, args=(i,)) for i in range(1, self.n)]
        for t in self.join_threads:
            t.start()

    def join_wait(self):
        """The joins that answered an error (the pool may have converged anyway)."""
        for t in self.join_threads:
            t.join()
        for e in self.join_errors[:3]:
            log("join error:", e)
        return len(self.join_errors)

    def statuses(self, i):
        if self.use_bus():
            name, f = self.buses[i].call("MEMBERS", timeout=10, wan=False)
            if name != "MEMBERS_REPLY":
                raise RuntimeError("m%d: MEMBERS: %s %r" % (i, name, f))
            return {m["name"]: MUSTER_STATUS.get(m["status"], str(m["status"]))
                    for m in f["members"]}
        st, body = self.request(i, "GET", "/v1/agent/members")
        if st != 200:
            raise RuntimeError("m%d: GET /v1/agent/members: %d %r" % (i, st, body[:200]))
        return {m["Name"]: MUSTER_STATUS.get(m["Status"], str(m["Status"]))
                for m in json.loads(body)}

    def kill(self, i):
        """SIGKILL of the member's gossipd, with musterd stopped first so it cannot
        restart it, and then SIGKILL of the rest of that agent (the other daemons
        would get SIGTERM from musterd's death: no gossip leave can come from them,
        gossipd is already gone)."""
        st = self.status[i]
        os.kill(st["musterd"], signal.SIGSTOP)
        os.kill(st["gossipd"], signal.SIGKILL)
        t = time.monotonic()
        os.kill(st["musterd"], signal.SIGKILL)
        self.procs[i].wait()
        for d in DAEMONS:
            try:
                os.kill(st[d], signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.conns[i].close()
        return t

    def stop(self):
        for c in getattr(self, "conns", []):
            c.close()
        for b in getattr(self, "buses", []):
            b.close()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# --- measuring ------------------------------------------------------------------------


def wait_all(system, members, pred, timeout, what, seen=None):
    """Polls members until pred(statuses) holds for each; {i: time it first held}.
    seen: a set that collects (observer, member, status) of every answer."""
    done = {}
    errors = {}
    end = time.monotonic() + timeout
    while True:
        if time.monotonic() > end:
            raise TimeoutError("%s: %s: %d of %d members after %ds; last errors: %s" % (
                system.name, what, len(done), len(members), timeout,
                list(errors.values())[:3]))
        for i in members:
            if i in done:
                continue
            try:
                st = system.statuses(i)
            except Exception as e:  # a member busy joining: try again next round
                errors[i] = repr(e)
                continue
            if seen is not None:
                seen.update((i, k, v) for k, v in st.items())
            if pred(st):
                done[i] = time.monotonic()
        if len(done) == len(members):
            return done
        time.sleep(0.02)


def sniff_start(ports, seconds, work):
    out = os.path.join(work, "sniff.json")
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "sniff", "-o", out,
                          str(seconds)] + [str(x) for x in ports])
    return p, out


def sniff_main(args):
    """Counts IPv4 UDP and TCP packets on lo with a source or destination port
    in the set, for `seconds`: each packet once (pkttype OUTGOING)."""
    ports = set(args.ports)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("lo", 0))
    s.settimeout(0.2)
    c = {"udp_bytes": 0, "udp_packets": 0, "tcp_bytes": 0, "tcp_packets": 0, "tcp_conns": 0}
    end = time.monotonic() + args.seconds
    # Drop the counters the kernel kept before now (PACKET_STATISTICS reads
    # and resets them).
    s.getsockopt(263, 6, 8)
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(128)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING or len(data) < 14 + 24:
            continue
        ip = data[14:]
        if ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        proto = ip[9]
        if proto not in (6, 17) or len(ip) < ihl + 4:
            continue
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        if sport not in ports and dport not in ports:
            continue
        k = "udp" if proto == 17 else "tcp"
        c[k + "_bytes"] += total
        c[k + "_packets"] += 1
        # A SYN without ACK to a gossip port: one stream opened (a push/pull,
        # rarely a TCP fallback ping).
        if proto == 6 and dport in ports and len(ip) >= ihl + 14 and ip[ihl + 13] & 0x12 == 0x02:
            c["tcp_conns"] += 1
    packets, drops = struct.unpack("II", s.getsockopt(263, 6, 8))
    c["kernel_drops"] = drops
    with open(args.o, "w") as f:
        json.dump(c, f)


def run_one(system, n, args, work):
    res = {"system": system.name, "n": n}
    t = time.monotonic()
    system.start()
    res["start_s"] = time.monotonic() - t
    everyone = list(range(n))
    names = system.names()

    t0 = time.monotonic()
    system.join_all()
    seen = set()
    conv = wait_all(system, everyone,
                    lambda st: sum(1 for x in names if st.get(x) == "alive") == n,
                    args.timeout, "all members list %d alive" % n, seen)
    res["join_errors"] = system.join_wait()
    res["conv_first_s"] = min(conv.values()) - t0
    res["conv_median_s"] = statistics.median(conv.values()) - t0
    res["conv_all_s"] = max(conv.values()) - t0
    # Every member was up the whole time: any "failed" seen while joining is a
    # false positive (observer, member) pair.
    res["false_failed"] = len({(i, k) for i, k, v in seen if v == "failed"})

    # The steady state: after one push/pull interval every member has had its
    # first periodic push/pull scheduled (memberlist: stagger + interval), and
    # the join's broadcasts are long retransmitted.
    warm = push_pull_s(args.profile, n) if args.warmup is None else args.warmup
    time.sleep(warm)
    win = args.window or push_pull_s(args.profile, n)
    res["warmup_s"] = warm
    res["window_s"] = win
    cpu0 = [cpu_s(p) for p in system.gossip_pids]
    sn, out = sniff_start(system.ports, win, work)
    tw = time.monotonic()
    sn.wait()
    window = time.monotonic() - tw
    cpu1 = [cpu_s(p) for p in system.gossip_pids]
    with open(out) as f:
        c = json.load(f)
    res["udp_Bps_node"] = c["udp_bytes"] / win / n
    res["tcp_Bps_node"] = c["tcp_bytes"] / win / n
    # Push/pulls come once per interval per node in the steady state; a window
    # of one interval sees each node's about once, but their number in it
    # varies. So what is compared is the cost of one exchange, and the
    # steady rate it gives (one per node per interval).
    res["tcp_conns"] = c["tcp_conns"]
    if c["tcp_conns"]:
        res["tcp_B_conn"] = c["tcp_bytes"] / c["tcp_conns"]
        res["tcp_Bps_node_steady"] = res["tcp_B_conn"] / push_pull_s(args.profile, n)
        res["total_Bps_node_steady"] = res["udp_Bps_node"] + res["tcp_Bps_node_steady"]
    res["pkts_s_node"] = (c["udp_packets"] + c["tcp_packets"]) / win / n
    res["sniff_drops"] = c["kernel_drops"]
    res["cpu_ms_s_node"] = 1000 * sum(b - a for a, b in zip(cpu0, cpu1)) / window / n

    victim = n - 1
    others = everyone[:victim]
    t1 = system.kill(victim)
    det = wait_all(system, others, lambda st: st.get(names[victim]) == "failed",
                   args.timeout, "all members list %s failed" % names[victim])
    res["detect_first_s"] = min(det.values()) - t1
    res["detect_all_s"] = max(det.values()) - t1
    res["detect_median_s"] = statistics.median(det.values()) - t1
    return res


class Stop(BaseException):
    """SIGINT or SIGTERM: every system started is stopped on the way out (a
    BaseException, so no `except Exception` on the way swallows it)."""


def on_signal(signum, frame):
    raise Stop("signal %d" % signum)


def run_main(args):
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    global SERF
    SERF = args.serf
    sizes = [int(x) for x in args.sizes.split(",")]
    systems = args.systems.split(",")
    results = []
    for k, n in enumerate(sizes):
        order = systems if k % 2 == 0 else list(reversed(systems))
        for name in order:
            work = tempfile.mkdtemp(prefix="gsb.%s%d." % (name, n), dir="/tmp")
            if name == "serf":
                system = SerfSystem(n, args.profile, work)
            else:
                system = MusterSystem(n, args.profile, work, args.muster, args.libexec)
            log("%s N=%d ..." % (name, n))
            try:
                r = run_one(system, n, args, work)
            except Exception as e:
                log("%s N=%d failed: %s (kept %s)" % (name, n, e, work))
                r = {"system": name, "n": n, "error": str(e)}
                work = None
            finally:
                system.stop()
            if work and not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            print("raw " + " ".join("%s=%s" % (k2, ("%.3f" % v) if isinstance(v, float) else v)
                                    for k2, v in r.items()), file=sys.stderr, flush=True)
            results.append(r)
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
    table(results, sizes, systems)


def table(results, sizes, systems):
    by = {(r["system"], r["n"]): r for r in results}
    cols = [("conv_median_s", "join convergence, median member (s)", "%.2f"),
            ("conv_all_s", "join convergence, all (s)", "%.2f"),
            ("join_errors", "joins answered with an error", "%d"),
            ("false_failed", "false failures seen while joining", "%d"),
            ("detect_first_s", "failure seen, first (s)", "%.2f"),
            ("detect_all_s", "failure seen, all (s)", "%.2f"),
            ("udp_Bps_node", "UDP B/s per node", "%.0f"),
            ("tcp_B_conn", "TCP bytes per push/pull", "%.0f"),
            ("tcp_Bps_node_steady", "TCP B/s per node, steady", "%.0f"),
            ("total_Bps_node_steady", "UDP+TCP B/s per node, steady", "%.0f"),
            ("tcp_conns", "TCP streams in the window", "%d"),
            ("pkts_s_node", "packets/s per node", "%.1f"),
            ("cpu_ms_s_node", "CPU ms/s per node", "%.2f")]
    two = "muster" in systems and "serf" in systems
    hdr = ["N", "metric"] + systems + (["ratio muster/serf"] if two else [])
    print("| " + " | ".join(hdr) + " |")
    print("| " + " | ".join(["---:", "---"] + ["---:"] * (len(hdr) - 2)) + " |")
    for n in sizes:
        for key, label, fmt in cols:
            cells, vals = [], {}
            for s in systems:
                r = by.get((s, n), {})
                v = r.get(key)
                vals[s] = v
                cells.append(fmt % v if v is not None else ("error" if "error" in r else "-"))
            if two:
                a, b = vals.get("muster"), vals.get("serf")
                cells.append("%.2f" % (a / b) if a is not None and b and key not in ("false_failed", "join_errors", "tcp_conns")
                             else "-")
            print("| %d | %s | %s |" % (n, label, " | ".join(cells)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--muster", default="build/bin/muster")
    r.add_argument("--libexec", default="build/libexec")
    r.add_argument("--sizes", default="10,30,60")
    r.add_argument("--systems", default="muster,serf")
    r.add_argument("--profile", default="lan", choices=sorted(PROFILES))
    r.add_argument("--window", type=float, help="seconds (default: the push/pull interval)")
    r.add_argument("--serf", default=SERF)
    r.add_argument("--warmup", type=float,
                   help="seconds between convergence and the window (default: the push/pull "
                   "interval)")
    r.add_argument("--timeout", type=float, default=120.0)
    r.add_argument("--results")
    r.add_argument("--keep", action="store_true")
    s = sub.add_parser("sniff")
    s.add_argument("-o", required=True)
    s.add_argument("seconds", type=float)
    s.add_argument("ports", type=int, nargs="+")
    args = ap.parse_args()
    if args.cmd == "run":
        run_main(args)
    else:
        sniff_main(args)


if __name__ == "__main__":
    main()
