"""test_hello_walkthrough.py: the seed's walkthrough on one -dev agent (issue 6, Tests): the gRPC hello service of ../shared/acceptance/hello registers itself with its TCP check, the check turns passing, the client finds the service through /v1/agent/services and prints 你好小名, a dead server turns the check critical, SIGTERM deregisters.

The Go programs are built with the acceptance directory's own build.sh,
offline from Debian's packages (scripts/deps.sh installs golang-go,
protobuf-compiler, golang-goprotobuf-dev, golang-google-grpc-dev and
golang-github-armon-consul-api-dev), into $MUSTER_BUILD/hello. A stamp holds
the hash of the sources, build.sh and the toolchain versions, so later runs
reuse the binaries: a cold build took 6–8 s on a 2-core machine, a cached
one costs the hashing only.

Time: hello-server registers its TCP check with a fixed Interval of 30s
(server/main.go builds the JSON itself; it has no flag for it, and the agent
has no knob that shortens a registered check's interval: test_timings covers
Consul's fixed internal intervals only). The first probe runs after a short
stagger (at most 1 s), so "passing" is quick; but the probe that notices the
dead server is the next one, one interval after the first. That wait of
about 30 s is the module's cost and cannot be cut without changing the
acceptance program; the rest takes a few seconds (the module: about 30 s).

"Stopping the server" is a SIGKILL: hello-server deregisters itself on
SIGINT/SIGTERM, so only a server that dies without saying so leaves a
registered service whose check can turn critical -- a crash, the case the
check is there for. DNS is not part of this module (dnsd is issue 7).
"""
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from agent import BUILD, ROOT, free_port, wait_for
from httpfix import HttpAgent

HELLO_SRC = os.environ.get("MUSTER_HELLO_DIR",
                           os.path.join(ROOT, "..", "shared", "acceptance", "hello"))
HELLO_OUT = os.path.join(BUILD, "hello")
BUILD_TIMEOUT = 600       # s: a cold Go build of grpc on a slow machine
CHECK_INTERVAL = 30.0     # s: hello-server's fixed TCP check interval
CHECK_TIMEOUT = 5.0       # s: its Timeout
STAGGER = 1.0             # s: the first probe of a new check comes at most this late
JITTER = 0.1              # the interval's jitter, as a fraction, at most
SLACK = 5.0               # s: a loaded machine (the probe, the sync, our polling)
CHECK_ID = "service:1"    # Consul's ID for the only check of service "1"
SERVICE = "HelloService"
GREETING = "你好小名"


