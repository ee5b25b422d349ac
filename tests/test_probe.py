"""The edge probe (issue 14, point 16): `status --probe` and `deploy --verify-edge [--wait]` open TLS with
SNI to each target domain and read the serial served. [probe] Resolve points the names at loopback TLS
servers here: one serves the stored certificate, one an old one, one is a closed port."""

import re
import subprocess
import sys
import threading
import time

import pytest

from acme_aliyun import config
from acme_aliyun.errors import ConfigError
from acme_aliyun.probe import parse_resolve
from tests import demo
from tests.netutil import free_port
from tests.tlsserver import TLSServer, self_signed

INI = """\
[acme]
ACMEDirectory = {directory}
AccountKeyFile = account.key
CABundle = {ca}
StateDir = state

[cert:shop]
Domains = shop.example.test, www.demo.test, img.demo.test
HTTPListen = 127.0.0.1:{http_port}
CDN = shop.example.test, www.demo.test, img.demo.test

[aliyun]
Endpoint = {endpoint}

[probe]
Resolve = {resolve}
Timeout = 2
"""


def _ini(tmp_path, pebble, emu, resolve):  # noqa: F811
    path = tmp_path / "acme.ini"
    path.write_text(INI.format(directory=pebble.directory_url, ca=pebble.ca_bundle, http_port=pebble.http_port,
                               endpoint=emu.endpoint, resolve=resolve))
    return str(path)


def _run(ini, *args):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=demo.tool_env(),
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def _stored(tmp_path):
    d = tmp_path / "state" / "certs" / "shop" / "current"
    return str(d / "fullchain.pem"), str(d / "privkey.pem")


def _serial(text, name):
    return re.search(r"%s \(local serial ([0-9a-f]+)\)" % name, text).group(1)


def test_status_probe_reports_the_serial_each_edge_serves(tmp_path, pebble, emu):  # noqa: F811
    old_cert, old_key, old_serial = self_signed(str(tmp_path), ["www.demo.test"])
    closed = free_port()
    ini = _ini(tmp_path, pebble, emu, "placeholder.test:127.0.0.1:1")
    assert _run(ini, "deploy", "shop").returncode == 0
    fresh, stale = TLSServer(*_stored(tmp_path)), TLSServer(old_cert, old_key)
    try:
        ini = _ini(tmp_path, pebble, emu, "shop.example.test:127.0.0.1:%d, www.demo.test:127.0.0.1:%d, "
                   "img.demo.test:127.0.0.1:%d" % (fresh.port, stale.port, closed))
        r = _run(ini, "status", "--probe")
    finally:
        fresh.stop()
        stale.stop()
    assert r.returncode == 1, r.stdout + r.stderr         # one edge is behind, one unreachable
    serial = _serial(r.stdout, "shop")
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line.startswith("  cdn ")}
    assert rows["shop.example.test"].split()[2:4] == [serial, "yes"], r.stdout
    assert rows["www.demo.test"].split()[2] == "%x" % old_serial and "no (local %s)" % serial in rows["www.demo.test"]
    assert rows["img.demo.test"].endswith("img.demo.test: connection refused"), r.stdout
    assert fresh.sni == ["shop.example.test"] and stale.sni == ["www.demo.test"]   # SNI sent


def test_deploy_verify_edge_waits_for_the_new_serial(tmp_path, pebble, emu):  # noqa: F811
    old_cert, old_key, _ = self_signed(str(tmp_path), ["shop.example.test"])
    edges = [TLSServer(old_cert, old_key) for _ in range(3)]
    try:
        ini = _ini(tmp_path, pebble, emu, ", ".join("%s:127.0.0.1:%d" % (n, e.port) for n, e in
                                                    zip(("shop.example.test", "www.demo.test", "img.demo.test"), edges)))
        r = _run(ini, "deploy", "shop", "--verify-edge", "--wait", "2")     # no edge picks it up
        assert r.returncode == 1, r.stdout + r.stderr
        assert "edge: 3 target(s) do not serve serial" in r.stdout and "cdn www.demo.test: serves " in r.stdout

        def propagate():                 # the edges take the new certificate a few seconds later
            time.sleep(3)
            for e in edges:
                e.swap(*_stored(tmp_path))
        threading.Thread(target=propagate, daemon=True).start()
        r = _run(ini, "deploy", "shop", "--force", "--verify-edge", "--wait", "60")
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r"edge: every target serves serial [0-9a-f]+", r.stdout), r.stdout
    finally:
        for e in edges:
            e.stop()


def test_resolve_forms_and_errors(tmp_path, pebble):
    assert parse_resolve("a.test:127.0.0.1:8443, B.test:[::1]:9, c.test:10.0.0.1, d.test:[::1]") == {
        "a.test": ("127.0.0.1", 8443), "b.test": ("::1", 9), "c.test": ("10.0.0.1", None), "d.test": ("::1", None)}
    path = tmp_path / "acme.ini"
    base = "[acme]\nACMEDirectory = %s\nAccountKeyFile = a.key\n" % pebble.directory_url
    path.write_text(base + "[probe]\nResolve = a.test\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(path))
    assert "[probe] Resolve: 'a.test' is not host:address[:port]" in str(e.value)
    path.write_text(base + "[probe]\nResolv = a.test:127.0.0.1\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(path))
    assert "did you mean Resolve?" in str(e.value)
    path.write_text(base + "[prob]\nResolve = a.test:127.0.0.1\n")
    with pytest.raises(ConfigError) as e:
        config.load(str(path))
    assert "did you mean [probe]?" in str(e.value)
