"""test_http_misc.py: what every endpoint shares (spec/http-api.md §0, §1), status and operator (§8.1, §8.5), and robustness."""
import json
import socket

import pytest
import requests

from httpfix import (agent, assert_query_meta, assert_text, c, http, index_of,  # noqa: F401
                     later, p, register, timed)

# Every query endpoint that exists in this issue (spec §1.5's set).
QUERY_PATHS = [
    "/v1/kv/misc/exists",
    "/v1/kv/misc/missing",            # a 404 carries the headers too
    "/v1/kv/misc/?recurse",
    "/v1/kv/misc/?keys",
    "/v1/catalog/nodes",
    "/v1/catalog/services",
    "/v1/catalog/service/consul",
    "/v1/catalog/node/{me}",
    "/v1/catalog/node-services/{me}",
    "/v1/health/node/{me}",
    "/v1/health/checks/consul",
    "/v1/health/service/consul",
    "/v1/health/state/any",
    "/v1/session/list",
    "/v1/session/node/{me}",
    "/v1/session/info/00000000-0000-4000-8000-000000000000",
]


@pytest.fixture(scope="module")
def seeded(agent):
    r = agent.http.put("/v1/kv/misc/exists", data=b"v")
    assert r.status_code == 200 and r.json() is True
    return agent


def qpath(agent, path, extra):
    path = path.replace("{me}", agent.node_name())
    return path + ("&" if "?" in path else "?") + extra if extra else path


@pytest.mark.parametrize("path", QUERY_PATHS)
@pytest.mark.parametrize("q,mode", [("", "leader"), ("stale", "stale"), ("stale=1", "stale"),
                                    ("consistent", "consistent"), ("consistent=1", "consistent"),
                                    ("leader", "leader")])
def test_query_headers_every_endpoint(seeded, http, path, q, mode):
    r = http.get(qpath(seeded, path, q))
    assert r.status_code in (200, 404), "%s: %d %r" % (path, r.status_code, r.text)
    if r.status_code == 404:
        assert "missing" in path, r.text
    assert_query_meta(r, mode)


@pytest.mark.parametrize("path", QUERY_PATHS)
def test_stale_and_consistent_conflict(seeded, http, path):
    r = http.get(qpath(seeded, path, "stale&consistent"))
    assert_text(r, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.")


@pytest.mark.parametrize("path", QUERY_PATHS)
@pytest.mark.parametrize("q,text", [("index=x", "Invalid index"), ("index=-1", "Invalid index"),
                                    ("index=1&wait=x", "Invalid wait time"),
                                    ("index=1&wait=10", "Invalid wait time"),
                                    ("index=1&wait=15x", "Invalid wait time")])
def test_bad_index_and_wait(seeded, http, path, q, text):
    assert_text(http.get(qpath(seeded, path, q)), 400, text)


@pytest.mark.parametrize("path", ["/v1/kv/misc/exists", "/v1/catalog/nodes",
                                  "/v1/session/list", "/v1/health/state/any"])
def test_index_zero_and_absent_answer_at_once(seeded, http, path):
    r, dt = timed(http.get, qpath(seeded, path, "index=0&wait=2s"))
    assert r.status_code == 200 and dt < 1.0, dt
    r, dt = timed(http.get, qpath(seeded, path, "wait=2s"))
    assert r.status_code == 200 and dt < 1.0, dt


# --- blocking (§1.10) -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/kv/misc/exists", "/v1/catalog/services",
                                  "/v1/session/list", "/v1/health/state/any"])
def test_blocking_times_out_within_wait_plus_jitter(seeded, http, path):
    idx = index_of(http.get(path))
    r, dt = timed(http.get, qpath(seeded, path, "index=%d&wait=1s" % idx))
    assert r.status_code == 200
    assert index_of(r) == idx
    assert 0.9 <= dt <= 1.0 * 17 / 16 + 0.5, dt


def test_blocking_beyond_current_index_waits(seeded, http):
    idx = index_of(http.get("/v1/catalog/nodes"))
    r, dt = timed(http.get, "/v1/catalog/nodes?index=%d&wait=1s" % (idx + 10**6))
    assert r.status_code == 200 and dt >= 0.9, dt


def test_blocking_kv_woken_by_put(seeded, http):
    idx = index_of(http.get("/v1/kv/misc/exists"))
    with later(http, 0.3, lambda h: h.put("/v1/kv/misc/exists", data=b"w")):
        r, dt = timed(http.get, "/v1/kv/misc/exists?index=%d&wait=5s" % idx)
    assert r.status_code == 200 and index_of(r) > idx and dt < 3.0, dt


