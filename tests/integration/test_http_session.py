"""test_http_session.py: /v1/session (spec/http-api.md §7, §2.9) over HTTP and through python-consul 0.7.1."""
import re

import consul
import pytest

from httpfix import (agent, assert_query_meta, assert_text, c, go_duration, http,  # noqa: F401
                     index_of, p, register, session)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SEC = 10**9
UNKNOWN = "00000000-0000-4000-8000-00000000dead"


def info(http, sid):
    r = http.get("/v1/session/info/" + sid)
    assert r.status_code == 200, r.text
    assert_query_meta(r)
    ss = r.json()
    assert isinstance(ss, list) and len(ss) <= 1, ss
    return ss[0] if ss else None


def destroy(http, sid):
    r = http.put("/v1/session/destroy/" + sid)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_create_with_empty_body_takes_defaults(agent, http):
    r = http.put("/v1/session/create", data=b"")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"ID"} and UUID_RE.match(body["ID"]), body
    s = info(http, body["ID"])
    assert s["ID"] == body["ID"]
    assert s["Name"] == ""
    assert s["Node"] == agent.node_name()
    assert s["LockDelay"] == 15 * SEC
    assert s["Behavior"] == "release"
    assert s["TTL"] == ""
    assert s["NodeChecks"] == ["serfHealth"]
    assert s["CreateIndex"] >= 1 and s["ModifyIndex"] >= s["CreateIndex"]
    assert destroy(http, body["ID"]) is True
    assert info(http, body["ID"]) is None


def test_create_lowercase_keys_as_python_consul_sends(agent, http):
    sid = session(http, name="py", lockdelay="2s", behavior="delete", ttl="15.0s", checks=[],
                  WriteRequest={"Token": "x"}, SomethingNew=1)
    s = info(http, sid)
    assert s["Name"] == "py"
    assert s["LockDelay"] == 2 * SEC
    assert s["Behavior"] == "delete"
    assert s["TTL"] == "15.0s"  # the string as given (§2.9)
    # "checks": [] means no checks at all (§7.1, §10.7).
    assert not s.get("NodeChecks"), s
    assert "serfHealth" not in (s.get("Checks") or []), s
    destroy(http, sid)


def test_create_capitalised_keys(agent, http):
    sid = session(http, Name="cap", Node=agent.node_name(), LockDelay="0s",
                  NodeChecks=["serfHealth"], Behavior="release")
    s = info(http, sid)
    assert (s["Name"], s["Node"], s["LockDelay"], s["NodeChecks"]) == (
        "cap", agent.node_name(), 0, ["serfHealth"])
    destroy(http, sid)


@pytest.mark.parametrize("given,ns", [
    (15, 15 * SEC),            # a bare number below 1000 is seconds (§7.1)
    ("15ns", 15 * SEC),
    ("0.001s", 1000000),       # Patroni's
    ("15000ms", 15 * SEC),     # the Go client's
    (2500000000, 2500000000),  # a number of nanoseconds
    (0, 0),
])
def test_lock_delay_forms(http, given, ns):
    sid = session(http, LockDelay=given)
    assert info(http, sid)["LockDelay"] == ns
    destroy(http, sid)


def test_ttl_rules(http):
    sid = session(http, TTL="15.0s")
    assert info(http, sid)["TTL"] == "15.0s"
    destroy(http, sid)
    for none in ("", "0", "0s"):
        sid = session(http, TTL=none)
        destroy(http, sid)
    r = http.put("/v1/session/create", data='{"TTL": "5s"}')
    assert_text(r, 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]")
    r = http.put("/v1/session/create", data='{"TTL": "25h"}')
    assert_text(r, 500, prefix="Invalid Session TTL")
    r = http.put("/v1/session/create", data='{"TTL": "15x"}')
    assert_text(r, 500, prefix="Session TTL '15x' invalid")


def test_bad_behavior(http):
    r = http.put("/v1/session/create", data='{"Behavior": "x"}')
    assert_text(r, 500, "Invalid Behavior setting 'x'")


def test_create_errors(http, p):
    r = http.put("/v1/session/create", data='{"Node": "%snowhere"}' % p)
    assert_text(r, 500, "Missing node registration")
    r = http.put("/v1/session/create", data='{"Checks": ["serfHealth", "nope"]}')
    assert_text(r, 500, "Missing check 'nope' registration")
    r = http.put("/v1/session/create", data='{"Name": ')
    assert_text(r, 400, prefix="Request decode failed: ")


def test_critical_check_refused_then_invalidates(http, p):
    node = p + "n"
    register(http, node, checks=[{"CheckID": "c1", "Name": "c1", "Status": "passing"},
                                 {"CheckID": "bad", "Name": "bad", "Status": "critical"}])
    # NodeChecks alone: the default Checks [serfHealth] is dropped (§7.1), and
    # this catalog-registered node has no serfHealth.
    r = http.put("/v1/session/create", data='{"Node": "%s", "NodeChecks": ["bad"]}' % node)
    assert_text(r, 500, "Check 'bad' is in critical state")
    # Checks given without NodeChecks: the union with the default serfHealth.
    r = http.put("/v1/session/create", data='{"Node": "%s", "Checks": ["c1"]}' % node)
    assert_text(r, 500, "Missing check 'serfHealth' registration")
    sid = session(http, Node=node, NodeChecks=["c1"])
    assert info(http, sid)["NodeChecks"] == ["c1"]
    assert info(http, sid)["Node"] == node
    # The linked check turning critical invalidates it (§7.6).
    register(http, node, check={"CheckID": "c1", "Name": "c1", "Status": "critical"})
    assert info(http, sid) is None


