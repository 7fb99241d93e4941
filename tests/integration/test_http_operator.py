"""test_http_operator.py: DELETE /v1/operator/raft/peer on a server whose
Raft configuration holds a second member (spec/http-api.md §8.5).

With no replication between servers yet (the cluster issue), the second
member is written into a fresh store by tests/helpers/mkstore as a
non-voter: the single voter still elects itself, and the removal is a real
configuration change committed through Raft."""
import os
import subprocess
import tempfile

import requests

import agent as A
from test_raftd import RaftAgent

NODE_ID = "11111111-2222-4333-8444-555555555555"
SELF_HEX = "1111111122224333"  # raftd's numeric id: node_id's first 16 hex digits
SELF_ID = NODE_ID              # shown as the node ID, as Consul's raft IDs are
OTHER_ID = "00000000000abcde"  # an unknown server shows its numeric id


def test_remove_peer_by_id():
    data = tempfile.mkdtemp(prefix="mto", dir="/tmp")
    mkstore = os.path.join(A.BUILD, "tests", "mkstore")
    subprocess.run([mkstore, os.path.join(data, "raft"), SELF_HEX, OTHER_ID + ":nonvoter"],
                   check=True)
    a = RaftAgent(dev=False, data_dir=data, bootstrap=False, config={"node_id": NODE_ID})
    a.start()
    try:
        a.wait_ready()
        a.wait_leader()
        base = "http://127.0.0.1:%d" % a.cfg["ports"]["http"]

        def servers():
            r = requests.get(base + "/v1/operator/raft/configuration", timeout=10)
            assert r.status_code == 200, r.text
            return {s["ID"]: s for s in r.json()["Servers"]}

        before = servers()
        assert set(before) == {SELF_ID, OTHER_ID}
        assert before[SELF_ID]["Leader"] and before[SELF_ID]["Voter"]
        assert not before[OTHER_ID]["Voter"]
        # /v1/status/peers lists voters only.
        peers = requests.get(base + "/v1/status/peers", timeout=10).json()
        assert peers == ["127.0.0.1:%d" % a.cfg["ports"]["server"]]

        r = requests.delete(base + "/v1/operator/raft/peer", params={"id": OTHER_ID}, timeout=10)
        assert r.status_code == 200 and r.text == "", r.text
        assert set(servers()) == {SELF_ID}

        # Gone now: Consul's not-found text, and the configuration is unchanged.
        r = requests.delete(base + "/v1/operator/raft/peer", params={"id": OTHER_ID}, timeout=10)
        assert r.status_code == 500
        assert r.text == 'id "%s" was not found in the Raft configuration' % OTHER_ID
        assert set(servers()) == {SELF_ID}
        # The only voter cannot remove itself.
        r = requests.delete(base + "/v1/operator/raft/peer", params={"id": SELF_ID}, timeout=10)
        assert r.status_code == 500 and "only voter" in r.text, r.text

    finally:
        a.stop()
    b = RaftAgent(dev=False, data_dir=data, bootstrap=False, config={"node_id": NODE_ID},
                  cfg=a.cfg)
    b.start()
    try:
        b.wait_ready()
        b.wait_leader()
        r = requests.get("http://127.0.0.1:%d/v1/operator/raft/configuration" %
                         b.cfg["ports"]["http"], timeout=10)
        assert [s["ID"] for s in r.json()["Servers"]] == [SELF_ID]
    finally:
        b.stop()
        subprocess.run(["rm", "-rf", data])


def test_remove_peer_by_address():
    """The configuration carries each server's address (hashicorp/raft's
    Server.Address): mkstore's ID@HOST:PORT shows in the configuration and
    is what ?address= matches. Our own member, written without one (as
    stores of earlier builds are), shows the server port we advertise."""
    data = tempfile.mkdtemp(prefix="mto", dir="/tmp")
    mkstore = os.path.join(A.BUILD, "tests", "mkstore")
    other_addr = "10.9.8.7:8300"
    subprocess.run([mkstore, os.path.join(data, "raft"), SELF_HEX,
                    OTHER_ID + ":nonvoter@" + other_addr], check=True)
    a = RaftAgent(dev=False, data_dir=data, bootstrap=False, config={"node_id": NODE_ID})
    a.start()
    try:
        a.wait_ready()
        a.wait_leader()
        base = "http://127.0.0.1:%d" % a.cfg["ports"]["http"]

        def servers():
            r = requests.get(base + "/v1/operator/raft/configuration", timeout=10)
            assert r.status_code == 200, r.text
            return {s["ID"]: s for s in r.json()["Servers"]}

        before = servers()
        assert before[OTHER_ID]["Address"] == other_addr
        assert not before[OTHER_ID]["Voter"]
        assert before[SELF_ID]["Address"] == "127.0.0.1:%d" % a.cfg["ports"]["server"]

        r = requests.delete(base + "/v1/operator/raft/peer", params={"address": "10.9.8.7:1"},
                            timeout=10)
        assert r.status_code == 500
        assert r.text == 'address "10.9.8.7:1" was not found in the Raft configuration'
        r = requests.delete(base + "/v1/operator/raft/peer", params={"address": other_addr},
                            timeout=10)
        assert r.status_code == 200 and r.text == "", r.text
        assert set(servers()) == {SELF_ID}
    finally:
        a.stop()
        subprocess.run(["rm", "-rf", data])
