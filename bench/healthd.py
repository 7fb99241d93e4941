#!/usr/bin/env python3
"""healthd.py: the health-check benchmark's driver (bench/healthd.sh runs it; bench/README.md).

One `muster agent -dev` on free ports, N services (default 1,000) registered
through PUT /v1/agent/service/register, each with one TCP and one HTTP check
at the same Interval (default 1 s): 2N probes per interval. The targets are
served by one small process (`healthd.py target N`, asyncio, raw protocols):
N TCP listeners that accept and drop, and N HTTP/1.1 listeners answering
`200 OK` with a 2-byte body, keep-alive honoured (so a prober that reuses
its connections may), each on its own port as N real services would be
(one shared port would also put every probe's TIME_WAIT on one 4-tuple
space). The target counts accepted connections and answered requests, so
the run can say how many probes were really made.

Measured, over a window after a warm-up, once every check is passing:
  healthd CPU   utime+stime from /proc/<pid>/stat, as a share of one core;
  healthd RSS   VmRSS at the window's end, VmHWM (its peak), and VmRSS
                before any registration (the empty agent);
  probes/s      TCP connections accepted and HTTP requests answered by the
                target per second, against the 2N/interval expected;
  the rest      the other daemons' and the target's CPU over the window,
                registration rate, the time until every check passed, and
                checks not passing at the window's end (none expected).

    healthd.py run --muster build/bin/muster --libexec build/libexec
                   [--services 1000] [--interval 1s] [--warmup 10] [--window 30]
                   [--results file] [--keep]
    healthd.py target N     (prints its ports as one JSON line, then serves)
"""
import argparse
import asyncio
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DAEMONS = ("raftd", "gossipd", "healthd", "dnsd", "httpd")
HTTP_REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
HTTP_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
              b"Connection: close\r\n\r\nok")
MAX_HEAD = 16384   # bytes of request head the target reads before giving up on a client


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


class Stop(Exception):
    pass


def deadline_loop(timeout, what):
    end = time.monotonic() + timeout
    while True:
        yield
        if time.monotonic() > end:
            raise TimeoutError("timed out after %ds: %s" % (timeout, what))


def go_seconds(s):
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for u in ("ms", "s", "m"):
        if s.endswith(u):
            return float(s[:-len(u)]) * units[u]
    raise ValueError("interval %r: want e.g. 1s, 500ms" % s)


# --- the target process ----------------------------------------------------------------


class Counts:
    tcp_conns = 0
    http_conns = 0
    http_reqs = 0


class TcpTarget(asyncio.Protocol):
    def connection_made(self, transport):
        Counts.tcp_conns += 1
        transport.close()   # the check only needs the connect to succeed


class HttpTarget(asyncio.Protocol):
    def connection_made(self, transport):
        Counts.http_conns += 1
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self.t.close()
                return
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4:]
            # Probes send no body (GET); a Content-Length body is skipped whole.
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    n = int(line.split(b":", 1)[1])
                    self.buf = self.buf[n:]
            Counts.http_reqs += 1
            if b"connection: close" in head or head.endswith(b"http/1.0"):
                self.t.write(HTTP_CLOSE)
                self.t.close()
                return
            self.t.write(HTTP_REPLY)


class StatsTarget(asyncio.Protocol):
    def connection_made(self, transport):
        transport.write(json.dumps({"tcp_conns": Counts.tcp_conns,
                                    "http_conns": Counts.http_conns,
                                    "http_reqs": Counts.http_reqs}).encode() + b"\n")
        transport.close()


async def serve(n):
    loop = asyncio.get_running_loop()
    tcp, httpp = [], []
    for _ in range(n):
        s = await loop.create_server(TcpTarget, "127.0.0.1", 0, backlog=512)
        tcp.append(s.sockets[0].getsockname()[1])
        s = await loop.create_server(HttpTarget, "127.0.0.1", 0, backlog=512)
        httpp.append(s.sockets[0].getsockname()[1])
    s = await loop.create_server(StatsTarget, "127.0.0.1", 0)
    stats = s.sockets[0].getsockname()[1]
    # Readiness, signalled: every listener is bound before this line.
    print(json.dumps({"tcp": tcp, "http": httpp, "stats": stats}), flush=True)
    await asyncio.Event().wait()


