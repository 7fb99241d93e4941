"""test_healthd.py: healthd over the bus (proto/msg.def ids 59-69) with real -dev agents.

What is checked, against raftd's catalog where it matters: service and check
registration with Consul's defaults (IDs, names, statuses, types) and error
texts (spec/http-api.md §3.12-§3.19), answered once the catalog has them;
deregistration; node and service maintenance; TTL checks (pass/warn/fail,
lapse to critical "TTL expired"); alias checks; check events on healthd's
PUB; persistence across kill -9 of healthd and across an agent restart with a
data_dir; anti-entropy restoring what was deleted from the catalog behind its
back and removing what is not local (spec §5.6); the
DeregisterCriticalServiceAfter reaper (test_timings shorten its minimum);
services and checks from config files and their reload. HTTP is
test_http_agent_local.py's.
"""
import json
import os
import signal
import time

import pytest

from agent import Agent, wait_for, pid_alive
from bus import Bus, Sub

FAST = {
    "check_update_interval": "2s",
    "test_timings": {"ae_interval": "1s", "check_reap_interval": "200ms",
                     "check_deregister_interval_min": "1s"},
}


class HAgent(Agent):
    """A -dev agent (a server: its raftd self-registers the node) and a bus to healthd."""

    def __init__(self, config=None, args=()):
        cfg = {"node_name": "h1"}
        cfg.update(FAST)
        cfg.update(config or {})
        super().__init__(["-dev"] + list(args), config=json.dumps(cfg))

    def boot(self):
        self.start()
        self.wait_ready(timeout=30)
        # the catalog has this node (raftd's self-registration) before tests go on
        wait_for(lambda: self.node_services() is not None, 20, "node in catalog")
        return self

    def hcall(self, name, timeout=10.0, **fields):
        with Bus(self.run_dir, peer="healthd", self_name="httpd") as b:
            return b.call(name, timeout=timeout, **fields)

    def rcall(self, name, timeout=10.0, **fields):
        with Bus(self.run_dir, peer="raftd", self_name="httpd") as b:
            return b.call(name, timeout=timeout, **fields)

    def ok(self, name, **fields):
        kind, r = self.hcall(name, **fields)
        assert (kind, r.get("status")) == ("RESULT", 200), (kind, r)

    def state(self):
        kind, r = self.hcall("AGENT_STATE")
        assert kind == "AGENT_STATE_REPLY", r
        return r

    def services(self):
        return {s["service"]["id"]: s for s in self.state()["services"]}

    def checks(self):
        return {c["check"]["check_id"]: c for c in self.state()["checks"]}

    def node_services(self):
        kind, r = self.rcall("CATALOG_NODE", node="h1")
        if kind != "CATALOG_NODE_REPLY" or not r["found"]:
            return None
        return {s["id"]: s for s in r["services"]}

    def node_checks(self):
        kind, r = self.rcall("HEALTH_CHECKS", node="h1")
        assert kind == "CHECKS_REPLY", r
        return {c["check_id"]: c for c in r["checks"]}

    def reload(self):
        """RELOAD through musterd, answered once every daemon reloaded (or with their errors)."""
        with Bus(self.run_dir, peer="musterd", self_name="httpd") as b:
            return b.call("RELOAD", timeout=20)

    def stats(self):
        with Bus(self.run_dir, peer="healthd", self_name="httpd") as b:
            kind, r = b.call("STATS")
        return {s["name"]: s["value"] for d in r["daemons"] for s in d["stats"]}

    def st_synced_since_restart(self):
        st = self.stats()
        return st.get("full_syncs", 0) >= 1 and st.get("syncs_ok", 0) >= 1

    def healthd_pid(self):
        return self.status()["healthd"]["pid"]


def svc(name, **kw):
    s = {"service": name}
    s.update(kw)
    return {"service": s}


def ttl_check(ttl_s=10, definition=None, **check):
    """An agent_check record of a TTL check (more definition fields in definition)."""
    d = {"ttl_ns": int(ttl_s * 1e9)}
    d.update(definition or {})
    return {"check": dict(check, definition=d)}


