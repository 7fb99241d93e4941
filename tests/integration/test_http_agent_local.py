"""test_http_agent_local.py: this agent's own services and checks over HTTP (spec/http-api.md §3.7, §3.10-§3.20), through python-consul 0.7.1 and requests.

httpd decodes and shapes, healthd validates and keeps the state: these
tests drive both through the HTTP API of one -dev agent (script checks on,
so python-consul's Check.script registers). Each test names its services
and checks with its own prefix and removes what it registered.
"""
import json
import urllib.parse

import consul
import pytest

from agent import wait_for
# http, c and p are httpfix's; they take this module's agent.
from httpfix import HttpAgent, assert_text, c, http, later, p, timed  # noqa: F401

BOOT_TIMEOUT = 30.0
SYNC_DEADLINE = 10.0   # s: a registration reaches the catalog (healthd syncs at once)
NODE_MAINT = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
SVC_MAINT = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent(config={"enable_script_checks": True})
    try:
        a.boot(BOOT_TIMEOUT)
        yield a
    finally:
        a.stop()


# --- helpers ---------------------------------------------------------------------


def q(s):
    """An ID as one path segment: '/' and the rest percent-encoded (§0.2)."""
    return urllib.parse.quote(s, safe="")


def put(http, path, body=None, **kw):
    data = body if body is None or isinstance(body, (str, bytes)) else json.dumps(body)
    return http.put(path, data=data, **kw)


def ok(r):
    """Consul's answer to an agent write: 200, empty body (§1.4)."""
    assert r.status_code == 200, "%s %s: %d %r" % (r.request.method, r.request.url,
                                                   r.status_code, r.text)
    assert r.text == "", r.text
    return r


def register(http, body, **params):
    return ok(put(http, "/v1/agent/service/register", body, params=params))


