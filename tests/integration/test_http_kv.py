"""test_http_kv.py: /v1/kv (spec/http-api.md §6, §1.10, §2.8) over HTTP and through python-consul 0.7.1."""
import time

import pytest

from httpfix import (agent, assert_query_meta, assert_text, c, http, index_of,  # noqa: F401
                     kv_index, later, p, session, timed, unb64)

KV_MAX = 524288                      # limits.kv_max_value_size default (spec §6.2)
U64_MAX = 18446744073709551615       # Flags are uint64 (spec §0.11)
SEMAPHORE_FLAG = 0xe0f69a2baa414de0  # the Go client's, above INT64_MAX (spec §6.4)


def put(http, key, value=b"", status=200, **params):
    r = http.put("/v1/kv/" + key, data=value, params=params)
    assert r.status_code == status, "PUT %s %r: %d %r" % (key, params, r.status_code, r.text)
    if status == 200:
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        assert r.text in ("true", "false"), r.text
        return r.json()
    return r


def entry(http, key, **params):
    """The single entry of key (asserting the §6.1 one-element list), or None on 404."""
    r = http.get("/v1/kv/" + key, params=params)
    if r.status_code == 404:
        assert r.text == "", r.text
        index_of(r)
        return None
    assert r.status_code == 200, r.text
    es = r.json()
    assert isinstance(es, list) and len(es) == 1, es
    return es[0]


def delete(http, key, **params):
    r = http.delete("/v1/kv/" + key, params=params)
    assert r.status_code == 200, r.text
    assert r.text in ("true", "false"), r.text
    return r.json()


def k(p, rest=""):
    return "%s/%s" % (p.rstrip("-"), rest)


# --- put, get, delete -----------------------------------------------------------


def test_put_get_delete_shapes(http, p):
    key = k(p, "a")
    assert put(http, key, b"hello") is True
    r = http.get("/v1/kv/" + key)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert_query_meta(r)
    es = r.json()
    assert len(es) == 1
    e = es[0]
    assert e["Key"] == key
    assert unb64(e["Value"]) == b"hello"
    assert e["Flags"] == 0 and e["LockIndex"] == 0
    assert "Session" not in e, e  # §2.8: absent, not "", when unlocked
    assert e["CreateIndex"] == e["ModifyIndex"] >= 1
    assert set(e) == {"LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"}, e

    assert put(http, key, b"again") is True
    e2 = entry(http, key)
    assert e2["CreateIndex"] == e["CreateIndex"] and e2["ModifyIndex"] > e["ModifyIndex"]
    assert unb64(e2["Value"]) == b"again"

    assert delete(http, key) is True
    assert entry(http, key) is None
    # A delete of nothing is still true (§6.3).
    assert delete(http, key) is True


def test_binary_value_roundtrip(http, p):
    key = k(p, "bin")
    val = bytes(range(256)) * 3
    assert put(http, key, val) is True
    assert unb64(entry(http, key)["Value"]) == val
    r = http.get("/v1/kv/" + key, params={"raw": ""})
    assert r.content == val


def test_empty_value_is_null(http, p):
    key = k(p, "empty")
    assert put(http, key, b"") is True
    e = entry(http, key)
    assert e["Value"] is None, e  # §2.8
    r = http.get("/v1/kv/" + key)
    assert '"Value":null' in r.text.replace(" ", ""), r.text


def test_missing_key_is_404_with_index_headers(http, p):
    r = http.get("/v1/kv/" + k(p, "never"))
    assert r.status_code == 404
    assert r.text == ""
    assert_query_meta(r)
    assert index_of(r) >= 1


def test_single_key_index_is_its_modify_index(http, p):
    key, other = k(p, "mine"), k(p, "other")
    put(http, key, b"1")
    mi = entry(http, key)["ModifyIndex"]
    put(http, other, b"2")
    put(http, other, b"3")
    r = http.get("/v1/kv/" + key)
    assert index_of(r) == mi  # §1.10, §10.4 (Patroni)
    # The table index moved on past it.
    assert kv_index(http) > mi


