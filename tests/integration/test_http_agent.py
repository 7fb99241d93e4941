"""test_http_agent.py: /v1/agent (spec/http-api.md §3.1, §3.6, §3.8, §3.9); the agent's services and checks: test_http_agent_local.py."""
import re
import socket
import time

from agent import wait_for

from httpfix import HttpAgent, agent, assert_text, c, http, p  # noqa: F401

MONITOR_DEADLINE = 5.0  # s to see a log line caused on purpose


def test_self_shape(agent, http):
    r = http.get("/v1/agent/self")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    s = r.json()
    assert isinstance(s, dict) and s
    # The Go client decodes map[string]map[string]interface{} (§0.14, §3.1).
    for key, value in s.items():
        assert value is None or isinstance(value, dict), (key, value)
    cfg = s["Config"]
    assert cfg["Datacenter"] == "dc1"
    assert cfg["NodeName"] == agent.node_name()
    assert cfg["Server"] is True
    assert cfg["NodeID"] == agent.conf()["node_id"]
    assert isinstance(s["Member"], dict) and s["Member"]["Name"] == agent.node_name()
    assert isinstance(s["Stats"], dict)
    for section in s["Stats"].values():
        assert isinstance(section, dict)
        assert all(isinstance(v, str) for v in section.values()), section


def test_self_no_index_headers(http):
    r = http.get("/v1/agent/self")
    assert "X-Consul-Index" not in r.headers  # agent endpoints (§3)


def test_python_consul_self(agent, c):
    s = c.agent.self()
    assert s["Config"]["NodeName"] == agent.node_name()


def test_metrics_json(http):
    r = http.get("/v1/agent/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    m = r.json()
    for key in ("Gauges", "Counters", "Samples"):
        assert isinstance(m[key], list), (key, m)
    assert isinstance(m["Timestamp"], str) and m["Timestamp"]
    for g in m["Gauges"]:
        assert isinstance(g["Name"], str) and isinstance(g["Value"], (int, float))
        assert isinstance(g.get("Labels", {}), dict)
    for c_ in m["Counters"] + m["Samples"]:
        assert isinstance(c_["Name"], str) and isinstance(c_["Count"], int), c_


def test_metrics_prometheus(http):
    r = http.get("/v1/agent/metrics", params={"format": "prometheus"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    lines = [x for x in r.text.splitlines() if x and not x.startswith("#")]
    assert lines, r.text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfNa]+( [0-9]+)?$')
    for x in lines:
        assert sample.match(x), x


def test_reload(http):
    r = http.put("/v1/agent/reload")
    assert r.status_code == 200, r.text
    assert r.content == b""
    r = http.get("/v1/agent/reload")
    assert_text(r, 405, "method GET not allowed")
    assert "PUT" in r.headers.get("Allow", "")


def monitor_open(agent, query=""):
    """A raw socket reading GET /v1/agent/monitor: (socket, bytes read so far)."""
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=MONITOR_DEADLINE)
    s.sendall(("GET /v1/agent/monitor%s HTTP/1.1\r\nHost: x\r\n\r\n" % query).encode())
    buf = b""
    deadline = time.monotonic() + MONITOR_DEADLINE
    while b"\r\n\r\n" not in buf:
        assert time.monotonic() < deadline, "no monitor headers: %r" % buf
        chunk = s.recv(4096)
        assert chunk, "monitor closed: %r" % buf
        buf += chunk
    return s, buf


def monitor_read_chunk(s, buf, until):
    """Reads what arrives before the time until (maybe nothing)."""
    left = until - time.monotonic()
    if left <= 0:
        return buf
    s.settimeout(left)
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        return buf
    assert chunk, "monitor closed: %r" % buf[-2000:]
    return buf + chunk


def monitor_read(s, buf, needle, until):
    """Reads the stream until needle shows up or the time until passes."""
    while needle not in buf:
        left = until - time.monotonic()
        if left <= 0:
            return buf
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return buf
        assert chunk, "monitor closed: %r" % buf[-2000:]
        buf += chunk
    return buf


def test_monitor_streams_log_lines(agent, http):
    s, buf = monitor_open(agent)
    try:
        head = buf.split(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.1 200"), head  # headers at once (§3.9)
        # A reload makes the daemons log "configuration reloaded" at info.
        # The subscription to the daemons' logs may lag the 200 a little:
        # reload again until the line shows, up to the deadline.
        deadline = time.monotonic() + MONITOR_DEADLINE
        while b"reloaded" not in buf:
            assert time.monotonic() < deadline, (
                "no log line in the monitor stream within %.0f s: %r" % (MONITOR_DEADLINE,
                                                                        buf[-2000:]))
            assert http.put("/v1/agent/reload").status_code == 200
            buf = monitor_read(s, buf, b"reloaded", min(deadline, time.monotonic() + 0.5))
    finally:
        s.close()
    # The agent still serves after the client went away.
    assert http.get("/v1/status/leader").status_code == 200


def test_monitor_below_the_agent_log_level():
    """A monitor at debug on an agent logging at info gets debug lines
    (Consul's monitor does); the agent's own log stays at info."""
    a = HttpAgent(config={"log_level": "info"}).boot()
    try:
        s, buf = monitor_open(a, "?loglevel=debug")
        try:
            # musterd logs each child state change at debug.
            deadline = time.monotonic() + MONITOR_DEADLINE
            while b"[DEBUG] musterd: dnsd:" not in buf:
                assert time.monotonic() < deadline, "no debug line: %r" % buf[-2000:]
                a.ctl("restart", "dnsd")
                buf = monitor_read(s, buf, b"[DEBUG] musterd: dnsd:",
                                   min(deadline, time.monotonic() + 1.0))
            # A daemon restarted while the monitor is open is told the level
            # too (musterd sends it when the daemon is ready again), and says
            # so at debug with its pid. Restarted until seen: the SUB
            # reconnecting to a new dnsd may miss its first lines.
            deadline = time.monotonic() + MONITOR_DEADLINE
            while True:
                assert time.monotonic() < deadline, "no debug line of dnsd: %r" % buf[-2000:]
                old = a.status()["dnsd"]["pid"]
                a.ctl("restart", "dnsd")

                def new_ready():
                    st = a.status()["dnsd"]
                    return st["pid"] if st["state"] == "ready" and st["pid"] != old else None
                pid = wait_for(new_ready, 5, "a new dnsd ready")
                line = b"[DEBUG] dnsd: monitor level debug (from musterd, pid %d)" % pid
                buf = monitor_read(s, buf, line, min(deadline, time.monotonic() + 1.0))
                if line in buf:
                    break
        finally:
            s.close()
        with open(a.log_path, "rb") as f:
            assert b"[debug]" not in f.read()
    finally:
        a.stop()


def test_monitor_bad_log_level(http):
    assert_text(http.get("/v1/agent/monitor", params={"loglevel": "x"}), 400,
                "Unknown log level: x")
