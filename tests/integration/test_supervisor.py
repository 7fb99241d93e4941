"""test_supervisor.py: musterd and its five daemons as real processes (issue 2)."""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time

import pytest

from agent import (Agent, BUILD, DAEMONS, LIBEXEC, MUSTER, ROOT, pid_alive, wait_for)


@pytest.fixture
def dev():
    a = Agent(["-dev"]).start()
    try:
        a.wait_ready()
        yield a
    finally:
        a.stop()


def test_dev_agent_lists_five_ready_children(dev):
    r = dev.ctl("status")
    st = dev.status()
    assert set(DAEMONS) <= set(st), r.stdout
    assert st["musterd"]["state"] == "ready"
    pids = set()
    for d in DAEMONS:
        assert st[d]["state"] == "ready"
        assert st[d]["restarts"] == 0
        assert re.match(r"^\d+\.\ds$", st[d]["uptime"]), st[d]
        assert pid_alive(st[d]["pid"])
        pids.add(st[d]["pid"])
    assert len(pids) == 5
    # run_dir is private; the control socket is the owner's only.
    assert os.stat(dev.run_dir).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(dev.run_dir, "ctl.sock")).st_mode & 0o777 == 0o600
    with open(os.path.join(dev.run_dir, "musterd.pid")) as f:
        assert int(f.read()) == dev.proc.pid
    # Each daemon runs the binary of its name, under musterd.
    for d in DAEMONS:
        with open("/proc/%d/comm" % st[d]["pid"]) as f:
            assert f.read().strip() == d
        with open("/proc/%d/stat" % st[d]["pid"]) as f:
            ppid = int(f.read().split(")")[-1].split()[1])
        assert ppid == dev.proc.pid


def test_sigkill_of_each_child_restarts_it_alone(dev):
    for d in DAEMONS:
        before = dev.status()
        victim = before[d]["pid"]
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        after = dev.wait_state(
            lambda st: st[d]["state"] == "ready" and st[d]["pid"] not in (0, victim), 2.0,
            "%s back with a new pid" % d)
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0
        assert after[d]["restarts"] == before[d]["restarts"] + 1
        assert after[d]["last-exit"] == "signal 9"
        for other in DAEMONS:
            if other != d:
                assert after[other]["pid"] == before[other]["pid"], other
                assert after[other]["state"] == "ready"


def test_sigkill_of_musterd_leaves_no_child():
    a = Agent(["-dev"]).start()
    try:
        st = a.wait_ready()
        pids = [st[d]["pid"] for d in DAEMONS]
        with open(os.path.join(a.run_dir, "config.json")) as f:
            dev_dir = json.load(f)["data_dir"]
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(timeout=5)
        wait_for(lambda: not any(pid_alive(p) for p in pids), 5.0, "children to exit")
    finally:
        a.stop()
    # Nobody was left to remove the -dev state: the test does.
    shutil.rmtree(dev_dir, ignore_errors=True)


def test_sigterm_stops_everything_in_order_within_5s():
    a = Agent(["-dev"]).start()
    try:
        st = a.wait_ready()
        pids = [st[d]["pid"] for d in DAEMONS]
        with open(os.path.join(a.run_dir, "config.json")) as f:
            data_dir = json.load(f)["data_dir"]
        assert os.path.isdir(data_dir)
        t0 = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        rc = a.proc.wait(timeout=5)
        assert time.monotonic() - t0 < 5.0
        assert rc == 0
        assert not any(pid_alive(p) for p in pids)
        # The -dev state directory goes with the agent.
        assert not os.path.exists(data_dir)
        with open(a.log_path) as f:
            log = f.read()
        order = [m.group(1) for m in re.finditer(r"musterd\[\d+\]: (\w+): stopped \(", log)]
        assert sorted(order) == sorted(DAEMONS), log
        # Clients' daemons first, raftd (the state) last.
        assert set(order[:2]) == {"httpd", "dnsd"}, order
        assert order[-1] == "raftd", order
    finally:
        a.stop()


def make_libexec(tmp, broken, script="#!/bin/sh\nexit 3\n"):
    d = os.path.join(tmp, "libexec")
    os.mkdir(d)
    for name in DAEMONS + ("musterd",):
        path = os.path.join(d, name)
        if name == broken:
            with open(path, "w") as f:
                f.write(script)
            os.chmod(path, 0o755)
        else:
            os.symlink(os.path.join(LIBEXEC, name), path)
    return d


