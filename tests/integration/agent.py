"""agent.py: start real muster agents in temporary directories and talk to them.

Readiness is read from the control socket (`muster ctl status`), never
guessed with a bare sleep: every wait polls a condition up to a deadline.
"""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MUSTER_BUILD", os.path.join(ROOT, "build"))
MUSTER = os.path.join(BUILD, "bin", "muster")
LIBEXEC = os.path.join(BUILD, "libexec")
DAEMONS = ("raftd", "gossipd", "healthd", "dnsd", "httpd")


_ports_given = set()


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1, never handed out twice."""
    while True:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); count it as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def parse_status(text):
    """`muster ctl status` lines -> {name: {key: value}}."""
    out = {}
    for line in text.splitlines():
        parts = shlex.split(line)
        if not parts:
            continue
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if "pid" in fields:
            fields["pid"] = int(fields["pid"])
        if "restarts" in fields:
            fields["restarts"] = int(fields["restarts"])
        out[parts[0]] = fields
    return out


class Agent:
    """One `muster agent` (musterd and its five daemons) in its own dirs."""

    def __init__(self, args=(), libexec=LIBEXEC, env=None, config=None, free_ports=True):
        # Short paths: UNIX socket paths are limited to 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="mt", dir="/tmp")
        self.run_dir = os.path.join(self.dir, "r")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.args = list(args)
        if free_ports:
            # Agents of a test run side by side: none takes Consul's
            # default ports. First, so a caller's own ports win.
            path = os.path.join(self.dir, "ports.yaml")
            with open(path, "w") as f:
                f.write("ports:\n" + "".join("  %s: %d\n" % (k, free_port()) for k in
                                             ("server", "http", "dns", "serf_lan", "serf_wan")))
            self.args = ["-config-file", path] + self.args
        if config is not None:
            path = os.path.join(self.dir, "agent.yaml")
            with open(path, "w") as f:
                f.write(config)
            self.args += ["-config-file", path]
        self.env = dict(os.environ)
        self.env.update({"MUSTER_RUN_DIR": self.run_dir, "MUSTER_LIBEXEC_DIR": libexec})
        self.env.pop("NOTIFY_SOCKET", None)
        if env:
            self.env.update(env)
        self.proc = None
        self.preexec = None  # run in the child before exec (limits, ...)

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([MUSTER, "agent"] + self.args, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec)
        return self

    def ctl(self, *cmd, check=True):
        r = subprocess.run([MUSTER, "ctl", "-socket", os.path.join(self.run_dir, "ctl.sock")]
                           + list(cmd), capture_output=True, text=True, timeout=15)
        if check and r.returncode != 0:
            raise AssertionError("muster ctl %s: %s%s" % (" ".join(cmd), r.stderr, self.tail()))
        return r

    def status(self):
        try:
            r = self.ctl("status", check=False)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return parse_status(r.stdout)

    def wait_state(self, pred, timeout, what):
        def cond():
            if self.proc.poll() is not None:
                raise AssertionError("agent exited with %s%s" % (self.proc.returncode, self.tail()))
            st = self.status()
            return st if st and pred(st) else None
        return wait_for(cond, timeout, what)

    def wait_ready(self, timeout=20):
        return self.wait_state(lambda st: all(st.get(d, {}).get("state") == "ready"
                                              for d in DAEMONS), timeout, "all daemons ready")

    def tail(self):
        try:
            with open(self.log_path) as f:
                return "\n--- agent log ---\n" + f.read()[-4000:]
        except OSError:
            return ""

    def kill_all(self):
        """SIGKILL of musterd and its five daemons together, as a machine that dies
        (musterd alone would leave its daemons to notice it); waits for musterd."""
        pids = [v["pid"] for v in (self.status() or {}).values()
                if isinstance(v, dict) and v.get("pid")]
        for pid in [self.proc.pid] + pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        report = None
        if self.proc is not None:
            self.log.close()
            # Under `make asan` a daemon's sanitizer report lands in the
            # agent's log (musterd would just restart the daemon).
            with open(self.log_path, errors="replace") as f:
                log = f.read()
            for marker in ("Sanitizer", "runtime error:"):
                if marker in log:
                    report = log[max(0, log.index(marker) - 200):][:6000]
        shutil.rmtree(self.dir, ignore_errors=True)
        if report is not None:
            raise AssertionError("sanitizer report in the agent log:\n" + report)