def sub_connected(ag, sub):
    """Waits until sub gets healthd's events (a SUB connects asynchronously):
    flips a TTL check until its CHECK_EVENT arrives."""
    ag.ok("CHECK_REGISTER", check={"check": {"name": "sub-probe",
                                             "definition": {"ttl_ns": 600 * 10**9}}})
    flip = ["passing", "warning"]

    def got():
        flip.reverse()
        ag.ok("CHECK_UPDATE", check_id="sub-probe", status=flip[0])
        return sub.wait(lambda n, f: f["check"]["check"]["check_id"] == "sub-probe", 0.2)
    wait_for(got, 10, "healthd's PUB connected")
    ag.ok("CHECK_DEREGISTER", check_id="sub-probe")


@pytest.fixture(scope="module")
def ag():
    a = HAgent().boot()
    yield a
    a.stop()


def test_register_defaults_and_catalog(ag):
    ag.ok("SERVICE_REGISTER", service=svc("web", port=80, tags=["a"]),
          checks=[ttl_check(30), ttl_check(30, check_id="web-extra", status="passing")])
    s = ag.services()["web"]
    assert s["service"]["id"] == "web"
    assert (s["service"]["weight_passing"], s["service"]["weight_warning"]) == (1, 1)
    assert s["content_hash"] and not s["maintenance"]
    cks = ag.checks()
    c1 = cks["service:web:1"]["check"]
    assert c1["name"] == "Service 'web' check"
    assert c1["status"] == "critical" and c1["type"] == "ttl"
    assert c1["service_id"] == "web" and c1["service_name"] == "web"
    assert c1["service_tags"] == ["a"] and c1["node"] == "h1"
    assert cks["web-extra"]["check"]["status"] == "passing"
    # answered once the catalog has it: no waiting here
    assert ag.node_services()["web"]["port"] == 80
    assert {"service:web:1", "web-extra"} <= set(ag.node_checks())
    # one check alone is "service:<id>"
    ag.ok("SERVICE_REGISTER", service=svc("solo"), checks=[ttl_check(30)])
    assert "service:solo" in ag.checks()
    ag.ok("SERVICE_DEREGISTER", id="solo")
    assert "solo" not in ag.services() and "service:solo" not in ag.checks()
    assert "solo" not in ag.node_services()
    assert "service:solo" not in ag.node_checks()


def test_register_errors(ag):
    def err(name, **f):
        kind, r = ag.hcall(name, **f)
        assert kind == "RESULT", r
        return r["status"], r["error"]

    assert err("SERVICE_REGISTER", service=svc("")) == (400, "Missing service name")
    assert err("SERVICE_REGISTER", service=svc("x", address="0.0.0.0")) == (
        400, "Invalid service address")
    assert err("SERVICE_REGISTER", service=svc("x", weight_warning=3)) == (
        400, "Invalid Weights: Passing must be greater than 0")
    assert err("SERVICE_REGISTER", service=svc("x", meta={"consul-x": "1"})) == (
        400, "Invalid Service Meta: Couldn't load metadata pair ('consul-x', '1'): "
             "Key prefix 'consul-' is reserved for internal use")
    assert err("SERVICE_REGISTER", service=svc("x"),
               checks=[{"check": {"definition": {"http": "http://x"}}}]) == (
        400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or "
             "OSService checks")
    assert err("SERVICE_REGISTER", service=svc("x"),
               checks=[{"check": {"name": "n"}}]) == (
        400, "Invalid check: TTL must be > 0 for TTL checks")
    assert err("SERVICE_REGISTER", service=svc("x"),
               checks=[ttl_check(5, status="bad")]) == (
        400, "Status for checks must 'passing', 'warning', 'critical'")
    assert err("SERVICE_REGISTER", service=svc("x"), checks=[
        {"check": {"definition": {"script_args": ["/bin/true"], "interval_ns": 10**9}}}]) == (
        400, "Scripts are disabled on this agent from remote calls; to enable, configure "
             "'enable_script_checks' to true")
    assert err("CHECK_REGISTER", check={"check": {"definition": {"ttl_ns": 10**9}}}) == (
        400, "Missing check name")
    assert err("CHECK_REGISTER", check={"check": {"name": "c", "status": "nope",
                                                  "definition": {"ttl_ns": 10**9}}}) == (
        400, "Bad check status")
    assert err("CHECK_REGISTER", check={"check": {"name": "c", "service_id": "nosuch",
                                                  "definition": {"ttl_ns": 10**9}}}) == (
        404, 'ServiceID "nosuch" does not exist')
    assert err("SERVICE_DEREGISTER", id="nosuch") == (
        404, 'Unknown service ID "nosuch". Ensure that the service ID is passed, not the '
             'service name.')
    assert err("CHECK_DEREGISTER", check_id="nosuch") == (
        404, 'Unknown check ID "nosuch". Ensure that the check ID is passed, not the check '
             'name.')
    assert err("CHECK_UPDATE", check_id="nosuch", status="passing") == (
        404, 'Unknown check ID "nosuch". Ensure that the check ID is passed, not the check '
             'name.')
    assert err("CHECK_UPDATE", check_id="x", status="up") == (
        400, "Invalid check status: 'up'")
    assert err("MAINTENANCE", node=False, id="", enable=True) == (400, "Missing service ID")
    assert err("MAINTENANCE", node=False, id="nosuch", enable=True)[0] == 404
    assert "x" not in ag.services()