def target_main(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.n + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    asyncio.run(serve(args.n))


# --- measuring -------------------------------------------------------------------------


def proc_stat(pid):
    """((utime, stime) in seconds, VmRSS KiB, VmHWM KiB) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    cpu = (int(f[11]) / tck, int(f[12]) / tck)
    rss = hwm = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


def target_counts(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


class Agent:
    def __init__(self, muster, libexec, work):
        self.muster, self.libexec, self.work = muster, libexec, work
        ports = []
        held = []
        for _ in range(6):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            ports.append(s.getsockname()[1])
        for s in held:
            s.close()
        self.http_port = ports[0]
        cfg = {"ports": {"http": ports[0], "server": ports[1], "dns": ports[2],
                         "serf_lan": ports[3], "serf_wan": ports[4], "grpc": -1}}
        path = os.path.join(work, "agent.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.run_dir = os.path.join(work, "r")
        env = dict(os.environ, MUSTER_RUN_DIR=self.run_dir, MUSTER_LIBEXEC_DIR=libexec)
        env.pop("NOTIFY_SOCKET", None)
        self.log_path = os.path.join(work, "agent.log")
        with open(self.log_path, "w") as lg:
            self.proc = subprocess.Popen([muster, "agent", "-dev", "-config-file", path],
                                         stdout=lg, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)

    def ctl_status(self):
        r = subprocess.run([self.muster, "ctl", "-socket", os.path.join(self.run_dir, "ctl.sock"),
                            "status"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if parts:
                out[parts[0]] = dict(x.split("=", 1) for x in parts[1:] if "=" in x)
        return out

    def alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("the agent exited with %s; see %s" % (self.proc.returncode,
                                                                     self.log_path))

    def wait_ready(self, timeout=60):
        for _ in deadline_loop(timeout, "all daemons ready"):
            self.alive()
            st = self.ctl_status()
            if st and all(st.get(d, {}).get("state") == "ready" for d in DAEMONS):
                self.pids = {d: int(st[d]["pid"]) for d in DAEMONS}
                break
            time.sleep(0.05)
        for _ in deadline_loop(timeout, "a leader"):
            self.alive()
            try:
                st, body = self.request("GET", "/v1/status/leader")
            except OSError:
                st = 0
            if st == 200 and json.loads(body):
                return
            time.sleep(0.05)

    def request(self, method, path, body=None):
        try:
            self.conn.request(method, path, body=body)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise

    def stop(self):
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def check_states(agent):
    st, body = agent.request("GET", "/v1/agent/checks")
    if st != 200:
        raise RuntimeError("GET /v1/agent/checks: %d %r" % (st, body[:300]))
    counts = {}
    for c in json.loads(body).values():
        counts[c["Status"]] = counts.get(c["Status"], 0) + 1
    return counts


def run(args, work):
    n, interval = args.services, args.interval
    kinds = args.kinds.split(",")
    r = {"services": n, "kinds": args.kinds, "checks": len(kinds) * n, "interval": interval}
    target = subprocess.Popen([sys.executable, os.path.abspath(__file__), "target", str(n)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    agent = None
    try:
        line = target.stdout.readline()
        if not line:
            raise RuntimeError("the target server exited with %s" % target.wait())
        ports = json.loads(line)
        agent = Agent(args.muster, args.libexec, work)
        agent.wait_ready()
        hd = agent.pids["healthd"]
        _, r["rss_empty_kib"], _ = proc_stat(hd)

        log("registering %d services with %s checks at %s ..." % (n, args.kinds, interval))
        t0 = time.monotonic()
        for i in range(n):
            body = json.dumps({
                "ID": "b%d" % i, "Name": "bench%d" % i, "Address": "127.0.0.1",
                "Port": ports["tcp"][i],
                "Checks": [c for c in (
                    {"TCP": "127.0.0.1:%d" % ports["tcp"][i], "Interval": interval,
                     "Timeout": "5s"},
                    {"HTTP": "http://127.0.0.1:%d/health" % ports["http"][i],
                     "Interval": interval, "Timeout": "5s"})
                    if ("TCP" in c and "tcp" in kinds) or ("HTTP" in c and "http" in kinds)]})
            for _ in deadline_loop(30, "registering b%d" % i):
                agent.alive()
                st, resp = agent.request("PUT", "/v1/agent/service/register", body)
                if st == 200:
                    break
                if st < 500:
                    raise RuntimeError("register b%d: %d %r" % (i, st, resp[:300]))
                time.sleep(0.1)
        r["register_s"] = time.monotonic() - t0
        log("registered in %.1f s; waiting for every check to pass ..." % r["register_s"])
        for _ in deadline_loop(60 + 5 * go_seconds(interval), "all %d checks passing" % r["checks"]):
            agent.alive()
            counts = check_states(agent)
            if counts.get("passing", 0) == r["checks"]:
                break
            time.sleep(0.2)
        r["all_passing_s"] = time.monotonic() - t0

        log("warm-up %g s, then a window of %g s ..." % (args.warmup, args.window))
        time.sleep(args.warmup)
        procs = dict(agent.pids, target=target.pid)
        before = {k: proc_stat(p) for k, p in procs.items()}
        tc0 = target_counts(ports["stats"])
        w0 = time.monotonic()
        time.sleep(args.window)
        w = time.monotonic() - w0
        after = {k: proc_stat(p) for k, p in procs.items()}
        tc1 = target_counts(ports["stats"])
        r["window_s"] = w
        for k in procs:
            u = (after[k][0][0] - before[k][0][0]) / w
            s = (after[k][0][1] - before[k][0][1]) / w
            r["cpu_%s" % k] = u + s
            if k == "healthd":
                r["cpu_healthd_user"], r["cpu_healthd_sys"] = u, s
        r["rss_kib"], r["hwm_kib"] = after["healthd"][1], after["healthd"][2]
        r["tcp_per_s"] = (tc1["tcp_conns"] - tc0["tcp_conns"]) / w
        r["http_reqs_per_s"] = (tc1["http_reqs"] - tc0["http_reqs"]) / w
        r["http_conns_per_s"] = (tc1["http_conns"] - tc0["http_conns"]) / w
        r["expected_per_s"] = n / go_seconds(interval)
        counts = check_states(agent)
        r["not_passing_end"] = r["checks"] - counts.get("passing", 0)
        return r
    finally:
        if agent is not None:
            agent.stop()
        target.kill()
        target.wait()


def on_signal(signum, frame):
    raise Stop("signal %d" % signum)


def report(r):
    pct = lambda v: "%.1f %%" % (100 * v)  # noqa: E731
    mib = lambda k: "%.1f MiB" % (k / 1024.0)  # noqa: E731
    print("| %d services, %s checks (%d), interval %s | |" % (
        r["services"], r["kinds"], r["checks"], r["interval"]))
    print("| --- | --- |")
    rows = [
        ("healthd CPU (share of one core): user + sys", "%s = %s + %s" % (
            pct(r["cpu_healthd"]), pct(r["cpu_healthd_user"]), pct(r["cpu_healthd_sys"]))),
        ("healthd CPU per probe", "%.0f µs" % (1e6 * r["cpu_healthd"] / max(
            1.0, r["tcp_per_s"] + r["http_reqs_per_s"]))),
        ("healthd RSS at the window's end / peak (VmHWM)",
         "%s / %s" % (mib(r["rss_kib"]), mib(r["hwm_kib"]))),
        ("healthd RSS before any registration", mib(r["rss_empty_kib"])),
        ("TCP probes/s seen by the target (expected)",
         "%.0f (%.0f)" % (r["tcp_per_s"], r["expected_per_s"])),
        ("HTTP requests/s seen by the target, new connections/s",
         "%.0f, %.0f" % (r["http_reqs_per_s"], r["http_conns_per_s"])),
        ("CPU of raftd / httpd / gossipd / dnsd",
         " / ".join(pct(r["cpu_" + d]) for d in ("raftd", "httpd", "gossipd", "dnsd"))),
        ("CPU of the target server (python asyncio, the other end of every probe)",
         pct(r["cpu_target"])),
        ("registration of all services (sequential PUTs, one connection)",
         "%.1f s" % r["register_s"]),
        ("from the first registration to every check passing", "%.1f s" % r["all_passing_s"]),
        ("checks not passing at the window's end", "%d" % r["not_passing_end"]),
        ("window", "%.1f s" % r["window_s"]),
    ]
    for k, v in rows:
        print("| %s | %s |" % (k, v))


def run_main(args):
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    go_seconds(args.interval)
    work = tempfile.mkdtemp(prefix="hdb.", dir="/tmp")
    try:
        r = run(args, work)
    except BaseException as e:
        log("failed: %s (kept %s)" % (e, work))
        raise
    print("raw " + " ".join("%s=%s" % (k, ("%.4f" % v) if isinstance(v, float) else v)
                            for k, v in r.items()), file=sys.stderr, flush=True)
    if args.results:
        with open(args.results, "w") as f:
            json.dump(r, f, indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    report(r)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--muster", required=True)
    p.add_argument("--libexec", required=True)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--interval", default="1s")
    p.add_argument("--kinds", default="tcp,http", choices=("tcp,http", "tcp", "http"))
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--window", type=float, default=30.0)
    p.add_argument("--results")
    p.add_argument("--keep", action="store_true")
    p = sub.add_parser("target")
    p.add_argument("n", type=int)
    args = ap.parse_args()
    if args.cmd == "target":
        target_main(args)
        return 0
    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
