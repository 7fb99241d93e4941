"""serfpeer.py: HashiCorp serf agents (Debian's `serf`) as real gossip peers of a muster agent.

A Serf starts one `serf agent` on free loopback ports, in a directory of
its own, and drives it through its RPC with the `serf` CLI (members -format=json,
join, leave, event). User events it receives are written by an event
handler, one file each (name, ltime, payload), so a test reads exactly
what serf delivered. Readiness is polled with deadlines, never slept.

memberlist's failure-detection bound (failure_bound_s) is computed here from
the timings in force, as memberlist's own code computes it; see its comment.
"""
import base64
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import msgpack

from agent import free_port, wait_for

SERF = os.environ.get("SERF", "/usr/bin/serf")
CLI_TIMEOUT = 10.0      # s: one serf CLI call (it talks to the agent's RPC)
BOOT_TIMEOUT = 10.0     # s: the agent answers RPC and lists itself alive

# memberlist's DefaultLocalConfig (config.go; spec §4.1 "Local"): what
# `serf agent -profile=local` runs with. TIMINGS_LAN is DefaultLANConfig.
# Keys are muster's gossip_lan keys (seconds for durations), plus the
# memberlist constants muster does not let one configure.
TIMINGS_LOCAL = {"probe_interval": 1.0, "probe_timeout": 0.2, "suspicion_mult": 3,
                 "retransmit_mult": 2, "gossip_interval": 0.1, "gossip_nodes": 3,
                 "suspicion_max_timeout_mult": 6}
TIMINGS_LAN = {"probe_interval": 1.0, "probe_timeout": 0.5, "suspicion_mult": 4,
               "retransmit_mult": 4, "gossip_interval": 0.2, "gossip_nodes": 3,
               "suspicion_max_timeout_mult": 6}
PROFILES = {"local": TIMINGS_LOCAL, "lan": TIMINGS_LAN}


def gossip_lan_config(t):
    """Timings as a muster agent's gossip_lan section (config keys, Go durations)."""
    ms = lambda s: "%dms" % round(s * 1000)  # noqa: E731
    return {"probe_interval": ms(t["probe_interval"]), "probe_timeout": ms(t["probe_timeout"]),
            "gossip_interval": ms(t["gossip_interval"]), "suspicion_mult": t["suspicion_mult"],
            "retransmit_mult": t["retransmit_mult"], "gossip_nodes": t["gossip_nodes"]}


def suspicion_timeout_s(mult, n, interval_s):
    """memberlist's suspicionTimeout() (util.go): mult × max(1, log10(max(1, n))) × interval,
    nodeScale kept to three decimals as its integer arithmetic does."""
    scale = max(1.0, math.log10(max(1.0, float(n))))
    return mult * math.floor(scale * 1000) * interval_s / 1000.0


def failure_bound_s(t, n):
    """The latest a member that crashed is marked failed by an observer that
    probes it itself, in a pool of n members (estNumNodes: all states, the
    observer included), with timings t, in memberlist's code (state.go):

    - probeNode runs on a ticker of probe_interval, so the first probe of the
      dead node after the crash is sent within one probe_interval (with
      n == 2 the dead node is the only one to probe; a larger pool's
      round-robin can take up to n-1 intervals, so this bound is for n == 2);
    - that probe gives up at the end of its probe interval (the ack handler's
      deadline is sent + probe_interval, scaled by awareness, 0 on a healthy
      loopback), not at probe_timeout: after probe_timeout it only starts the
      indirect and TCP pings and waits for them;
    - suspectNode then starts the suspicion timer: k = suspicion_mult - 2
      confirmations expected, k = 0 when n - 2 < k; min =
      suspicionTimeout(suspicion_mult, n, probe_interval), max =
      SuspicionMaxTimeoutMult × min; newSuspicion arms the timer at min when
      k < 1 (no one can confirm), else at max, cut towards min by each
      confirmation (suspicion.go remainingSuspicionTime).

    So bound = 2 × probe_interval + (min if k < 1 else max). With two members and
    serf's local profile (1 s, mult 3): 2 + 3 = 5 s; with the LAN profile
    (1 s, mult 4): 2 + 4 = 6 s, the "about 6 s with two members" of the issue."""
    pi = t["probe_interval"]
    k = t["suspicion_mult"] - 2
    if n - 2 < k:
        k = 0
    lo = suspicion_timeout_s(t["suspicion_mult"], n, pi)
    hi = t.get("suspicion_max_timeout_mult", 6) * lo
    return 2 * pi + (lo if k < 1 else hi)


