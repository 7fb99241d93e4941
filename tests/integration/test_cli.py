"""test_cli.py: the `muster` command and every program's -n / -nv (issue 2)."""
import json
import os
import subprocess

from agent import BUILD, LIBEXEC, MUSTER, ROOT

ENV = dict(os.environ, MUSTER_LIBEXEC_DIR=LIBEXEC)


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20, env=ENV,
                          cwd=ROOT, **kw)


def test_version():
    r = run(MUSTER, "version")
    assert r.returncode == 0
    assert r.stdout.startswith("Muster v")
    assert run(MUSTER, "--version").stdout == r.stdout


def test_validate_shipped_examples():
    for f in ("etc/muster.yaml", "etc/client.yaml"):
        r = run(MUSTER, "validate", f)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "Configuration is valid!\n"


def test_validate_bad_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"bootstrap_expect": "three"}')
    r = run(MUSTER, "validate", str(p))
    assert r.returncode == 1
    assert "bootstrap_expect" in r.stderr
    assert "Configuration is valid!" not in r.stdout


def test_agent_unknown_flag_is_one_line():
    r = run(MUSTER, "agent", "-dev", "-no-such-flag")
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert "-no-such-flag" in lines[0]


def test_agent_bad_value_is_one_line():
    r = run(MUSTER, "agent", "-dev", "-bootstrap-expect", "x")
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "bootstrap-expect" in lines[0], r.stderr


def test_agent_needs_data_dir_without_dev():
    r = run(MUSTER, "agent", "-node", "x")
    assert r.returncode == 1
    assert "data_dir" in r.stderr


def test_unknown_command():
    r = run(MUSTER, "frob")
    assert r.returncode == 1
    assert 'unknown command "frob"' in r.stderr


def test_musterd_nv_prints_normalised_config():
    r = run(os.path.join(LIBEXEC, "musterd"), "-dev", "-node", "nv1", "-nv")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    assert c["node_name"] == "nv1"
    assert c["dev_mode"] is True
    assert c["server"] is True
    # Both -x=v and -x v forms.
    r2 = run(os.path.join(LIBEXEC, "musterd"), "-dev", "-node=nv1", "-nv")
    assert json.loads(r2.stdout) == c


def test_every_daemon_checks_its_config():
    for d in ("musterd", "raftd", "gossipd", "httpd", "dnsd", "healthd"):
        r = run(os.path.join(LIBEXEC, d), "-n", "-config-file", "etc/muster.yaml")
        assert r.returncode == 0, (d, r.stderr)
        r = run(os.path.join(LIBEXEC, d), "-n", "-config-file", "/nonexistent.yaml")
        assert r.returncode == 1, d
        assert "/nonexistent.yaml" in r.stderr


def test_ctl_without_agent_fails_clearly(tmp_path):
    r = run(MUSTER, "ctl", "-socket", str(tmp_path / "none.sock"), "status")
    assert r.returncode == 1
    assert "cannot connect" in r.stderr
