"""test_http_server.py: httpd's own server behaviour: clients that leave a
blocking query give back their connection at once (not when the wait ends),
and http_max_conns_per_client holds."""
import socket
import time

from agent import wait_for
from httpfix import HttpAgent


def metric(a, name):
    m = a.http.get("/v1/agent/metrics").json()
    for g in m["Gauges"] + m["Counters"]:
        if g["Name"] == "muster.httpd." + name:
            return g.get("Value", g.get("Sum"))
    raise AssertionError("no metric %s" % name)


def blocking_clients(a, n, wait="30s"):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", a.http_port), timeout=5)
        s.sendall(("GET /v1/kv/nope?index=1000000000&wait=%s HTTP/1.1\r\nHost: x\r\n\r\n" %
                   wait).encode())
        socks.append(s)
    return socks


def test_gone_clients_free_their_connections():
    a = HttpAgent(config={"limits": {"http_max_conns_per_client": 20}}).boot()
    try:
        # The test's keep-alive connection and 19 blocking queries fill
        # this client address's quota of 20 ...
        metric(a, "http_calls_in_flight")
        socks = blocking_clients(a, 19)
        wait_for(lambda: metric(a, "http_calls_in_flight") >= 20, 5, "19 blocked queries")
        # ... so one more connection is refused (closed without an answer).
        extra = socket.create_connection(("127.0.0.1", a.http_port), timeout=5)
        try:
            extra.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(100) == b""
        except ConnectionResetError:
            pass
        extra.close()
        gone0 = metric(a, "http_clients_gone")
        for s in socks:
            s.close()
        # They are noticed within about a second, long before the 30 s wait.
        t0 = time.monotonic()
        wait_for(lambda: metric(a, "http_clients_gone") >= gone0 + 19, 5, "gone clients seen")
        assert time.monotonic() - t0 < 5
        # New connections are taken again.
        fresh = socket.create_connection(("127.0.0.1", a.http_port), timeout=5)
        fresh.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n")
        assert fresh.recv(100).startswith(b"HTTP/1.1 200")
        fresh.close()
    finally:
        a.stop()


def test_gone_client_whose_reply_comes_later():
    """The bus call of a gone client still ends (here after 1 s) and frees
    its request; the agent keeps serving (under ASan: no leak, no use after
    free)."""
    a = HttpAgent().boot()
    try:
        socks = blocking_clients(a, 5, wait="1500ms")
        wait_for(lambda: metric(a, "http_calls_in_flight") >= 6, 5, "5 blocked queries")
        for s in socks:
            s.close()
        # (The metrics request is itself a call in flight.)
        wait_for(lambda: metric(a, "http_calls_in_flight") <= 1, 10, "the calls to end")
        r = a.http.get("/v1/kv/nope")
        assert r.status_code == 404
    finally:
        a.stop()
