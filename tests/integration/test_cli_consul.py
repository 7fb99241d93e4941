"""test_cli_consul.py: the `muster` command's Consul-compatible HTTP subcommands (spec/dns-cli-gossip-raft.md §2; issue 9's CLI part).

One -dev server agent (gossip encrypted, for the keyring) serves the
module; a client agent joins it through `muster join` for the membership
tests. Outputs are checked exactly (columns, texts, exit codes, spec
§2.2) against what the HTTP API says, and what the CLI writes is read back
over HTTP. Every wait polls with a deadline; nothing sleeps bare.
"""
import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from agent import MUSTER, wait_for
from httpfix import HttpAgent, register

KEY1 = "HS5lJ+XuTlYKWaeGYyG+/A=="
KEY2 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
LOCK_FLAG = 0x2ddccbc058a50c18
SEM_FLAG = 0xe0f69a2baa414de0
GOSSIP_DEADLINE = 15.0
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith("CONSUL_") and k != "MUSTER_HTTP_ADDR"}


@pytest.fixture(scope="module")
def agent():
    a = HttpAgent(config={"node_name": "cli-srv", "encrypt": KEY1})
    try:
        a.boot()
        yield a
    finally:
        a.stop()


def run(*args, agent=None, env=None, input=None, timeout=20, addr=True):
    """`muster ARGS` with -http-addr of agent (as the first flag after the
    command words that take it, so tests pass the subcommand words first)."""
    e = dict(CLEAN_ENV)
    e.update(env or {})
    argv = [MUSTER] + list(args)
    if agent is not None and addr:
        # Insert -http-addr right after the (sub)command words.
        i = 1
        while i < len(argv) and not argv[i].startswith("-") and argv[i] in SUBWORDS:
            i += 1
        argv.insert(i, "-http-addr=" + agent.base)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e,
                          input=input)


SUBWORDS = {"members", "join", "leave", "force-leave", "reload", "info", "monitor", "kv", "get",
            "put", "delete", "export", "import", "catalog", "datacenters", "nodes", "services",
            "register", "deregister", "maint", "event", "keyring", "lock", "watch", "operator",
            "raft", "list-peers", "remove-peer", "transfer-leader"}


def ok(r, out=None):
    assert r.returncode == 0, "rc %d\nstdout %r\nstderr %r" % (r.returncode, r.stdout, r.stderr)
    if out is not None:
        assert r.stdout == out, "\n%r\n!=\n%r" % (r.stdout, out)
    return r


def fails(r, err, rc=1, out=""):
    assert r.returncode == rc, "rc %d\nstdout %r\nstderr %r" % (r.returncode, r.stdout, r.stderr)
    if err is not None:
        assert r.stderr == err, "\n%r\n!=\n%r" % (r.stderr, err)
    if out is not None:
        assert r.stdout == out, r.stdout
    return r


def columnize(rows):
    """ryanuber/columnize with Consul's settings: fields trimmed, every column
    but the last padded to its widest field, two spaces between."""
    rows = [[f.strip() for f in row] for row in rows]
    widths = {}
    for row in rows:
        for i, f in enumerate(row):
            widths[i] = max(widths.get(i, 0), len(f))
    return "".join("".join(f.ljust(widths[i]) + "  " for i, f in enumerate(row[:-1])) + row[-1]
                   + "\n" for row in rows)


def go_indent(v):
    """json.MarshalIndent(v, "", "    ") for ASCII data without <>&."""
    return json.dumps(v, indent=4, separators=(",", ": "))


def kv_raw(agent, key):
    r = agent.http.get("/v1/kv/" + key, params={"raw": ""})
    return r.content if r.status_code == 200 else None


def kv_entry(agent, key):
    r = agent.http.get("/v1/kv/" + key)
    return r.json()[0] if r.status_code == 200 else None


# --- members, join, leave, force-leave -------------------------------------------------


def member_row(m):
    tags = dict(m["Tags"])
    tags.setdefault("ap", "default")
    kind = {"consul": "server", "node": "client"}[tags["role"]]
    seg = "<all>" if kind == "server" else (tags.get("segment") or "<default>")
    return [m["Name"], "%s:%d" % (m["Addr"], m["Port"]), "alive", kind,
            tags["build"].split(":")[0], tags["vsn"], tags["dc"], "default", seg]


def test_members_columns_and_detailed(agent):
    ms = agent.http.get("/v1/agent/members").json()
    assert len(ms) == 1
    head = ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"]
    ok(run("members", agent=agent), columnize([head, member_row(ms[0])]))
    tags = dict(ms[0]["Tags"], ap="default", segment="<all>")
    detailed = ",".join("%s=%s" % (k, tags[k]) for k in sorted(tags))
    ok(run("members", "-detailed", agent=agent), columnize([
        ["Node", "Address", "Status", "Tags"],
        [ms[0]["Name"], "%s:%d" % (ms[0]["Addr"], ms[0]["Port"]), "alive", detailed]]))
    # -status is an unanchored regexp; none matching is exit 2 (spec §2.2).
    assert run("members", "-status=liv", agent=agent).stdout.startswith("Node ")
    fails(run("members", "-status", "failed", agent=agent), "", rc=2)
    fails(run("members", "-status=(", agent=agent), None)


def test_members_through_env_and_unreachable(agent):
    ok(run("members", env={"CONSUL_HTTP_ADDR": agent.base}))
    ok(run("members", env={"CONSUL_HTTP_ADDR": "127.0.0.1:1",
                           "MUSTER_HTTP_ADDR": "127.0.0.1:%d" % agent.http_port}))
    r = run("members", env={"CONSUL_HTTP_ADDR": "http://127.0.0.1:1"})
    fails(r, 'Error retrieving members: Get "http://127.0.0.1:1/v1/agent/members?segment=_all": '
             'dial tcp 127.0.0.1:1: connect: connection refused\n')
    fails(run("members", "-http-addr=ftp://x"),
          "Error connecting to Consul agent: Unknown protocol scheme: ftp\n")