# The event handler: one file per user event, written then renamed so a
# reader never sees half of one. serf runs it with SERF_USER_EVENT and
# SERF_USER_LTIME set and the payload on stdin (with a '\n' appended when the
# payload does not end with one: serf's invoke.go).
HANDLER = """#!/bin/sh
d=%s
t=$(mktemp "$d/.ev.XXXXXX") || exit 1
{ printf '%%s\\n%%s\\n' "$SERF_USER_LTIME" "$SERF_USER_EVENT"; base64 -w0; } >"$t"
mv "$t" "$d/$SERF_USER_LTIME.${t##*.ev.}"
"""


class SerfRPC:
    """serf's agent RPC (client/const.go): a msgpack header {Command, Seq} then
    the body, answered by {Seq, Error} then the body."""

    def __init__(self, addr, timeout=5.0):
        self.s = socket.create_connection(addr, timeout=timeout)
        self.u = msgpack.Unpacker(raw=False)
        self.seq = 0
        self.call("handshake", {"Version": 1}, reply=False)

    def _next(self):
        while True:
            for obj in self.u:
                return obj
            data = self.s.recv(65536)
            if not data:
                raise ConnectionError("serf RPC closed")
            self.u.feed(data)

    def send(self, cmd, body=None):
        self.seq += 1
        out = msgpack.packb({"Command": cmd, "Seq": self.seq})
        if body is not None:
            out += msgpack.packb(body, use_bin_type=True)
        self.s.sendall(out)
        return self.seq

    def recv(self, reply=True):
        h = self._next()
        if h.get("Error"):
            raise RuntimeError("serf RPC: %s" % h["Error"])
        return self._next() if reply else None

    def call(self, cmd, body=None, reply=True):
        self.send(cmd, body)
        return self.recv(reply)

    def statuses(self):
        return {m["Name"]: m["Status"] for m in self.call("members")["Members"]}

    def close(self):
        self.s.close()


def stdin_payload(p):
    """A payload as serf's event handler receives it on stdin (invoke.go)."""
    return p if p.endswith(b"\n") else p + b"\n"


class SerfError(AssertionError):
    pass