def services(http, **params):
    r = http.get("/v1/agent/services", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert "X-Consul-Index" not in r.headers  # agent endpoints (§3)
    v = r.json()
    assert isinstance(v, dict), v
    return v


def checks(http, **params):
    r = http.get("/v1/agent/checks", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    v = r.json()
    assert isinstance(v, dict), v
    return v


def deregister(http, sid):
    ok(put(http, "/v1/agent/service/deregister/" + q(sid)))


def check_status(http, cid):
    return checks(http)[cid]["Status"]


# --- services: register, list, read (§3.10-§3.12) -----------------------------------


def test_services_is_an_object(http):
    assert isinstance(services(http), dict)
    assert isinstance(checks(http), dict)


def test_python_consul_register_ttl(c, http, p):
    sid, name = p + "1", p + "svc"
    assert c.agent.service.register(name, service_id=sid, address="10.3.0.1", port=8080,
                                    tags=["a", "b"], check=consul.Check.ttl("10s")) is True
    try:
        s = c.agent.services()[sid]
        assert s["ID"] == sid and s["Service"] == name
        assert s["Tags"] == ["a", "b"] and s["Port"] == 8080 and s["Address"] == "10.3.0.1"
        # AgentService (§2.3): Meta never null, Weights an object, no ContentHash here.
        assert s["Meta"] == {} and s["Weights"] == {"Passing": 1, "Warning": 1}
        assert s["EnableTagOverride"] is False and s["Datacenter"] == "dc1"
        assert "ContentHash" not in s and "Kind" not in s and "SocketPath" not in s
        chk = c.agent.checks()["service:" + sid]
        assert chk["Status"] == "critical"  # Consul's default (§3.12)
        assert chk["ServiceID"] == sid and chk["ServiceName"] == name
        assert chk["ServiceTags"] == ["a", "b"]
        assert chk["Name"] == "Service '%s' check" % name
        assert chk["Type"] == "ttl"
        assert chk["Definition"]["TTL"] == 10 * 10**9  # ns, not a string (§2.6)
    finally:
        assert c.agent.service.deregister(sid) is True
    assert sid not in services(http)
    assert "service:" + sid not in checks(http)


def test_python_consul_ttl_pass_warn_fail(c, http, p):
    sid = p + "s"
    assert c.agent.service.register(sid, check=consul.Check.ttl("30s")) is True
    cid = "service:" + sid
    try:
        for fn, status in ((c.agent.check.ttl_pass, "passing"),
                           (c.agent.check.ttl_warn, "warning"),
                           (c.agent.check.ttl_fail, "critical")):
            assert fn(cid, notes="note " + status) is True
            chk = checks(http)[cid]
            assert (chk["Status"], chk["Output"]) == (status, "note " + status)
        # No note: Output "" (§3.18).
        assert c.agent.check.ttl_pass(cid) is True
        assert (checks(http)[cid]["Status"], checks(http)[cid]["Output"]) == ("passing", "")
    finally:
        deregister(http, sid)


def test_go_client_camelcase_body(http, p):
    sid = p + "go"
    body = {"ID": sid, "Name": p + "web", "Tags": ["v1"], "Port": 80, "Address": "10.3.0.2",
            "Meta": {"env": "prod"}, "EnableTagOverride": True,
            "TaggedAddresses": {"lan": {"Address": "10.3.0.2", "Port": 80},
                                "wan": {"address": "192.0.2.2", "port": 8080}},
            "Weights": {"Passing": 3, "Warning": 2},
            "Check": {"TTL": "15s", "Notes": "first"},
            "Checks": [{"CheckID": p + "named", "Name": "named", "TTL": "20s",
                        "Status": "passing"},
                       {"HTTP": "http://127.0.0.1:1/health", "Interval": "10s",
                        "Timeout": "1s", "Method": "POST",
                        "Header": {"X-A": ["1", "2"]}, "TLSSkipVerify": True}]}
    register(http, body)
    try:
        s = services(http)[sid]
        assert s["Meta"] == {"env": "prod"} and s["EnableTagOverride"] is True
        assert s["Weights"] == {"Passing": 3, "Warning": 2}
        assert s["TaggedAddresses"] == {"lan": {"Address": "10.3.0.2", "Port": 80},
                                        "wan": {"Address": "192.0.2.2", "Port": 8080}}
        cs = checks(http)
        # Check first, then Checks; unnamed ones get service:<id>:<n> (§3.12).
        assert cs["service:%s:1" % sid]["Notes"] == "first"
        assert cs[p + "named"]["Status"] == "passing"
        h = cs["service:%s:3" % sid]
        assert h["Type"] == "http" and h["Interval"] == "10s" and h["Timeout"] == "1s"
        d = h["Definition"]
        assert d["HTTP"] == "http://127.0.0.1:1/health" and d["Method"] == "POST"
        assert d["Header"] == {"X-A": ["1", "2"]} and d["TLSSkipVerify"] is True
        assert d["Interval"] == "10s" and d["Timeout"] == "1s"
    finally:
        deregister(http, sid)


def test_patroni_body_id_with_slash(http, p):
    """py-consul as Patroni uses it: lowercase and snake_case keys, an ID
    with '/', durations from floats; deregister with the ID quoted (§3.12, §3.13)."""
    sid = "%s/member-1" % p
    body = {"name": p + "pg", "id": sid, "address": "10.3.0.3", "port": 5432,
            "tags": ["master"], "enable_tag_override": True, "meta": {"role": "master"},
            "check": {"http": "http://127.0.0.1:1/master", "interval": "5.0s",
                      "DeregisterCriticalServiceAfter": "150.0s", "tls_skip_verify": True,
                      "tls_server_name": "pg.local"}}
    register(http, body)
    try:
        s = services(http)[sid]
        assert s["Tags"] == ["master"] and s["EnableTagOverride"] is True
        r = http.get("/v1/agent/service/" + q(sid))
        assert r.status_code == 200, r.text
        assert r.json()["ID"] == sid
        d = checks(http)["service:" + sid]["Definition"]
        assert d["DeregisterCriticalServiceAfter"] == "2m30s"
        assert d["Interval"] == "5s" and d["TLSServerName"] == "pg.local"
        assert d["TLSSkipVerify"] is True
    finally:
        ok(http.get("/v1/agent/service/deregister/" + q(sid)))  # python-consul's GET
    assert sid not in services(http)


def test_durations_as_ns_numbers(http, p):
    sid = p + "ns"
    register(http, {"Name": sid, "Checks": [
        {"TCP": "127.0.0.1:1", "Interval": 10 * 10**9, "Timeout": 1.5e9},
        {"TTL": 30 * 10**9}]})
    try:
        cs = checks(http)
        assert cs["service:%s:1" % sid]["Interval"] == "10s"
        assert cs["service:%s:1" % sid]["Timeout"] == "1.5s"
        assert cs["service:%s:1" % sid]["Definition"]["TCP"] == "127.0.0.1:1"
        assert cs["service:%s:2" % sid]["Definition"]["TTL"] == 30 * 10**9
    finally:
        deregister(http, sid)


def test_mesh_fields_stored_and_echoed(http, p):
    sid = p + "proxy"
    proxy = {"DestinationServiceName": "web", "LocalServicePort": 8080}
    register(http, {"Name": sid, "Kind": "connect-proxy", "Port": 21000, "Proxy": proxy,
                    "Connect": {"Native": False}})
    try:
        s = services(http)[sid]
        assert s["Kind"] == "connect-proxy"
        assert s["Proxy"] == proxy and s["Connect"] == {"Native": False}
    finally:
        deregister(http, sid)


def test_registration_reaches_the_catalog(http, p):
    """A registration is answered once the catalog has it (issue 6)."""
    sid = p + "cat"
    register(http, {"Name": sid, "Port": 1234, "Check": {"TTL": "30s", "Status": "passing"}})
    try:
        r = http.get("/v1/catalog/service/" + sid)
        assert r.status_code == 200 and [x["ServiceID"] for x in r.json()] == [sid], r.text
        r = http.get("/v1/health/checks/" + sid)
        assert [(x["CheckID"], x["Status"]) for x in r.json()] == [("service:" + sid, "passing")]
    finally:
        deregister(http, sid)
    wait_for(lambda: http.get("/v1/catalog/service/" + sid).json() == [], SYNC_DEADLINE,
             "the catalog to drop %s" % sid)


def test_services_filter(http, p):
    register(http, {"Name": p + "a", "Tags": ["x"]})
    register(http, {"Name": p + "b", "Meta": {"k": "v"}})
    try:
        got = services(http, filter='Service == "%sa"' % p)
        assert list(got) == [p + "a"]
        got = services(http, filter='Meta.k == "v"')
        assert list(got) == [p + "b"]
        assert_text(http.get("/v1/agent/services", params={"filter": "Service =="}), 500,
                    prefix="Failed to create boolean expression evaluator")
    finally:
        deregister(http, p + "a")
        deregister(http, p + "b")


def test_register_decode_errors(http):
    url = "/v1/agent/service/register"
    assert_text(put(http, url, ""), 400, "Request decode failed: EOF")
    assert_text(put(http, url, "[]"), 400, "Request decode failed: json: cannot unmarshal "
                "array into Go value of type structs.ServiceDefinition")
    assert_text(put(http, url, '{"Name": '), 400, prefix="Request decode failed: ")
    assert_text(put(http, url, {"Name": "x", "Port": "80"}), 400,
                prefix="Request decode failed: json: cannot unmarshal string")
    assert_text(put(http, url, {"Name": "x", "Check": {"Interval": "ten"}}), 400,
                prefix="Request decode failed: ")
    assert_text(put(http, url, {"Name": "x", "Checks": {"TTL": "1s"}}), 400,
                prefix="Request decode failed: json: cannot unmarshal object")


def test_register_validation_texts(http, p):
    url = "/v1/agent/service/register"
    assert_text(put(http, url, {"Port": 1}), 400, "Missing service name")
    assert_text(put(http, url, {"Name": p, "Address": "0.0.0.0"}), 400,
                "Invalid service address")
    assert_text(put(http, url, {"Name": p, "Check": {"TTL": "1s", "Status": "bogus"}}), 400,
                "Status for checks must 'passing', 'warning', 'critical'")
    assert_text(put(http, url, {"Name": p, "Check": {"Notes": "no kind"}}), 400,
                prefix="Invalid check: ")
    assert_text(put(http, url, {"Name": p, "Weights": {"Passing": 0, "Warning": 1}}), 400,
                prefix="Invalid Weights")
    assert p not in services(http)


def test_replace_existing_checks(http, p):
    sid = p + "r"
    two = {"Name": sid, "Checks": [{"CheckID": p + "c1", "TTL": "30s"},
                                    {"CheckID": p + "c2", "TTL": "30s"}]}
    one = {"Name": sid, "Checks": [{"CheckID": p + "c1", "TTL": "30s"}]}
    register(http, two)
    try:
        ok(http.put("/v1/agent/check/pass/" + p + "c1"))
        register(http, one)  # without the flag the other check stays
        assert {p + "c1", p + "c2"} <= set(checks(http))
        # A check that exists keeps its status over a re-registration (§3.12).
        assert check_status(http, p + "c1") == "passing"
        register(http, one, **{"replace-existing-checks": ""})
        cs = checks(http)
        assert p + "c1" in cs and p + "c2" not in cs
    finally:
        deregister(http, sid)


def test_reregister_replaces_definition(http, p):
    sid = p + "re"
    register(http, {"Name": sid, "Tags": ["old"], "Port": 1})
    try:
        register(http, {"Name": sid, "Tags": ["new"], "Port": 2})
        s = services(http)[sid]
        assert (s["Tags"], s["Port"]) == (["new"], 2)
    finally:
        deregister(http, sid)


def test_token_in_query_is_accepted(http, p):
    register(http, {"Name": p}, token="anything")  # ACLs off: ignored (§1.6)
    deregister(http, p)


# --- GET /v1/agent/service/{id} (§3.11) ----------------------------------------------


def test_service_by_id_content_hash(http, p):
    sid = p + "h"
    register(http, {"Name": sid, "Port": 1})
    try:
        r = http.get("/v1/agent/service/" + sid)
        assert r.status_code == 200, r.text
        s = r.json()
        assert s["ID"] == sid and s["Tags"] == [] and s["Meta"] == {}
        h = r.headers.get("X-Consul-ContentHash")
        assert h and s["ContentHash"] == h
        # The same state, the same hash; a change, another.
        assert http.get("/v1/agent/service/" + sid).json()["ContentHash"] == h
        register(http, {"Name": sid, "Port": 2})
        assert http.get("/v1/agent/service/" + sid).json()["ContentHash"] != h
    finally:
        deregister(http, sid)
    assert_text(http.get("/v1/agent/service/" + sid), 404, "unknown service ID: " + sid)


def test_service_by_id_blocks_on_hash(http, p):
    sid = p + "b"
    register(http, {"Name": sid, "Port": 1})
    try:
        h = http.get("/v1/agent/service/" + sid).headers["X-Consul-ContentHash"]
        # Nothing changes: the answer comes after wait, with the same hash.
        r, took = timed(http.get, "/v1/agent/service/" + sid, params={"hash": h, "wait": "1s"})
        assert r.status_code == 200 and r.json()["ContentHash"] == h
        assert 0.9 <= took < 1.0 * 17 / 16 + 1.0, took
        # A change during the wait ends it early with the new hash.
        with later(http, 0.3, lambda h2: register(h2, {"Name": sid, "Port": 9})):
            r, took = timed(http.get, "/v1/agent/service/" + sid,
                            params={"hash": h, "wait": "5s"})
        assert r.status_code == 200 and r.json()["Port"] == 9
        assert r.json()["ContentHash"] != h and took < 4.0, took
        assert_text(http.get("/v1/agent/service/" + sid, params={"hash": h, "wait": "x"}),
                    400, "Invalid wait time")
    finally:
        deregister(http, sid)


# --- deregister, maintenance (§3.7, §3.13, §3.14) ------------------------------------


def test_deregister_unknown(c, http, p):
    text = ('Unknown service ID "%s". Ensure that the service ID is passed, not the '
            "service name." % p)
    assert_text(put(http, "/v1/agent/service/deregister/" + p), 404, text)
    assert_text(http.get("/v1/agent/service/deregister/" + p), 404, text)
    assert c.agent.service.deregister(p) is False  # python-consul: False on 404


def test_service_maintenance(c, http, p):
    sid = p + "m"
    register(http, {"Name": sid, "Check": {"TTL": "30s", "Status": "passing"}})
    url = "/v1/agent/service/maintenance/"
    mid = "_service_maintenance:" + sid
    try:
        assert_text(put(http, url + sid), 400, "Missing value for enable")
        assert_text(put(http, url + sid, params={"enable": "x"}), 400,
                    'Invalid value for enable: "x"')
        assert_text(put(http, url, params={"enable": "true"}), 400, "Missing service ID")
        assert_text(put(http, url + p + "none", params={"enable": "true"}), 404,
                    'Unknown service ID "%snone". Ensure that the service ID is passed, not '
                    "the service name." % p)
        assert c.agent.service.maintenance(sid, "true", "fixing") is True
        m = checks(http)[mid]
        assert (m["Status"], m["Notes"], m["ServiceID"]) == ("critical", "fixing", sid)
        r = http.get("/v1/agent/health/service/id/" + sid)
        assert r.status_code == 503 and r.headers["X-Consul-Reason"] == "maintenance"
        assert r.json()["AggregatedStatus"] == "maintenance"
        ok(put(http, url + sid, params={"enable": "false"}))
        assert mid not in checks(http)
        ok(put(http, url + sid, params={"enable": "1"}))  # ParseBool's spellings
        assert checks(http)[mid]["Notes"] == SVC_MAINT
        ok(put(http, url + sid, params={"enable": "F"}))
        assert mid not in checks(http)
    finally:
        deregister(http, sid)


def test_node_maintenance(c, http, p):
    url = "/v1/agent/maintenance"
    assert_text(put(http, url), 400, "Missing value for enable")
    assert_text(put(http, url, params={"enable": "maybe"}), 400,
                'Invalid value for enable: "maybe"')
    sid = p + "nm"
    register(http, {"Name": sid, "Check": {"TTL": "30s", "Status": "passing"}})
    try:
        ok(put(http, url, params={"enable": "true"}))
        ok(put(http, url, params={"enable": "true"}))  # idempotent
        m = checks(http)["_node_maintenance"]
        assert (m["Status"], m["Notes"], m["ServiceID"]) == ("critical", NODE_MAINT, "")
        # Every service of the node is in maintenance for local health (§3.20).
        r = http.get("/v1/agent/health/service/id/" + sid)
        assert r.status_code == 503 and r.headers["X-Consul-Reason"] == "maintenance"
        assert c.agent.maintenance("false") is True
        assert "_node_maintenance" not in checks(http)
        assert c.agent.maintenance("true", "upgrade") is True
        assert checks(http)["_node_maintenance"]["Notes"] == "upgrade"
    finally:
        ok(put(http, url, params={"enable": "false"}))
        deregister(http, sid)
    assert "_node_maintenance" not in checks(http)


# --- checks (§3.15-§3.19) -------------------------------------------------------------


def test_python_consul_check_kinds(c, http, p):
    kinds = {"ttl": consul.Check.ttl("10s"),
             "http": consul.Check.http("http://127.0.0.1:1/", "10s", timeout="1s",
                                       deregister="10m"),
             "tcp": consul.Check.tcp("127.0.0.1", 1, "10s", timeout="2s"),
             "script": consul.Check.script("exit 0", "10s")}
    try:
        for kind, chk in kinds.items():
            assert c.agent.check.register(p + kind, check=chk, notes="n " + kind) is True
        cs = c.agent.checks()
        for kind in kinds:
            x = cs[p + kind]  # ID defaults to Name (§3.16)
            assert (x["Name"], x["Type"], x["Notes"], x["ServiceID"]) == (
                p + kind, kind, "n " + kind, "")
            assert x["ServiceTags"] == [] and x["ServiceName"] == ""
        assert cs[p + "ttl"]["Definition"]["TTL"] == 10 * 10**9
        assert cs[p + "http"]["Definition"]["HTTP"] == "http://127.0.0.1:1/"
        assert cs[p + "http"]["Definition"]["DeregisterCriticalServiceAfter"] == "10m0s"
        assert cs[p + "tcp"]["Definition"]["TCP"] == "127.0.0.1:1"
        assert cs[p + "tcp"]["Timeout"] == "2s"
        # Check.script sends {"script": ...}: run with /bin/sh -c (Consul < 1.1).
        assert cs[p + "script"]["Definition"]["ScriptArgs"] == ["/bin/sh", "-c", "exit 0"]
        wait_for(lambda: check_status(http, p + "script") == "passing", SYNC_DEADLINE,
                 "the script check to pass")
    finally:
        for kind in kinds:
            assert c.agent.check.deregister(p + kind) is True
    assert not [k for k in checks(http) if k.startswith(p)]


def test_check_register_for_a_service(c, http, p):
    sid = p + "svc"
    register(http, {"Name": sid, "Tags": ["t1"]})
    try:
        assert c.agent.check.register(p + "chk", check=consul.Check.ttl("10s"),
                                      check_id=p + "id", service_id=sid) is True
        x = checks(http)[p + "id"]
        assert (x["Name"], x["ServiceID"], x["ServiceName"], x["ServiceTags"]) == (
            p + "chk", sid, sid, ["t1"])
        # Go client: ID, ServiceID and an initial Status.
        ok(put(http, "/v1/agent/check/register",
               {"ID": p + "go", "Name": "go", "ServiceID": sid, "TTL": "10s",
                "Status": "warning"}))
        assert check_status(http, p + "go") == "warning"
    finally:
        deregister(http, sid)
    # A service's checks go with it (§3.13).
    assert p + "id" not in checks(http) and p + "go" not in checks(http)


def test_check_register_texts(http, p):
    url = "/v1/agent/check/register"
    assert_text(put(http, url, ""), 400, "Request decode failed: EOF")
    assert_text(put(http, url, "7"), 400, "Request decode failed: json: cannot unmarshal "
                "number into Go value of type structs.CheckDefinition")
    assert_text(put(http, url, {"TTL": "10s"}), 400, "Missing check name")
    assert_text(put(http, url, {"Name": p, "TTL": "10s", "Status": "up"}), 400,
                "Bad check status")
    assert_text(put(http, url, {"Name": p, "TTL": "10s", "ServiceID": p + "none"}), 404,
                'ServiceID "%snone" does not exist' % p)
    assert_text(put(http, url, {"Name": p}), 400, prefix="Invalid check: ")
    assert_text(put(http, url, {"Name": p, "TTL": "soon"}), 400,
                prefix="Request decode failed: ")
    assert p not in checks(http)


def test_check_deregister_unknown(http, p):
    text = ('Unknown check ID "%s". Ensure that the check ID is passed, not the check name.'
            % p)
    assert_text(put(http, "/v1/agent/check/deregister/" + p), 404, text)
    assert_text(http.get("/v1/agent/check/deregister/" + p), 404, text)


def test_ttl_update_texts(http, p):
    cid = p + "t"
    ok(put(http, "/v1/agent/check/register", {"Name": cid, "TTL": "30s"}))
    ok(put(http, "/v1/agent/check/register",
           {"Name": p + "tcp", "TCP": "127.0.0.1:1", "Interval": "30s"}))
    try:
        for verb in ("pass", "warn", "fail"):
            assert_text(http.put("/v1/agent/check/%s/%snone" % (verb, p)), 404,
                        'Unknown check ID "%snone". Ensure that the check ID is passed, not '
                        "the check name." % p)
        # Not a TTL check: Consul's 500 text, matched by clients (§3.18).
        assert_text(http.put("/v1/agent/check/pass/" + p + "tcp"), 500,
                    'CheckID "%stcp" does not have associated TTL' % p)
        # check/update (§3.19)
        url = "/v1/agent/check/update/" + cid
        ok(put(http, url, {"Status": "warning", "Output": "disk 91%"}))
        x = checks(http)[cid]
        assert (x["Status"], x["Output"]) == ("warning", "disk 91%")
        ok(put(http, url, {"status": "passing"}))  # lowercase keys, no Output
        x = checks(http)[cid]
        assert (x["Status"], x["Output"]) == ("passing", "")
        assert_text(put(http, url, {"Status": "bogus"}), 400, "Invalid check status: 'bogus'")
        assert_text(put(http, url, {"Output": "x"}), 400, "Invalid check status: ''")
        assert_text(put(http, url, ""), 400, "Request decode failed: EOF")
        assert_text(put(http, url, "{"), 400, prefix="Request decode failed: ")
        assert_text(put(http, url, {"Status": 1}), 400,
                    prefix="Request decode failed: json: cannot unmarshal number")
        assert_text(put(http, "/v1/agent/check/update/" + p + "tcp", {"Status": "passing"}),
                    500, 'CheckID "%stcp" does not have associated TTL' % p)
        # GET is python-consul's method for pass/warn/fail, not for update.
        r = http.get(url)
        assert r.status_code == 405, r.text
    finally:
        ok(put(http, "/v1/agent/check/deregister/" + cid))
        ok(put(http, "/v1/agent/check/deregister/" + p + "tcp"))


def test_checks_filter(http, p):
    ok(put(http, "/v1/agent/check/register", {"Name": p + "a", "TTL": "30s",
                                               "Status": "passing"}))
    ok(put(http, "/v1/agent/check/register", {"Name": p + "b", "TTL": "30s"}))
    try:
        got = checks(http, filter='Status == "passing" and Name matches "^%s"' % p)
        assert list(got) == [p + "a"]
        got = checks(http, filter='CheckID == "%sb"' % p)
        assert list(got) == [p + "b"]
    finally:
        ok(put(http, "/v1/agent/check/deregister/" + p + "a"))
        ok(put(http, "/v1/agent/check/deregister/" + p + "b"))


# --- local health (§3.20) -------------------------------------------------------------


def health(http, kind, ident, **kw):
    r = http.get("/v1/agent/health/service/%s/%s" % (kind, ident), **kw)
    assert "X-Consul-Reason" in r.headers, (r.status_code, r.headers)
    return r


def test_health_by_id(http, p):
    sid = p + "h"
    register(http, {"Name": sid, "Tags": ["x"], "Check": {"TTL": "30s"}})
    cid = "service:" + sid
    try:
        for verb, code, status in ((None, 503, "critical"), ("warn", 429, "warning"),
                                   ("pass", 200, "passing"), ("fail", 503, "critical")):
            if verb:
                ok(http.put("/v1/agent/check/%s/%s" % (verb, cid)))
            r = health(http, "id", sid)
            assert r.status_code == code and r.headers["X-Consul-Reason"] == status, r.text
            assert r.headers["Content-Type"].startswith("application/json")
            v = r.json()
            assert set(v) == {"AggregatedStatus", "Service", "Checks"}
            assert v["AggregatedStatus"] == status
            assert v["Service"]["ID"] == sid and v["Service"]["Tags"] == ["x"]
            assert [(x["CheckID"], x["Status"]) for x in v["Checks"]] == [(cid, status)]
            x = v["Checks"][0]
            assert x["ServiceName"] == sid and x["ServiceTags"] == ["x"]
            assert set(x) >= {"Node", "CheckID", "Name", "Status", "Notes", "Output",
                              "ServiceID", "ServiceName", "ServiceTags", "Type", "Definition",
                              "CreateIndex", "ModifyIndex"}
            # Plain text: ?format=text or Accept: text/plain.
            r = health(http, "id", sid, params={"format": "text"})
            assert (r.status_code, r.text) == (code, status)
            assert r.headers["Content-Type"].startswith("text/plain")
            r = health(http, "id", sid, headers={"Accept": "text/plain"})
            assert (r.status_code, r.text) == (code, status)
        # The Go client: format=json with Accept: application/json.
        r = health(http, "id", sid, params={"format": "json"},
                   headers={"Accept": "application/json"})
        assert r.status_code == 503 and r.json()["AggregatedStatus"] == "critical"
    finally:
        deregister(http, sid)


def test_health_by_id_counts_node_checks(http, p):
    sid = p + "n"
    register(http, {"Name": sid, "Check": {"TTL": "30s", "Status": "passing"}})
    ok(put(http, "/v1/agent/check/register", {"Name": p + "node", "TTL": "30s",
                                               "Status": "warning"}))
    try:
        r = health(http, "id", sid)
        assert r.status_code == 429 and r.headers["X-Consul-Reason"] == "warning"
        assert {x["CheckID"] for x in r.json()["Checks"]} >= {"service:" + sid, p + "node"}
    finally:
        ok(put(http, "/v1/agent/check/deregister/" + p + "node"))
        deregister(http, sid)


def test_health_by_id_unknown_and_empty(http, p):
    r = health(http, "id", p)
    assert r.status_code == 404 and r.headers["X-Consul-Reason"] == "ServiceId %s not found" % p
    assert r.json() == {"AggregatedStatus": "critical", "Service": None, "Checks": None}
    r = health(http, "id", p, params={"format": "text"})
    assert (r.status_code, r.text) == (404, "ServiceId %s not found" % p)
    assert_text(http.get("/v1/agent/health/service/id/"), 400, "Missing serviceID")


def test_health_by_name(http, p):
    name = p + "svc"
    register(http, {"Name": name, "ID": p + "1", "Check": {"TTL": "30s", "Status": "passing"}})
    register(http, {"Name": name, "ID": p + "2", "Check": {"TTL": "30s", "Status": "passing"}})
    try:
        r = health(http, "name", name)
        assert r.status_code == 200 and r.headers["X-Consul-Reason"] == "passing"
        v = r.json()
        assert isinstance(v, list) and sorted(x["Service"]["ID"] for x in v) == [p + "1", p + "2"]
        # The worst instance decides.
        ok(http.put("/v1/agent/check/warn/service:" + p + "2"))
        r = health(http, "name", name)
        assert r.status_code == 429 and r.headers["X-Consul-Reason"] == "warning"
        ok(http.put("/v1/agent/check/fail/service:" + p + "1"))
        r = health(http, "name", name, params={"format": "text"})
        assert (r.status_code, r.text) == (503, "critical")
    finally:
        deregister(http, p + "1")
        deregister(http, p + "2")
    r = health(http, "name", name)
    assert r.status_code == 404 and r.json() == []
    assert r.headers["X-Consul-Reason"] == "ServiceName %s Not Found" % name
    r = health(http, "name", name, params={"format": "text"})
    assert (r.status_code, r.text) == (404, "ServiceName %s Not Found" % name)
    assert_text(http.get("/v1/agent/health/service/name/"), 400, "Missing service Name")


def test_methods(http):
    for path in ("/v1/agent/service/register", "/v1/agent/check/register",
                 "/v1/agent/maintenance", "/v1/agent/service/maintenance/x"):
        r = http.get(path)
        assert r.status_code == 405, (path, r.status_code, r.text)
    r = http.put("/v1/agent/services")
    assert r.status_code == 405, r.text
