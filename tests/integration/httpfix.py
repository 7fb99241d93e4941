"""httpfix.py: a `muster agent -dev` whose HTTP API (spec/http-api.md) the test_http_*.py modules drive.

No conftest: each module imports the fixtures it needs from here
(`from httpfix import agent, http, c, p`), so each module gets its own
agent (module scope) on free ports. Readiness is polled, never slept:
musterd's `ctl status` says every daemon is ready, then GET
/v1/status/leader names a leader, then the agent's own node carries a
passing serfHealth (sessions need it, spec §0.15).

agent.py's Agent writes a ports file of its own but does not say which
port is HTTP, so the config here names every port itself.
"""
import base64
import json
import os
import re
import threading
import time

import consul
import pytest
import requests

from agent import Agent, free_port, wait_for

BOOT_TIMEOUT = 30.0     # s: all daemons ready, a leader, the node registered
REQ_TIMEOUT = 10.0      # s: one ordinary request
INDEX_HDR = "X-Consul-Index"


def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class HttpAgent(Agent):
    """A -dev agent with every port chosen here (http_port, server_port);
    pass http_port=8500 for a client whose address is fixed."""

    def __init__(self, config=None, http_port=None, args=()):
        self.http_port = http_port if http_port is not None else free_port()
        self.server_port = free_port()
        self.cfg = merge({
            "ports": {"server": self.server_port, "http": self.http_port, "dns": free_port(),
                      "serf_lan": free_port(), "serf_wan": free_port(), "grpc": -1},
        }, config or {})
        super().__init__(["-dev"] + list(args), config=json.dumps(self.cfg), free_ports=False)
        self.base = "http://127.0.0.1:%d" % self.http_port
        self.http = Http(self.base)

    def conf(self):
        with open(os.path.join(self.run_dir, "config.json")) as f:
            return json.load(f)

    def node_name(self):
        return self.conf()["node_name"]

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("agent exited with %s%s" % (self.proc.returncode, self.tail()))

    def wait_leader(self, timeout=BOOT_TIMEOUT):
        """Polls GET /v1/status/leader until it is a non-empty string."""
        last = ["no answer"]

        def cond():
            self.alive()
            try:
                r = self.http.get("/v1/status/leader", timeout=2)
            except requests.RequestException as e:
                last[0] = repr(e)
                return None
            last[0] = "%d %r" % (r.status_code, r.text[:200])
            if r.status_code != 200:
                return None
            try:
                v = r.json()
            except ValueError:
                return None
            return v if isinstance(v, str) and v else None
        try:
            return wait_for(cond, timeout, "GET /v1/status/leader to name a leader", 0.05)
        except AssertionError as e:
            raise AssertionError("%s; last answer: %s%s" % (e, last[0], self.tail()))

    def wait_registered(self, timeout=BOOT_TIMEOUT):
        """The agent's own node in the catalog with a passing serfHealth."""
        me = self.node_name()

        def cond():
            self.alive()
            r = self.http.get("/v1/health/node/" + me, timeout=2)
            if r.status_code != 200:
                return None
            return [c for c in r.json()
                    if c["CheckID"] == "serfHealth" and c["Status"] == "passing"]
        wait_for(cond, timeout, "node %s with a passing serfHealth over HTTP" % me, 0.05)
        return me

    def boot(self, timeout=BOOT_TIMEOUT):
        self.start()
        self.wait_ready(timeout)
        self.wait_leader(timeout)
        self.wait_registered(timeout)
        return self

    def stop(self):
        keep = os.environ.get("MUSTER_TEST_LOG_DIR")
        if keep and self.proc is not None:
            os.makedirs(keep, exist_ok=True)
            self.log.flush()
            dst = os.path.join(keep, "%s-%d.log" % (os.path.basename(self.dir), self.proc.pid))
            try:
                with open(self.log_path, "rb") as src, open(dst, "wb") as out:
                    out.write(src.read())
            except OSError:
                pass
        self.http.close()
        super().stop()


