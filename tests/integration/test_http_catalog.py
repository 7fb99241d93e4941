"""test_http_catalog.py: /v1/catalog (spec/http-api.md §4, §2.1, §2.4, §2.5) over HTTP and through python-consul 0.7.1."""
import json

import pytest

from httpfix import (agent, assert_query_meta, assert_text, c, deregister, http,  # noqa: F401
                     index_of, later, p, register, timed)


def nodes(http, **params):
    r = http.get("/v1/catalog/nodes", params=params)
    assert r.status_code == 200, r.text
    return {n["Node"]: n for n in r.json()}


def service(http, name, **params):
    r = http.get("/v1/catalog/service/" + name, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_register_lowercase_like_python_consul(http, p):
    """python-consul's body: lowercase keys and an unknown WriteRequest (§4.1, §1.3)."""
    node = p + "n"
    body = {"node": node, "address": "10.2.0.1", "datacenter": "dc1",
            "service": {"service": "web" + p, "id": "web1", "tags": ["v1", "primary"],
                        "port": 8080},
            "check": {"checkid": "chk", "name": "web check", "status": "passing",
                      "serviceid": "web1", "notes": "n"},
            "WriteRequest": {"Token": "t"}}
    assert http.putj("/v1/catalog/register", body) is True
    n = nodes(http)[node]
    assert n["Address"] == "10.2.0.1" and n["Datacenter"] == "dc1"
    insts = service(http, "web" + p)
    assert len(insts) == 1
    s = insts[0]
    assert (s["Node"], s["ServiceID"], s["ServiceName"], s["ServicePort"]) == (
        node, "web1", "web" + p, 8080)
    assert s["ServiceTags"] == ["v1", "primary"]
    checks = http.json("GET", "/v1/health/checks/web" + p)
    assert [(x["CheckID"], x["ServiceID"], x["Status"], x["Notes"]) for x in checks] == [
        ("chk", "web1", "passing", "n")]


def test_register_mixed_case_snake_case_and_unknown_fields(http, p):
    node = p + "n"
    body = {"nOdE": node, "ADDRESS": "10.2.0.2", "NodeMeta": {"rack": "r1"},
            "TaggedAddresses": {"wan": "192.0.2.1"}, "H2Ping": True, "Nonsense": [1, 2],
            "Service": {"Service": "snake" + p, "enable_tag_override": True,
                        "tagged_addresses": {"lan": {"address": "10.9.9.9", "port": 81}},
                        "Weights": {"Passing": 3, "Warning": 2}, "DisableRedirects": True},
            "Checks": [{"check_id": "sc", "name": "sc", "service_id": "snake" + p,
                        "status": "warning", "Definition": {"HTTP": "http://x/", "Interval": "10s",
                                                            "Timeout": "1s"}}]}
    assert http.putj("/v1/catalog/register", body) is True
    n = nodes(http)[node]
    assert n["Meta"] == {"rack": "r1"}
    assert n["TaggedAddresses"]["wan"] == "192.0.2.1"
    s = service(http, "snake" + p)[0]
    assert s["ServiceID"] == "snake" + p  # ID defaults to the name (§4.1)
    assert s["ServiceEnableTagOverride"] is True
    assert s["ServiceWeights"] == {"Passing": 3, "Warning": 2}
    assert s["ServiceTaggedAddresses"]["lan"] == {"Address": "10.9.9.9", "Port": 81}
    ch = http.json("GET", "/v1/health/checks/snake" + p)
    assert len(ch) == 1
    assert (ch[0]["CheckID"], ch[0]["ServiceID"], ch[0]["Status"]) == ("sc", "snake" + p, "warning")
    assert ch[0]["Definition"]["HTTP"] == "http://x/"
    assert ch[0]["Definition"]["Interval"] == "10s"  # a string (§2.6)


def test_catalog_service_shape(http, p):
    node, name = p + "n", "shape" + p
    register(http, node, address="10.2.0.3", NodeMeta={"k": "v"},
             service={"Service": name, "Port": 9})
    s = service(http, name)[0]
    for key in ("ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta",
                "ServiceKind", "ServiceID", "ServiceName", "ServiceTags", "ServiceAddress",
                "ServiceWeights", "ServiceMeta", "ServicePort", "ServiceEnableTagOverride",
                "ServiceProxy", "ServiceConnect", "CreateIndex", "ModifyIndex"):
        assert key in s, (key, s)
    assert s["ServiceTags"] == []  # never null (§2.5)
    assert s["ServiceMeta"] == {}
    assert s["ServiceWeights"] == {"Passing": 1, "Warning": 1}
    assert isinstance(s["ServiceProxy"], dict)
    assert s["NodeMeta"] == {"k": "v"}
    assert s["Datacenter"] == "dc1"
    assert s["ServiceAddress"] == ""


def test_nodes_shape_and_index(agent, http, p):
    r = http.get("/v1/catalog/nodes")
    assert r.status_code == 200
    assert_query_meta(r)
    ns = r.json()
    names = [n["Node"] for n in ns]
    assert names == sorted(names)
    me = {n["Node"]: n for n in ns}[agent.node_name()]
    assert me["Address"] == "127.0.0.1"
    assert me["Datacenter"] == "dc1"
    assert len(me["ID"]) == 36
    assert isinstance(me["TaggedAddresses"], dict) and isinstance(me["Meta"], dict)
    assert me["CreateIndex"] >= 1 and me["ModifyIndex"] >= me["CreateIndex"]
    i0 = index_of(r)
    register(http, p + "n")
    assert index_of(http.get("/v1/catalog/nodes")) > i0


def test_services_map_of_tags(http, p):
    name = "tags" + p
    register(http, p + "a", service={"Service": name, "ID": "i1", "Tags": ["b", "a"]})
    register(http, p + "b", service={"Service": name, "ID": "i2", "Tags": ["a", "c"]})
    register(http, p + "c", service={"Service": "bare" + p})
    r = http.get("/v1/catalog/services")
    assert r.status_code == 200
    assert_query_meta(r)
    svcs = r.json()
    assert isinstance(svcs, dict)
    assert sorted(svcs[name]) == ["a", "b", "c"]  # de-duplicated
    assert svcs["bare" + p] == []  # never null
    assert svcs["consul"] == []    # servers register consul (§4.5)


def test_service_tag_filter_case_insensitive(http, p):
    name = "tagf" + p
    register(http, p + "a", service={"Service": name, "ID": "i1", "Tags": ["Primary", "v1"]})
    register(http, p + "b", service={"Service": name, "ID": "i2", "Tags": ["secondary", "v1"]})
    ids = lambda **q: sorted(s["ServiceID"] for s in service(http, name, **q))  # noqa: E731
    assert ids() == ["i1", "i2"]
    assert ids(tag="primary") == ["i1"]
    assert ids(tag="PRIMARY") == ["i1"]
    assert ids(tag="V1") == ["i1", "i2"]
    r = http.get("/v1/catalog/service/%s?tag=v1&tag=secondary" % name)
    assert [s["ServiceID"] for s in r.json()] == ["i2"]
    assert ids(tag="nope") == []


def test_service_name_case_insensitive(http, p):
    name = "casesvc" + p
    register(http, p + "a", service={"Service": name})
    assert len(service(http, name.upper())) == 1  # §4, §10.16


def test_service_unknown_and_missing(http, p):
    r = http.get("/v1/catalog/service/nosuch" + p)
    assert r.status_code == 200 and r.text.strip() == "[]"
    assert_query_meta(r)
    assert_text(http.get("/v1/catalog/service/"), 400, "Missing service name")


def test_service_node_meta(http, p):
    name = "meta" + p
    register(http, p + "a", NodeMeta={"env": "prod"}, service={"Service": name})
    register(http, p + "b", NodeMeta={"env": "dev"}, service={"Service": name})
    got = service(http, name, **{"node-meta": "env:prod"})
    assert [s["Node"] for s in got] == [p + "a"]
    assert set(nodes(http, **{"node-meta": "env:dev"})) == {p + "b"}


def test_node(agent, http, p):
    node = p + "n"
    register(http, node, address="10.2.0.9", service={"Service": "s1" + p, "ID": "x/1"})
    register(http, node, address="10.2.0.9",
             service={"Service": "s2" + p, "ID": "x2", "Tags": ["t"], "Port": 5})
    r = http.get("/v1/catalog/node/" + node)
    assert r.status_code == 200
    assert_query_meta(r)
    n = r.json()
    assert set(n) == {"Node", "Services"}
    assert n["Node"]["Node"] == node and n["Node"]["Address"] == "10.2.0.9"
    assert set(n["Services"]) == {"x/1", "x2"}
    s1 = n["Services"]["x/1"]
    assert s1["Service"] == "s1" + p and s1["Tags"] == []  # nil Tags -> [] (§4.7)
    assert "Port" not in s1 or s1["Port"] == 0
    assert n["Services"]["x2"]["Port"] == 5
    for key in ("ID", "Service", "Tags", "Address", "Meta", "Weights", "EnableTagOverride",
                "CreateIndex", "ModifyIndex"):
        assert key in s1, (key, s1)
    # The agent's own node carries the consul service.
    me = http.json("GET", "/v1/catalog/node/" + agent.node_name())
    assert me["Services"]["consul"]["Service"] == "consul"
    assert me["Services"]["consul"]["Port"] == agent.server_port


def test_node_unknown_is_200_null(http, p):
    r = http.get("/v1/catalog/node/nosuch" + p)
    assert r.status_code == 200
    assert r.text.strip() == "null"  # §4.7: not a 404
    assert_query_meta(r)


def test_node_services(http, p):
    node = p + "n"
    register(http, node, service={"Service": "a" + p})
    register(http, node, service={"Service": "b" + p, "Tags": ["x"]})
    r = http.get("/v1/catalog/node-services/" + node)
    assert r.status_code == 200
    assert_query_meta(r)
    n = r.json()
    assert n["Node"]["Node"] == node
    assert isinstance(n["Services"], list)
    assert sorted(s["ID"] for s in n["Services"]) == ["a" + p, "b" + p]
    r = http.get("/v1/catalog/node-services/nosuch" + p)
    assert r.status_code == 200


def test_filters(http, p):
    node = p + "n"
    register(http, node, NodeMeta={"os": "plan9"},
             service={"Service": "fa" + p, "Tags": ["red"], "Meta": {"env": "prod"}})
    # A register replaces the node's meta (unless SkipNodeUpdate): send it again.
    register(http, node, NodeMeta={"os": "plan9"}, service={"Service": "fb" + p, "Tags": ["blue"]})
    got = http.json("GET", "/v1/catalog/nodes", params={"filter": 'Meta.os == "plan9"'})
    assert [n["Node"] for n in got] == [node]
    got = http.json("GET", "/v1/catalog/service/fa" + p,
                    params={"filter": 'ServiceMeta.env == "prod" and "red" in ServiceTags'})
    assert len(got) == 1
    got = http.json("GET", "/v1/catalog/service/fa" + p,
                    params={"filter": 'ServiceMeta.env != "prod"'})
    assert got == []
    got = http.json("GET", "/v1/catalog/node/" + node, params={"filter": '"blue" in Tags'})
    assert list(got["Services"]) == ["fb" + p]
    got = http.json("GET", "/v1/catalog/node-services/" + node,
                    params={"filter": 'Service == "fa%s"' % p})
    assert [s["Service"] for s in got["Services"]] == ["fa" + p]
    got = http.json("GET", "/v1/catalog/services", params={"filter": 'ServiceName matches "^fa"'})
    assert set(got) == {"fa" + p}, got


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/catalog/service/consul",
                                  "/v1/catalog/services"])
