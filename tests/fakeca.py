"""A small scriptable ACME server (RFC 8555) on loopback, for what Pebble will not do.

It implements just enough for an account and an order with http-01 or dns-01,
and issues a real certificate for the CSR's key and names from its own
throw-away CA. Signatures are not verified, but every POST must carry a JWS
whose protected header has a fresh nonce and the request's URL; nonces are
single-use, and anything else the client gets wrong is listed in
`FakeCA.violations`. Every response carries a Replay-Nonce.

A `Scenario` makes it hostile: a canned `Reply` per endpoint (malformed JSON,
wrong Content-Type, a streamed 100 MB body, a redirect, a problem document, a
500), challenges that fail, an order that never leaves `processing` or goes
`invalid`, a certificate for another key or other names, or badNonce for
everything; an authorization that fails while the order stays `pending`, a
validation that never ends, an order handed back already `processing`, an
ARI window (renewalInfo), extra directory keys. Accounts can be deactivated
(RFC 8555 §7.3.6: every later request with that account is `unauthorized`).
Certificates it issued can be revoked (§7.6): signed by the account that ordered
them (kid) or by the certificate's own key (jwk, whose signature is checked);
`revoked` maps serial -> reason, a second revocation is `alreadyRevoked`, a
reason outside RFC 5280's codes `badRevocationReason`, anyone else `unauthorized`.
Endpoints: directory, newNonce, newAccount, newOrder, order, authz, challenge,
finalize, cert, acct, renewalInfo, revokeCert.

    with FakeCA(workdir) as ca:
        ca.scenario = Scenario(replies={"newOrder": problem("rateLimited", "slow down", 429)})
        ... point ACMEDirectory at ca.directory_url ...
        assert ca.count("newOrder") == 1

If `webroot` is set, an answered http-01 challenge is really checked against
the file in <webroot>/.well-known/acme-challenge/ (and fails if it is wrong),
so tests can prove the challenge was in place during the order.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import socketserver
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterable, List, Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

ACME_ERROR = "urn:ietf:params:acme:error:"
PROBLEM = "application/problem+json"
PEM_CHAIN = "application/pem-certificate-chain"


# --- what a test can script -----------------------------------------------------------------

@dataclass
class Reply:
    """One canned HTTP answer. body: bytes, str, a dict/list (sent as JSON), or an iterable of bytes (streamed)."""

    status: int = 200
    body: Union[bytes, str, dict, list, Iterable[bytes]] = b""
    ctype: Optional[str] = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)
    length: Optional[int] = None        # Content-Length of a streamed body; None: until the connection closes


def problem(code, detail, status=400, headers=None):
    """An RFC 7807 problem document; code is the ACME error name ('rateLimited') or a full URN."""
    type_ = code if ":" in code else ACME_ERROR + code
    return Reply(status, {"type": type_, "detail": detail, "status": status}, PROBLEM, dict(headers or {}))


def redirect(location, status=302):
    return Reply(status, b"", None, {"Location": location})


def big_body(total=100 << 20, chunk=1 << 16, gzip=False):
    """A streamed body of `total` bytes ('x's inside a JSON string), or gzip that inflates to `total`."""
    head = b'{"detail": "'
    if not gzip:
        def gen():
            yield head
            left = total - len(head)
            block = b"x" * chunk
            while left > 0:
                yield block[:left]
                left -= chunk
        return Reply(200, gen(), "application/json", length=total)

    def bomb():
        z = zlib.compressobj(9, zlib.DEFLATED, 31)      # 31: gzip framing
        yield z.compress(head)
        block = b"x" * (1 << 20)
        for _ in range(total >> 20):
            out = z.compress(block)
            if out:
                yield out
        yield z.flush()
    return Reply(200, bomb(), "application/json", {"Content-Encoding": "gzip"})


ReplySource = Union[Reply, Callable[["Seen"], Optional[Reply]]]


@dataclass
class Scenario:
    """How the server misbehaves. The default is a well-behaved CA."""

    replies: Dict[str, ReplySource] = field(default_factory=dict)  # endpoint -> Reply, or f(Seen) -> Reply|None
    failing_names: Dict[str, dict] = field(default_factory=dict)   # name -> error its challenge ends with
    #                                       (a dict with neither type nor detail: invalid, no error given)
    after_finalize: str = "valid"           # valid | processing (forever) | invalid
    order_error: Optional[dict] = None      # the order's error when it goes invalid after finalize
    retry_after: Optional[str] = None       # Retry-After on order and authorization polls while not finished
    leaf: str = "ok"                        # ok | other-key | extra-name | missing-name | expired
    bad_nonce_always: bool = False          # every POST answered badNonce (with a fresh nonce)
    order_on_failure: str = "invalid"       # invalid | pending: the order stays pending when an authz fails
    validation: str = "instant"             # instant | never: answered challenges stay processing forever
    challenge_reply: str = "processing"     # processing | outcome: the answer's reply shows status and error
    reuse_orders: bool = False              # newOrder hands back the account's unfinished order for the names
    ari_window: Optional[tuple] = None      # (start, end) datetimes: the directory offers renewalInfo
    ari_retry_after: str = "21600"
    directory_extra: Dict[str, object] = field(default_factory=dict)   # more top-level directory keys


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    endpoint: str
    at: float
    protected: dict = field(default_factory=dict)
    payload: object = None
    status: int = 0
    jws: dict = field(default_factory=dict)


# --- the server ------------------------------------------------------------------------------

class FakeCA:
    def __init__(self, workdir, host="127.0.0.1", tls=None, webroot=None, scenario=None):
        """tls: tests.pebble.make_tls_ca() paths to serve HTTPS; otherwise plain HTTP."""
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.host, self.tls, self.webroot = host, tls, webroot
        self.scenario = scenario or Scenario()
        self.log: List[Seen] = []
        self.violations: List[str] = []       # protocol mistakes of the client
        self.key_authorizations = []          # (name, ok) for each http-01 checked in webroot
        self.streamed = {"bytes": 0, "complete": False}
        self.issued: List[x509.Certificate] = []
        self.revoked: Dict[int, int] = {}     # serial -> reason code (0 when none was given)
        self._issued_to: Dict[int, str] = {}  # serial -> canonical jwk of the ordering account
        self._lock = threading.RLock()
        self._nonces, self._used_nonces = set(), set()
        self._accounts = {}                   # canonical jwk -> account URL
        self.deactivated = set()              # account URLs
        self._orders, self._authzs, self._challenges = {}, {}, {}
        self._root_key = ec.generate_private_key(ec.SECP256R1())
        self._root = _self_signed(self._root_key, "fakeca throw-away root %s" % secrets.token_hex(3))
        self.root_pem = self._root.public_bytes(serialization.Encoding.PEM).decode("ascii")
        self._server = None
        self._thread = None

    # -- lifecycle --

    @property
    def base_url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self._server.server_address[1])

    @property
    def directory_url(self):
        return self.base_url + "/dir"

    @property
    def ca_bundle(self):
        """For CABundle in acme.ini: the TLS CA when serving HTTPS, else the (harmless) issuing root."""
        if self.tls:
            return self.tls["ca"]
        path = os.path.join(self.workdir, "fakeca-root.pem")
        if not os.path.exists(path):
            with open(path, "w") as fh:
                fh.write(self.root_pem)
        return path

    def start(self):
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
        self._server = _Server((self.host, 0), self, ctx)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fakeca")
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what tests look at --

    def count(self, endpoint, method=None):
        return sum(1 for s in self.log if s.endpoint == endpoint and (method is None or s.method == method))

    def seen(self, endpoint):
        return [s for s in self.log if s.endpoint == endpoint]

    # -- request handling --

    def _url(self, path):
        return self.base_url + path

    def _nonce(self):
        with self._lock:
            n = secrets.token_urlsafe(16)
            self._nonces.add(n)
            return n

    def handle(self, h):
        """Called by the handler thread; returns the Reply to send."""
        path = h.path.split("?", 1)[0]
        endpoint, args = _route(path)
        seen = Seen(h.command, path, endpoint, time.monotonic())
        with self._lock:
            self.log.append(seen)
        body = b""
        if h.command == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length else b""
        with self._lock:
            reply = self._dispatch(h, seen, endpoint, args, body)
        seen.status = reply.status
        return reply

    def _dispatch(self, h, seen, endpoint, args, body):
        if endpoint == "unknown":
            return problem("malformed", "no such resource %s" % seen.path, 404)
        if h.command == "POST":
            bad = self._check_jws(seen, body)
            if bad is not None:
                return bad
        elif endpoint not in ("directory", "newNonce", "renewalInfo") or h.command not in ("GET", "HEAD"):
            return problem("malformed", "%s %s: ACME wants POST (POST-as-GET for reads)" % (h.command, seen.path), 405)
        scripted = self.scenario.replies.get(endpoint)
        if scripted is not None:
            reply = scripted(seen) if callable(scripted) else scripted
            if reply is not None:
                return reply
        return getattr(self, "_ep_" + endpoint)(seen, *args)

    def _check_jws(self, seen, body):
        try:
            jws = json.loads(body)
            seen.jws = jws
            seen.protected = json.loads(_b64d(jws["protected"]))
            seen.payload = json.loads(_b64d(jws["payload"])) if jws["payload"] else None
        except (ValueError, KeyError, TypeError):
            self.violations.append("%s: body is not a flattened JWS" % seen.path)
            return problem("malformed", "request body is not a JWS")
        prot = seen.protected
        if prot.get("url") != self._url(seen.path):
            self.violations.append("%s: JWS url %r" % (seen.path, prot.get("url")))
            return problem("unauthorized", "JWS url does not match the request URL", 401)
        if not ("kid" in prot) ^ ("jwk" in prot):
            self.violations.append("%s: JWS needs exactly one of kid and jwk" % seen.path)
            return problem("malformed", "exactly one of kid and jwk")
        nonce = prot.get("nonce")
        if not nonce:
            self.violations.append("%s: JWS without nonce" % seen.path)
            return problem("badNonce", "JWS has no nonce")
        if nonce in self._used_nonces:
            self.violations.append("%s: nonce %s sent again" % (seen.path, nonce))
            return problem("badNonce", "nonce %s was already used" % nonce)
        if nonce not in self._nonces:
            self.violations.append("%s: nonce %s never issued" % (seen.path, nonce))
            return problem("badNonce", "unknown nonce")
        self._nonces.discard(nonce)
        self._used_nonces.add(nonce)
        if self.scenario.bad_nonce_always:
            return problem("badNonce", "JWS has an invalid anti-replay nonce: %s" % nonce)
        if seen.endpoint == "revokeCert" and "jwk" in prot:
            return None                 # signed by the certificate's key: no account involved (§7.6)
        if seen.endpoint not in ("newAccount",) and prot.get("kid") not in self._accounts.values():
            self.violations.append("%s: kid %r is not an account" % (seen.path, prot.get("kid")))
            return problem("accountDoesNotExist", "no such account", 400)
        if prot.get("kid") in self.deactivated or (
                "jwk" in prot and self._accounts.get(json.dumps(prot["jwk"], sort_keys=True)) in self.deactivated):
            return problem("unauthorized", "account is deactivated", 401)
        return None

    # -- endpoints --

    def _ep_directory(self, seen):
        b = self.base_url
        doc = {"newNonce": b + "/new-nonce", "newAccount": b + "/new-acct", "newOrder": b + "/new-order",
               "revokeCert": b + "/revoke-cert", "keyChange": b + "/key-change",
               "meta": {"termsOfService": b + "/terms"}}
        if self.scenario.ari_window:
            doc["renewalInfo"] = b + "/renewal-info"
        doc.update(self.scenario.directory_extra)
        return Reply(200, doc)

    def _ep_renewalInfo(self, seen, cert_id):
        start, end = self.scenario.ari_window
        return Reply(200, {"suggestedWindow": {"start": _iso(start), "end": _iso(end)}},
                     headers={"Retry-After": self.scenario.ari_retry_after})

    def _ep_newNonce(self, seen):
        return Reply(200 if seen.method == "HEAD" else 204, b"", None)

    def _ep_newAccount(self, seen):
        jwk = seen.protected.get("jwk")
        if not isinstance(jwk, dict):
            self.violations.append("newAccount signed with kid, not jwk")
            return problem("malformed", "newAccount needs jwk")
        canon = json.dumps(jwk, sort_keys=True)
        payload = seen.payload or {}
        url = self._accounts.get(canon)
        if url is None and payload.get("onlyReturnExisting"):
            return problem("accountDoesNotExist", "no account for this key")
        created = url is None
        if created:
            url = self._url("/acct/%d" % (len(self._accounts) + 1))
            self._accounts[canon] = url
        return Reply(201 if created else 200, {"status": "valid", "contact": payload.get("contact", [])},
                     headers={"Location": url})

    def _ep_newOrder(self, seen):
        names = [i.get("value") for i in (seen.payload or {}).get("identifiers", [])]
        if not names:
            return problem("malformed", "no identifiers")
        acct_jwk = next(k for k, v in self._accounts.items() if v == seen.protected.get("kid"))
        if self.scenario.reuse_orders:
            for oid, o in self._orders.items():
                if o["names"] == names and o["status"] in ("pending", "ready", "processing") and \
                        json.dumps(o["jwk"], sort_keys=True) == acct_jwk:
                    return Reply(200, self._order_json(oid), headers={"Location": self._url("/order/" + oid)})
        oid = str(len(self._orders) + 1)
        order = {"status": "pending", "names": names, "authzs": [], "jwk": json.loads(acct_jwk), "error": None}
        for i, name in enumerate(names):
            aid = "%s-%d" % (oid, i)
            wildcard = name.startswith("*.")
            authz = {"status": "pending", "identifier": name[2:] if wildcard else name, "wildcard": wildcard,
                     "order": oid, "challenges": []}
            for ctype in (("dns-01",) if wildcard else ("http-01", "dns-01")):
                cid = "%s-%s" % (aid, ctype)
                self._challenges[cid] = {"type": ctype, "status": "pending", "token": secrets.token_urlsafe(24),
                                         "authz": aid, "url": self._url("/chall/" + cid)}
                authz["challenges"].append(cid)
            self._authzs[aid] = authz
            order["authzs"].append(aid)
        self._orders[oid] = order
        return Reply(201, self._order_json(oid), headers={"Location": self._url("/order/" + oid)})

    def _order_json(self, oid):
        o = self._orders[oid]
        doc = {"status": o["status"], "identifiers": [{"type": "dns", "value": n} for n in o["names"]],
               "authorizations": [self._url("/authz/" + a) for a in o["authzs"]],
               "finalize": self._url("/finalize/" + oid),
               "expires": _iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7))}
        if o["status"] == "valid":
            doc["certificate"] = self._url("/cert/" + oid)
        if o["error"]:
            doc["error"] = o["error"]
        return doc

    def _ep_order(self, seen, oid):
        o = self._orders[oid]
        if o["status"] == "processing" and self.scenario.after_finalize != "processing":
            self._finish(oid)               # finalize answered 'processing'; the next poll has the outcome
        headers = {}
        if self.scenario.retry_after and o["status"] in ("pending", "processing"):
            headers["Retry-After"] = self.scenario.retry_after
        return Reply(200, self._order_json(oid), headers=headers)

    def _ep_authz(self, seen, aid):
        a = self._authzs[aid]
        doc = {"status": a["status"], "identifier": {"type": "dns", "value": a["identifier"]},
               "challenges": [self._challenge_json(c) for c in a["challenges"]],
               "expires": _iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7))}
        if a["wildcard"]:
            doc["wildcard"] = True
        headers = {}
        if self.scenario.retry_after and a["status"] == "pending":
            headers["Retry-After"] = self.scenario.retry_after
        return Reply(200, doc, headers=headers)

    def _challenge_json(self, cid):
        c = self._challenges[cid]
        doc = {"type": c["type"], "url": c["url"], "token": c["token"], "status": c["status"]}
        if c.get("error"):
            doc["error"] = c["error"]
        return doc

    def _ep_challenge(self, seen, cid):
        c = self._challenges[cid]
        authz = self._authzs[c["authz"]]
        order = self._orders[authz["order"]]
        if c["status"] == "pending" and seen.payload is not None and self.scenario.validation == "never":
            c["status"] = "processing"          # and so it stays: the CA never decides
        elif c["status"] == "pending" and seen.payload is not None:
            name = ("*." if authz["wildcard"] else "") + authz["identifier"]
            error = self.scenario.failing_names.get(name) or self._check_webroot(c, order, authz)
            c["status"] = authz["status"] = "invalid" if error else "valid"
            if error:
                if error.get("type") or error.get("detail"):
                    c["error"] = error
                if self.scenario.order_on_failure == "invalid":
                    order["status"] = "invalid"
            elif order["status"] == "pending" and all(self._authzs[a]["status"] == "valid" for a in order["authzs"]):
                order["status"] = "ready"
        doc = self._challenge_json(cid)
        if c["status"] != "pending" and self.scenario.challenge_reply == "processing":
            doc["status"] = "processing"        # as a real CA answers; the authorization shows the outcome
            doc.pop("error", None)
        return Reply(200, doc, headers={"Link": '<%s>;rel="up"' % self._url("/authz/" + c["authz"])})

    def _check_webroot(self, c, order, authz):
        if not self.webroot or c["type"] != "http-01":
            return None
        expected = "%s.%s" % (c["token"], _thumbprint(order["jwk"]))
        path = os.path.join(self.webroot, ".well-known", "acme-challenge", c["token"])
        try:
            with open(path) as fh:
                got = fh.read().strip()
        except OSError:
            got = None
        self.key_authorizations.append((authz["identifier"], got == expected))
        if got == expected:
            return None
        return {"type": ACME_ERROR + "unauthorized", "status": 403,
                "detail": "Invalid response from http://%s/.well-known/acme-challenge/%s" % (authz["identifier"],
                                                                                                c["token"])}

    def _ep_finalize(self, seen, oid):
        o = self._orders[oid]
        if o["status"] != "ready":
            return problem("orderNotReady", "order is %s, not ready" % o["status"], 403)
        try:
            csr = x509.load_der_x509_csr(_b64d((seen.payload or {})["csr"]))
            names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)
        except (KeyError, ValueError, TypeError, x509.ExtensionNotFound) as e:
            return problem("badCSR", "cannot use the CSR: %s" % e)
        if sorted(names) != sorted(o["names"]):
            self.violations.append("CSR names %s differ from the order's %s" % (names, o["names"]))
            return problem("badCSR", "CSR names differ from the order's")
        o["csr"] = csr
        o["status"] = "processing"
        return Reply(200, self._order_json(oid), headers={"Location": self._url("/order/" + oid)})

    def _finish(self, oid):
        o = self._orders[oid]
        if self.scenario.after_finalize == "invalid":
            o["status"] = "invalid"
            o["error"] = self.scenario.order_error or {"type": ACME_ERROR + "serverInternal",
                                                       "detail": "issuance failed"}
            return
        o["pem"] = self._issue(o["csr"], o["names"])
        self._issued_to[self.issued[-1].serial_number] = json.dumps(o["jwk"], sort_keys=True)
        o["status"] = "valid"

    def _issue(self, csr, names):
        how = self.scenario.leaf
        key = csr.public_key() if how != "other-key" else ec.generate_private_key(ec.SECP256R1()).public_key()
        if how == "extra-name":
            names = names + ["intruder.example.test"]
        elif how == "missing-name":
            names = names[:-1]
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=90)
        if how == "expired":
            start, end = now - datetime.timedelta(days=91), now - datetime.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self._root.subject).public_key(key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._root_key.public_key()),
                           critical=False)
            .sign(self._root_key, hashes.SHA256())
        )
        self.issued.append(cert)
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii") + self.root_pem

    def _ep_cert(self, seen, oid):
        o = self._orders[oid]
        if o["status"] != "valid":
            return problem("malformed", "no certificate for this order", 404)
        return Reply(200, o["pem"].encode("ascii"), PEM_CHAIN)

    def _ep_acct(self, seen, _):
        url = self._url(seen.path)
        if (seen.payload or {}).get("status") == "deactivated":
            self.deactivated.add(url)
            return Reply(200, {"status": "deactivated"})
        return Reply(200, {"status": "valid"})

    def _ep_revokeCert(self, seen):
        """§7.6: the ordering account (kid) or the certificate's own key (jwk) may revoke it."""
        payload = seen.payload if isinstance(seen.payload, dict) else {}
        try:
            cert = x509.load_der_x509_certificate(_b64d(payload["certificate"]))
        except (KeyError, ValueError, TypeError) as e:
            return problem("malformed", "cannot read the certificate: %s" % e)
        serial = cert.serial_number
        if serial not in self._issued_to:
            return problem("malformed", "certificate not issued by this CA", 404)
        reason = payload.get("reason", 0)
        if not isinstance(reason, int) or isinstance(reason, bool) or reason not in _REASON_CODES:
            return problem("badRevocationReason", "reason %r is not an RFC 5280 reason code" % (reason,))
        prot = seen.protected
        if "jwk" in prot:
            allowed = _thumbprint(prot["jwk"]) == _thumbprint(_jwk_of(cert.public_key())) and \
                _signature_ok(prot["jwk"], seen.jws)
        else:
            owner = next((k for k, v in self._accounts.items() if v == prot.get("kid")), None)
            allowed = owner is not None and self._issued_to[serial] == owner
        if not allowed:
            return problem("unauthorized", "not authorized to revoke this certificate", 403)
        if serial in self.revoked:
            return problem("alreadyRevoked", "certificate %x is already revoked" % serial)
        self.revoked[serial] = reason
        return Reply(200, b"", None)