def test_blocking_catalog_services_woken_by_register(http, p):
    idx = index_of(http.get("/v1/catalog/services"))
    with later(http, 0.3, lambda h: register(h, p + "n", service={"Service": p + "svc"})):
        r, dt = timed(http.get, "/v1/catalog/services?index=%d&wait=5s" % idx)
    assert r.status_code == 200 and index_of(r) > idx and dt < 3.0, dt
    assert p + "svc" in r.json()


def test_wait_forms_accepted(seeded, http):
    idx = index_of(http.get("/v1/kv/misc/exists"))
    for w in ("500ms", "0.5s", "1s"):
        r, dt = timed(http.get, "/v1/kv/misc/exists?index=%d&wait=%s" % (idx, w))
        assert r.status_code == 200 and dt < 1.6, (w, dt)


# --- routing and methods (§1.1, §1.2) ---------------------------------------------------


def test_unknown_v1_path(http):
    for path in ("/v1/nope", "/v1/kvx/a", "/v1/catalog/nope", "/v1/"):
        assert_text(http.get(path), 404, "Invalid URL path: not a recognized HTTP API endpoint")


def test_non_v1_path(http):
    for path in ("/nope", "/v2/kv/a", "/v1x"):
        assert_text(http.get(path), 404, "Invalid URL path: if attempting to use the HTTP API, "
                    "ensure the path starts with '/v1/'")


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v1/status/leader", {"GET"}),
    ("PUT", "/v1/catalog/nodes", {"GET"}),
    ("GET", "/v1/catalog/register", {"PUT"}),
    ("POST", "/v1/session/list", {"GET"}),
    ("PATCH", "/v1/kv/x", {"GET", "PUT", "DELETE"}),
])
def test_405_with_allow(http, method, path, allowed):
    r = http.request(method, path)
    assert_text(r, 405, "method %s not allowed" % method)
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert allowed <= allow, r.headers
    assert "OPTIONS" in allow


@pytest.mark.parametrize("path,allowed", [("/v1/kv/a", {"GET", "PUT", "DELETE"}),
                                          ("/v1/status/leader", {"GET"}),
                                          ("/v1/session/create", {"PUT"})])
def test_options(http, path, allowed):
    r = http.options(path)
    assert r.status_code == 200
    assert r.content == b""
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert allowed <= allow and "OPTIONS" in allow, r.headers


def test_kv_without_slash_redirects(http):
    r = http.get("/v1/kv")
    assert r.status_code == 301 and r.headers.get("Location") == "/v1/kv/", r.headers


def test_default_acl_policy_header(seeded, http):
    """§1.5: sent on every wrapped response, ACLs off included."""
    for r in (http.get("/v1/kv/misc/exists"), http.get("/v1/kv/misc/missing"),
              http.get("/v1/nope"), http.get("/v1/status/leader"),
              http.put("/v1/session/create", data="{")):
        assert r.headers.get("X-Consul-Default-ACL-Policy") == "allow", (r.url, r.headers)


def test_percent_decoded_paths(http, p):
    r = http.put("/v1/kv/%s%%2Fa%%2Fb" % p, data=b"x")
    assert r.status_code == 200 and r.json() is True
    assert http.get("/v1/kv/%s/a/b" % p).json()[0]["Key"] == "%s/a/b" % p
    # The route itself may be escaped.
    assert http.get("/v1/%%6Bv/%s/a/b" % p).status_code == 200
    r = http.get("/v1/status%2Fleader")
    assert r.status_code == 200 and r.json()


def test_pretty(seeded, http):
    compact = http.get("/v1/kv/misc/exists")
    pretty = http.get("/v1/kv/misc/exists?pretty")
    assert pretty.status_code == 200
    assert json.loads(pretty.text) == json.loads(compact.text)
    assert "\n    " in pretty.text and pretty.text.endswith("\n"), pretty.text
    assert "\n" not in compact.text.strip()
    assert "\n    " in http.get("/v1/catalog/datacenters?pretty=0").text