def test_ttl_update_lapse_and_events(ag):
    with Sub(ag.run_dir, "healthd", ["CHECK_EVENT"]) as sub:
        sub_connected(ag, sub)
        ag.ok("CHECK_REGISTER", check={"check": {"name": "beat",
                                                 "definition": {"ttl_ns": 700 * 10**6}}})
        assert ag.checks()["beat"]["check"]["status"] == "critical"
        ag.ok("CHECK_UPDATE", check_id="beat", status="passing", output="fine")
        c = ag.checks()["beat"]["check"]
        assert (c["status"], c["output"]) == ("passing", "fine")
        # synced at once: the catalog shows it
        assert ag.node_checks()["beat"]["status"] == "passing"
        ev = sub.wait(lambda n, f: f["check"]["check"]["check_id"] == "beat"
                      and f["check"]["check"]["status"] == "passing", 5)
        assert ev is not None and ev[1]["previous"] == "critical"
        # the TTL lapses: critical with Consul's text
        ev = sub.wait(lambda n, f: f["check"]["check"]["check_id"] == "beat"
                      and f["check"]["check"]["status"] == "critical", 5)
        assert ev is not None
        out = ag.checks()["beat"]["check"]["output"]
        assert out == "TTL expired (last output before timeout follows): fine"
        wait_for(lambda: ag.node_checks()["beat"]["status"] == "critical", 5, "lapse synced")
    # a non-TTL check refuses updates with Consul's text
    ag.ok("MAINTENANCE", node=True, enable=True, reason="")
    kind, r = ag.hcall("CHECK_UPDATE", check_id="_node_maintenance", status="passing")
    assert (r["status"], r["error"]) == (500, 'CheckID "_node_maintenance" does not have '
                                              'associated TTL')
    ag.ok("MAINTENANCE", node=True, enable=False)
    ag.ok("CHECK_DEREGISTER", check_id="beat")
    assert "beat" not in ag.node_checks()


def test_output_only_change_is_deferred(ag):
    ag.ok("CHECK_REGISTER", check={"check": {"name": "out",
                                             "definition": {"ttl_ns": 600 * 10**9}}})
    ag.ok("CHECK_UPDATE", check_id="out", status="passing", output="first")
    assert ag.node_checks()["out"]["output"] == "first"  # a status change: at once
    t0 = time.monotonic()
    ag.ok("CHECK_UPDATE", check_id="out", status="passing", output="second")
    assert ag.checks()["out"]["check"]["output"] == "second"
    # output-only: the catalog keeps the old output until check_update_interval/2 at least,
    # full syncs (every 1s here) included
    assert ag.node_checks()["out"]["output"] == "first"
    wait_for(lambda: ag.node_checks()["out"]["output"] == "second", 10, "deferred output synced")
    assert time.monotonic() - t0 >= 0.9
    # a status change goes at once, with its output
    ag.ok("CHECK_UPDATE", check_id="out", status="warning", output="third")
    assert ag.node_checks()["out"]["output"] == "third"
    ag.ok("CHECK_DEREGISTER", check_id="out")


