"""test_http_armon.py: the test suite of armon/consul-api (Debian's golang-github-armon-consul-api-dev) against a -dev agent on 127.0.0.1:8500.

The suite's address is fixed, so this agent takes port 8500 (the others
are free ports); a taken 8500 fails the test with a clear message. Go 1.19
has no `go test -skip`: the names are listed with `go test -list` (same
GOPATH setup as armon-consul-api-suite.sh) and the allowed ones passed as
one anchored -run regex. Skipped: the 4 ACL tests (ACLs are off). The
agent's services, checks and TTLs (TestAgent_Services, TestAgent_Checks,
TestAgent_SetTTLStatus) and the health checks of an agent-registered
service (TestHealth_Checks, which reads the catalog 20 ms after the
registration) run against healthd.

TestAgent_ForceLeave ejects a node named "foo". Consul since 1.7 answers
500 "agent: No node found with name 'foo'" for a name it does not know
(as muster does), so the test only passes where "foo" is a member: it runs
on its own, after the others (TestAgent_Members wants a pool of one), once
an agent named foo has joined and stopped.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from agent import wait_for
from httpfix import HttpAgent

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "armon-consul-api-suite.sh")
PKG = "github.com/armon/consul-api"
PORT = 8500
SUITE_TIMEOUT = 300  # s: compiling the package and its tests, then the tests
HEALTHD_TESTS = {"TestAgent_Services", "TestAgent_SetTTLStatus", "TestAgent_Checks",
                 "TestHealth_Checks"}
EJECT = "TestAgent_ForceLeave"   # needs a member named foo: run last, on its own
GOSSIP_DEADLINE = 20  # s: foo joins, then is seen failed or left
ACL_TESTS = 4


def need_go():
    if shutil.which("go") is None or not os.path.isdir("/usr/share/gocode/src/" + PKG):
        pytest.fail("the armon/consul-api suite needs the Debian packages golang-go and "
                    "golang-github-armon-consul-api-dev (scripts/deps.sh installs them)")


def go_env(work):
    """The environment armon-consul-api-suite.sh sets up."""
    env = dict(os.environ)
    env.update({"GO111MODULE": "off", "GOPROXY": "off", "GOFLAGS": "",
                "GOPATH": "%s:/usr/share/gocode" % work, "GOCACHE": os.path.join(work, "cache")})
    return env


def list_tests():
    work = tempfile.mkdtemp(prefix="armon")
    try:
        r = subprocess.run(["go", "test", "-list", ".", PKG], env=go_env(work),
                           capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert r.returncode == 0, "go test -list: %s%s" % (r.stdout, r.stderr)
    return [x for x in r.stdout.split() if re.match(r"^Test\w+$", x)]


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_armon_consul_api_suite():
    need_go()
    names = list_tests()
    acl = [n for n in names if n.startswith("TestACL_")]
    assert len(acl) == ACL_TESTS, acl
    assert HEALTHD_TESTS <= set(names), HEALTHD_TESTS - set(names)
    allowed = [n for n in names if n not in acl]
    assert len(allowed) == len(names) - ACL_TESTS

    if not port_free(PORT):
        pytest.fail("port %d on 127.0.0.1 is taken: the armon/consul-api suite only talks to "
                    "127.0.0.1:%d, stop whatever listens there" % (PORT, PORT))
    a = HttpAgent(http_port=PORT)
    try:
        a.boot()
        first = [n for n in allowed if n != EJECT]
        out = run_suite(first)
        foo_failed(a)
        out += run_suite([EJECT])
        passed = re.findall(r"^\s*--- PASS: (\w+)", out, re.M)
        assert sorted(passed) == sorted(allowed), (
            "%d of %d passed; missing: %s\n%s" % (len(passed), len(allowed),
                                                  sorted(set(allowed) - set(passed)), out[-20000:]))
    finally:
        a.stop()


def run_suite(names):
    """go test -run ^(names)$: its output; fails on any failed test."""
    r = subprocess.run(["sh", SCRIPT, "-run", "^(%s)$" % "|".join(names)],
                       capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    out = r.stdout + r.stderr
    failed = re.findall(r"^\s*--- FAIL: (\w+)", out, re.M)
    assert not failed, "armon/consul-api tests failed: %s\n%s" % (failed, out[-20000:])
    assert r.returncode == 0, out[-20000:]
    assert not re.search(r"^FAIL", out, re.M), out[-20000:]
    return out


def foo_failed(a):
    """An agent named foo joins a's pool and stops: a then knows foo as a
    failed (or left) member, the node TestAgent_ForceLeave ejects."""
    foo = HttpAgent(config={"node_name": "foo"})
    try:
        foo.boot()
        r = foo.http.put("/v1/agent/join/127.0.0.1:%d" % a.cfg["ports"]["serf_lan"])
        assert r.status_code == 200, "join: %d %r" % (r.status_code, r.text)
    finally:
        foo.stop()

    def gone():
        r = a.http.get("/v1/agent/members")
        assert r.status_code == 200, r.text
        return [m for m in r.json() if m["Name"] == "foo" and m["Status"] in (3, 4)]
    wait_for(gone, GOSSIP_DEADLINE, "the 8500 agent to see foo failed or left", 0.1)