def test_join_leave_force_leave(agent):
    cl = HttpAgent(config={"node_name": "cli-cl", "server": False, "encrypt": KEY1})
    try:
        cl.start()
        cl.wait_ready()
        srv_serf = "127.0.0.1:%d" % agent.cfg["ports"]["serf_lan"]
        ok(run("join", srv_serf, agent=cl),
           "Successfully joined cluster by contacting 1 nodes.\n")

        def both():
            r = run("members", agent=agent)
            return r.stdout if r.stdout.count(" alive ") == 2 else None
        out = wait_for(both, GOSSIP_DEADLINE, "cli-cl alive in the server's members")
        ms = {m["Name"]: m for m in agent.http.get("/v1/agent/members").json()}
        head = ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition",
                "Segment"]
        # Servers first, then by name.
        assert out == columnize([head, member_row(ms["cli-srv"]), member_row(ms["cli-cl"])])
        # One address fails, one works: still a success.
        r = run("join", "127.0.0.1:1", srv_serf, agent=cl)
        ok(r, "Successfully joined cluster by contacting 1 nodes.\n")
        assert r.stderr.startswith("Error joining address '127.0.0.1:1': Unexpected response "
                                   "code: 500 (1 error occurred:\n\t* Failed to join 127.0.0.1:1"), r.stderr
        fails(run("join", "127.0.0.1:1", agent=cl), None)
        assert run("join", "127.0.0.1:1", agent=cl).stderr.endswith("Failed to join any nodes.\n")
        fails(run("join", agent=cl), None)
        # A graceful leave: the agent leaves gossip, then exits.
        ok(run("leave", agent=cl, timeout=40), "Graceful leave complete\n")
        assert cl.proc.wait(timeout=30) == 0
        wait_for(lambda: "cli-cl" in run("members", "-status=^left$", agent=agent).stdout,
                 GOSSIP_DEADLINE, "cli-cl left")
        # force-leave -prune takes it out of the member list.
        ok(run("force-leave", "-prune", "cli-cl", agent=agent), "")
        wait_for(lambda: "cli-cl" not in run("members", agent=agent).stdout, GOSSIP_DEADLINE,
                 "cli-cl pruned")
        fails(run("force-leave", "no-such-node", agent=agent),
              "Error force leaving: Unexpected response code: 500 (agent: No node found with "
              "name 'no-such-node')\n")
        r = fails(run("force-leave", agent=agent), None)
        assert r.stderr.startswith("A single node name must be specified to force leave.\n")
    finally:
        cl.stop()


# --- reload, info, monitor -----------------------------------------------------------------


def test_reload(agent):
    ok(run("reload", agent=agent), "Configuration reload triggered\n")


def test_info_sections_from_agent_self(agent):
    stats = agent.http.get("/v1/agent/self").json()["Stats"]
    out = ok(run("info", agent=agent)).stdout
    got, sec = {}, None
    for line in out.splitlines():
        if line.startswith("\t"):
            k, v = line[1:].split(" = ", 1)
            got[sec][k] = v
        else:
            assert line.endswith(":")
            sec = line[:-1]
            got[sec] = {}
    assert list(got) == sorted(stats)
    for s in stats:
        assert list(got[s]) == sorted(stats[s]), s
    assert got["build"] == stats["build"]
    assert got["consul"]["server"] == "true"
    # spec §2.4's sections of a server, serf's keys included
    assert {"agent", "build", "consul", "raft", "runtime", "serf_lan", "serf_wan"} <= set(got)
    assert sorted(got["serf_lan"]) == ["encrypted", "event_queue", "event_time", "failed",
                                       "health_score", "intent_queue", "left", "member_time",
                                       "members", "query_queue", "query_time"]
    assert got["serf_lan"]["members"] == "1"


