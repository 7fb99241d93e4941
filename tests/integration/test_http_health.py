"""test_http_health.py: /v1/health (spec/http-api.md §5, §2.6, §2.7) over HTTP and through python-consul 0.7.1."""
import pytest

from httpfix import (agent, assert_query_meta, assert_text, c, http, index_of, later,  # noqa: F401
                     p, register, timed)

CHECK_KEYS = ("Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName",
              "ServiceTags", "Type", "Interval", "Timeout", "ExposedPort", "Definition",
              "CreateIndex", "ModifyIndex")


def three_instances(http, p):
    """Service h<p> on three nodes: a passing, b warning, c critical (a node check)."""
    name = "h" + p
    register(http, p + "a", address="10.5.0.1", NodeMeta={"zone": "z1"},
             service={"Service": name, "ID": "i1", "Tags": ["Primary"], "Port": 1},
             check={"CheckID": "c-a", "Name": "c-a", "ServiceID": "i1", "Status": "passing"})
    register(http, p + "b", address="10.5.0.2", NodeMeta={"zone": "z2"},
             service={"Service": name, "ID": "i2", "Tags": ["secondary"], "Port": 2},
             check={"CheckID": "c-b", "Name": "c-b", "ServiceID": "i2", "Status": "warning"})
    register(http, p + "c", address="10.5.0.3",
             service={"Service": name, "ID": "i3", "Port": 3},
             checks=[{"CheckID": "c-c", "Name": "c-c", "ServiceID": "i3", "Status": "passing"},
                     {"CheckID": "node-c", "Name": "node-c", "Status": "critical"}])
    return name


def ids(entries):
    return sorted(e["Service"]["ID"] for e in entries)


def test_health_node_shape(agent, http, p):
    node = p + "n"
    register(http, node, service={"Service": "hs" + p, "ID": "hs1", "Tags": ["t1"]},
             checks=[{"CheckID": "svc", "Name": "svc", "ServiceID": "hs1", "Status": "passing",
                      "Output": "ok", "Definition": {"TCP": "10.0.0.1:1", "Interval": "5s",
                                                     "Timeout": 1000000000, "TTL": "30s"}},
                     {"CheckID": "nod", "Name": "nod", "Notes": "why"}])
    r = http.get("/v1/health/node/" + node)
    assert r.status_code == 200
    assert_query_meta(r)
    cs = {x["CheckID"]: x for x in r.json()}
    assert set(cs) == {"svc", "nod"}
    for x in cs.values():
        for key in CHECK_KEYS:
            assert key in x, (key, x)
        assert x["Node"] == node
        assert isinstance(x["Definition"], dict)
        assert isinstance(x["ServiceTags"], list)
    svc, nod = cs["svc"], cs["nod"]
    assert (svc["ServiceID"], svc["ServiceName"], svc["ServiceTags"]) == ("hs1", "hs" + p, ["t1"])
    assert svc["Output"] == "ok"
    assert svc["Definition"]["TCP"] == "10.0.0.1:1"
    # Durations in, as strings or nanoseconds; out as strings, except TTL
    # which is a number of nanoseconds (§2.6, §10.15).
    assert svc["Definition"]["Interval"] == "5s" and svc["Definition"]["Timeout"] == "1s"
    assert svc["Definition"]["TTL"] == 30 * 10**9
    # An empty status is stored as critical (§4.1); a node check has no service.
    assert nod["Status"] == "critical"
    assert (nod["ServiceID"], nod["ServiceName"], nod["ServiceTags"]) == ("", "", [])
    assert nod["Notes"] == "why"
    assert nod["Type"] == ""


def test_health_node_own_serf_health(agent, http):
    cs = http.json("GET", "/v1/health/node/" + agent.node_name())
    serf = [x for x in cs if x["CheckID"] == "serfHealth"]
    assert len(serf) == 1 and serf[0]["Status"] == "passing"
    assert serf[0]["Name"] == "Serf Health Status"


def test_health_node_unknown_is_empty(http, p):
    r = http.get("/v1/health/node/nosuch" + p)
    assert r.status_code == 200 and r.text.strip() == "[]"
    assert_query_meta(r)


def test_health_checks_of_service(http, p):
    name = three_instances(http, p)
    r = http.get("/v1/health/checks/" + name)
    assert r.status_code == 200
    assert_query_meta(r)
    # The service's own checks only, not node checks (§5.2).
    assert sorted(x["CheckID"] for x in r.json()) == ["c-a", "c-b", "c-c"]
    r = http.get("/v1/health/checks/" + name, params={"filter": 'Status == "warning"'})
    assert [x["CheckID"] for x in r.json()] == ["c-b"]
    r = http.get("/v1/health/checks/" + name, params={"node-meta": "zone:z1"})
    assert [x["CheckID"] for x in r.json()] == ["c-a"]
    r = http.get("/v1/health/checks/nosuch" + p)
    assert r.status_code == 200 and r.text.strip() == "[]"


def test_health_service_entries(http, p):
    name = three_instances(http, p)
    r = http.get("/v1/health/service/" + name)
    assert r.status_code == 200
    assert_query_meta(r)
    es = r.json()
    # Without ?passing every instance comes back, critical ones too (§5.3).
    assert ids(es) == ["i1", "i2", "i3"]
    for e in es:
        assert set(e) >= {"Node", "Service", "Checks"}
        assert isinstance(e["Checks"], list)
    byid = {e["Service"]["ID"]: e for e in es}
    assert byid["i1"]["Node"]["Address"] == "10.5.0.1"
    assert byid["i1"]["Node"]["Meta"] == {"zone": "z1"}
    assert byid["i1"]["Service"]["Port"] == 1 and byid["i1"]["Service"]["Tags"] == ["Primary"]
    # Checks hold the node-level checks too (§2.7).
    assert sorted(x["CheckID"] for x in byid["i3"]["Checks"]) == ["c-c", "node-c"]