def test_child_crashing_at_start_is_marked_failed(tmp_path):
    libexec = make_libexec(str(tmp_path), "dnsd")
    a = Agent(["-dev"], libexec=libexec, config="""
supervisor:
  restart_backoff_min: 100ms
  restart_max_deaths: 3
  restart_window: 60s
""").start()
    try:
        # dnsd can fail before the others are ready (slow under ASan): wait
        # for both, the others' readiness untouched by dnsd's deaths.
        st = a.wait_state(lambda s: s["dnsd"]["state"] == "failed" and
                          all(s[d]["state"] == "ready" for d in DAEMONS if d != "dnsd"),
                          15, "dnsd failed and the others ready")
        assert st["dnsd"]["last-exit"] == "exit 3"
        assert st["dnsd"]["restarts"] == 2  # 3 deaths: the first start and 2 restarts
        assert st["dnsd"]["pid"] == 0
        others = {d: st[d]["pid"] for d in DAEMONS if d != "dnsd"}
        # Failed stays failed: no further restarts, others untouched.
        later = a.wait_state(lambda s: True, 1, "status")
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            later = a.status()
        assert later["dnsd"]["state"] == "failed"
        assert later["dnsd"]["restarts"] == 2
        assert {d: later[d]["pid"] for d in others} == others
        assert a.proc.poll() is None
        with open(a.log_path) as f:
            assert "dnsd: died 3 times" in f.read()
    finally:
        a.stop()


def test_ctl_stop_start_restart(dev):
    st = dev.status()
    old = st["httpd"]["pid"]
    dev.ctl("stop", "httpd")
    st = dev.wait_state(lambda s: s["httpd"]["state"] == "stopped", 5, "httpd stopped")
    assert st["httpd"]["pid"] == 0
    assert not pid_alive(old)
    dev.ctl("start", "httpd")
    st = dev.wait_state(lambda s: s["httpd"]["state"] == "ready", 5, "httpd ready")
    assert st["httpd"]["pid"] not in (0, old)
    raft = st["raftd"]["pid"]
    dev.ctl("restart", "raftd")
    st = dev.wait_state(lambda s: s["raftd"]["state"] == "ready" and s["raftd"]["pid"] != raft,
                        5, "raftd restarted")
    assert st["raftd"]["restarts"] == 1
    r = dev.ctl("stop", "nosuchd", check=False)
    assert r.returncode == 1
    assert 'unknown daemon "nosuchd"' in r.stderr
    r = dev.ctl("frobnicate", check=False)
    assert r.returncode == 1 and "unknown command" in r.stderr


def test_ctl_log_level_and_reload_reach_children(dev):
    dev.ctl("log-level", "debug")
    r = dev.ctl("log-level", "loud", check=False)
    assert r.returncode == 1 and "unknown log level" in r.stderr
    dev.ctl("reload")

    def all_reloaded():
        with open(dev.log_path) as f:
            log = f.read()
        return all(re.search(r"%s\[\d+\]: configuration reloaded" % d, log) for d in DAEMONS)
    wait_for(all_reloaded, 10, "every daemon to reload")


def test_sighup_rereads_the_config_file(tmp_path):
    a = Agent(["-dev"], config="log_level: info\n").start()
    try:
        st = a.wait_ready()
        cfg = os.path.join(a.dir, "agent.yaml")
        with open(cfg, "w") as f:
            f.write("log_level: debug\n")
        os.kill(a.proc.pid, signal.SIGHUP)

        def reloaded():
            with open(os.path.join(a.run_dir, "config.json")) as f:
                return json.load(f)["log_level"] == "debug"
        wait_for(reloaded, 10, "config.json rewritten")
        # A broken file keeps the running configuration.
        with open(cfg, "w") as f:
            f.write("log_level: [\n")
        os.kill(a.proc.pid, signal.SIGHUP)
        wait_for(lambda: "reload on SIGHUP failed" in open(a.log_path).read(), 10,
                 "the reload failure to be logged")
        st2 = a.status()
        assert {d: st2[d]["pid"] for d in DAEMONS} == {d: st[d]["pid"] for d in DAEMONS}
    finally:
        a.stop()


def test_sd_notify_ready(tmp_path):
    path = os.path.join("/tmp", "mtn%d.sock" % os.getpid())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    a = Agent(["-dev"], env={"NOTIFY_SOCKET": path}).start()
    try:
        msgs = []
        while not any("READY=1" in m for m in msgs):
            msgs.append(s.recv(4096).decode())
        ready = [m for m in msgs if "READY=1" in m][0]
        assert "STATUS=all 5 daemons ready" in ready
        # READY=1 comes only once every child is ready.
        st = a.status()
        assert all(st[d]["state"] == "ready" for d in DAEMONS)
        a.proc.send_signal(signal.SIGTERM)
        while True:
            m = s.recv(4096).decode()
            if "STOPPING=1" in m:
                break
    finally:
        a.stop()
        s.close()
        os.unlink(path)


def test_second_musterd_on_same_run_dir_is_refused(dev):
    r = subprocess.run([MUSTER, "agent", "-dev"], env=dev.env, capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1
    assert "another musterd" in r.stderr


def test_node_id_is_kept_in_data_dir(tmp_path):
    data = str(tmp_path / "data")
    ids = []
    for _ in range(2):
        a = Agent(["-data-dir", data, "-node", "n1", "-bind", "127.0.0.1"]).start()
        try:
            a.wait_ready()
            with open(os.path.join(data, "node-id")) as f:
                ids.append(f.read().strip())
            with open(os.path.join(a.run_dir, "config.json")) as f:
                assert json.load(f)["node_id"] == ids[-1]
        finally:
            a.stop()
    assert ids[0] == ids[1]
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                    ids[0])


