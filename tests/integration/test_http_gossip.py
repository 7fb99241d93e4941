"""test_http_gossip.py: gossipd's endpoints over HTTP: members, join, force-leave (spec/http-api.md §3.2, §3.3, §3.5, §2.10), user events (§8.2, §2.12) and /v1/operator/keyring.

Three module-scoped agent setups, so that what one test does cannot
change what another sees: `agent` alone (its pool is itself), `pair`
(two -dev agents on this machine, each with its own serf_lan port, joined
through /v1/agent/join) and `keyed` (an agent with a gossip key, for the
keyring). Everything that travels by gossip is polled with a deadline.
"""
import base64
import json
import re
import uuid

import consul
import pytest

from agent import free_port, wait_for

from httpfix import HttpAgent, agent, assert_text, c, http, index_of, later, timed  # noqa: F401

GOSSIP_DEADLINE = 15.0  # s for a join or an event to reach the other agent
MEMBER_INT_FIELDS = ("Port", "Status", "ProtocolMin", "ProtocolMax", "ProtocolCur",
                     "DelegateMin", "DelegateMax", "DelegateCur")
MEMBER_FIELDS = ("Name", "Addr", "Port", "Tags") + MEMBER_INT_FIELDS[1:]  # serf.Member's order
EVENT_FIELDS = ("ID", "Name", "Payload", "NodeFilter", "ServiceFilter", "TagFilter", "Version",
                "LTime")
KEY1 = "HS5lJ+XuTlYKWaeGYyG+/A=="
KEY2 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="


def event_index(event_id):
    """Consul's uuidToUint64 (event_endpoint.go): the ID's halves XORed."""
    lower = int(event_id[0:8] + event_id[9:13] + event_id[14:18], 16)
    upper = int(event_id[19:23] + event_id[24:36], 16)
    return lower ^ upper