def test_output_cap(ag):
    ag.ok("CHECK_REGISTER", check={"check": {"name": "cap", "definition": {
        "ttl_ns": 60 * 10**9, "output_max_size": 10}}})
    ag.ok("CHECK_UPDATE", check_id="cap", status="warning", output="x" * 25)
    assert ag.checks()["cap"]["check"]["output"] == "x" * 10 + " ... (captured 10 of 25 bytes)"
    ag.ok("CHECK_DEREGISTER", check_id="cap")


def test_maintenance(ag):
    ag.ok("SERVICE_REGISTER", service=svc("db", tags=["p"]))
    ag.ok("MAINTENANCE", node=False, id="db", enable=True, reason="upgrading")
    c = ag.checks()["_service_maintenance:db"]["check"]
    assert (c["name"], c["status"], c["notes"], c["service_id"], c["type"]) == (
        "Service Maintenance Mode", "critical", "upgrading", "db", "maintenance")
    assert ag.services()["db"]["maintenance"]
    assert ag.node_checks()["_service_maintenance:db"]["status"] == "critical"
    ag.ok("MAINTENANCE", node=False, id="db", enable=True, reason="again")  # idempotent
    assert ag.checks()["_service_maintenance:db"]["check"]["notes"] == "upgrading"
    ag.ok("MAINTENANCE", node=True, enable=True, reason="")
    st = ag.state()
    assert st["node_maintenance"] and st["node"] == "h1"
    n = ag.checks()["_node_maintenance"]["check"]
    assert n["name"] == "Node Maintenance Mode"
    assert n["notes"] == ("Maintenance mode is enabled for this node, but no reason was "
                          "provided. This is a default message.")
    ag.ok("MAINTENANCE", node=True, enable=False)
    ag.ok("MAINTENANCE", node=False, id="db", enable=False)
    assert not ag.state()["node_maintenance"]
    assert "_service_maintenance:db" not in ag.node_checks()
    ag.ok("SERVICE_DEREGISTER", id="db")


def test_reregister_keeps_check_state_and_replace(ag):
    ag.ok("SERVICE_REGISTER", service=svc("api"),
          checks=[ttl_check(60, check_id="a1"),
                  ttl_check(60, check_id="a2")])
    ag.ok("CHECK_UPDATE", check_id="a1", status="passing", output="up")
    # re-registered with Status critical: the state it had wins (Consul's snapshot)
    ag.ok("SERVICE_REGISTER", service=svc("api", port=9),
          checks=[ttl_check(60, check_id="a1", status="critical")])
    cks = ag.checks()
    assert cks["a1"]["check"]["status"] == "passing" and "a2" in cks
    ag.ok("SERVICE_REGISTER", service=svc("api", port=9), replace_existing_checks=True,
          checks=[ttl_check(60, check_id="a1")])
    assert "a2" not in ag.checks()
    assert "a2" not in ag.node_checks()
    ag.ok("SERVICE_DEREGISTER", id="api")


def test_service_get_and_hash_wait(ag):
    ag.ok("SERVICE_REGISTER", service=svc("hw", port=1))
    kind, r = ag.hcall("SERVICE_GET", id="hw")
    assert kind == "SERVICE_GET_REPLY" and r["found"]
    h = r["service"]["content_hash"]
    kind, r = ag.hcall("SERVICE_GET", id="nosuch")
    assert not r["found"]
    with Bus(ag.run_dir, peer="healthd", self_name="httpd") as b:
        rid = b.send("SERVICE_GET", id="hw", hash=h, wait_ms=10000)
        with pytest.raises(Exception):
            b.recv(rid, 0.3)  # held while the hash is the same
        ag.ok("SERVICE_REGISTER", service=svc("hw", port=2))
        kind, r = b.recv(rid, 5)
        assert r["found"] and r["service"]["service"]["port"] == 2
        assert r["service"]["content_hash"] != h
    ag.ok("SERVICE_DEREGISTER", id="hw")