_REASON_CODES = frozenset(range(11)) - {7}       # RFC 5280 §5.3.1 CRLReason; 7 is not used


_ROUTES = [
    (re.compile(r"^/dir$"), "directory"),
    (re.compile(r"^/new-nonce$"), "newNonce"),
    (re.compile(r"^/new-acct$"), "newAccount"),
    (re.compile(r"^/new-order$"), "newOrder"),
    (re.compile(r"^/order/([\w-]+)$"), "order"),
    (re.compile(r"^/authz/([\w-]+)$"), "authz"),
    (re.compile(r"^/chall/([\w-]+)$"), "challenge"),
    (re.compile(r"^/finalize/([\w-]+)$"), "finalize"),
    (re.compile(r"^/cert/([\w-]+)$"), "cert"),
    (re.compile(r"^/acct/([\w-]+)$"), "acct"),
    (re.compile(r"^/renewal-info/([\w.-]+)$"), "renewalInfo"),
    (re.compile(r"^/revoke-cert$"), "revokeCert"),
]


def _route(path):
    for rx, name in _ROUTES:
        m = rx.match(path)
        if m:
            return name, m.groups()
    return "unknown", ()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as requests uses it

    def do_GET(self):
        self._serve()

    do_HEAD = do_POST = do_GET

    def _serve(self):
        ca = self.server.ca
        try:
            reply = ca.handle(self)
        except KeyError:
            reply = problem("malformed", "no such resource %s" % self.path, 404)
        body = reply.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Replay-Nonce", ca._nonce())
        self.send_header("Cache-Control", "no-store")
        if reply.ctype:
            self.send_header("Content-Type", reply.ctype)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if isinstance(body, bytes):
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if reply.length is not None:
            self.send_header("Content-Length", str(reply.length))
        else:
            self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        try:
            for chunk in body:
                self.wfile.write(chunk)
                ca.streamed["bytes"] += len(chunk)
            ca.streamed["complete"] = True
        except OSError:          # the client hung up: what we want it to do
            pass

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, ca, tls_context):
        self.ca, self.tls_context = ca, tls_context
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks up our FQDN: slow without DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        try:
            conn = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except OSError:
            pass
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        pass                     # a client that hangs up mid-body is part of the tests