def assert_member(m):
    """A serf.Member as the Go client (uint8/uint16 fields) and python-consul read it."""
    assert list(m) == list(MEMBER_FIELDS), list(m)
    assert isinstance(m["Name"], str) and m["Name"]
    assert isinstance(m["Addr"], str) and m["Addr"]
    for k in MEMBER_INT_FIELDS:
        assert type(m[k]) is int, (k, m[k])
    assert 0 < m["Port"] < 65536
    assert 0 <= m["Status"] <= 4
    for k in MEMBER_INT_FIELDS[2:]:
        assert 0 <= m[k] < 256, (k, m[k])
    assert m["ProtocolMin"] <= m["ProtocolCur"] <= m["ProtocolMax"], m
    assert m["DelegateMin"] <= m["DelegateCur"] <= m["DelegateMax"], m
    assert isinstance(m["Tags"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in m["Tags"].items()), m


def assert_event(e):
    assert list(e) == list(EVENT_FIELDS), list(e)
    uuid.UUID(e["ID"])
    assert len(e["ID"]) == 36
    assert isinstance(e["Name"], str) and e["Name"]
    assert e["Payload"] is None or isinstance(e["Payload"], str)
    for k in ("NodeFilter", "ServiceFilter", "TagFilter"):
        assert isinstance(e[k], str), (k, e[k])
    assert type(e["Version"]) is int and e["Version"] >= 1
    assert type(e["LTime"]) is int and e["LTime"] >= 0


def members(a, **params):
    r = a.http.get("/v1/agent/members", params=params)
    assert r.status_code == 200, "%d %r" % (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    assert "X-Consul-Index" not in r.headers  # an agent endpoint (§3)
    v = r.json()
    assert isinstance(v, list), v
    for m in v:
        assert_member(m)
    return v


def event_list(a, **params):
    """GET /v1/event/list: (index, events). A blocking ?wait is at most 10 s here."""
    r = a.http.get("/v1/event/list", params=params, timeout=20)
    assert r.status_code == 200, "%d %r" % (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    # Consul's EventList sets the index alone (setIndex), no leader headers.
    assert "X-Consul-KnownLeader" not in r.headers, r.headers
    v = r.json()
    assert isinstance(v, list), v
    for e in v:
        assert_event(e)
    return index_of(r), v


def fire(a, name, body=None, **params):
    r = a.http.put("/v1/event/fire/" + name, data=body, params=params)
    assert r.status_code == 200, "%d %r" % (r.status_code, r.text)
    e = r.json()
    assert_event(e)
    return e


def wait_event(a, event_id, what, **params):
    """Polls a's event list until the event event_id is in it; (index, events)."""
    def cond():
        idx, evs = event_list(a, **params)
        return (idx, evs) if any(e["ID"] == event_id for e in evs) else None
    return wait_for(cond, GOSSIP_DEADLINE, what, 0.05)


def serf_lan(a):
    return a.cfg["ports"]["serf_lan"]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    """Two -dev agents on this machine (each its own free serf_lan port), the first
    joined to the second through PUT /v1/agent/join/127.0.0.1:<port>."""
    a = HttpAgent(config={"node_name": "gsp-a"})
    b = HttpAgent(config={"node_name": "gsp-b"})
    try:
        a.boot()
        b.boot()
        r = a.http.put("/v1/agent/join/127.0.0.1:%d" % serf_lan(b))
        assert r.status_code == 200, "join: %d %r" % (r.status_code, r.text)
        assert r.text == "" and "Content-Type" not in r.headers, r.headers
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def keyed():
    """An agent whose gossip is encrypted with KEY1."""
    a = HttpAgent(config={"encrypt": KEY1})
    try:
        a.boot()
        yield a
    finally:
        a.stop()


# --- /v1/agent/members (§3.2, §2.10) ----------------------------------------------------


def test_members_self_alive_with_consul_tags(agent):
    ms = members(agent)
    assert len(ms) == 1, ms
    m = ms[0]
    conf = agent.conf()
    assert m["Name"] == agent.node_name()
    assert m["Addr"] == "127.0.0.1"
    assert m["Port"] == serf_lan(agent)
    assert m["Status"] == 1  # alive
    t = m["Tags"]
    assert t["role"] == "consul"  # a -dev agent is a server
    assert t["dc"] == "dc1"
    assert t["id"] == conf["node_id"]
    assert t["port"] == str(agent.server_port)  # the server RPC port
    for k in ("vsn", "vsn_min", "vsn_max", "raft_vsn"):
        assert t[k].isdigit(), (k, t)
    assert t.get("build"), t


def test_members_agree_with_self_member(agent, http):
    """agent/self's Member is this agent as the pool shows it."""
    me = http.get("/v1/agent/self").json()["Member"]
    m = members(agent)[0]
    for k in ("Name", "Addr", "Port", "Status"):
        assert m[k] == me[k], (k, m[k], me[k])
    for k in ("role", "dc", "id", "port", "vsn", "vsn_min", "vsn_max", "raft_vsn"):
        assert m["Tags"].get(k) == me["Tags"].get(k), (k, m["Tags"], me["Tags"])


def test_members_python_consul(agent, c):
    ms = c.agent.members()
    assert [m["Name"] for m in ms] == [agent.node_name()]
    assert ms[0]["Status"] == 1


def test_members_wan(agent, c):
    """A server's WAN pool (python-consul sends wan=1): this server, named node.dc."""
    ms = members(agent, wan="1")
    names = [m["Name"] for m in ms]
    assert names == ["%s.dc1" % agent.node_name()], names
    assert ms[0]["Tags"]["role"] == "consul"
    assert [m["Name"] for m in c.agent.members(wan=True)] == names
    # Any non-empty value means WAN; an empty one is the LAN.
    assert [m["Name"] for m in members(agent, wan="")] == [agent.node_name()]


def test_members_filter(agent, http):
    """?filter over the members (Consul 1.10+; `muster members -filter`)."""
    me = agent.node_name()
    assert [m["Name"] for m in members(agent, filter='Tags.role == "consul"')] == [me]
    assert members(agent, filter='Tags.role == "node"') == []
    assert [m["Name"] for m in members(agent, filter="Status == 1")] == [me]
    r = http.get("/v1/agent/members", params={"filter": "Status ==="})
    assert r.status_code == 500  # Consul's answer to a bad expression (as test_http_catalog)


def test_members_segments(agent, http):
    assert [m["Name"] for m in members(agent, segment="_all")] == [agent.node_name()]
    assert [m["Name"] for m in members(agent, segment="")] == [agent.node_name()]
    assert_text(http.get("/v1/agent/members", params={"wan": "1", "segment": "alpha"}), 400,
                "Cannot provide a segment with wan=true")
    assert len(members(agent, wan="1", segment="_all")) == 1
    # Consul CE: a server has no segments.
    assert_text(http.get("/v1/agent/members", params={"segment": "alpha"}), 500,
                "Network segments are not supported in this version of Consul")


def test_members_methods(http):
    r = http.put("/v1/agent/members")
    assert r.status_code == 405, r.text


# --- join and force-leave (§3.3, §3.5) --------------------------------------------------


def test_join_closed_port_is_500_with_text(agent, http, c):
    port = free_port()  # nobody listens there
    r = http.put("/v1/agent/join/127.0.0.1:%d" % port)
    assert_text(r, 500)
    assert r.text.strip() and "127.0.0.1:%d" % port in r.text, r.text
    # python-consul (GET) raises on the 500.
    with pytest.raises(consul.ConsulException):
        c.agent.join("127.0.0.1:%d" % port)
    # Nothing joined.
    assert len(members(agent)) == 1


def test_force_leave_unknown_is_500(http, c):
    assert_text(http.put("/v1/agent/force-leave/nope-node"), 500,
                "agent: No node found with name 'nope-node'")
    assert_text(http.get("/v1/agent/force-leave/nope-node", params={"prune": ""}), 500,
                "agent: No node found with name 'nope-node'")
    with pytest.raises(consul.ConsulException):
        c.agent.force_leave("nope-node")


def test_two_agents_joined_list_each_other(pair):
    a, b = pair
    want = {"gsp-a", "gsp-b"}

    def both_alive(x):
        ms = members(x)
        alive = {m["Name"] for m in ms if m["Status"] == 1}
        return ms if alive == want and len(ms) == 2 else None
    for x in (a, b):
        ms = wait_for(lambda: both_alive(x), GOSSIP_DEADLINE,
                      "%s to list gsp-a and gsp-b alive" % x.node_name(), 0.05)
        by = {m["Name"]: m for m in ms}
        for y in (a, b):
            m = by[y.node_name()]
            assert m["Addr"] == "127.0.0.1" and m["Port"] == serf_lan(y), m
            assert m["Tags"]["id"] == y.conf()["node_id"], m
            assert m["Tags"]["role"] == "consul" and m["Tags"]["dc"] == "dc1", m


def test_join_python_consul_again(pair):
    """python-consul joins with GET; joining a member again is fine."""
    a, b = pair
    ca = consul.Consul(host="127.0.0.1", port=a.http_port)
    assert ca.agent.join("127.0.0.1:%d" % serf_lan(b)) is True


def test_event_crosses_to_the_other_agent(pair):
    a, b = pair
    name = "cross-" + uuid.uuid4().hex[:8]
    e = fire(a, name, b"hello from a")
    idx, evs = wait_event(b, e["ID"], "the event fired on gsp-a in gsp-b's list")
    got = [x for x in evs if x["ID"] == e["ID"]][0]
    assert got["Name"] == name
    assert base64.b64decode(got["Payload"]) == b"hello from a"
    assert got["Version"] == e["Version"]
    # The name filter on the receiving side: exact names only.
    e2 = fire(a, name + "-other", b"x")
    idx, evs = wait_event(b, e2["ID"], "the second event in gsp-b's list")
    idx, named = event_list(b, name=name)
    assert [x["ID"] for x in named] == [e["ID"]], named
    assert idx == event_index(e["ID"])


# --- user events (§8.2, §2.12) ----------------------------------------------------------


def test_fire_reply_shape(http):
    r = http.put("/v1/event/fire/deploy", data=b"payload-1", params={"service": "web",
                                                                    "tag": "v1"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    e = r.json()
    assert_event(e)
    assert e["Name"] == "deploy"
    assert base64.b64decode(e["Payload"]) == b"payload-1"
    assert e["ServiceFilter"] == "web" and e["TagFilter"] == "v1" and e["NodeFilter"] == ""
    assert e["LTime"] == 0  # the fire reply's (§8.2)


def test_fire_without_body_has_null_payload(agent):
    e = fire(agent, "nobody")
    assert e["Payload"] is None


def test_fire_missing_name_is_400(http):
    assert_text(http.put("/v1/event/fire/"), 400, "Missing name")


def test_fire_get_is_405(http):
    assert http.get("/v1/event/fire/x").status_code == 405


def test_fire_then_list_python_consul(agent, c):
    name = "pc-" + uuid.uuid4().hex[:8]
    e = c.event.fire(name, "python body")
    assert_event(e)
    idx, evs = wait_event(agent, e["ID"], "the fired event in this agent's list")
    index, listed = c.event.list(name=name)
    assert [x["ID"] for x in listed] == [e["ID"]]
    # python-consul decodes Payload itself.
    assert listed[0]["Payload"] == b"python body"
    assert int(index) == event_index(e["ID"])


def test_list_oldest_first_and_index(agent):
    name = "order-" + uuid.uuid4().hex[:8]
    ids = [fire(agent, name, str(i).encode())["ID"] for i in range(3)]
    wait_event(agent, ids[-1], "the third event", name=name)
    idx, evs = event_list(agent, name=name)
    assert [e["ID"] for e in evs] == ids
    ltimes = [e["LTime"] for e in evs]
    assert ltimes == sorted(ltimes), ltimes
    assert idx == event_index(ids[-1])
    # With no match the index is 1, not 0 (a watch must not spin).
    idx, evs = event_list(agent, name="never-fired-" + uuid.uuid4().hex)
    assert evs == [] and idx == 1


def test_list_blocks_until_a_new_event(agent):
    name = "block-" + uuid.uuid4().hex[:8]
    first = fire(agent, name)
    idx, _ = wait_event(agent, first["ID"], "the first event", name=name)
    box = {}

    def fire_later(h):
        r = h.put("/v1/event/fire/" + name, data=b"second")
        assert r.status_code == 200, r.text
        box["id"] = r.json()["ID"]
    with later(agent.http, 0.4, fire_later):
        (idx2, evs), took = timed(event_list, agent, name=name, index=idx, wait="10s")
    assert took >= 0.3, took
    assert took < 9, "the list did not wake on the new event (%.1fs)" % took
    assert evs[-1]["ID"] == box["id"], evs
    assert idx2 == event_index(box["id"]) != idx


def test_list_blocking_times_out_with_the_same_index(agent, c):
    name = "idle-" + uuid.uuid4().hex[:8]
    e = fire(agent, name)
    idx, _ = wait_event(agent, e["ID"], "the event", name=name)
    (idx2, evs), took = timed(event_list, agent, name=name, index=idx, wait="500ms")
    assert 0.4 <= took < 5, took
    assert idx2 == idx and [x["ID"] for x in evs] == [e["ID"]]
    # python-consul's blocking form.
    (index, listed), took = timed(c.event.list, name=name, index=str(idx), wait="300ms")
    assert 0.2 <= took < 5, took
    assert int(index) == idx


def test_list_bad_wait_and_index_are_400(http):
    assert_text(http.get("/v1/event/list", params={"index": "x"}), 400, "Invalid index")
    assert_text(http.get("/v1/event/list", params={"index": "1", "wait": "soon"}), 400,
                "Invalid wait time")


def test_node_filter_not_matching_this_node(agent):
    """An event for other nodes only is fired but not accepted here; a
    later event with no filter proves this agent has handled the first."""
    name = "nf-" + uuid.uuid4().hex[:8]
    skipped = fire(agent, name, b"not for me", node="^no-such-node$")
    assert skipped["NodeFilter"] == "^no-such-node$"
    marker = fire(agent, name, b"for everyone")
    wait_event(agent, marker["ID"], "the unfiltered marker event", name=name)
    _, evs = event_list(agent, name=name)
    assert [e["ID"] for e in evs] == [marker["ID"]], evs
    # A node filter that matches this node is accepted.
    mine = fire(agent, name, b"mine", node="^%s$" % agent.node_name())
    wait_event(agent, mine["ID"], "the event whose node filter matches", name=name)


def test_fire_bad_filter_is_500(http):
    """Consul's EventFire answers every agent.UserEvent error as a 500."""
    r = http.put("/v1/event/fire/badtag", params={"tag": "v1"})
    assert_text(r, 500, "Cannot provide tag filter without service filter")
    r = http.put("/v1/event/fire/badre", params={"node": "("})
    assert_text(r, 500, prefix="Invalid node filter: ")


# --- /v1/operator/keyring ------------------------------------------------------------------


def keyring(a, method="GET", key=None, status=200, **params):
    body = json.dumps({"Key": key}) if key is not None else None
    r = a.http.request(method, "/v1/operator/keyring", data=body, params=params, timeout=40)
    assert r.status_code == status, "%s keyring: %d %r" % (method, r.status_code, r.text)
    return r


def pools(a, **params):
    r = keyring(a, **params)
    assert r.headers["Content-Type"].startswith("application/json")
    v = r.json()
    assert isinstance(v, list) and v, v
    for p in v:
        assert {"WAN", "Datacenter", "Segment", "Keys", "PrimaryKeys", "NumNodes"} <= set(p), p
        assert type(p["WAN"]) is bool and type(p["NumNodes"]) is int, p
        assert p["Datacenter"] == "dc1" and p["Segment"] == "", p
        assert all(type(n) is int for n in p["Keys"].values()), p
        assert all(type(n) is int for n in p["PrimaryKeys"].values()), p
    return v


def lan(ps):
    got = [p for p in ps if not p["WAN"]]
    assert len(got) == 1, ps
    return got[0]


def test_keyring_rotation(keyed):
    """Install, use, remove; each operation is a serf query per pool that
    waits out its timeout, so the listings in between are few."""
    ps = pools(keyed)
    # A server: the WAN pool first, then the LAN pool (Consul's order).
    assert [p["WAN"] for p in ps] == [True, False], ps
    for p in ps:
        assert p["Keys"] == {KEY1: 1} and p["PrimaryKeys"] == {KEY1: 1}, p
        assert p["NumNodes"] == 1, p
    r = keyring(keyed, "POST", KEY2)
    assert r.text == "" and "Content-Type" not in r.headers
    keyring(keyed, "PUT", KEY2)
    for p in pools(keyed):
        assert p["Keys"] == {KEY1: 1, KEY2: 1} and p["PrimaryKeys"] == {KEY2: 1}, p
    # The primary key cannot be removed: Consul's multierror text, a 500.
    r = keyring(keyed, "DELETE", KEY2, status=500)
    assert re.match(r"\d+ errors? occurred:\n\t\* ", r.text), r.text
    assert "Removing the primary key is not allowed" in r.text, r.text
    keyring(keyed, "DELETE", KEY1)
    # This agent's own keyring alone; members still answer.
    p = lan(pools(keyed, **{"local-only": "true"}))
    assert p["Keys"] == {KEY2: 1} and p["PrimaryKeys"] == {KEY2: 1}, p
    assert len(members(keyed)) == 1


def test_keyring_relay_factor(keyed):
    assert lan(pools(keyed, **{"relay-factor": "2"}))["NumNodes"] == 1
    for bad in ("6", "-1"):
        assert_text(keyring(keyed, status=400, **{"relay-factor": bad}), 400,
                    "Invalid relay-factor: Relay factor must be in range: [0, 5]")
    assert_text(keyring(keyed, status=400, **{"relay-factor": "x"}), 400,
                'Error parsing relay factor: strconv.Atoi: parsing "x": invalid syntax')
    assert_text(keyring(keyed, status=400, **{"relay-factor": "99999999999999999999"}), 400,
                'Error parsing relay factor: strconv.Atoi: parsing "99999999999999999999": '
                'value out of range')


def test_keyring_local_only_and_body_errors(keyed):
    assert_text(keyring(keyed, "PUT", KEY1, status=400, **{"local-only": "true"}), 400,
                "Invalid use of local-only: local-only can only be set for list requests")
    assert_text(keyring(keyed, status=400, **{"local-only": "maybe"}), 400,
                'Error parsing local-only: strconv.ParseBool: parsing "maybe": invalid syntax')
    r = keyed.http.request("POST", "/v1/operator/keyring", data=b"")
    assert_text(r, 400, "Request decode failed: EOF")
    r = keyed.http.request("POST", "/v1/operator/keyring", data=b"{")
    assert_text(r, 400, prefix="Request decode failed: ")
    r = keyed.http.request("POST", "/v1/operator/keyring", data=b'[1]')
    assert_text(r, 400, "Request decode failed: json: cannot unmarshal array into Go value of "
                "type agent.keyringArgs")
    r = keyed.http.request("POST", "/v1/operator/keyring", data=b'{"Key": "x", "RelayFactor": 300}')
    assert_text(r, 400, "Request decode failed: json: cannot unmarshal number 300 into Go struct "
                "field keyringArgs.RelayFactor of type uint8")
    r = keyed.http.request("POST", "/v1/operator/keyring", data=b'{"Key": 5}')
    assert_text(r, 400, prefix="Request decode failed: json: cannot unmarshal number")


def test_keyring_without_encryption_is_500(agent):
    """serf refuses keyring queries when gossip is not encrypted."""
    r = keyring(agent, status=500)
    assert_text(r, 500)
    assert "error" in r.text, r.text


# --- PUT /v1/agent/leave (§3.4) -------------------------------------------------------------


def test_leave_answers_200_then_the_agent_exits():
    """musterd answers the leave once gossipd has left and stops httpd at
    once: httpd still delivers that 200 before it exits."""
    a = HttpAgent()
    try:
        a.boot()
        r = a.http.put("/v1/agent/leave", timeout=40)
        assert r.status_code == 200, "%d %r" % (r.status_code, r.text)
        assert r.text == ""
        assert a.proc.wait(timeout=30) == 0
    finally:
        a.stop()