def source_hash():
    """Hash of every source file, build.sh and the tool versions."""
    h = hashlib.sha256()
    for top, dirs, files in os.walk(HELLO_SRC):
        dirs[:] = sorted(d for d in dirs if d != "bin")
        for f in sorted(files):
            p = os.path.join(top, f)
            h.update(os.path.relpath(p, HELLO_SRC).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(fh.read())
            h.update(b"\0")
    for cmd in (["go", "version"], ["protoc", "--version"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        h.update(r.stdout.encode())
    return h.hexdigest()


def need_tools():
    missing = [t for t in ("go", "protoc") if shutil.which(t) is None]
    missing += [d for d in ("/usr/share/gocode/src/google.golang.org/grpc",
                            "/usr/share/gocode/src/github.com/golang/protobuf",
                            "/usr/share/gocode/src/github.com/armon/consul-api")
                if not os.path.isdir(d)]
    if missing:
        pytest.fail("the hello walkthrough needs %s: the Debian packages golang-go protobuf-compiler "
                    "golang-goprotobuf-dev golang-google-grpc-dev golang-github-armon-consul-api-dev "
                    "(scripts/deps.sh installs them)" % ", ".join(missing))
    if not os.path.isfile(os.path.join(HELLO_SRC, "build.sh")):
        pytest.fail("no hello/build.sh at %s (set MUSTER_HELLO_DIR)" % HELLO_SRC)


def build_hello():
    """The two binaries, built once per source hash under $MUSTER_BUILD/hello.
    A lock file keeps two concurrent runs on one build dir from racing."""
    need_tools()
    os.makedirs(HELLO_OUT, exist_ok=True)
    stamp = os.path.join(HELLO_OUT, "stamp")
    bins = [os.path.join(HELLO_OUT, b) for b in ("hello-server", "hello-client")]
    with open(os.path.join(HELLO_OUT, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        want = source_hash()
        try:
            with open(stamp) as f:
                have = f.read().strip()
        except OSError:
            have = None
        if have == want and all(os.access(b, os.X_OK) for b in bins):
            return bins
        if os.path.exists(stamp):
            os.unlink(stamp)
        t = time.monotonic()
        r = subprocess.run(["sh", os.path.join(HELLO_SRC, "build.sh"), HELLO_OUT],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, "hello/build.sh failed:\n%s%s" % (r.stdout, r.stderr)
        assert all(os.access(b, os.X_OK) for b in bins), r.stdout + r.stderr
        with open(stamp, "w") as f:
            f.write(want + "\n")
        print("hello: built in %.1f s" % (time.monotonic() - t))
        return bins


@pytest.fixture(scope="module")
def hello():
    return build_hello()


@pytest.fixture(scope="module")
def agent(hello):
    a = HttpAgent()
    try:
        a.boot()
        yield a
    finally:
        a.stop()


class HelloServer:
    """hello-server on a free port; its log (Go's log package: stderr) in a file."""

    def __init__(self, binary, agent):
        self.agent = agent
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log_path = os.path.join(agent.dir, "hello-server-%d.log" % self.port)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "-agent", "127.0.0.1:%d" % agent.http_port, "-addr", "127.0.0.1",
             "-port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_registered(self, timeout=15):
        """Its log says the PUT /v1/agent/service/register answered 200 (it
        exits through log.Fatal on any other answer)."""
        def cond():
            if "registered HelloService" in self.text():
                return True
            if self.proc.poll() is not None:
                raise AssertionError("hello-server exited with %s:\n%s%s" % (
                    self.proc.returncode, self.text(), self.agent.tail()))
            return False
        wait_for(cond, timeout, "hello-server to register", 0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def servers(hello, agent):
    started = []

    def start():
        s = HelloServer(hello[0], agent)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def agent_check(agent):
    r = agent.http.get("/v1/agent/checks")
    assert r.status_code == 200, r.text
    return r.json().get(CHECK_ID)


def wait_check(agent, status, timeout, addr=None):
    """Polls /v1/agent/checks until the check is in status (and, given addr,
    its Output names that address, as Consul's TCP outputs do): the check."""
    last = [None]

    def cond():
        agent.alive()
        c = agent_check(agent)
        last[0] = c
        return c if c and c["Status"] == status and (addr is None or addr in c["Output"]) else None
    try:
        return wait_for(cond, timeout, "check %s %s%s" % (CHECK_ID, status, addr and " for " + addr or ""), 0.1)
    except AssertionError as e:
        raise AssertionError("%s; last: %r%s" % (e, last[0], agent.tail()))


def wait_catalog_check(agent, status, timeout=SLACK):
    """The catalog's copy (anti-entropy syncs a status change at once)."""
    def cond():
        r = agent.http.get("/v1/health/checks/" + SERVICE)
        assert r.status_code == 200, r.text
        cs = [c for c in r.json() if c["CheckID"] == CHECK_ID]
        return cs[0] if cs and cs[0]["Status"] == status else None
    return wait_for(cond, timeout, "catalog check %s %s" % (CHECK_ID, status), 0.05)


def test_walkthrough_register_pass_call_fail(hello, agent, servers):
    s = servers()
    s.wait_registered()

    # The registration as the agent keeps it (spec §2.3, §3.12 defaults).
    svcs = agent.http.json("GET", "/v1/agent/services")
    assert "1" in svcs, svcs
    svc = svcs["1"]
    assert (svc["ID"], svc["Service"], svc["Tags"], svc["Address"], svc["Port"]) == \
        ("1", SERVICE, ["test"], "127.0.0.1", s.port), svc

    # Its check: Consul's ID and name for the only check of a service, the
    # TCP type, the durations echoed as strings (spec §2.6).
    c = agent_check(agent)
    assert c is not None, agent.http.get("/v1/agent/checks").text
    assert (c["Name"], c["ServiceID"], c["ServiceName"], c["Type"]) == \
        ("Service 'HelloService' check", "1", SERVICE, "tcp"), c
    assert (c["Interval"], c["Timeout"]) == ("30s", "5s"), c

    # The first probe comes after a short stagger, not after 30 s.
    t = time.monotonic()
    c = wait_check(agent, "passing", STAGGER + CHECK_TIMEOUT + SLACK, s.addr)
    first_probe = time.monotonic()
    assert c["Output"] == "TCP connect %s: Success" % s.addr, c
    print("check passing %.2f s after registration" % (first_probe - t))
    wait_catalog_check(agent, "passing")
    r = agent.http.json("GET", "/v1/health/service/%s?passing" % SERVICE)
    assert [(e["Service"]["ID"], e["Service"]["Port"]) for e in r] == [("1", s.port)], r

    # The client: armon/consul-api's Agent().Services(), then SayHello over gRPC.
    r = subprocess.run([hello[1], "-agent", "127.0.0.1:%d" % agent.http_port],
                       capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "hello-client: %d %s %s" % (r.returncode, out, r.stderr)
    assert out == GREETING + "\n", (out, r.stderr)
    assert "request:" in s.text(), s.text()

    # A server that dies without deregistering: the next probe, one interval
    # after the first, finds nothing listening.
    s.proc.kill()
    s.proc.wait()
    t = time.monotonic()
    deadline = max(0.0, first_probe + CHECK_INTERVAL * (1 + JITTER) - t) + CHECK_TIMEOUT + SLACK
    c = wait_check(agent, "critical", deadline)
    print("check critical %.2f s after the kill, %.2f s after the first probe" % (
        time.monotonic() - t, time.monotonic() - first_probe))
    # Consul's output is Go's dial error, "dial tcp <addr>: connect:
    # connection refused" (agent/checks/check.go CheckTCP.check).
    assert "connection refused" in c["Output"], c
    # The service stays: only the agent's API or the server itself removes it.
    assert "1" in agent.http.json("GET", "/v1/agent/services")
    wait_catalog_check(agent, "critical")
    assert agent.http.json("GET", "/v1/health/service/%s?passing" % SERVICE) == []


def test_walkthrough_sigterm_deregisters(hello, agent, servers):
    # Registering ID "1" again (after the first test, over its critical
    # check) replaces the definition: the check probes the new address.
    s = servers()
    s.wait_registered()
    wait_check(agent, "passing", STAGGER + CHECK_TIMEOUT + SLACK, s.addr)
    wait_catalog_check(agent, "passing")

    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=15) == 0, s.text()
    # It exits once its PUT /v1/agent/service/deregister/1 has been answered.
    assert "deregister" not in s.text(), s.text()
    assert "1" not in agent.http.json("GET", "/v1/agent/services")
    assert CHECK_ID not in agent.http.json("GET", "/v1/agent/checks")

    def gone():
        return (agent.http.json("GET", "/v1/catalog/service/" + SERVICE) == []
                and agent.http.json("GET", "/v1/health/checks/" + SERVICE) == [])
    wait_for(gone, SLACK, "the catalog to lose %s" % SERVICE, 0.05)