def test_dc(seeded, http):
    assert http.get("/v1/kv/misc/exists?dc=dc1").status_code == 200
    assert http.get("/v1/catalog/nodes?dc=dc1").status_code == 200
    for method, path in (("GET", "/v1/kv/misc/exists?dc=other"),
                         ("PUT", "/v1/kv/misc/other?dc=other"),
                         ("GET", "/v1/catalog/nodes?dc=other"),
                         ("GET", "/v1/health/state/any?dc=other"),
                         ("PUT", "/v1/session/create?dc=other")):
        assert_text(http.request(method, path), 500, "No path to datacenter")
    assert http.get("/v1/kv/misc/other").status_code == 404


def test_tokens_accepted_and_ignored(seeded, http, p):
    key = "/v1/kv/%s/tok" % p
    assert http.put(key, data=b"1", headers={"X-Consul-Token": "abc"}).json() is True
    assert http.put(key, data=b"2", headers={"Authorization": "Bearer abc"}).json() is True
    assert http.put(key, data=b"3", headers={"Authorization": "bearer abc def"}).json() is True
    assert http.put(key + "?token=abc", data=b"4").json() is True
    assert http.get(key + "?token=zzz").status_code == 200
    assert http.get(key, headers={"X-Consul-Token": "zzz"}).status_code == 200


def test_lists_are_never_null(http, p):
    for path in ("/v1/catalog/service/none" + p, "/v1/health/checks/none" + p,
                 "/v1/health/service/none" + p, "/v1/health/node/none" + p,
                 "/v1/session/node/none" + p):
        r = http.get(path)
        assert r.status_code == 200 and r.text.strip() == "[]", (path, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
    r = http.get("/v1/catalog/services", params={"filter": 'ServiceName == "none%s"' % p})
    assert r.text.strip() == "{}", r.text


def test_json_content_type_and_text_errors(http):
    r = http.get("/v1/catalog/datacenters")
    assert r.headers["Content-Type"].startswith("application/json")
    r = http.put("/v1/catalog/register", data="not json")
    assert_text(r, 400, prefix="Request decode failed: ")


# --- status and operator (§8.1, §8.5) ----------------------------------------------------


def test_status_leader_and_peers(agent, http, c):
    addr = "127.0.0.1:%d" % agent.server_port
    r = http.get("/v1/status/leader")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == addr
    assert "X-Consul-Index" not in r.headers
    assert http.json("GET", "/v1/status/peers") == [addr]
    assert c.status.leader() == addr
    assert c.status.peers() == [addr]
    assert http.json("GET", "/v1/status/leader?dc=dc1") == addr


def test_operator_raft_configuration(agent, http, c):
    for q in ("", "?stale"):
        cfg = http.json("GET", "/v1/operator/raft/configuration" + q)
        assert isinstance(cfg["Index"], int) and cfg["Index"] >= 1
        assert len(cfg["Servers"]) == 1
        s = cfg["Servers"][0]
        assert s["Leader"] is True and s["Voter"] is True
        assert s["Node"] == agent.node_name()
        assert s["Address"] == "127.0.0.1:%d" % agent.server_port
        assert isinstance(s["ProtocolVersion"], str) and s["ProtocolVersion"] == "3"
        assert isinstance(s["ID"], str) and s["ID"]
    assert c.operator.raft_config()["Servers"][0]["Leader"] is True


def test_operator_autopilot_health(agent, http):
    r = http.get("/v1/operator/autopilot/health")
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["Healthy"] is True
    assert h["FailureTolerance"] == 0
    assert len(h["Servers"]) == 1
    s = h["Servers"][0]
    assert s["Healthy"] is True and s["Leader"] is True and s["Voter"] is True
    assert s["Name"] == agent.node_name()
    assert s["SerfStatus"] == "alive"
    assert isinstance(s["LastContact"], str)


def test_operator_raft_peer_unknown(http):
    r = http.delete("/v1/operator/raft/peer", params={"address": "127.0.0.2:1"})
    assert r.status_code == 500 and r.text, r.text
    assert r.headers["Content-Type"].startswith("text/plain")


# --- robustness ----------------------------------------------------------------------------


ODD_TIMEOUT = 3.0  # s for an answer to a strange request


def raw(agent, data, timeout=5.0):
    """Sends bytes on a fresh connection; returns what came back before close or timeout."""
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=timeout)
    try:
        out = b""
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close first: fine
            return out
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