def test_ctl_finds_the_dev_agent_without_flags():
    # As `make run` starts it: no MUSTER_RUN_DIR, run_dir inside the -dev dir.
    a = Agent(["-dev"], env={"MUSTER_RUN_DIR": ""}).start()
    env = dict(os.environ)
    env.pop("MUSTER_RUN_DIR", None)
    env.pop("MUSTER_CTL_SOCKET", None)
    try:
        def status():
            r = subprocess.run([MUSTER, "ctl", "status"], env=env, capture_output=True,
                               text=True, timeout=10)
            return r.returncode == 0 and r.stdout.count("state=ready") == 6 and r.stdout
        out = wait_for(status, 20, "muster ctl status to show six ready lines")
        assert re.search(r"run_dir=/tmp/muster-dev-\w+/run", out), out
    finally:
        a.stop()


def test_pid_file_written_and_removed(tmp_path):
    pid_file = str(tmp_path / "agent.pid")
    a = Agent(["-dev", "-pid-file", pid_file]).start()
    try:
        a.wait_ready()
        with open(pid_file) as f:
            assert int(f.read()) == a.proc.pid
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(timeout=10)
        assert not os.path.exists(pid_file)
    finally:
        a.stop()


def test_backoff_doubles_then_failed_child_can_be_started_by_hand(tmp_path):
    libexec = make_libexec(str(tmp_path), "healthd")
    a = Agent(["-dev"], libexec=libexec, config="""
supervisor:
  restart_backoff_min: 100ms
  restart_backoff_max: 400ms
  restart_max_deaths: 5
  restart_window: 60s
""").start()
    try:
        a.wait_state(lambda s: s["healthd"]["state"] == "failed", 20, "healthd failed")
        with open(a.log_path) as f:
            delays = [int(x) for x in re.findall(r"healthd: died \(exit 3\), restarting in (\d+) ms",
                                                  f.read())]
        # Spawns at least min apart, doubling to the cap: each wait is what
        # is left of 100, 200, 400, 400 ms after the short-lived try.
        assert len(delays) == 4, delays
        for got, cap in zip(delays, (100, 200, 400, 400)):
            assert 0 < got <= cap, delays
        assert delays[2] > delays[0]
        # Fixed on disk, then started by hand: it runs again (deaths forgotten).
        os.unlink(os.path.join(libexec, "healthd"))
        os.symlink(os.path.join(LIBEXEC, "healthd"), os.path.join(libexec, "healthd"))
        a.ctl("start", "healthd")
        st = a.wait_state(lambda s: s["healthd"]["state"] == "ready", 10, "healthd ready")
        assert st["healthd"]["pid"] > 0
    finally:
        a.stop()


def test_child_never_ready_is_killed_after_ready_timeout(tmp_path):
    libexec = make_libexec(str(tmp_path), "dnsd", script="#!/bin/sh\nexec sleep 60\n")
    a = Agent(["-dev"], libexec=libexec, config="""
supervisor:
  restart_backoff_min: 100ms
  ready_timeout: 300ms
  restart_max_deaths: 2
""").start()
    try:
        st = a.wait_state(lambda s: s["dnsd"]["state"] == "failed", 20, "dnsd failed")
        assert st["dnsd"]["last-exit"] == "signal 9"
        with open(a.log_path) as f:
            assert "dnsd: not ready 300 ms after spawn, killing" in f.read()
        assert all(st[d]["state"] == "ready" for d in DAEMONS if d != "dnsd")
    finally:
        a.stop()


def test_sigint_stops_like_sigterm():
    a = Agent(["-dev"]).start()
    try:
        st = a.wait_ready()
        a.proc.send_signal(signal.SIGINT)
        assert a.proc.wait(timeout=5) == 0
        assert not any(pid_alive(st[d]["pid"]) for d in DAEMONS)
    finally:
        a.stop()


def test_ctl_line_protocol_with_socat_and_bad_lines(dev):
    sock = os.path.join(dev.run_dir, "ctl.sock")
    # Plain lines through a raw socket, several per connection, CRLF too.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b"help\r\nstop\nstart a b c d e\nstatus \x01\n\nstatus\n")
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    text = out.decode()
    assert "log-level LEVEL\nhelp\nok\n" in text
    assert "error: usage: stop NAME\n" in text
    assert text.count("error: malformed line\n") == 2
    assert text.endswith("ok\n") and "raftd state=ready" in text
    # An overlong line ends the connection with an error.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b"x" * 300)
    s.settimeout(5)
    assert s.recv(4096).startswith(b"error: line longer than 256 bytes")
    s.close()
    assert dev.proc.poll() is None


def test_musterd_raises_open_files_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)
    if low == hard:
        pytest.skip("hard limit too low to lower the soft one")
    a = Agent(["-dev"])
    a.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    a.start()
    try:
        st = a.wait_ready()
        # musterd takes the hard limit; the daemons inherit it.
        for pid in [a.proc.pid] + [st[d]["pid"] for d in DAEMONS]:
            with open("/proc/%d/limits" % pid) as f:
                line = [l for l in f if l.startswith("Max open files")][0].split()
            assert int(line[3]) == hard, (pid, line)
    finally:
        a.stop()
