"""test_install.py: `make install` lays out what the README and the unit file promise."""
import os
import subprocess

from agent import BUILD, ROOT


def test_make_install_into_destdir(tmp_path):
    dest = str(tmp_path / "root")
    # install-files: what `make install` copies, without rebuilding BUILD
    # (which may be the ASan tree, built with other flags).
    r = subprocess.run(["make", "-s", "install-files", "B=" + BUILD, "DESTDIR=" + dest,
                        "PREFIX=/usr/local"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    want = {
        "usr/local/bin/muster": 0o755,
        "usr/local/sbin/musterd": 0o755,
        "etc/muster/muster.yaml": 0o644,
        "etc/muster/muster.yaml.example": 0o644,
        "etc/muster/client.yaml.example": 0o644,
        "lib/systemd/system/muster.service": 0o644,
        "usr/lib/sysusers.d/muster.conf": 0o644,
        "usr/lib/tmpfiles.d/muster.conf": 0o644,
    }
    for d in ("raftd", "gossipd", "httpd", "dnsd", "healthd"):
        want["usr/local/libexec/muster/" + d] = 0o755
    for path, mode in want.items():
        st = os.stat(os.path.join(dest, path))
        assert st.st_mode & 0o777 == mode, path
    with open(os.path.join(dest, "lib/systemd/system/muster.service")) as f:
        unit = f.read()
    assert "@" not in unit
    assert "ExecStart=/usr/local/sbin/musterd -config-file=/etc/muster/muster.yaml" in unit
    assert "Type=notify" in unit
    # The installed example validates with the installed command.
    r = subprocess.run([os.path.join(dest, "usr/local/bin/muster"), "validate",
                        os.path.join(dest, "etc/muster/muster.yaml")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "Configuration is valid!" in r.stdout, r.stderr
    # A second install keeps an operator's edited muster.yaml.
    with open(os.path.join(dest, "etc/muster/muster.yaml"), "a") as f:
        f.write("# edited\n")
    subprocess.run(["make", "-s", "install-files", "B=" + BUILD, "DESTDIR=" + dest], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    with open(os.path.join(dest, "etc/muster/muster.yaml")) as f:
        assert f.read().endswith("# edited\n")