E400 = {400}
E4XX5XX = {400, 500}
# (path, body, statuses the spec allows): Go's decoder fails on a wrong
# type (400 Request decode failed, §1.3); txn says Failed to parse body.
BAD_BODIES = [
    ("/v1/catalog/register", "{", E400),
    ("/v1/catalog/register", '{"Node": 5}', E400),
    ("/v1/catalog/register", '{"Node": "x", "Address": ["a"]}', E400),
    ("/v1/catalog/register", '{"Node": "x", "Address": "1.2.3.4", "Service": "s"}', E400),
    ("/v1/catalog/register", '{"Node": "x", "Address": "1.2.3.4", "Checks": {"a": 1}}', E400),
    ("/v1/catalog/register", '[' * 10000, E400),
    ("/v1/catalog/register", '{"Node": "\\ud800"}', E4XX5XX),  # no Address either
    ("/v1/catalog/deregister", "null", E4XX5XX),                # no Node
    ("/v1/catalog/deregister", "5", E400),
    ("/v1/session/create", '{"TTL": "15x"}', {500}),
    ("/v1/session/create", '{"LockDelay": "1y"}', E4XX5XX),
    ("/v1/session/create", '{"Checks": "serfHealth"}', E400),
    ("/v1/session/create", "\x00\xff", E400),
    ("/v1/txn", '[{"KV": {"Verb": "set", "Key": "k", "Value": "!!notbase64"}}]', E400),
    ("/v1/txn", '[{"KV": {"Verb": "set", "Key": 7}}]', E400),
    ("/v1/txn", '{"a": ' * 5000, E400),
]


def test_agent_survives_bad_input(agent, http, p):
    pid_before = agent.status()["httpd"]["pid"]
    restarts_before = agent.status()["httpd"].get("restarts", 0)
    for path, body, allowed in BAD_BODIES:
        r = http.put(path, data=body.encode("utf-8", "surrogatepass"))
        assert r.status_code in allowed, (path, body[:40], r.status_code, r.text)
        assert r.headers.get("Content-Type", "").startswith("text/plain"), (path, r.headers)
    # An oversized KV body, an oversized txn.
    assert http.put("/v1/kv/%s/big" % p, data=b"x" * (524288 * 2)).status_code == 413
    assert http.put("/v1/txn", data=b"[" + b" " * (524288 * 2) + b"]").status_code == 413
    # Unknown endpoints, wrong methods, odd paths and queries.
    unanswered = []
    for method, path in (("GET", "/v1/nope"), ("DELETE", "/v1/catalog/nodes"),
                         ("PUT", "/v1/status/leader"), ("GET", "/v1/kv/%zz"),
                         ("GET", "/v1/kv/a?index=%zz"), ("GET", "/v1/kv/a?" + "x=1&" * 500),
                         ("GET", "/v1/kv/%00"), ("GET", "/v1/catalog/service/%0a"),
                         ("GET", "/v1/kv/" + "k" * 20000), ("BREW", "/v1/kv/a")):
        try:
            r = http.request(method, path, timeout=ODD_TIMEOUT)
        except requests.Timeout:
            unanswered.append("%s %s" % (method, path[:50]))
            continue
        assert 200 <= r.status_code < 600, (method, path)
    # Broken HTTP on raw sockets: garbage, a lying Content-Length, a cut request.
    raw(agent, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", timeout=2)
    raw(agent, b"PUT /v1/kv/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort", timeout=2)
    raw(agent, b"GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n", timeout=2)
    raw(agent, b"GET /v1/kv/x HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n", timeout=2)

    # Still serving, same process, readiness unchanged.
    r = http.get("/v1/status/leader")
    assert r.status_code == 200 and r.json() == "127.0.0.1:%d" % agent.server_port
    assert http.put("/v1/kv/%s/after" % p, data=b"ok").json() is True
    assert http.get("/v1/kv/%s/after" % p).status_code == 200
    st = agent.status()["httpd"]
    assert st["state"] == "ready", st
    assert st["pid"] == pid_before and st.get("restarts", 0) == restarts_before, st
    assert not unanswered, "no answer within %.0f s: %s" % (ODD_TIMEOUT, unanswered)


@pytest.mark.parametrize("n", [100, 129, 300, 500, 1000])
def test_many_query_parameters_are_answered(http, n):
    """However many parameters, the request is answered (a 4xx past the limit)."""
    for q in ("&".join(["x=1"] * n), "&".join("k%d=1" % i for i in range(n))):
        try:
            r = http.get("/v1/kv/many?" + q, timeout=ODD_TIMEOUT)
        except requests.Timeout:
            pytest.fail("GET /v1/kv/many?%s... (%d parameters): no answer within %.0f s" % (
                q[:20], n, ODD_TIMEOUT))
        assert r.status_code in (404, 400, 414, 431), (n, r.status_code, r.text[:200])
