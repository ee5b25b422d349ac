"""Item 3 of issue 12: fragments of private keys in cloud error messages are masked."""

import json
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from acme_aliyun import log as logsetup
from acme_aliyun import pki
from acme_aliyun import targets  # noqa: F401  registers the cdn product with the SDK layer (as every entry point does)
from acme_aliyun.cloud.credentials import CredentialProvider
from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.cloud.settings import CloudSettings
from tests.canary import assert_no_secrets, middle_fragments


def _key_pem(key_type="ec-256"):
    return pki.key_to_pem(pki.generate_key(key_type)).decode("ascii")


def _body(pem):
    return "".join(pem.strip().splitlines()[1:-1])


ECHOES = {   # how a server may echo the first part of SSLPri in its message
    "PEM head": lambda pem: pem[:120],
    "body only": lambda pem: "\n".join(pem.strip().splitlines()[1:])[:150],
    "body joined": lambda pem: _body(pem)[:140],
    "form-encoded": lambda pem: quote(pem, safe="")[:400],
    "form-encoded with +": lambda pem: quote(pem, safe="").replace("%20", "+")[:400],
    "JSON-escaped": lambda pem: json.dumps(pem)[:200],
}


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("key_type", ["ec-256", "rsa-2048"])
def test_redact_masks_every_echo_of_a_registered_key(echo, key_type):
    pem = _key_pem(key_type)
    pki.parse_private_key(pem.encode("ascii"), "test key")        # loading a key registers it
    text = "InvalidSSLPri: the SSLPri %s is invalid" % ECHOES[echo](pem)
    masked = logsetup.redact(text)
    frags = dict(middle_fragments(_body(pem), "key"))
    for line in pem.strip().splitlines()[1:-1]:
        if len(line) >= 16:
            frags[line] = "a body line"
            frags[quote(line, safe="")] = "a body line, URL-encoded"
            frags[json.dumps(line)[1:-1]] = "a body line, JSON-escaped"
    if echo != "PEM head":          # 120 characters of a P-256 key reach the middle only without the header
        hits = [label for frag, label in frags.items() if frag in text]
        assert hits, "the echo should carry key material before masking"
    assert not [label for frag, label in frags.items() if frag in masked], masked
    assert "InvalidSSLPri" in masked


def test_a_cut_pem_is_masked_to_the_end():
    text = "error: " + _key_pem()[:100]
    assert logsetup.redact(text) == "error: [private key redacted]"


class _Echo(BaseHTTPRequestHandler):
    """An RPC endpoint that refuses every write and echoes the first 120 characters of SSLPri."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        query = parse_qs(urlsplit(self.path).query)
        pri = (query.get("SSLPri") or form.get("SSLPri") or [""])[0]
        body = json.dumps({"Code": "InvalidSSLPri", "RequestId": "REQ-ECHO-1",
                           "Message": "The specified SSLPri is invalid: %s" % pri[:120]}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *a):
        pass


def test_a_cloud_error_for_a_key_carrying_action_shows_code_and_request_id_only(caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = CloudSettings(endpoint="127.0.0.1:%d" % server.server_port, max_attempts=1, read_timeout=2.0,
                                 connect_timeout=1.0)
        client = CloudClient(settings, CredentialProvider.static("test", "LTAItest0000", "not-a-real-secret-000"))
        pem = _key_pem()
        caplog.set_level("DEBUG")
        with pytest.raises(CloudError) as info:
            client.call("cdn", "SetCdnDomainSSLCertificate", {"DomainName": "a.example.test", "CertName": "x",
                                                              "CertType": "upload", "SSLProtocol": "on",
                                                              "SSLPub": "pub", "SSLPri": pem}, write=True)
    finally:
        server.shutdown()
        server.server_close()
    e = info.value
    assert e.code == "InvalidSSLPri" and "REQ-ECHO-1" in str(e), str(e)
    texts = [str(e), repr(e), e.message, "".join(traceback.format_exception(type(e), e, e.__traceback__)),
             caplog.text]
    keys = {}
    for line in pem.strip().splitlines()[1:-1]:
        keys[line] = "key line"
    assert_no_secrets(texts, keys=[], extra=())
    leaked = [label for frag, label in dict(keys, **middle_fragments(_body(pem), "key")).items()
              if any(frag in t for t in texts)]
    assert not leaked, texts
    assert "specified SSLPri is invalid" not in str(e)        # the server's message is not shown at all