def test_alias_local(ag):
    ag.ok("SERVICE_REGISTER", service=svc("backend"),
          checks=[ttl_check(60, check_id="be")])
    ag.ok("SERVICE_REGISTER", service=svc("proxy"), checks=[
        {"check": {"check_id": "px", "definition": {"alias_service": "backend"}}}])
    assert ag.checks()["px"]["check"]["type"] == "alias"
    wait_for(lambda: ag.checks()["px"]["check"]["status"] == "critical", 5, "alias critical")
    ag.ok("CHECK_UPDATE", check_id="be", status="passing")
    wait_for(lambda: ag.checks()["px"]["check"]["status"] == "passing", 5, "alias passing")
    assert ag.checks()["px"]["check"]["output"] == "All checks passing."
    # AliasNode set: a blocking read of that node's checks in the catalog (here our own)
    ag.ok("CHECK_REGISTER", check={"check": {"name": "remote-alias", "definition": {
        "alias_node": "h1", "alias_service": "backend"}}})
    wait_for(lambda: ag.checks()["remote-alias"]["check"]["status"] == "passing", 10,
             "remote alias passing")
    ag.ok("CHECK_UPDATE", check_id="be", status="warning", output="hmm")
    wait_for(lambda: ag.checks()["remote-alias"]["check"]["status"] == "warning", 10,
             "remote alias follows the catalog")
    assert ag.checks()["remote-alias"]["check"]["output"] == (
        'Aliased check "Service \'backend\' check" failing: hmm')
    ag.ok("SERVICE_DEREGISTER", id="backend")
    wait_for(lambda: ag.checks()["px"]["check"]["status"] == "critical", 5, "alias lost")
    wait_for(lambda: ag.checks()["remote-alias"]["check"]["status"] == "critical", 10,
             "remote alias lost")
    ag.ok("CHECK_DEREGISTER", check_id="remote-alias")
    ag.ok("SERVICE_DEREGISTER", id="proxy")


def test_anti_entropy_repairs_catalog(ag):
    ag.ok("SERVICE_REGISTER", service=svc("keep", port=7),
          checks=[ttl_check(60, check_id="keep-c", status="passing")])
    # deleted behind healthd's back: the next full sync (ae_interval 1s) restores it
    kind, r = ag.rcall("CATALOG_DEREGISTER", node="h1", service_id="keep")
    assert kind == "WRITE_REPLY", r
    assert "keep" not in ag.node_services()
    wait_for(lambda: "keep" in (ag.node_services() or {}), 10, "service restored")
    wait_for(lambda: "keep-c" in ag.node_checks(), 10, "check restored")
    # changed behind its back: put back as the agent has it
    kind, r = ag.rcall("CATALOG_REGISTER", node={"node": "h1", "address": "127.0.0.1"},
                       skip_node_update=True, has_service=True,
                       service={"id": "keep", "service": "keep", "port": 99})
    assert kind == "WRITE_REPLY", r
    wait_for(lambda: ag.node_services()["keep"]["port"] == 7, 10, "service repaired")
    # registered in the catalog but not local: removed; serfHealth and consul stay
    kind, r = ag.rcall("CATALOG_REGISTER", node={"node": "h1", "address": "127.0.0.1"},
                       skip_node_update=True, has_service=True,
                       service={"id": "stray", "service": "stray"},
                       checks=[{"node": "h1", "check_id": "stray-c", "name": "s",
                                "status": "passing"}])
    assert kind == "WRITE_REPLY", r
    wait_for(lambda: "stray" not in ag.node_services(), 10, "stray service removed")
    wait_for(lambda: "stray-c" not in ag.node_checks(), 10, "stray check removed")
    assert "consul" in ag.node_services()
    assert "serfHealth" in ag.node_checks()
    ag.ok("SERVICE_DEREGISTER", id="keep")