class Http:
    """requests with a base URL and a default timeout; path is sent as
    given (requests leaves valid %XX escapes alone)."""

    def __init__(self, base):
        self.base = base
        self.s = requests.Session()

    def close(self):
        self.s.close()

    def request(self, method, path, **kw):
        kw.setdefault("timeout", REQ_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, data=None, **kw):
        return self.request("PUT", path, data=data, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    def json(self, method, path, status=200, **kw):
        """A request that must answer status with a JSON body: the body."""
        r = self.request(method, path, **kw)
        assert r.status_code == status, "%s %s: %d %r" % (method, path, r.status_code, r.text)
        assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
        return r.json()

    def putj(self, path, body, status=200, **kw):
        """PUT of a JSON document (a str is sent as is)."""
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.json("PUT", path, status=status, data=data, **kw)


# --- assertions -----------------------------------------------------------------


def assert_text(r, status, text=None, prefix=None):
    """A plain-text answer (spec §1.4, §1.11): status, exact text or prefix."""
    assert r.status_code == status, "%s %s: %d %r, want %d" % (
        r.request.method, r.request.url, r.status_code, r.text, status)
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("text/plain"), "Content-Type %r for %r" % (ct, r.text)
    if text is not None:
        assert r.text == text, "%r != %r" % (r.text, text)
    if prefix is not None:
        assert r.text.startswith(prefix), "%r does not start with %r" % (r.text, prefix)


def index_of(r):
    """X-Consul-Index as an int; it must be a plain decimal >= 1 (spec §1.5)."""
    v = r.headers.get(INDEX_HDR)
    assert v is not None, "no X-Consul-Index on %s %s (%d)" % (r.request.method, r.url,
                                                                r.status_code)
    assert v.isdigit(), "X-Consul-Index %r" % v
    assert int(v) >= 1, "X-Consul-Index %r" % v
    return int(v)


def assert_query_meta(r, consistency="leader", index=True):
    """The read headers of spec §1.5 on a query endpoint's answer."""
    if index:
        index_of(r)
    assert r.headers.get("X-Consul-KnownLeader") == "true", r.headers
    lc = r.headers.get("X-Consul-LastContact")
    assert lc is not None and lc.isdigit(), "X-Consul-LastContact %r" % lc
    assert r.headers.get("X-Consul-Effective-Consistency") == consistency, r.headers


GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(s):
    """A Go duration string ("1h30m", "15.0s", "0") in seconds."""
    if s in ("0", ""):
        return 0.0
    parts = re.findall(r"([0-9.]+)(ns|us|\u00b5s|ms|s|m|h)", s)
    assert parts and "".join(n + u for n, u in parts) == s, "not a Go duration: %r" % s
    return sum(float(n) * GO_UNITS[u] for n, u in parts)


def b64(v):
    return base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()


def unb64(v):
    return base64.b64decode(v)


def register(http, node, address="10.1.0.1", service=None, check=None, checks=None, **extra):
    """PUT /v1/catalog/register (Consul's capitalised keys); must answer true."""
    body = {"Node": node, "Address": address}
    if service is not None:
        body["Service"] = service
    if check is not None:
        body["Check"] = check
    if checks is not None:
        body["Checks"] = checks
    body.update(extra)
    assert http.putj("/v1/catalog/register", body) is True
    return body


def deregister(http, node, **extra):
    body = {"Node": node}
    body.update(extra)
    assert http.putj("/v1/catalog/deregister", body) is True


def session(http, **body):
    """PUT /v1/session/create: the new id."""
    r = http.putj("/v1/session/create", body)
    assert set(r) == {"ID"}, r
    return r["ID"]


def kv_index(http):
    """The KV table's index: that of a 404 on a key that never exists."""
    r = http.get("/v1/kv/~never/exists")
    assert r.status_code == 404, r.text
    return index_of(r)


class later:
    """`with later(http, 0.3, fn):` runs fn(h) after 0.3 s in a thread, on a
    connection of its own (a requests.Session is not for two threads), and
    re-raises its error at the end of the block."""

    def __init__(self, http, delay, fn):
        self.base, self.delay, self.fn = http.base, delay, fn
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        h = Http(self.base)
        try:
            time.sleep(self.delay)
            self.fn(h)
        except BaseException as e:  # reported by __exit__
            self.error = e
        finally:
            h.close()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.t.join(REQ_TIMEOUT + self.delay)
        assert not self.t.is_alive(), "background request still running"
        if self.error is not None and exc[0] is None:
            raise self.error
        return False


def timed(fn, *a, **kw):
    t = time.monotonic()
    v = fn(*a, **kw)
    return v, time.monotonic() - t


# --- fixtures (imported by each module) -------------------------------------------


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent()
    try:
        a.boot()
        yield a
    finally:
        a.stop()


@pytest.fixture
def http(agent):
    return agent.http


@pytest.fixture
def c(agent):
    """python-consul 0.7.1, unchanged."""
    return consul.Consul(host="127.0.0.1", port=agent.http_port)


@pytest.fixture
def p(request):
    """A name prefix of this test's own (KV keys, nodes, services)."""
    return "t-%s-" % re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