def test_percent_decoded_key(http, p):
    base = k(p)
    enc = base.replace("/", "%2F") + "a%2Fb%20c"
    assert put(http, enc, b"v") is True
    e = entry(http, base + "a/b c")
    assert e is not None and e["Key"] == base + "a/b c"
    r = http.get("/v1/kv/" + base, params={"keys": ""})
    assert r.json() == [base + "a/b c"]


def test_keys_are_case_sensitive(http, p):
    key = k(p, "Case")
    put(http, key, b"x")
    assert entry(http, k(p, "case")) is None
    assert entry(http, key) is not None


def test_missing_key_name(http):
    for method in ("GET", "PUT", "DELETE"):
        assert_text(http.request(method, "/v1/kv/"), 400, "Missing key name")


# --- flags --------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [0, 42, 2**63 - 1, SEMAPHORE_FLAG, U64_MAX])
def test_flags_full_uint64(http, p, flags):
    key = k(p, "f")
    assert put(http, key, b"v", flags=str(flags)) is True
    r = http.get("/v1/kv/" + key)
    # Exact digits on the wire: no double rounding (§0.11, §10.10).
    assert ('"Flags":%d' % flags) in r.text.replace(" ", ""), r.text
    assert r.json()[0]["Flags"] == flags


def test_plain_put_resets_flags(http, p):
    key = k(p, "reset")
    put(http, key, b"v", flags="7")
    put(http, key, b"w")
    assert entry(http, key)["Flags"] == 0  # §6.2


@pytest.mark.parametrize("method,q", [("PUT", "flags=x"), ("PUT", "flags=18446744073709551616"),
                                      ("PUT", "flags=-1"), ("PUT", "cas=x"), ("PUT", "cas=-1"),
                                      ("DELETE", "cas=x")])
def test_unparseable_flags_and_cas_are_500(http, p, method, q):
    """§6.2, §1.11: a parse error of ?flags or ?cas is a 500 with the parse error."""
    if method == "DELETE":
        put(http, k(p, "bad"), b"v")
    r = http.request(method, "/v1/kv/%s?%s" % (k(p, "bad"), q), data=b"w")
    assert_text(r, 500)
    assert r.text.strip(), r
    e = entry(http, k(p, "bad"))
    assert e is None if method == "PUT" else unb64(e["Value"]) == b"v"


# --- recurse, keys, separator, raw -----------------------------------------------


def test_recurse_sorted_and_index(http, p):
    base = k(p)
    for name in ("b", "a", "c/d", "a0"):
        put(http, base + name, name.encode())
    put(http, base.rstrip("/") + "x", b"outside")  # same string prefix minus the slash
    r = http.get("/v1/kv/" + base, params={"recurse": ""})
    assert r.status_code == 200
    assert_query_meta(r)
    es = r.json()
    assert [e["Key"] for e in es] == [base + x for x in ("a", "a0", "b", "c/d")]
    assert index_of(r) == max(e["ModifyIndex"] for e in es)
    # ?recurse=0 still means recurse (presence flag, §1.3).
    r0 = http.get("/v1/kv/" + base + "?recurse=0")
    assert len(r0.json()) == 4


def test_recurse_nothing_found_is_404(http, p):
    r = http.get("/v1/kv/" + k(p, "none/"), params={"recurse": ""})
    assert r.status_code == 404 and r.text == ""
    index_of(r)


def test_keys_and_separator_example(http, p):
    """§6.1's example: web/a, web/b/c, web/b/d with keys&separator=/ give web/a, web/b/."""
    web = k(p, "web/")
    for x in ("a", "b/c", "b/d"):
        put(http, web + x, b"1")
    r = http.get("/v1/kv/" + web, params={"keys": "", "separator": "/"})
    assert r.status_code == 200
    assert_query_meta(r)
    assert r.json() == [web + "a", web + "b/"]
    r = http.get("/v1/kv/" + web, params={"keys": ""})
    assert r.json() == [web + "a", web + "b/c", web + "b/d"]
    # The misspelling is accepted too.
    r = http.get("/v1/kv/" + web, params={"keys": "", "seperator": "/"})
    assert r.json() == [web + "a", web + "b/"]