def test_node_deregister_destroys_its_sessions(http, p):
    node = p + "n"
    register(http, node)
    sid = session(http, Node=node, Checks=[])
    assert http.json("GET", "/v1/session/node/" + node)[0]["ID"] == sid
    assert http.putj("/v1/catalog/deregister", {"Node": node}) is True
    assert info(http, sid) is None


def test_info_list_node(agent, http, p):
    node = p + "n"
    register(http, node)
    a = session(http, Node=node, Checks=[], Name="a")
    b = session(http, Node=node, Checks=[], Name="b")
    mine = session(http)

    r = http.get("/v1/session/list")
    assert r.status_code == 200
    assert_query_meta(r)
    ids = [s["ID"] for s in r.json()]
    assert {a, b, mine} <= set(ids)

    r = http.get("/v1/session/node/" + node)
    assert_query_meta(r)
    assert sorted(s["ID"] for s in r.json()) == sorted([a, b])
    assert {s["Name"] for s in r.json()} == {"a", "b"}

    r = http.get("/v1/session/node/" + p + "empty")
    assert r.status_code == 200 and r.text.strip() == "[]"  # never null (§0.9)
    index_of(r)

    # An unknown id: 200 [] (§7.4), with the index headers.
    r = http.get("/v1/session/info/" + UNKNOWN)
    assert r.status_code == 200 and r.json() == []
    assert_query_meta(r)

    for sid in (a, b, mine):
        assert destroy(http, sid) is True
    assert http.json("GET", "/v1/session/node/" + node) == []


def test_session_index_is_the_sessions_table(http):
    i0 = index_of(http.get("/v1/session/list"))
    sid = session(http)
    i1 = index_of(http.get("/v1/session/list"))
    assert i1 > i0
    assert index_of(http.get("/v1/session/info/" + sid)) == i1
    destroy(http, sid)
    assert index_of(http.get("/v1/session/list")) > i1


def test_consistency_modes(http):
    sid = session(http)
    for q, mode in (("", "leader"), ("?stale", "stale"), ("?consistent", "consistent"),
                    ("?leader", "leader")):
        r = http.get("/v1/session/info/%s%s" % (sid, q))
        assert r.status_code == 200
        assert_query_meta(r, mode)
    destroy(http, sid)


def test_renew(http):
    sid = session(http, TTL="20s")
    r = http.put("/v1/session/renew/" + sid)
    assert r.status_code == 200, r.text
    ss = r.json()
    assert isinstance(ss, list) and len(ss) == 1 and ss[0]["ID"] == sid, ss
    # The returned TTL may be larger, never smaller (§7.3).
    assert go_duration(ss[0]["TTL"]) >= 20, ss
    # A session without TTL can be renewed too.
    plain = session(http)
    r = http.put("/v1/session/renew/" + plain)
    assert r.status_code == 200 and r.json()[0]["ID"] == plain
    destroy(http, sid)
    destroy(http, plain)
    r = http.put("/v1/session/renew/" + sid)
    assert_text(r, 404, "Session id '%s' not found" % sid)


def test_destroy_is_idempotent(http):
    assert destroy(http, UNKNOWN) is True
    sid = session(http)
    assert destroy(http, sid) is True
    assert destroy(http, sid) is True


@pytest.mark.parametrize("method,path,text", [
    ("PUT", "/v1/session/destroy/", "Missing session"),
    ("GET", "/v1/session/info/", "Missing session"),
    ("GET", "/v1/session/node/", "Missing node name"),
    ("PUT", "/v1/session/renew/", "Missing session"),
])
def test_missing_ids(http, method, path, text):
    assert_text(http.request(method, path), 400, text)


def test_methods(http):
    r = http.get("/v1/session/create")
    assert_text(r, 405, "method GET not allowed")
    assert "PUT" in r.headers.get("Allow", ""), r.headers
    r = http.put("/v1/session/list")
    assert r.status_code == 405


# --- python-consul 0.7.1 ---------------------------------------------------------------


def test_python_consul_sessions(agent, c, p):
    me = agent.node_name()
    sid = c.session.create()
    assert UUID_RE.match(sid)
    idx, s = c.session.info(sid)
    assert int(idx) >= 1 and s["ID"] == sid and s["Node"] == me

    sid2 = c.session.create(name="two", behavior="delete", ttl=15, lock_delay=3, checks=[])
    _, s2 = c.session.info(sid2)
    assert (s2["Name"], s2["Behavior"], s2["TTL"], s2["LockDelay"]) == ("two", "delete", "15s",
                                                                        3 * SEC)
    _, ss = c.session.list()
    assert {sid, sid2} <= {s["ID"] for s in ss}
    _, ss = c.session.node(me)
    assert {sid, sid2} <= {s["ID"] for s in ss}
    assert c.session.renew(sid2)["ID"] == sid2

    assert c.session.destroy(sid) is True
    assert c.session.destroy(sid2) is True
    assert c.session.info(sid)[1] is None
    with pytest.raises(consul.NotFound):
        c.session.renew(sid2)
    with pytest.raises(consul.ConsulException) as e:
        c.session.create(node=p + "nowhere")
    assert "Missing node registration" in str(e.value)
