"""Network failures are one plain line (issue 14, point 9): the ACME side through the real client
(requests/urllib3), the cloud side through the real SDK, and a shared cause said once in `run`.

All on loopback: a closed port, a TLS server whose certificate nothing trusts, a server that never
answers, and a name under the reserved .invalid TLD whose lookup fails in-process (getaddrinfo is
replaced for .invalid names, so no resolver is asked over the network)."""

import socket

import pytest

from acme_aliyun import netmsg
from acme_aliyun.protocol.client import AcmeClient
from acme_aliyun.protocol.errors import AcmeTransportError
from tests import demo
from tests.canary import run_demo_tool as _run
from tests.netutil import free_port
from tests.tlsserver import TLSServer, self_signed


def _directory_error(url, **kw):
    client = AcmeClient(url, sleep=lambda s: None, **kw)
    with pytest.raises(AcmeTransportError) as e:
        client.directory()
    text = str(e.value)
    assert "\n" not in text and " object at 0x" not in text and "Pool(" not in text, text
    return text


def test_acme_connection_refused():
    port = free_port()
    assert _directory_error("https://127.0.0.1:%d/dir" % port) == \
        "cannot reach https://127.0.0.1:%d/dir: connection refused" % port


def test_acme_untrusted_certificate(tmp_path):
    cert, key, _ = self_signed(str(tmp_path), ["localhost"])
    server = TLSServer(cert, key)
    try:
        text = _directory_error("https://localhost:%d/dir" % server.port)
    finally:
        server.stop()
    assert text == "cannot reach https://localhost:%d/dir: TLS certificate not trusted (set CABundle)" % server.port


def test_acme_timeout():
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(4)                     # accepts (in the backlog), never answers
    try:
        text = _directory_error("http://127.0.0.1:%d/dir" % quiet.getsockname()[1], timeout=(1, 0.5))
    finally:
        quiet.close()
    assert text.endswith(": timed out"), text


@pytest.fixture
def no_invalid_tld(monkeypatch):
    """getaddrinfo for *.invalid fails here, as a resolver would, without asking one."""
    real = socket.getaddrinfo
    asked = []

    def fake(host, *a, **kw):
        if str(host).rstrip(".").endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *a, **kw)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


def test_acme_dns_failure(no_invalid_tld):
    text = _directory_error("https://acme.example.invalid/dir")
    assert text == "cannot reach https://acme.example.invalid/dir: DNS lookup failed (check the network or HTTPS_PROXY)"
    assert no_invalid_tld and set(no_invalid_tld) == {"acme.example.invalid"}


def test_reason_reads_the_sdk_text():
    """The SDK keeps only str() of the requests error: the cause is found in that text."""
    sdk = ("HTTPSConnectionPool(host='cdn.aliyuncs.com', port=443): Max retries exceeded with url: /?x=1 "
           "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to "
           "establish a new connection: [Errno 111] Connection refused'))")
    assert netmsg.reason(sdk) == netmsg.REFUSED
    assert netmsg.reason("[Errno -2] Name or service not known") == netmsg.DNS
    assert netmsg.reason("bad handshake: certificate verify failed") == netmsg.UNTRUSTED
    assert netmsg.reason("something else entirely") is None


# --- the cloud side, through the CLI and the real SDK --------------------------------------

def test_cloud_connection_refused_is_host_and_cause(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    port = free_port()
    text = open(ini).read().replace(emu.endpoint, "127.0.0.1:%d" % port)
    with open(ini, "w") as fh:
        fh.write(text.replace("[aliyun]\n", "[aliyun]\nConnectTimeout = 1\n"))
    r = _run(ini, "cloud", "check", fast_retry=True)    # the product's attempts, shorter waits
    assert r.returncode == 1
    fails = [line for line in r.stdout.splitlines() if "FAIL" in line]
    assert fails and all(line.endswith("127.0.0.1:%d: connection refused" % port) for line in fails), r.stdout
    assert "object at 0x" not in r.stdout + r.stderr and "Pool(" not in r.stdout + r.stderr


def test_wrong_secret_across_targets_is_said_once(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    env = dict(demo.tool_env(), ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-right-secret-123")
    r = _run(ini, "run", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    said = [line for line in r.stdout.splitlines() if "rejected the AccessKeySecret" in line]
    assert len(said) == 1, r.stdout
    # the code once, no request id twice
    assert said[0].count("InvalidAccessKeySecret") == 1 and said[0].count("RequestId") == 0, said[0]
    assert "not-the-right-secret-123" not in r.stdout + r.stderr