def test_bad_filter_is_500(http, path):
    r = http.get(path, params={"filter": "Node =="})
    assert_text(r, 500, prefix="Failed to create boolean expression evaluator")


@pytest.mark.parametrize("path", ["/v1/catalog/nodes", "/v1/catalog/service/consul"])
def test_near_agent_accepted(agent, http, path):
    r = http.get(path, params={"near": "_agent"})
    assert r.status_code == 200, r.text
    assert len(r.json()) >= 1


def test_deregister(http, p):
    node = p + "n"
    register(http, node, service={"Service": "d" + p, "ID": "d1"},
             checks=[{"CheckID": "svc", "Name": "svc", "ServiceID": "d1", "Status": "passing"},
                     {"CheckID": "nodechk", "Name": "nodechk", "Status": "passing"}])
    register(http, node, service={"Service": "d" + p, "ID": "d2"})
    # A check only.
    deregister(http, node, CheckID="nodechk")
    assert [c["CheckID"] for c in http.json("GET", "/v1/health/node/" + node)] == ["svc"]
    # A service takes its checks with it.
    deregister(http, node, ServiceID="d1")
    assert [s["ServiceID"] for s in service(http, "d" + p)] == ["d2"]
    assert http.json("GET", "/v1/health/node/" + node) == []
    # python-consul's lowercase keys.
    assert http.putj("/v1/catalog/deregister", {"node": node, "serviceid": "d2"}) is True
    assert service(http, "d" + p) == []
    # The whole node; removing nothing is still true.
    deregister(http, node)
    assert node not in nodes(http)
    assert http.json("GET", "/v1/catalog/node/" + node) is None
    deregister(http, node)
    deregister(http, node, ServiceID="nothing")