class Serf:
    """One `serf agent` on 127.0.0.1 (bind port and RPC port free ones)."""

    def __init__(self, name, tags=None, encrypt=None, profile="local", args=()):
        self.name = name
        self.tags = dict(tags or {})
        self.encrypt = encrypt
        self.profile = profile
        self.timings = PROFILES[profile]
        self.port = free_port()
        self.rpc_port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.rpc = "127.0.0.1:%d" % self.rpc_port
        self.dir = tempfile.mkdtemp(prefix="sf", dir="/tmp")
        self.ev_dir = os.path.join(self.dir, "events")
        os.mkdir(self.ev_dir)
        self.handler = os.path.join(self.dir, "handler.sh")
        with open(self.handler, "w") as f:
            f.write(HANDLER % self.ev_dir)
        os.chmod(self.handler, 0o755)
        self.log_path = os.path.join(self.dir, "serf.log")
        self.args = list(args)
        self.proc = None

    def command(self):
        cmd = [SERF, "agent", "-node=" + self.name, "-bind=" + self.addr,
               "-rpc-addr=" + self.rpc, "-profile=" + self.profile, "-log-level=debug",
               "-event-handler=user=" + self.handler]
        for k, v in sorted(self.tags.items()):
            cmd.append("-tag=%s=%s" % (k, v))
        if self.encrypt is not None:
            cmd.append("-encrypt=" + self.encrypt)
        return cmd + self.args

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self

    def boot(self, timeout=BOOT_TIMEOUT):
        self.start()
        self.wait_status(self.name, "alive", timeout)
        return self

    # --- RPC through the CLI -----------------------------------------------

    def cli(self, *args, check=True, timeout=CLI_TIMEOUT):
        """`serf <cmd> -rpc-addr=... args...`; CompletedProcess (text)."""
        cmd, rest = args[0], list(args[1:])
        r = subprocess.run([SERF, cmd, "-rpc-addr=" + self.rpc] + rest, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise SerfError("serf %s %s: exit %d: %s%s%s" % (cmd, " ".join(rest), r.returncode,
                                                           r.stdout, r.stderr, self.tail()))
        return r

    def alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise SerfError("serf agent %s exited with %s%s" % (
                self.name, self.proc and self.proc.returncode, self.tail()))

    def members(self):
        """{name: member} from `serf members -format=json` (every status), or
        None while the RPC does not answer."""
        self.alive()
        try:
            r = self.cli("members", "-format=json", check=False, timeout=5)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return {m["name"]: m for m in json.loads(r.stdout)["members"]}

    def member(self, name):
        ms = self.members()
        return ms.get(name) if ms else None

    def wait_status(self, name, status, timeout, interval=0.05):
        """Polls until member name has status; the member. The time of the
        answer that first showed it is in self.seen_at (monotonic)."""
        def cond():
            m = self.member(name)
            if m is not None and m["status"] == status:
                self.seen_at = time.monotonic()
                return m
            return None
        try:
            return wait_for(cond, timeout, "serf %s to list %s as %s" % (self.name, name, status),
                            interval)
        except AssertionError as e:
            raise SerfError("%s; last seen: %r%s" % (e, self.member(name), self.tail()))

    def join(self, *addrs, check=True):
        return self.cli("join", *addrs, check=check)

    def event(self, name, payload=b"", coalesce=False):
        args = ["event", "-coalesce=%s" % ("true" if coalesce else "false"), name]
        if payload:
            args.append(payload.decode() if isinstance(payload, bytes) else payload)
        return self.cli(*args)

    def rpc_event(self, name, payload, coalesce=False):
        """A user event through the RPC: a payload the CLI cannot carry (NUL bytes)."""
        r = SerfRPC(("127.0.0.1", self.rpc_port))
        try:
            r.call("event", {"Name": name, "Payload": payload, "Coalesce": coalesce},
                   reply=False)
        finally:
            r.close()

    def events(self):
        """The user events the handler wrote: [(ltime, name, payload bytes)], by
        ltime. serf's handler gets the payload with a '\\n' appended when it does
        not end with one (see stdin_payload)."""
        out = []
        for fn in os.listdir(self.ev_dir):
            if fn.startswith("."):
                continue
            with open(os.path.join(self.ev_dir, fn)) as f:
                ltime, name, b64 = (f.read().split("\n", 2) + ["", ""])[:3]
            payload = base64.b64decode(b64)
            out.append((int(ltime), name, payload))
        return sorted(out)

    def wait_event(self, name, timeout):
        return wait_for(lambda: [e for e in self.events() if e[1] == name], timeout,
                        "serf %s to receive user event %r (log:%s)" % (self.name, name,
                                                                       self.tail()))

    # --- ending ------------------------------------------------------------

    def leave(self, timeout=15):
        """Graceful: `serf leave` (broadcasts the intent, then the agent exits)."""
        self.cli("leave", timeout=timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SerfError("serf %s still running %ds after leave%s" % (self.name, timeout,
                                                                         self.tail()))

    def kill(self):
        """SIGKILL: a crash, no leave intent."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.killed_at = time.monotonic()

    def tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n--- serf %s log ---\n%s" % (self.name, f.read()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM: serf shuts down without a leave (leave_on_terminate
            # is off), which is all a test's cleanup needs.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
            keep = os.environ.get("MUSTER_TEST_LOG_DIR")
            if keep:
                os.makedirs(keep, exist_ok=True)
                shutil.copy(self.log_path, os.path.join(keep, "serf-%s-%d.log" % (
                    self.name, self.proc.pid)))
        shutil.rmtree(self.dir, ignore_errors=True)