# --- small helpers ---------------------------------------------------------------------------

def _b64d(text):
    text = text.encode("ascii") if isinstance(text, str) else text
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _thumbprint(jwk):
    """RFC 7638, written again here so the server does not trust the client's code."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canon = json.dumps({k: jwk[k] for k in members}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).decode().rstrip("=")


def _jwk_of(pub):
    """The public JWK of pub, written here independently of acme_aliyun.protocol.jose."""
    def b64(n, size=None):
        raw = n.to_bytes(size or max(1, (n.bit_length() + 7) // 8), "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    nums = pub.public_numbers()
    if isinstance(pub, rsa.RSAPublicKey):
        return {"kty": "RSA", "n": b64(nums.n), "e": b64(nums.e)}
    size = (pub.curve.key_size + 7) // 8
    return {"kty": "EC", "crv": {256: "P-256", 384: "P-384"}[pub.curve.key_size], "x": b64(nums.x, size),
            "y": b64(nums.y, size)}


def _signature_ok(jwk, jws):
    """Verify a flattened JWS (RS256, ES256, ES384) against jwk."""
    data = ("%s.%s" % (jws["protected"], jws["payload"])).encode("ascii")
    sig = _b64d(jws["signature"])
    try:
        if jwk["kty"] == "RSA":
            pub = rsa.RSAPublicNumbers(int.from_bytes(_b64d(jwk["e"]), "big"),
                                       int.from_bytes(_b64d(jwk["n"]), "big")).public_key()
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        curve, hash_ = {"P-256": (ec.SECP256R1(), hashes.SHA256()), "P-384": (ec.SECP384R1(), hashes.SHA384())}[
            jwk["crv"]]
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(_b64d(jwk["x"]), "big"),
                                            int.from_bytes(_b64d(jwk["y"]), "big"), curve).public_key()
        half = len(sig) // 2
        pub.verify(encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")),
                   data, ec.ECDSA(hash_))
        return True
    except Exception:
        return False


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _self_signed(key, cn):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