@pytest.mark.parametrize("path,body,text", [
    ("register", {"Address": "10.0.0.1"}, "Must provide node"),
    ("register", {"Node": "x"}, "Must provide address if SkipNodeUpdate is not set"),
    ("register", {"Node": "x", "Address": "10.0.0.1", "Service": {"ID": "only-id"}},
     "Must provide service name with ID"),
    ("deregister", {"ServiceID": "x"}, "Must provide node"),
    ("deregister", {}, "Must provide node"),
])
def test_write_errors(http, path, body, text):
    r = http.put("/v1/catalog/" + path, data=json.dumps(body))
    assert_text(r, 500, text)


@pytest.mark.parametrize("path", ["register", "deregister"])
def test_decode_errors(http, path):
    assert_text(http.put("/v1/catalog/" + path, data="{"), 400, prefix="Request decode failed: ")
    assert_text(http.put("/v1/catalog/" + path, data='{"Node": 5}'), 400,
                prefix="Request decode failed: ")


def test_skip_node_update(http, p):
    node = p + "n"
    register(http, node, address="10.3.0.1", NodeMeta={"a": "1"})
    register(http, node, address="", SkipNodeUpdate=True, service={"Service": "sk" + p})
    n = nodes(http)[node]
    assert n["Address"] == "10.3.0.1" and n["Meta"] == {"a": "1"}
    assert len(service(http, "sk" + p)) == 1