def test_keys_none_found(http, p):
    r = http.get("/v1/kv/" + k(p, "nothing/"), params={"keys": ""})
    assert r.status_code == 404 and r.text == ""
    index_of(r)


def test_raw(http, p):
    key = k(p, "raw")
    put(http, key, b"{not json")
    r = http.get("/v1/kv/" + key, params={"raw": ""})
    assert r.status_code == 200
    assert r.content == b"{not json"
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Content-Length") == "9"
    index_of(r)
    # ?raw with ?recurse is the JSON list (§6.1).
    r = http.get("/v1/kv/" + key, params={"raw": "", "recurse": ""})
    assert r.headers["Content-Type"].startswith("application/json")
    assert [e["Key"] for e in r.json()] == [key]


def test_raw_missing_is_404(http, p):
    r = http.get("/v1/kv/" + k(p, "rawmissing"), params={"raw": ""})
    assert r.status_code == 404


# --- cas, delete variants --------------------------------------------------------


def test_cas_create_only_and_index(http, p):
    key = k(p, "cas")
    assert put(http, key, b"1", cas="0") is True
    assert put(http, key, b"2", cas="0") is False
    e = entry(http, key)
    assert unb64(e["Value"]) == b"1"
    mi = e["ModifyIndex"]
    assert put(http, key, b"3", cas=str(mi + 1000)) is False
    assert put(http, key, b"3", cas=str(mi)) is True
    assert unb64(entry(http, key)["Value"]) == b"3"
    # The old index no longer matches.
    assert put(http, key, b"4", cas=str(mi)) is False
    # cas=N on a missing key is false.
    assert put(http, k(p, "cas-missing"), b"x", cas="5") is False
    assert entry(http, k(p, "cas-missing")) is None


def test_delete_cas_and_recurse(http, p):
    key = k(p, "d")
    put(http, key, b"1")
    mi = entry(http, key)["ModifyIndex"]
    assert delete(http, key, cas="0") is False       # §6.3 quirk
    assert delete(http, key, cas=str(mi + 99)) is False
    assert entry(http, key) is not None
    assert delete(http, key, cas=str(mi)) is True
    assert entry(http, key) is None
    assert delete(http, k(p, "never"), cas="7") is True  # missing key: true

    base = k(p, "tree/")
    for x in ("a", "b/c"):
        put(http, base + x, b"1")
    put(http, k(p, "treehouse"), b"1")
    assert delete(http, base, recurse="") is True
    r = http.get("/v1/kv/" + base, params={"recurse": ""})
    assert r.status_code == 404
    assert entry(http, k(p, "treehouse")) is not None


def test_prefix_index_does_not_go_backwards_after_delete(http, p):
    base = k(p, "tomb/")
    put(http, base + "a", b"1")
    put(http, base + "b", b"1")
    i1 = index_of(http.get("/v1/kv/" + base, params={"recurse": ""}))
    delete(http, base + "b")
    i2 = index_of(http.get("/v1/kv/" + base, params={"recurse": ""}))
    assert i2 > i1  # tombstones count (§1.10)


@pytest.mark.parametrize("method,params", [
    ("PUT", "cas=0&acquire=x"),
    ("PUT", "cas=0&release=x"),
    ("PUT", "acquire=x&release=x"),
    ("DELETE", "recurse&cas=1"),
])
def test_conflicting_flags(http, p, method, params):
    r = http.request(method, "/v1/kv/%s?%s" % (k(p, "cf"), params))
    assert_text(r, 400, prefix="Conflicting flags")
    assert entry(http, k(p, "cf")) is None


# --- size limit ---------------------------------------------------------------------


def test_value_size_limit(http, p):
    key = k(p, "big")
    assert put(http, key, b"x" * KV_MAX) is True
    assert len(unb64(entry(http, key)["Value"])) == KV_MAX
    n = KV_MAX + 1
    r = http.put("/v1/kv/" + key, data=b"y" * n)
    assert_text(r, 413, "Request body(%d bytes) too large, max size: %d bytes. See "
                "https://developer.hashicorp.com/docs/agent/config/config-files"
                "#kv_max_value_size." % (n, KV_MAX))
    assert unb64(entry(http, key)["Value"]) == b"x" * KV_MAX