@pytest.mark.parametrize("q,want", [
    ("passing", ["i1"]),          # warning counts as not passing; node check drops i3
    ("passing=1", ["i1"]),
    ("passing=true", ["i1"]),
    ("passing=false", ["i1", "i2", "i3"]),
    ("passing=0", ["i1", "i2", "i3"]),
    ("tag=primary", ["i1"]),
    ("tag=SECONDARY", ["i2"]),
    ("node-meta=zone:z2", ["i2"]),
    ("filter=Service.Port%20!%3D%201", ["i2", "i3"]),
])
def test_health_service_params(http, p, q, want):
    name = three_instances(http, p)
    r = http.get("/v1/health/service/%s?%s" % (name, q))
    assert r.status_code == 200, r.text
    assert ids(r.json()) == want


def test_health_service_filter(http, p):
    name = three_instances(http, p)
    r = http.get("/v1/health/service/" + name,
                 params={"filter": 'Node.Meta.zone == "z1" or Service.ID == "i3"'})
    assert ids(r.json()) == ["i1", "i3"]
    r = http.get("/v1/health/service/" + name, params={"filter": '"secondary" in Service.Tags'})
    assert ids(r.json()) == ["i2"]


def test_health_service_bad_passing(http, p):
    r = http.get("/v1/health/service/x" + p, params={"passing": "maybe"})
    assert_text(r, 400, "Invalid value for ?passing")


def test_health_service_unknown_and_near(http, p):
    r = http.get("/v1/health/service/nosuch" + p)
    assert r.status_code == 200 and r.text.strip() == "[]"
    r = http.get("/v1/health/service/consul", params={"near": "_agent"})
    assert r.status_code == 200 and len(r.json()) == 1


@pytest.mark.parametrize("state", ["any", "passing", "warning", "critical"])
def test_health_state(http, p, state):
    three_instances(http, p)
    r = http.get("/v1/health/state/" + state)
    assert r.status_code == 200
    assert_query_meta(r)
    mine = {x["CheckID"] for x in r.json() if x["Node"].startswith(p)}
    want = {"any": {"c-a", "c-b", "c-c", "node-c"}, "passing": {"c-a", "c-c"},
            "warning": {"c-b"}, "critical": {"node-c"}}[state]
    assert mine == want
    if state in ("any", "passing"):
        assert "serfHealth" in {x["CheckID"] for x in r.json()}


def test_health_state_filter_and_bad_filter(http, p):
    three_instances(http, p)
    r = http.get("/v1/health/state/any", params={"filter": 'Node == "%sb"' % p})
    assert [x["CheckID"] for x in r.json()] == ["c-b"]
    r = http.get("/v1/health/state/any", params={"filter": "Node = 1"})
    assert_text(r, 500, prefix="Failed to create boolean expression evaluator")


@pytest.mark.parametrize("path,text", [
    ("/v1/health/state/", "Missing check state"),
    ("/v1/health/node/", "Missing node name"),
    ("/v1/health/checks/", "Missing service name"),
    ("/v1/health/service/", "Missing service name"),
])
def test_missing_names(http, path, text):
    assert_text(http.get(path), 400, text)


@pytest.mark.parametrize("path", ["/v1/health/service/x", "/v1/health/checks/x",
                                  "/v1/health/node/x"])
@pytest.mark.parametrize("expr", ["((", "Service.Port >= 2", 'Node == "a" and'])
def test_bad_filter(http, path, expr):
    r = http.get(path, params={"filter": expr})
    assert_text(r, 500, prefix="Failed to create boolean expression evaluator")


def test_blocking_health_service_woken_by_check_change(http, p):
    name = three_instances(http, p)
    idx = index_of(http.get("/v1/health/service/" + name))
    with later(http, 0.3, lambda h: register(
            h, p + "b", address="10.5.0.2",
            check={"CheckID": "c-b", "Name": "c-b", "ServiceID": "i2", "Status": "passing"})):
        r, dt = timed(http.get, "/v1/health/service/" + name,
                      params={"index": str(idx), "wait": "5s", "passing": "1"})
    assert index_of(r) > idx and dt < 3.0, dt
    assert ids(r.json()) == ["i1", "i2"]


# --- python-consul 0.7.1 ---------------------------------------------------------------


def test_python_consul_health(agent, c, p):
    name = three_instances(c_http(agent), p)
    idx, es = c.health.service(name)
    assert int(idx) >= 1 and ids(es) == ["i1", "i2", "i3"]
    _, es = c.health.service(name, passing=True)
    assert ids(es) == ["i1"]
    _, es = c.health.service(name, tag="secondary")
    assert ids(es) == ["i2"]
    _, cs = c.health.checks(name)
    assert sorted(x["CheckID"] for x in cs) == ["c-a", "c-b", "c-c"]
    _, cs = c.health.state("critical")
    assert "node-c" in {x["CheckID"] for x in cs}
    _, cs = c.health.node(p + "c")
    assert sorted(x["CheckID"] for x in cs) == ["c-c", "node-c"]


def c_http(agent):
    return agent.http