def test_datacenters(http):
    r = http.get("/v1/catalog/datacenters")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == ["dc1"]


def test_blocking_services_woken_by_register(http, p):
    r = http.get("/v1/catalog/services")
    idx = index_of(r)
    with later(http, 0.3, lambda h: register(h, p + "n", service={"Service": "blk" + p})):
        r, dt = timed(http.get, "/v1/catalog/services", params={"index": str(idx), "wait": "5s"})
    assert r.status_code == 200
    assert index_of(r) > idx
    assert "blk" + p in r.json()
    assert dt < 3.0, dt


def test_blocking_service_times_out(http, p):
    name = "quiet" + p
    register(http, p + "n", service={"Service": name})
    idx = index_of(http.get("/v1/catalog/service/" + name))
    r, dt = timed(http.get, "/v1/catalog/service/" + name, params={"index": str(idx), "wait": "1s"})
    assert r.status_code == 200 and index_of(r) == idx
    assert 0.9 <= dt <= 1.0 * 17 / 16 + 0.5, dt


# --- python-consul 0.7.1 ---------------------------------------------------------------


def test_python_consul_catalog(agent, c, p):
    node, name = p + "n", "py" + p
    assert c.catalog.register(node, "10.4.0.1",
                              service={"Service": name, "ID": "py1", "Tags": ["x"], "Port": 80},
                              check={"CheckID": "pyc", "Name": "pyc", "Status": "passing",
                                     "ServiceID": "py1"},
                              token="ignored") is True
    assert c.catalog.datacenters() == ["dc1"]
    idx, ns = c.catalog.nodes()
    assert int(idx) >= 1 and node in [n["Node"] for n in ns]
    idx, svcs = c.catalog.services()
    assert svcs[name] == ["x"]
    idx, insts = c.catalog.service(name, tag="x")
    assert [s["ServiceID"] for s in insts] == ["py1"]
    idx, n = c.catalog.node(node)
    assert n["Node"]["Address"] == "10.4.0.1" and "py1" in n["Services"]
    assert c.catalog.node("nosuch" + p)[1] is None
    assert c.catalog.deregister(node, check_id="pyc") is True
    assert c.catalog.deregister(node, service_id="py1") is True
    assert c.catalog.service(name)[1] == []
    assert c.catalog.deregister(node) is True
    assert node not in [x["Node"] for x in c.catalog.nodes()[1]]


def test_refused_registration_takes_no_raft_entry(http, p):
    """Consul validates a registration before Raft: a refused one leaves
    the log as it was (raftd's leader checks before proposing)."""
    def last_index():
        servers = http.get("/v1/operator/raft/configuration").json()["Servers"]
        return [s for s in servers if s["Leader"]][0]["LastIndex"]

    before = last_index()
    for body, text in [({"Node": p + "n"}, "Must provide address if SkipNodeUpdate is not set"),
                       ({"Node": "", "Address": "10.0.0.1"}, "Must provide node"),
                       ({"Node": p + "n", "Address": "10.0.0.1", "Service": {"ID": "x"}},
                        "Must provide service name with ID"),
                       ({"Node": p + "n", "Address": "10.0.0.1",
                         "Service": {"Service": "s", "Address": "0.0.0.0"}},
                        "Invalid service address")]:
        assert_text(http.put("/v1/catalog/register", data=json.dumps(body)), 500, text)
    assert last_index() == before
    # A valid one still takes exactly its entry.
    assert http.put("/v1/catalog/register",
                    data=json.dumps({"Node": p + "n", "Address": "10.0.0.1"})).json() is True
    assert last_index() == before + 1