def test_monitor_streams_until_interrupted(agent):
    p = subprocess.Popen([MUSTER, "monitor", "-http-addr=" + agent.base, "-log-level=debug"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV)
    lines = []
    t = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
    t.start()
    try:
        # The stream is attached when a reload made after it shows up.
        def reloaded():
            if any("configuration reloaded" in ln for ln in lines):
                return True
            ok(run("reload", agent=agent))
            return False
        wait_for(reloaded, 10, "a reload in the monitor's stream", 0.3)
        assert all(ln.endswith("\n") for ln in lines)
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0
    fails(run("monitor", "-log-level=nope", agent=agent), None)


# --- kv ------------------------------------------------------------------------------------


def test_kv_put_get_detailed(agent, tmp_path):
    ok(run("kv", "put", "cli/a", "hello", agent=agent), "Success! Data written to: cli/a\n")
    assert kv_raw(agent, "cli/a") == b"hello"
    ok(run("kv", "get", "cli/a", agent=agent), "hello\n")
    ok(run("kv", "get", "/cli/a", agent=agent), "hello\n")   # a leading '/' is stripped
    ok(run("kv", "get", "-base64", "cli/a", agent=agent), "aGVsbG8=\n")
    e = kv_entry(agent, "cli/a")
    ok(run("kv", "get", "-detailed", "cli/a", agent=agent),
       "CreateIndex      %d\nFlags            0\nKey              cli/a\nLockIndex        0\n"
       "ModifyIndex      %d\nSession          -\nValue            hello\n"
       % (e["CreateIndex"], e["ModifyIndex"]))
    # Empty value: an empty line, exit 0; missing key: exit 1 (spec §2.2).
    ok(run("kv", "put", "cli/empty", agent=agent))
    ok(run("kv", "get", "cli/empty", agent=agent), "\n")
    fails(run("kv", "get", "cli/none", agent=agent), "Error! No key exists at: cli/none\n")
    fails(run("kv", "get", agent=agent), "Error! Missing KEY argument\n")
    fails(run("kv", "get", "a", "b", agent=agent), "Too many arguments (expected 1, got 2)\n")
    # Flags come before positional arguments (Go's flag package).
    fails(run("kv", "get", "cli/a", "-detailed", agent=agent),
          "Too many arguments (expected 1, got 2)\n")
    # DATA from stdin and from @file; -base64; -flags.
    ok(run("kv", "put", "cli/stdin", "-", agent=agent, input="from\nstdin"))
    assert kv_raw(agent, "cli/stdin") == b"from\nstdin"
    f = tmp_path / "v.bin"
    f.write_bytes(b"file \x01 data")
    ok(run("kv", "put", "cli/file", "@" + str(f), agent=agent))
    assert kv_raw(agent, "cli/file") == b"file \x01 data"
    r = run("kv", "put", "cli/file", "@" + str(tmp_path / "nope"), agent=agent)
    fails(r, "Error! Failed to read file: open %s: no such file or directory\n"
          % (tmp_path / "nope"))
    ok(run("kv", "put", "-base64", "-flags=42", "cli/b64", base64.b64encode(b"\x00\xff").decode(),
           agent=agent))
    e = kv_entry(agent, "cli/b64")
    assert base64.b64decode(e["Value"]) == b"\x00\xff" and e["Flags"] == 42
    ok(run("kv", "put", "cli/dash", "-5", agent=agent))   # "-5" is data, not stdin
    assert kv_raw(agent, "cli/dash") == b"-5"
    fails(run("kv", "put", agent=agent), "Error! Missing KEY argument\n")
    fails(run("kv", "put", "a", "b", "c", agent=agent),
          "Error! Too many arguments (expected 1 or 2, got 3)\n")
    fails(run("kv", "put", "/lead", "x", agent=agent),
          "Error! Failed writing data: Invalid key. Key must not begin with a '/': /lead\n")


def test_kv_cas_locks_delete(agent):
    ok(run("kv", "put", "cas/k", "1", agent=agent))
    idx = kv_entry(agent, "cas/k")["ModifyIndex"]
    fails(run("kv", "put", "-cas", "-modify-index=%d" % (idx + 1000), "cas/k", "2", agent=agent),
          "Error! Did not write to cas/k: CAS failed\n")
    ok(run("kv", "put", "-cas", "-modify-index", str(idx), "cas/k", "2", agent=agent),
       "Success! Data written to: cas/k\n")
    assert kv_raw(agent, "cas/k") == b"2"
    fails(run("kv", "put", "-cas", "cas/k", "3", agent=agent),
          "Must specify -modify-index with -cas!\n")
    # -acquire / -release with a session made over HTTP.
    sid = agent.http.put("/v1/session/create", data=json.dumps({"Name": "cli"})).json()["ID"]
    try:
        fails(run("kv", "put", "-acquire", "cas/lock", agent=agent),
              "Error! Missing -session (required with -acquire and -release)\n")
        ok(run("kv", "put", "-acquire", "-session=" + sid, "cas/lock", "v", agent=agent),
           "Success! Lock acquired on: cas/lock\n")
        assert kv_entry(agent, "cas/lock")["Session"] == sid
        e = kv_entry(agent, "cas/lock")
        ok(run("kv", "get", "-detailed", "cas/lock", agent=agent),
           "CreateIndex      %d\nFlags            0\nKey              cas/lock\n"
           "LockIndex        1\nModifyIndex      %d\nSession          %s\nValue            v\n"
           % (e["CreateIndex"], e["ModifyIndex"], sid))
        ok(run("kv", "put", "-release", "-session=" + sid, "cas/lock", agent=agent),
           "Success! Lock released on: cas/lock\n")
        assert "Session" not in kv_entry(agent, "cas/lock") or \
            kv_entry(agent, "cas/lock")["Session"] == ""
        fails(run("kv", "put", "-release", "-session=" + sid, "cas/lock", agent=agent),
              "Error! Did not release lock\n")
    finally:
        agent.http.put("/v1/session/destroy/" + sid)
    # delete: a key, CAS, a prefix; an absent key is still a success.
    idx = kv_entry(agent, "cas/k")["ModifyIndex"]
    fails(run("kv", "delete", "-cas", "-modify-index=%d" % (idx + 1000), "cas/k", agent=agent),
          "Error! Did not delete key cas/k: CAS failed\n")
    ok(run("kv", "delete", "-cas", "-modify-index=%d" % idx, "cas/k", agent=agent),
       "Success! Deleted key: cas/k\n")
    assert kv_raw(agent, "cas/k") is None
    ok(run("kv", "delete", "cas/k", agent=agent), "Success! Deleted key: cas/k\n")
    fails(run("kv", "delete", "-recurse", "-cas", "-modify-index=3", "cas", agent=agent),
          "Cannot specify both -cas and -recurse!\n")
    fails(run("kv", "delete", "-modify-index=3", "cas/x", agent=agent),
          "Cannot specify -modify-index without -cas!\n")
    fails(run("kv", "delete", agent=agent), "Error! Missing KEY argument\n")
    ok(run("kv", "delete", "-recurse", "cas/", agent=agent),
       "Success! Deleted keys with prefix: cas/\n")
    assert agent.http.get("/v1/kv/cas/", params={"recurse": ""}).status_code == 404


def test_kv_recurse_keys_export_import(agent, tmp_path):
    for k, v in (("tree/a", "1"), ("tree/b/c", "<&>"), ("tree/b/d", "x y"), ("tree/z", "")):
        assert agent.http.put("/v1/kv/" + k, data=v).status_code == 200
    agent.http.put("/v1/kv/tree/a", data="1", params={"flags": "7"})
    ok(run("kv", "get", "-recurse", "tree", agent=agent),
       "tree/a:1\ntree/b/c:<&>\ntree/b/d:x y\ntree/z:\n")
    ok(run("kv", "get", "-recurse", "-base64", "tree/b", agent=agent),
       "tree/b/c:PCY+\ntree/b/d:eCB5\n")
    ok(run("kv", "get", "-keys", "tree/", agent=agent), "tree/a\ntree/b/\ntree/z\n")
    ok(run("kv", "get", "-keys", "-separator=", "tree/b", agent=agent), "tree/b/c\ntree/b/d\n")
    ok(run("kv", "get", "-recurse", "nothing/here", agent=agent), "")
    blocks = []
    for k in ("tree/a", "tree/b/c", "tree/b/d", "tree/z"):
        e = kv_entry(agent, k)
        v = base64.b64decode(e["Value"]).decode() if e.get("Value") else ""
        blocks.append("CreateIndex      %d\nFlags            %d\nKey              %s\n"
                      "LockIndex        0\nModifyIndex      %d\nSession          -\n"
                      "Value            %s\n" % (e["CreateIndex"], e["Flags"], k,
                                                  e["ModifyIndex"], v))
    # -detailed -recurse: the tabwriter block per pair, an empty line between.
    ok(run("kv", "get", "-recurse", "-detailed", "tree/", agent=agent), "\n".join(blocks))
    # export: Go's MarshalIndent with tabs, HTML-escaped, value in base64.
    exp = ok(run("kv", "export", "tree/b", agent=agent)).stdout
    assert exp == ('[\n\t{\n\t\t"key": "tree/b/c",\n\t\t"flags": 0,\n\t\t"value": "PCY+"\n\t},\n'
                   '\t{\n\t\t"key": "tree/b/d",\n\t\t"flags": 0,\n\t\t"value": "eCB5"\n\t}\n]\n')
    ok(run("kv", "export", "nothing/", agent=agent), "[]\n")
    full = ok(run("kv", "export", "tree", agent=agent)).stdout
    assert json.loads(full)[0] == {"key": "tree/a", "flags": 7, "value": "MQ=="}
    # import: from stdin, from @file, with -prefix; read back over HTTP.
    ok(run("kv", "import", "-", agent=agent, input=exp.replace("tree/", "imp/")),
       "Imported: imp/b/c\nImported: imp/b/d\n")
    assert kv_raw(agent, "imp/b/c") == b"<&>"
    f = tmp_path / "exp.json"
    f.write_text(full)
    ok(run("kv", "import", "-prefix=copy", "@" + str(f), agent=agent),
       "Imported: copy/tree/a\nImported: copy/tree/b/c\nImported: copy/tree/b/d\n"
       "Imported: copy/tree/z\n")
    assert kv_entry(agent, "copy/tree/a")["Flags"] == 7
    assert kv_raw(agent, "copy/tree/b/d") == b"x y"
    fails(run("kv", "import", "not json", agent=agent), None)
    assert run("kv", "import", "not json", agent=agent).stderr.startswith("Cannot unmarshal data: ")
    fails(run("kv", "import", agent=agent), "Error! Missing DATA argument\n")
    fails(run("kv", "import", '[{"key":"k","value":"!!"}]', agent=agent),
          "Error base 64 decoding value for key k: illegal base64 data\n")


# --- catalog ---------------------------------------------------------------------------------


def test_catalog(agent):
    register(agent.http, "cat-n1", "10.9.0.1", TaggedAddresses={"wan": "198.51.100.1"},
             NodeMeta={"rack": "r1", "env": "prod"},
             service={"Service": "cat-web", "Tags": ["b", "a"], "Port": 80})
    register(agent.http, "cat-n2", "10.9.0.2", NodeMeta={"rack": "r2"},
             service={"Service": "cat-web", "ID": "cat-web2", "Tags": ["c"], "Port": 81})
    ok(run("catalog", "datacenters", agent=agent), "dc1\n")
    nodes = agent.http.get("/v1/catalog/nodes").json()
    ok(run("catalog", "nodes", agent=agent), columnize(
        [["Node", "ID", "Address", "DC"]] +
        [[n["Node"], n["ID"].split("-")[0], n["Address"], n["Datacenter"]] for n in nodes]))

    def kvs(m):
        return ", ".join("%s=%s" % (k, m[k]) for k in sorted(m or {}))
    ok(run("catalog", "nodes", "-detailed", agent=agent), columnize(
        [["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]] +
        [[n["Node"], n["ID"], n["Address"], n["Datacenter"], kvs(n["TaggedAddresses"]),
          kvs(n["Meta"])] for n in nodes]))
    n1 = [n for n in nodes if n["Node"] == "cat-n1"][0]
    ok(run("catalog", "nodes", "-node-meta", "rack=r1", agent=agent), columnize(
        [["Node", "ID", "Address", "DC"], ["cat-n1", n1["ID"].split("-")[0], "10.9.0.1", "dc1"]]))
    ok(run("catalog", "nodes", "-service=cat-web", agent=agent), columnize(
        [["Node", "ID", "Address", "DC"], ["cat-n1", "", "10.9.0.1", "dc1"],
         ["cat-n2", "", "10.9.0.2", "dc1"]]))
    r = ok(run("catalog", "nodes", "-service=no-such", agent=agent), "")
    assert r.stderr == "No nodes match the given query - try expanding your search.\n"
    fails(run("catalog", "nodes", "-node-meta", "norack", agent=agent), None)
    svcs = agent.http.get("/v1/catalog/services").json()
    ok(run("catalog", "services", agent=agent), "".join(s + "\n" for s in sorted(svcs)))
    w = max(len(s) for s in svcs) + 6
    tagged = "".join(s.ljust(w) + ",".join(sorted(svcs[s])) + "\n" for s in sorted(svcs))
    ok(run("catalog", "services", "-tags", agent=agent), tagged.rstrip() + "\n")
    ok(run("catalog", "services", "-node=cat-n1", "-tags", agent=agent),
       "cat-web      a,b\n")
    ok(run("catalog", "services", "-node-meta=rack=r2", agent=agent), "cat-web\n")
    r = ok(run("catalog", "services", "-node=no-such-node", agent=agent), "")
    assert r.stderr == "No services match the given query - try expanding your search.\n"
    fails(run("catalog", "nodes", "extra", agent=agent),
          "Too many arguments (expected 0, got 1)\n")
    fails(run("catalog", agent=agent), None)


# --- services, maint, event --------------------------------------------------------------------


def test_services_register_deregister(agent, tmp_path):
    ok(run("services", "register", "-name=cli-api", "-id=cli-api-1", "-port=8080",
           "-address=10.0.0.5", "-tag=v1", "-tag", "blue", "-meta", "env=prod",
           "-tagged-address=lan=10.0.0.5:8080", agent=agent),
       "Registered service: cli-api\n")
    s = agent.http.get("/v1/agent/service/cli-api-1").json()
    assert (s["Service"], s["Port"], s["Address"], s["Tags"], s["Meta"]) == \
        ("cli-api", 8080, "10.0.0.5", ["v1", "blue"], {"env": "prod"})
    assert s["TaggedAddresses"]["lan"] == {"Address": "10.0.0.5", "Port": 8080}
    f = tmp_path / "svc.json"
    f.write_text(json.dumps({"services": [
        {"name": "cli-db", "id": "cli-db1", "port": 5432, "tags": ["primary"],
         "meta": {"a": "b"}, "check": {"id": "cli-db-ttl", "ttl": "30s"}},
        {"name": "cli-cache", "port": 6379}]}))
    ok(run("services", "register", "-tag=extra", str(f), agent=agent),
       "Registered service: cli-db\nRegistered service: cli-cache\n")
    svcs = agent.http.get("/v1/agent/services").json()
    assert svcs["cli-db1"]["Tags"] == ["primary", "extra"]   # flags add to files
    assert svcs["cli-cache"]["Port"] == 6379
    assert "cli-db-ttl" in agent.http.get("/v1/agent/checks").json()
    ok(run("services", "deregister", str(f), agent=agent),
       "Deregistered service: cli-db1\nDeregistered service: cli-cache\n")
    ok(run("services", "deregister", "-id=cli-api-1", agent=agent),
       "Deregistered service: cli-api-1\n")
    assert set(agent.http.get("/v1/agent/services").json()) & {"cli-db1", "cli-cache",
                                                                 "cli-api-1"} == set()
    fails(run("services", "deregister", "-id=cli-api-1", agent=agent),
          'Error deregistering service "cli-api-1": Unexpected response code: 404 (Unknown '
          'service ID "cli-api-1". Ensure that the service ID is passed, not the service '
          'name.)\n')
    h = tmp_path / "s.hcl"
    h.write_text('service { name = "x" }\n')
    fails(run("services", "register", str(h), agent=agent),
          "Error: %s: muster reads service definitions from JSON files only, not HCL\n" % h)
    fails(run("services", "register", agent=agent),
          "Service registration requires at least one argument or flags.\n")
    fails(run("services", "register", "-name=x", str(f), agent=agent),
          "Service registration requires arguments or -id, not both.\n")
    fails(run("services", "deregister", agent=agent),
          "Service deregistration requires at least one argument or -id.\n")


def test_maint(agent):
    agent.http.put("/v1/agent/service/register", data=json.dumps({"Name": "cli-m", "Port": 1}))
    try:
        ok(run("maint", agent=agent), "")
        ok(run("maint", "-enable", "-reason", "disk swap", agent=agent),
           "Node maintenance is now enabled\n")
        chk = agent.http.get("/v1/agent/checks").json()["_node_maintenance"]
        assert chk["Status"] == "critical" and chk["Notes"] == "disk swap"
        ok(run("maint", "-enable", "-service=cli-m", agent=agent),
           'Service maintenance is now enabled for "cli-m"\n')
        out = ok(run("maint", agent=agent)).stdout
        assert "Node:\n  Name:   cli-srv\n  Reason: disk swap\n\n" in out
        assert ("Service:\n  ID:     cli-m\n  Reason: Maintenance mode is enabled for this "
                "service, but no reason was provided. This is a default message.\n\n") in out
        ok(run("maint", "-disable", "-service", "cli-m", agent=agent),
           'Service maintenance is now disabled for "cli-m"\n')
        ok(run("maint", "-disable", agent=agent), "Node maintenance is now disabled\n")
        assert not [c for c in agent.http.get("/v1/agent/checks").json() if "maintenance" in c]
        fails(run("maint", "-enable", "-disable", agent=agent),
              "Only one of -enable or -disable may be provided\n")
        fails(run("maint", "-reason=x", agent=agent), "Reason may only be provided with -enable\n")
        fails(run("maint", "-service=x", agent=agent),
              "Service requires either -enable or -disable\n")
        fails(run("maint", "-enable", "-service=nope", agent=agent),
              'Error enabling service maintenance: Unexpected response code: 404 (Unknown '
              'service ID "nope". Ensure that the service ID is passed, not the service name.)\n')
    finally:
        agent.http.put("/v1/agent/service/deregister/cli-m")


def test_event(agent):
    r = ok(run("event", "-name=cli-deploy", "-node=cli-.*", "v1.2", agent=agent))
    assert r.stdout.startswith("Event ID: ")
    eid = r.stdout[len("Event ID: "):-1]

    def listed():
        evs = agent.http.get("/v1/event/list", params={"name": "cli-deploy"}).json()
        return [e for e in evs if e["ID"] == eid]
    e = wait_for(listed, 10, "the event in the agent's list")[0]
    assert base64.b64decode(e["Payload"]) == b"v1.2" and e["NodeFilter"] == "cli-.*"
    r = fails(run("event", agent=agent), None)
    assert r.stderr.startswith("Event name must be specified\n\n")
    fails(run("event", "-name=x", "-tag=t", agent=agent),
          "Cannot provide tag filter without service filter.\n")
    fails(run("event", "-name=x", "-service=(", agent=agent), None)
    r = fails(run("event", "-name=x", "a", "b", agent=agent), None)
    assert r.stderr.startswith("Too many command line arguments.\n")


# --- keyring, keygen -----------------------------------------------------------------------------


def test_keygen():
    r = ok(run("keygen"))
    assert len(base64.b64decode(r.stdout.strip())) == 32
    assert run("keygen").stdout != r.stdout


def pools_text(title, pools):
    out = "==> %s\n" % title
    for p in pools:
        out += "\n%s:\n" % ("WAN" if p["WAN"] else "%s (LAN)" % p["Datacenter"])
        out += "".join("  %s [%d/%d]\n" % (k, n, p["NumNodes"]) for k, n in p["Keys"].items())
    return out


def test_keyring_rotation(agent):
    pools = agent.http.get("/v1/operator/keyring").json()
    ok(run("keyring", "-list", agent=agent),
       pools_text("Gathering installed encryption keys...", pools))
    ok(run("keyring", "-install=" + KEY2, agent=agent),
       "==> Installing new gossip encryption key...\n")
    ok(run("keyring", "-use", KEY2, agent=agent), "==> Changing primary gossip encryption key...\n")
    ok(run("keyring", "-list-primary", agent=agent),
       "==> Gathering installed primary encryption keys...\n\nWAN:\n  %s [1/1]\n\n"
       "dc1 (LAN):\n  %s [1/1]\n" % (KEY2, KEY2))
    r = fails(run("keyring", "-remove", KEY2, agent=agent), None,
              out="==> Removing gossip encryption key...\n")
    assert r.stderr.startswith("error: Unexpected response code: 500 (")
    assert "Removing the primary key is not allowed" in r.stderr
    ok(run("keyring", "-use", KEY1, agent=agent))
    ok(run("keyring", "-remove", KEY2, agent=agent), "==> Removing gossip encryption key...\n")
    for p in agent.http.get("/v1/operator/keyring").json():
        assert p["Keys"] == {KEY1: 1}, p
    ok(run("keyring", "-list", "-local-only", "-relay-factor=2", agent=agent))
    fails(run("keyring", "-list", "-use=x", agent=agent), "Only a single action is allowed\n")
    fails(run("keyring", "-list", "-relay-factor=6", agent=agent),
          "Error parsing relay factor: Relay factor must be in range: [0, 5]\n")
    fails(run("keyring", "-use=x", "-local-only", agent=agent),
          "Error validating local-only: local-only can only be set for list requests\n")
    fails(run("keyring", agent=agent), None)


# --- operator raft -----------------------------------------------------------------------------


def test_operator_raft(agent):
    conf = agent.http.get("/v1/operator/raft/configuration").json()
    health = agent.http.get("/v1/operator/autopilot/health").json()
    (s,) = conf["Servers"]
    last = [h for h in health["Servers"] if h["ID"] == s["ID"]][0]["LastIndex"]
    out = ok(run("operator", "raft", "list-peers", "-stale", agent=agent)).stdout
    head = ["Node", "ID", "Address", "State", "Voter", "RaftProtocol", "Commit Index",
            "Trails Leader By"]
    lines = out.splitlines()
    assert lines[0] == columnize([head, [s["Node"], s["ID"], s["Address"], "leader", "true",
                                         s["ProtocolVersion"], str(last), "_"]]).splitlines()[0]
    cols = lines[1].split()
    assert cols[:6] == [s["Node"], s["ID"], s["Address"], "leader", "true",
                        s["ProtocolVersion"]] and cols[7] == "_" and int(cols[6]) >= last
    fails(run("operator", "raft", "remove-peer", agent=agent),
          "Error removing peer: an address or id is required for the peer to remove\n")
    fails(run("operator", "raft", "remove-peer", "-id=a", "-address=b", agent=agent),
          "Error removing peer: cannot give both an address and id\n")
    r = fails(run("operator", "raft", "remove-peer", "-address=10.99.99.99:8300", agent=agent),
              None)
    assert r.stderr.startswith("Error removing peer: Unexpected response code: "), r.stderr
    # transfer-leader on a lone server: nobody to hand over to, and the CLI
    # says what the agent said (test_cluster.py transfers for real)
    fails(run("operator", "raft", "transfer-leader", agent=agent),
          "Error transfering leadership: Failed to transfer leadership Unexpected response "
          "code: 500 (cannot find a voter to transfer leadership to)\n")
    fails(run("operator", "autopilot", "get-config"),
          "muster operator autopilot: not available in this build yet\n")


# --- lock ----------------------------------------------------------------------------------------


def test_lock_runs_child_holding_the_lock(agent):
    env = {"CONSUL_HTTP_ADDR": agent.base}
    child = 'echo held=$CONSUL_LOCK_HELD; %s kv get -detailed lk/a/.lock' % MUSTER
    r = ok(run("lock", "-verbose", "lk/a", child, env=env))
    lines = r.stdout.splitlines()
    assert lines[:4] == ["Setting up lock at path: lk/a/.lock", "Attempting lock acquisition",
                         "Starting handler", "held=true"], r.stdout
    detail = dict(ln.split(None, 1) for ln in lines[4:11] if len(ln.split(None, 1)) == 2)
    assert detail["Flags"] == str(LOCK_FLAG) and detail["LockIndex"] == "1"
    assert detail["Session"] != "-"
    assert lines[11:] == ["Child terminated, releasing lock", "Cleanup succeeded"], r.stdout
    assert kv_raw(agent, "lk/a/.lock") is None               # cleaned up
    assert detail["Session"] not in [s["ID"] for s in agent.http.get("/v1/session/list").json()]
    # The child's failure: exit 2 with -child-exit-code, else 0.
    r = fails(run("lock", "-child-exit-code", "lk/a", "exit 3", env=env),
              "Error running handler: exit status 3\n", rc=2)
    ok(run("lock", "-shell=false", "lk/a", "false", env=env))
    fails(run("lock", "lk/a", env=env), "Key prefix and child command must be specified\n")
    fails(run("lock", "-n=0", "lk/a", "true", env=env), "Lock holder limit must be positive\n")


def test_lock_contention_timeout_conflict_and_loss(agent, tmp_path):
    env = {"CONSUL_HTTP_ADDR": agent.base}
    sid = agent.http.put("/v1/session/create", data=json.dumps({"Name": "other"})).json()["ID"]
    try:
        assert agent.http.put("/v1/kv/lk/b/.lock", params={"acquire": sid, "flags": LOCK_FLAG}
                              ).json() is True
        t = time.monotonic()
        fails(run("lock", "-timeout=1s", "lk/b", "echo never", env=env),
              "Shutdown triggered or timeout during lock acquisition\n")
        assert time.monotonic() - t >= 1.0
    finally:
        agent.http.put("/v1/session/destroy/" + sid)
    agent.http.put("/v1/kv/lk/c/.lock", data="plain")
    fails(run("lock", "lk/c", "true", env=env),
          "Lock acquisition failed: Existing key does not match lock use\n")
    # Lock loss: the session destroyed under a running child; it gets SIGTERM.
    mark = tmp_path / "mark"
    child = ("trap 'echo term >> %s; exit 0' TERM; echo started >> %s; "
             "while :; do sleep 0.05; done" % (mark, mark))
    p = subprocess.Popen([MUSTER, "lock", "-verbose", "-name=cli-loss", "lk/d", child],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(CLEAN_ENV, **env))
    try:
        wait_for(lambda: mark.exists(), 10, "the child started")
        (s,) = [s for s in agent.http.get("/v1/session/list").json() if s["Name"] == "cli-loss"]
        agent.http.put("/v1/session/destroy/" + s["ID"])
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "Lock lost, killing child\nTerminating child pid" in out, out
    assert mark.read_text() == "started\nterm\n"


def test_semaphore(agent, tmp_path):
    env = dict(CLEAN_ENV, CONSUL_HTTP_ADDR=agent.base)
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        child = "touch %s/in%d; while [ ! -e %s ]; do sleep 0.05; done" % (tmp_path, i, go)
        procs.append(subprocess.Popen([MUSTER, "lock", "-n=2", "sem", child],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env))
    try:
        wait_for(lambda: (tmp_path / "in0").exists() and (tmp_path / "in1").exists(), 15,
                 "both holders in")
        e = kv_entry(agent, "sem/.lock")
        assert e["Flags"] == SEM_FLAG
        lock = json.loads(base64.b64decode(e["Value"]))
        assert lock["Limit"] == 2 and len(lock["Holders"]) == 2
        assert list(lock["Holders"]) == sorted(lock["Holders"])
        # A third holder waits; with -timeout it gives up.
        fails(run("lock", "-n=2", "-timeout=300ms", "sem", "true", env=env),
              "Shutdown triggered or timeout during lock acquisition\n")
        fails(run("lock", "-n=3", "-timeout=300ms", "sem", "true", env=env),
              "Lock acquisition failed: semaphore limit conflict (lock: 2, local: 3)\n")
        go.touch()
        for p in procs:
            assert p.wait(timeout=15) == 0, p.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert agent.http.get("/v1/kv/sem", params={"recurse": ""}).status_code == 404


# --- watch ---------------------------------------------------------------------------------------


def api_kvpair(e):
    """The Go api's KVPair order, which the watch prints."""
    return {k: e.get(k, "" if k == "Session" else None)
            for k in ("Key", "CreateIndex", "ModifyIndex", "LockIndex", "Flags", "Value",
                      "Session")}


def test_watch_prints_once(agent):
    agent.http.put("/v1/kv/wt/k", data="v1")
    e = kv_entry(agent, "wt/k")
    ok(run("watch", "-type=key", "-key=wt/k", agent=agent), go_indent(api_kvpair(e)) + "\n")
    ok(run("watch", "-type=key", "-key=wt/none", agent=agent), "null\n")
    ok(run("watch", "-type", "keyprefix", "-prefix", "wt/", agent=agent),
       go_indent([api_kvpair(e)]) + "\n")
    svcs = agent.http.get("/v1/catalog/services").json()
    ok(run("watch", "-type=services", agent=agent),
       go_indent({k: svcs[k] for k in sorted(svcs)}) + "\n")
    nodes = json.loads(ok(run("watch", "-type=nodes", agent=agent)).stdout)
    assert nodes == agent.http.get("/v1/catalog/nodes").json()
    got = json.loads(ok(run("watch", "-type=service", "-service=consul", "-passingonly=true",
                            agent=agent)).stdout)
    assert [x["Node"]["Node"] for x in got] == ["cli-srv"]
    got = json.loads(ok(run("watch", "-type=checks", "-state=passing", agent=agent)).stdout)
    assert "serfHealth" in [c["CheckID"] for c in got]
    r = agent.http.put("/v1/event/fire/cli-wev", data="p")
    got = json.loads(ok(run("watch", "-type=event", "-name=cli-wev", agent=agent)).stdout)
    assert r.json()["ID"] in [x["ID"] for x in got]
    r = fails(run("watch", agent=agent), None)
    assert r.stderr.startswith("Watch type must be specified\n\n")
    fails(run("watch", "-type=key", agent=agent), "Must specify a single key to watch\n")
    fails(run("watch", "-type=services", "-key=x", agent=agent), "Invalid parameters: [key]\n")
    fails(run("watch", "-type=bogus", agent=agent), "Unsupported watch type: bogus\n")
    fails(run("watch", "-type=checks", "-service=a", "-state=any", agent=agent),
          "Cannot specify service and state\n")


def test_watch_feeds_child_on_every_change(agent, tmp_path):
    agent.http.put("/v1/kv/wc/k", data="one")
    got = tmp_path / "got"
    child = "cat >> %s; echo \" index=$CONSUL_INDEX\" >> %s" % (got, got)
    p = subprocess.Popen([MUSTER, "watch", "-http-addr=" + agent.base, "-type=key", "-key=wc/k",
                          child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=CLEAN_ENV)
    try:
        wait_for(lambda: got.exists() and got.read_text().count("index=") == 1, 10,
                 "the first handler run")
        agent.http.put("/v1/kv/wc/k", data="two")
        wait_for(lambda: got.read_text().count("index=") == 2, 10, "the second handler run")
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0, p.stderr.read()
    runs = got.read_text().split("\n")
    first = json.loads(runs[0])
    assert base64.b64decode(first["Value"]) == b"one" and list(first)[0] == "Key"
    second = json.loads(runs[2])
    assert base64.b64decode(second["Value"]) == b"two"
    assert runs[3] == " index=%d" % second["ModifyIndex"]


# --- the HTTP flags and the flag syntax ------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append((self.path, self.headers.get("X-Consul-Token")))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_token_datacenter_stale_reach_the_agent(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_port
    try:
        Recorder.seen.clear()
        ok(run("kv", "get", "-http-addr=" + base, "-token=t1", "-datacenter=dc9", "-stale",
               "-recurse", "a b"), "")
        ok(run("kv", "get", "-recurse", "p", env={"CONSUL_HTTP_ADDR": base,
                                                 "CONSUL_HTTP_TOKEN": "t2"}))
        tf = tmp_path / "tok"
        tf.write_text("  t3\n")
        ok(run("kv", "get", "-recurse", "--token", "t2", "-token-file=" + str(tf), "p",
               env={"CONSUL_HTTP_ADDR": base}))
        ok(run("kv", "get", "-recurse", "p", env={"CONSUL_HTTP_ADDR": base,
                                                 "CONSUL_HTTP_TOKEN_FILE": str(tf)}))
        assert Recorder.seen == [("/v1/kv/a%20b?stale=&recurse=&dc=dc9", "t1"),
                                 ("/v1/kv/p?recurse=", "t2"), ("/v1/kv/p?recurse=", "t3"),
                                 ("/v1/kv/p?recurse=", "t3")]
        fails(run("kv", "get", "-token-file=" + str(tmp_path / "none"), "p",
                  env={"CONSUL_HTTP_ADDR": base}),
              "Error connecting to Consul agent: Error loading token file: open %s: no such "
              "file or directory\n" % (tmp_path / "none"))
    finally:
        srv.shutdown()


def test_unix_socket_address(agent, tmp_path):
    """unix:///path: a relay here stands for an agent listening on a socket."""
    path = str(tmp_path / "http.sock")
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(4)

    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        finally:
            b.close()

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", agent.http_port))
            threading.Thread(target=pipe, args=(c, up), daemon=True).start()
            threading.Thread(target=pipe, args=(up, c), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    try:
        agent.http.put("/v1/kv/ux", data="via unix")
        ok(run("kv", "get", "-http-addr=unix://" + path, "ux"), "via unix\n")
        ok(run("kv", "get", "ux", env={"CONSUL_HTTP_ADDR": "unix://" + path}), "via unix\n")
    finally:
        ls.close()


def test_flag_syntax_and_not_built_commands(agent):
    ok(run("members", "--detailed", "--status", "alive", agent=agent))
    r = fails(run("members", "-nope", agent=agent), None)
    assert r.stderr.startswith("flag provided but not defined: -nope\nUsage: muster members")
    r = fails(run("kv", "put", "-flags=x", "k", agent=agent), None)
    assert r.stderr.startswith('invalid value "x" for flag -flags: parse error\n')
    r = fails(run("kv", "get", "-recurse=maybe", agent=agent), None)
    assert r.stderr.startswith('invalid boolean value "maybe" for -recurse: parse error\n')
    r = fails(run("kv", "get", "-separator"), None)
    assert r.stderr.startswith("flag needs an argument: -separator\n")
    r = ok(run("kv", "get", "-h"))
    assert r.stdout.startswith("Usage: muster kv get [options] [KEY_OR_PREFIX]")
    for cmd in ("exec", "snapshot", "rtt", "acl", "config", "debug"):
        fails(run(cmd), "muster %s: not available in this build yet\n" % cmd)