def test_reaper(ag):
    ag.ok("SERVICE_REGISTER", service=svc("doomed"), checks=[
        ttl_check(60, check_id="doomed-c",
                  definition={"deregister_critical_service_after_ns": 10**6})])
    assert "doomed" in ag.services()
    # critical from the start; the minimum (test_timings: 1s) applies, then the reaper (200ms)
    t0 = time.monotonic()
    wait_for(lambda: "doomed" not in ag.services(), 10, "service reaped")
    assert time.monotonic() - t0 >= 0.5
    wait_for(lambda: "doomed" not in ag.node_services(), 5, "reaped from the catalog")


def test_persistence_kill9(ag):
    ag.ok("SERVICE_REGISTER", service=svc("durable", port=5),
          checks=[ttl_check(60, check_id="dur-c")])
    ag.ok("CHECK_UPDATE", check_id="dur-c", status="warning", output="meh")
    ag.ok("MAINTENANCE", node=False, id="durable", enable=True, reason="r")
    pid = ag.healthd_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (ag.status() or {}).get("healthd", {}).get("pid") not in (None, pid)
             and ag.status()["healthd"]["state"] == "ready", 20, "healthd restarted")
    s = ag.services()
    assert s["durable"]["service"]["port"] == 5 and s["durable"]["maintenance"]
    c = ag.checks()["dur-c"]["check"]
    assert (c["status"], c["output"]) == ("warning", "meh")
    # the restart's full sync keeps it in the catalog
    wait_for(lambda: ag.st_synced_since_restart(), 10, "a full sync after the restart")
    assert "durable" in ag.node_services() and "dur-c" in ag.node_checks()
    ag.ok("SERVICE_DEREGISTER", id="durable")


def test_persistence_agent_restart(tmp_path):
    data = str(tmp_path / "data")
    a = HAgent(config={"data_dir": data})
    try:
        a.boot()
        a.ok("SERVICE_REGISTER", service=svc("p1", port=11),
             checks=[ttl_check(60, check_id="p1c")])
        a.ok("MAINTENANCE", node=True, enable=True, reason="night")
        assert os.listdir(os.path.join(data, "services"))
        assert len(os.listdir(os.path.join(data, "checks"))) == 2
    finally:
        a.stop()
    b = HAgent(config={"data_dir": data})
    try:
        b.boot()
        assert b.services()["p1"]["service"]["port"] == 11
        assert b.state()["node_maintenance"]
        assert b.checks()["_node_maintenance"]["check"]["notes"] == "night"
        wait_for(lambda: "p1" in (b.node_services() or {}), 10, "p1 synced after restart")
    finally:
        b.stop()


CONFIG_SVCS = {
    "services": [
        {"name": "cfgweb", "port": 8080, "tags": ["v1"],
         "check": {"id": "cfgweb-ttl", "ttl": "30s", "status": "passing"}},
    ],
    "check": {"id": "cfg-node", "name": "node ttl", "ttl": "30s"},
}


def test_config_services_and_reload(tmp_path):
    a = HAgent(config=CONFIG_SVCS)
    try:
        a.boot()
        s = a.services()["cfgweb"]["service"]
        assert (s["port"], s["tags"]) == (8080, ["v1"])
        c = a.checks()
        assert c["cfgweb-ttl"]["check"]["status"] == "passing"
        assert c["cfg-node"]["check"]["name"] == "node ttl"
        wait_for(lambda: "cfgweb" in (a.node_services() or {}), 10, "config service synced")
        # reload: a changed file replaces the config entries
        cfg = dict(FAST, node_name="h1",
                   services=[{"name": "cfgweb", "port": 9090},
                             {"name": "cfgdb", "id": "db1", "port": 5432}])
        with open(os.path.join(a.dir, "agent.yaml"), "w") as f:
            f.write(json.dumps(cfg))
        a.reload()
        wait_for(lambda: set(a.services()) == {"cfgweb", "db1"}, 10, "reloaded services")
        assert a.services()["cfgweb"]["service"]["port"] == 9090
        assert "cfg-node" not in a.checks() and "cfgweb-ttl" not in a.checks()
        wait_for(lambda: "db1" in a.node_services() and "cfg-node" not in a.node_checks(), 10,
                 "reload synced")
        # a bad definition fails the reload and changes nothing
        cfg["services"].append({"name": "bad", "address": "0.0.0.0"})
        with open(os.path.join(a.dir, "agent.yaml"), "w") as f:
            f.write(json.dumps(cfg))
        kind, r = a.reload()
        assert r["status"] == 500 and "Invalid service address" in r["error"], r
        assert set(a.services()) == {"cfgweb", "db1"}
        # the control socket's reload says so too, after the daemons answered
        r = a.ctl("reload", check=False)
        assert r.returncode != 0, (r.stdout, r.stderr)
        assert "Invalid service address" in r.stdout + r.stderr, (r.stdout, r.stderr)
    finally:
        a.stop()