# --- locks ----------------------------------------------------------------------------


def test_acquire_release(http, p):
    key = k(p, "lock")
    s1 = session(http)
    s2 = session(http)
    assert put(http, key, b"mine", acquire=s1) is True
    e = entry(http, key)
    assert e["Session"] == s1 and e["LockIndex"] == 1
    assert unb64(e["Value"]) == b"mine"
    # The holder again: value updated, LockIndex kept (§6.4 step 3).
    assert put(http, key, b"mine2", acquire=s1) is True
    e = entry(http, key)
    assert e["LockIndex"] == 1 and unb64(e["Value"]) == b"mine2"
    # Another session: false.
    assert put(http, key, b"theirs", acquire=s2) is False
    assert put(http, key, b"theirs", release=s2) is False
    assert entry(http, key)["Session"] == s1
    # Release by the holder stores the body, clears Session, keeps LockIndex.
    assert put(http, key, b"released", release=s1) is True
    e = entry(http, key)
    assert "Session" not in e and e["LockIndex"] == 1
    assert unb64(e["Value"]) == b"released"
    # Reacquire by the other session bumps LockIndex.
    assert put(http, key, b"", acquire=s2) is True
    assert entry(http, key)["LockIndex"] == 2
    # A plain PUT on a locked key keeps the lock (§6.2).
    assert put(http, key, b"plain") is True
    assert entry(http, key)["Session"] == s2
    assert put(http, k(p, "nokey"), b"", release=s1) is False


def test_acquire_unknown_session(http, p):
    sid = "00000000-0000-4000-8000-000000000001"
    r = http.put("/v1/kv/" + k(p, "l"), data=b"", params={"acquire": sid})
    assert_text(r, 500, 'invalid session "%s"' % sid)


def test_lock_delay_after_holder_destroyed(http, p):
    key = k(p, "ld")
    holder = session(http, LockDelay="2s")
    assert put(http, key, b"", acquire=holder) is True
    r = http.put("/v1/session/destroy/" + holder)
    assert r.status_code == 200 and r.json() is True
    destroyed = time.monotonic()
    other = session(http)
    assert "Session" not in entry(http, key)  # released
    # Within the lock delay the lock cannot be taken (§7.6).
    assert put(http, key, b"", acquire=other) is False
    deadline = destroyed + 10
    while put(http, key, b"", acquire=other) is False:
        assert time.monotonic() < deadline, "lock delay of 2s never ended"
        time.sleep(0.1)
    assert time.monotonic() - destroyed >= 1.5, "lock delay ended too early"
    assert entry(http, key)["Session"] == other


# --- blocking (§1.10) -----------------------------------------------------------------


def test_blocking_get_times_out_with_same_index(http, p):
    key = k(p, "blk")
    put(http, key, b"1")
    idx = index_of(http.get("/v1/kv/" + key))
    r, dt = timed(http.get, "/v1/kv/" + key, params={"index": str(idx), "wait": "1s"})
    assert r.status_code == 200
    assert index_of(r) == idx
    assert 0.9 <= dt <= 1.0 * 17 / 16 + 0.5, dt


def test_blocking_get_ignores_unrelated_writes(http, p):
    key = k(p, "quiet")
    put(http, key, b"1")
    idx = index_of(http.get("/v1/kv/" + key))
    with later(http, 0.2, lambda h: put(h, k(p, "noise"), b"n")):
        r, dt = timed(http.get, "/v1/kv/" + key, params={"index": str(idx), "wait": "1s"})
    assert index_of(r) == idx
    assert dt >= 0.9, dt


def test_blocking_get_woken_by_put(http, p):
    key = k(p, "wake")
    put(http, key, b"1")
    idx = index_of(http.get("/v1/kv/" + key))
    with later(http, 0.3, lambda h: put(h, key, b"2")):
        r, dt = timed(http.get, "/v1/kv/" + key, params={"index": str(idx), "wait": "5s"})
    assert r.status_code == 200
    assert index_of(r) > idx
    assert unb64(r.json()[0]["Value"]) == b"2"
    assert dt < 3.0, dt


