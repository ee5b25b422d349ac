"""ARI and profiles end to end: Pebble 2.4.0 has neither, so a loopback front adds them to its directory."""

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from acme_aliyun import cli
from acme_aliyun.protocol import ari
from acme_aliyun.protocol.client import AcmeClient
from acme_aliyun.store import Store
from tests.conftest import write_ini
from tests.test_issue import HOOK


class AriFront:
    """Serves Pebble's directory plus renewalInfo and meta.profiles; answers ARI like RFC 9773's example."""

    def __init__(self, pebble):
        self.pebble = pebble
        self.window = None          # (start, end) datetimes
        self.asked = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/dir":
                    d = requests.get(pebble.directory_url, verify=pebble.ca_bundle, timeout=5).json()
                    d["renewalInfo"] = front.url + "/renewal-info"
                    d["meta"]["profiles"] = {"classic": "90 days", "shortlived": "6 days"}
                    return self._send(200, d)
                if self.path.startswith("/renewal-info/"):
                    front.asked.append(self.path.rsplit("/", 1)[1])
                    start, end = front.window
                    body = {"suggestedWindow": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
                            "explanationURL": "https://acme.example.com/docs/ari"}
                    return self._send(200, body, {"Retry-After": "21600"})
                self._send(404, {"type": "about:blank"})

            def _send(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def front(pebble):
    f = AriFront(pebble)
    yield f
    f.close()


@pytest.fixture
def new_orders(monkeypatch):
    """Every newOrder payload the client sends."""
    sent = []
    original = AcmeClient.post

    def post(self, url, payload, *a, **kw):
        if self._directory is not None and url == self._directory.urls.get("newOrder"):
            sent.append(payload)
        return original(self, url, payload, *a, **kw)

    monkeypatch.setattr(AcmeClient, "post", post)
    return sent


def _ini(tmp_path, pebble, front, extra=""):
    path = write_ini(tmp_path, pebble, """
        [cert:ari]
        Domains = ari.example.test
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        %s
        """ % (HOOK, extra))
    text = open(path).read().replace(pebble.directory_url, front.url + "/dir")
    open(path, "w").write(text)
    return path


def test_renewal_follows_the_window_and_sends_replaces(tmp_path, pebble, front, new_orders, monkeypatch, capsys):
    monkeypatch.setenv("CHALLTESTSRV_URL", pebble.challtestsrv.url)
    monkeypatch.setenv("CHALLTESTSRV_HOOK_STATE", str(tmp_path / "hook"))
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    front.window = (now + datetime.timedelta(days=20), now + datetime.timedelta(days=22))
    ini = _ini(tmp_path, pebble, front)
    assert cli.main(["-c", ini, "issue"]) == 0, capsys.readouterr()
    assert len(new_orders) == 1 and "replaces" not in new_orders[0]
    store = Store(str(tmp_path / "state"))
    first = store.load("ari")
    cid = ari.cert_id(first.bundle.cert)
    assert front.asked == [cid]                       # fetched right after issuance, by certID
    chosen = datetime.datetime.fromisoformat(store.read_meta("ari")["ari"]["chosen"])
    assert front.window[0] <= chosen <= front.window[1]

    # not due yet: no order, and the cached answer is used (Retry-After 6 h not elapsed)
    assert cli.main(["-c", ini, "issue"]) == 0
    assert len(new_orders) == 1 and front.asked == [cid]

    # the CA moves the window into the past: due now, and the new order names its predecessor
    front.window = (now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))
    meta = store.read_meta("ari")
    meta["ari"]["next_fetch"] = (now - datetime.timedelta(seconds=1)).isoformat()
    store.update_meta("ari", ari=meta["ari"])
    assert cli.main(["-c", ini, "issue"]) == 0, capsys.readouterr()
    assert len(new_orders) == 2
    assert new_orders[1]["replaces"] == cid
    assert store.load("ari").bundle.serial != first.bundle.serial


def test_profile_is_sent_and_unknown_profile_refused(tmp_path, pebble, front, new_orders, monkeypatch, capsys):
    monkeypatch.setenv("CHALLTESTSRV_URL", pebble.challtestsrv.url)
    monkeypatch.setenv("CHALLTESTSRV_HOOK_STATE", str(tmp_path / "hook"))
    now = datetime.datetime.now(datetime.timezone.utc)
    front.window = (now + datetime.timedelta(days=20), now + datetime.timedelta(days=22))
    ini = _ini(tmp_path, pebble, front, "Profile = shortlived")
    assert cli.main(["-c", ini, "issue"]) == 0, capsys.readouterr()
    assert new_orders[-1]["profile"] == "shortlived"
    capsys.readouterr()
    other = tmp_path / "other"
    other.mkdir()
    ini2 = _ini(other, pebble, front, "Profile = tlsclient")
    assert cli.main(["-c", ini2, "issue", "--force"]) == 1
    out = capsys.readouterr()
    assert "does not offer profile 'tlsclient' (offered: classic, shortlived)" in out.out + out.err
