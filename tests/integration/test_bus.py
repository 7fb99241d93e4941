"""test_bus.py: the daemons and musterd answer on the bus (DESIGN.md §2), via tests/helpers/buscall."""
import os
import re
import subprocess

import pytest

from agent import Agent, BUILD, DAEMONS, wait_for

BUSCALL = os.path.join(BUILD, "tests", "buscall")


# Never the bare name of a running daemon: httpd itself calls musterd, and
# ZeroMQ hands a reused routing id (and its replies) to the newest socket.
def call(agent, peer, *req, as_="httpd/buscall", timeout_ms=5000):
    return subprocess.run([BUSCALL, "-as", as_, "-t", str(timeout_ms), agent.run_dir, peer]
                          + list(req), capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def dev():
    a = Agent(["-dev"]).start()
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


def test_every_daemon_answers_ping_and_status(dev):
    st = dev.status()
    for d in DAEMONS + ("musterd",):
        r = call(dev, d, "PING")
        assert r.returncode == 0, (d, r.stderr)
        assert r.stdout.startswith("PONG") and "nonce=12345" in r.stdout, r.stdout
        r = call(dev, d, "STATUS")
        assert r.returncode == 0, (d, r.stderr)
        assert 'name="%s"' % d in r.stdout
        if d != "musterd":
            assert "pid=%d " % st[d]["pid"] in r.stdout
            assert 'state="ready"' in r.stdout


def test_echo_comes_back_whole(dev):
    for d in DAEMONS + ("musterd",):
        r = call(dev, d, "ECHO")
        assert r.returncode == 0, (d, r.stderr)
        out = r.stdout
        assert out.startswith("ECHO"), out
        for want in ("u=18446744073709551615", "i=-9223372036854775808", "b=true", 'd=0.5',
                     's="echo"', "ou=7", '"a"', '"b"', '"k"', '"v"', 'name="raftd"'):
            assert want in out, (d, want, out)


def test_musterd_status_lists_children(dev):
    r = call(dev, "musterd", "STATUS")
    for d in DAEMONS:
        assert d in r.stdout
    assert r.stdout.count("ready") >= 5


def test_stats_gather_every_daemon(dev):
    r = call(dev, "musterd", "STATS")
    assert r.returncode == 0, r.stderr
    for d in DAEMONS + ("musterd",):
        assert re.search(r"\b%s\b" % d, r.stdout), (d, r.stdout)
    assert "bus.received" in r.stdout


def test_log_level_over_the_bus(dev):
    r = call(dev, "musterd", "LOG_LEVEL", "debug")
    assert r.returncode == 0 and "status=200" in r.stdout, r.stdout
    r = call(dev, "musterd", "LOG_LEVEL", "shouty")
    assert "status=400" in r.stdout


def test_leave_over_the_bus_leaves_then_stops():
    # musterd asks gossipd to leave (both pools, WAN first), answers 200
    # once it has, then stops every daemon: the agent exits 0.
    a = Agent(["-dev"]).start()
    try:
        a.wait_ready()
        r = call(a, "musterd", "LEAVE", timeout_ms=35000)
        assert r.returncode == 0 and "status=200" in r.stdout, r.stdout + r.stderr
        assert a.proc.wait(timeout=20) == 0
        with open(a.log_path) as f:
            log = f.read()
        assert "graceful leave complete" in log, log[-2000:]
    finally:
        a.stop()


def test_unsupported_request_is_a_clear_error(dev):
    # a message gossipd does not serve is answered, not dropped
    r = call(dev, "gossipd", "RAFT_CONFIG")
    assert r.returncode == 0, r.stderr
    assert "status=400" in r.stdout, r.stdout
    assert dev.proc.poll() is None


def test_forbidden_sender_gets_no_answer(dev):
    # CHILD_STATE may only come from musterd: raftd refuses it unanswered.
    r = call(dev, "raftd", "CHILD_STATE", as_="httpd/buscall", timeout_ms=300)
    assert r.returncode == 2, r.stdout + r.stderr


def test_shutdown_over_the_bus():
    a = Agent(["-dev"]).start()
    try:
        a.wait_ready()
        r = call(a, "musterd", "SHUTDOWN")
        assert "status=200" in r.stdout
        assert a.proc.wait(timeout=10) == 0
    finally:
        a.stop()


def test_reload_over_the_bus_reaches_every_daemon(dev):
    r = call(dev, "musterd", "RELOAD")
    assert r.returncode == 0 and "status=200" in r.stdout, r.stdout + r.stderr

    def count():
        with open(dev.log_path) as f:
            log = f.read()
        return all(re.search(r"%s\[\d+\]: configuration reloaded" % d, log) for d in DAEMONS)
    # The reply comes after every daemon answered, so no waiting is needed.
    assert count()


def test_sub_probe_comes_back_on_the_pub(dev):
    """msg.def SUB_PROBE: a daemon publishes the probe it is sent, with its epoch, so a
    subscriber can prove its subscription live (what a SUB misses before it is connected
    is lost without a trace). Probed until it arrives: the SUB connects asynchronously."""
    from bus import Bus, Sub
    for d in DAEMONS:
        with Sub(dev.run_dir, publisher=d, types=["SUB_PROBE"]) as sub, \
                Bus(dev.run_dir, peer=d, self_name="httpd") as b:
            def probed(token=[0]):
                token[0] += 1
                kind, r = b.call("SUB_PROBE", token=1000 + token[0])
                assert kind == "RESULT" and r["status"] == 200, (d, r)
                return sub.wait(lambda n, f: f["token"] == 1000 + token[0], 0.1)
            got = wait_for(probed, 10, "%s's probe on its PUB" % d)
            _, fields = got
            r = call(dev, d, "STATUS")
            assert " epoch=%d " % fields["epoch"] in r.stdout, (d, r.stdout, fields)