def test_blocking_missing_key_woken_by_create(http, p):
    key = k(p, "later")
    r = http.get("/v1/kv/" + key)
    assert r.status_code == 404
    idx = index_of(r)
    with later(http, 0.3, lambda h: put(h, key, b"now")):
        r, dt = timed(http.get, "/v1/kv/" + key, params={"index": str(idx), "wait": "5s"})
    assert r.status_code == 200 and index_of(r) > idx
    assert dt < 3.0, dt


def test_blocking_recurse_woken_by_delete(http, p):
    base = k(p, "dir/")
    put(http, base + "a", b"1")
    put(http, base + "b", b"1")
    r = http.get("/v1/kv/" + base, params={"recurse": ""})
    idx = index_of(r)
    with later(http, 0.3, lambda h: delete(h, base + "b")):
        r, dt = timed(http.get, "/v1/kv/" + base,
                      params={"recurse": "", "index": str(idx), "wait": "5s"})
    assert index_of(r) > idx and dt < 3.0
    assert [e["Key"] for e in r.json()] == [base + "a"]


# --- python-consul 0.7.1 ---------------------------------------------------------------


def test_python_consul_kv(c, p):
    key = k(p, "py")
    assert c.kv.put(key, "value") is True
    idx, e = c.kv.get(key)
    assert e["Value"] == b"value" and e["Key"] == key
    assert int(idx) == e["ModifyIndex"]
    assert c.kv.put(key, None) is True
    assert c.kv.get(key)[1]["Value"] is None
    assert c.kv.put(key, "v2", cas=0) is False
    assert c.kv.put(key, b"\x00\xff", flags=U64_MAX) is True
    _, e = c.kv.get(key)
    assert e["Value"] == b"\x00\xff" and e["Flags"] == U64_MAX

    idx, none = c.kv.get(k(p, "missing"))
    assert none is None and int(idx) >= 1  # 404 with X-Consul-Index (§0.7)

    for x in ("d/a", "d/b/c"):
        assert c.kv.put(k(p, x), x) is True
    _, es = c.kv.get(k(p, "d/"), recurse=True)
    assert [(e["Key"], e["Value"]) for e in es] == [(k(p, "d/a"), b"d/a"),
                                                    (k(p, "d/b/c"), b"d/b/c")]
    _, keys = c.kv.get(k(p, "d/"), keys=True, separator="/")
    assert keys == [k(p, "d/a"), k(p, "d/b/")]
    assert c.kv.delete(k(p, "d/"), recurse=True) is True
    assert c.kv.get(k(p, "d/"), recurse=True)[1] is None

    e = c.kv.get(key)[1]
    assert c.kv.delete(key, cas=e["ModifyIndex"] + 1) is False
    assert c.kv.delete(key, cas=e["ModifyIndex"]) is True
    assert c.kv.get(key)[1] is None


def test_python_consul_blocking_get(c, http, p):
    key = k(p, "pyw")
    c.kv.put(key, "1")
    idx, _ = c.kv.get(key)
    with later(http, 0.3, lambda h: put(h, key, b"2")):
        (idx2, e), dt = timed(c.kv.get, key, index=idx, wait="5s")
    assert int(idx2) > int(idx) and e["Value"] == b"2" and dt < 3.0
    (idx3, _), dt = timed(c.kv.get, key, index=idx2, wait="1s")
    assert idx3 == idx2 and 0.9 <= dt <= 1.0 * 17 / 16 + 0.5, dt


def test_python_consul_locks(c, p):
    key = k(p, "pylock")
    sid = c.session.create(lock_delay=0)
    assert c.kv.put(key, "me", acquire=sid) is True
    assert c.kv.get(key)[1]["Session"] == sid
    assert c.kv.put(key, "bye", release=sid) is True
    e = c.kv.get(key)[1]
    assert "Session" not in e and e["Value"] == b"bye"
    c.session.destroy(sid)