def test_probe_checks_end_to_end(ag):
    """TCP and HTTP checks run through H2's probes on healthd's loop; their results reach
    the catalog (the probes' own details are test_probe.c's)."""
    import http.server
    import socket
    import threading

    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(16)
    tcp_port = lsn.getsockname()[1]

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(429)
            self.end_headers()
            self.wfile.write(b"slow down")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ag.ok("SERVICE_REGISTER", service=svc("probed", port=tcp_port), checks=[
            {"check": {"check_id": "p-tcp", "definition": {
                "tcp": "127.0.0.1:%d" % tcp_port, "interval_ns": 10**9}}},
            {"check": {"check_id": "p-http", "definition": {
                "http": "http://127.0.0.1:%d/h" % srv.server_address[1],
                "interval_ns": 10**9}}}])
        c = ag.checks()
        assert c["p-tcp"]["check"]["type"] == "tcp" and c["p-tcp"]["check"]["interval"] == "1s"
        wait_for(lambda: ag.checks()["p-tcp"]["check"]["status"] == "passing", 10, "tcp passing")
        assert ag.checks()["p-tcp"]["check"]["output"] == (
            "TCP connect 127.0.0.1:%d: Success" % tcp_port)
        wait_for(lambda: ag.checks()["p-http"]["check"]["status"] == "warning", 10,
                 "http 429 is warning")
        wait_for(lambda: ag.node_checks()["p-http"]["status"] == "warning", 5, "synced")
        lsn.close()
        wait_for(lambda: ag.checks()["p-tcp"]["check"]["status"] == "critical", 10,
                 "tcp critical once closed")
        wait_for(lambda: ag.node_checks()["p-tcp"]["status"] == "critical", 5, "synced")
    finally:
        srv.shutdown()
        lsn.close()
        ag.ok("SERVICE_DEREGISTER", id="probed")


SHIM = os.path.join(os.environ.get("MUSTER_BUILD", os.path.join(
    os.path.dirname(__file__), "..", "..", "build")), "tests", "libfaultfs.so")


@pytest.mark.skipif(not os.path.exists(SHIM), reason="no libfaultfs.so in this build")
@pytest.mark.parametrize("rule", ["write ENOSPC", "fsync EIO"])
def test_registration_that_cannot_be_saved_is_refused(tmp_path, rule):
    """A registration whose file cannot be written is answered 500 and
    leaves nothing behind (Consul: failed to persist); once the disk is
    back the same registration succeeds."""
    data = tmp_path / "data"
    os.makedirs(data / "services")
    ctl = str(tmp_path / "fault.ctl")
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    a = HAgent(config={"data_dir": str(data)})
    a.env.update({"LD_PRELOAD": SHIM, "MUSTER_FAULT_DIR": str(data / "services"),
                  "MUSTER_FAULT_CTL": ctl, "ASAN_OPTIONS": asan})
    try:
        a.boot()
        with open(ctl + ".tmp", "w") as f:
            f.write(rule + "\n")
        os.rename(ctl + ".tmp", ctl)
        kind, r = a.hcall("SERVICE_REGISTER", service=svc("disk", port=1))
        assert (kind, r["status"]) == ("RESULT", 500), r
        assert r["error"].startswith("failed to persist service disk"), r
        assert "disk" not in a.services()
        os.unlink(ctl)
        a.ok("SERVICE_REGISTER", service=svc("disk", port=1))
        assert a.services()["disk"]["service"]["port"] == 1
    finally:
        a.stop()
