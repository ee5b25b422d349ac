"""Function Compute 3.0 (2023-03-30) custom domains in their ROA shape, JSON in and out:
GET /2023-03-30/custom-domains (ListCustomDomains: limit 1..100, nextToken, prefix),
GET /2023-03-30/custom-domains/{domainName} (GetCustomDomain), PUT the same (UpdateCustomDomain).

Signature: V3 only (ACS3-HMAC-SHA256), checked with our own code: x-acs-action must name the
operation and x-acs-version be 2023-03-30; host, content-type (when sent) and every x-acs-*
header must be signed; x-acs-content-sha256 must be the body's digest; x-acs-date within 15
minutes; the nonce is single-use; an STS key needs x-acs-security-token. The V1 ROA scheme the
legacy core emits (`acs AK:sig`) is refused ([unconfirmed] whether FC accepts it: the stricter reading).

UpdateCustomDomain: certConfig needs all of certName, certificate and privateKey; the
certificate must parse, match the key, be unexpired and cover the domain; HTTPS needs a
certificate; tlsConfig needs minVersion and cipherSuites. Whether fields the body omits are kept
is [unconfirmed]: the stricter reading clears them (routes gone unless re-sent); ``keep_omitted``
(fc_keep_omitted(emu, True)) switches to keeping them. Reads return certConfig without the key.
A host naming a region (fcv3.<region>.aliyuncs.com, <account>.<region>.fc.aliyuncs.com) sees only
that region's domains; loopback sees all. Errors: JSON {Code, Message, RequestId}.
"""

import copy
import datetime
import hashlib
import hmac
import json
from typing import Dict
from urllib.parse import quote, unquote

from ..certs import CertProblem, load_upload
from ..errors import ApiError
from ..rest import Operation, RestReply, split_authorization

CODE = "FC"
VERSION = "2023-03-30"
BASE = "/%s/custom-domains" % VERSION
SKEW_S = 15 * 60
UPDATABLE = ("authConfig", "certConfig", "corsConfig", "protocol", "routeConfig", "tlsConfig", "wafConfig")
PROTOCOLS = ("HTTP", "HTTPS", "HTTP,HTTPS")
STATUS = {"DomainNameNotFound": 404, "InvalidArgument": 400, "SignatureDoesNotMatch": 403,
          "IncompleteSignature": 400, "InvalidVersion": 400, "InvalidAction.NotFound": 404,
          "InvalidTimeStamp.Expired": 400, "SignatureNonceUsed": 400, "Throttling": 429, "InternalError": 500,
          "ServiceUnavailable": 503}


class FcState:
    def __init__(self):
        self.domains: Dict[str, dict] = {}     # domain -> the stored object (certConfig.privateKey kept)
        self.regions: Dict[str, str] = {}
        self.uploads: Dict[str, object] = {}   # domain -> certs.UploadedCert
        self.keep_omitted = False


def _state(ctx_state) -> FcState:
    return ctx_state.extra.setdefault(CODE, FcState())


def _iso(when=None):
    return (when or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- admin helpers (tests) -------------------------------------------------------------------------

def add_custom_domain(emu, domain, region="cn-hangzhou", protocol="HTTP", route_config=None, **more):
    """A custom domain (no certificate) with its routes and any other stored fields (camelCase)."""
    with emu._state.lock:
        st = _state(emu._state)
        obj = {"domainName": domain.lower(), "protocol": protocol, "accountId": "1234567890123456",
               "apiVersion": VERSION, "createdTime": _iso(), "lastModifiedTime": _iso(), "subdomainCount": "1",
               "routeConfig": route_config or {"routes": [{"path": "/*", "functionName": "web", "qualifier": "LATEST",
                                                           "methods": ["GET", "POST"]}]}}
        obj.update(more)
        st.domains[domain.lower()] = obj
        st.regions[domain.lower()] = region


def fc_keep_omitted(emu, keep=True):
    with emu._state.lock:
        _state(emu._state).keep_omitted = keep


def domain_state(emu, domain):
    """dict: the stored object (deep copy, certConfig with privateKey) plus serial and not_after."""
    with emu._state.lock:
        st = _state(emu._state)
        out = copy.deepcopy(st.domains[domain.lower()])
        upload = st.uploads.get(domain.lower())
        out["serial"] = upload.serial if upload else None
        out["not_after"] = upload.not_after if upload else None
        return out


# --- signature -----------------------------------------------------------------------------------

def claims(req):
    return req.path.startswith("/%s/" % VERSION) or req.path == "/" + VERSION


def _rfc3986(text, keep_slash):
    return quote(text, safe="-_.~" + ("/" if keep_slash else ""))


def authenticate(auth, req):
    ok, parts = split_authorization(req.headers.get("authorization", ""), "ACS3-HMAC-SHA256")
    if not ok or not all(parts.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
        raise ApiError("IncompleteSignature", "Only ACS3-HMAC-SHA256 signatures are accepted.")
    h = req.headers
    signed = parts["SignedHeaders"].split(";")
    needed = {"host"} | {k for k in h if k.startswith("x-acs-")} | ({"content-type"} if "content-type" in h else set())
    if signed != sorted(signed) or not needed <= set(signed) or not all(k in h for k in signed):
        raise ApiError("IncompleteSignature", "SignedHeaders must list host, content-type and every x-acs- header.")
    if h.get("x-acs-version") != VERSION:
        raise ApiError("InvalidVersion", "x-acs-version must be %s." % VERSION)
    if h.get("x-acs-content-sha256") != hashlib.sha256(req.body).hexdigest():
        raise ApiError("SignatureDoesNotMatch", "x-acs-content-sha256 is not the digest of the body.")
    _fresh(h.get("x-acs-date", ""))
    secret = auth.secret_for(parts["Credential"], h.get("x-acs-security-token"))
    path = "/".join(_rfc3986(unquote(seg), False) for seg in req.path.split("/"))
    query = "&".join("%s=%s" % (_rfc3986(k, False), _rfc3986(v, False)) for k, v in sorted(req.query.items()))
    canonical = "\n".join([req.method, path, query, "".join("%s:%s\n" % (k, h[k].strip()) for k in signed),
                           ";".join(signed), h["x-acs-content-sha256"]])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    mine = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mine, parts["Signature"]):
        raise ApiError("SignatureDoesNotMatch", "The request signature does not match.")
    auth.use_nonce(parts["Credential"], h.get("x-acs-signature-nonce") or "")
    return parts["Credential"]


def _fresh(stamp):
    try:
        when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ApiError("IncompleteSignature", "x-acs-date is missing or malformed.") from None
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > SKEW_S:
        raise ApiError("InvalidTimeStamp.Expired")


# --- operations --------------------------------------------------------------------------------

def operation(req):
    path = req.path.rstrip("/")
    action = req.headers.get("x-acs-action")
    if path == BASE and req.method == "GET":
        op = Operation("ListCustomDomains", list_domains)
    elif path.startswith(BASE + "/") and "/" not in path[len(BASE) + 1:] and req.method == "GET":
        op = Operation("GetCustomDomain", get_domain)
    elif path.startswith(BASE + "/") and "/" not in path[len(BASE) + 1:] and req.method == "PUT":
        op = Operation("UpdateCustomDomain", update_domain, write=True)
    else:
        raise ApiError("InvalidAction.NotFound", "No such operation: %s %s" % (req.method, req.path))
    if action != op.name:
        raise ApiError("InvalidAction.NotFound", "x-acs-action %r does not name %s." % (action, op.name))
    return op


def _region_of(req):
    labels = req.host.split(":")[0].lower().split(".")
    if labels[0] == "fcv3" and len(labels) >= 4:
        return labels[1]
    if len(labels) >= 5 and labels[2] == "fc":
        return labels[1]
    return None


def _domain(ctx, req):
    name = unquote(req.path.rstrip("/").rsplit("/", 1)[1]).lower()
    st = _state(ctx.state)
    region = _region_of(req)
    if name not in st.domains or (region and st.regions[name] != region):
        raise ApiError("DomainNameNotFound", "custom domain '%s' does not exist" % name)
    return name


def _public(obj):
    out = copy.deepcopy(obj)
    if isinstance(out.get("certConfig"), dict):
        out["certConfig"].pop("privateKey", None)
    return out


def _json(status, doc):
    return RestReply(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})


def get_domain(ctx, req):
    return _json(200, _public(_state(ctx.state).domains[_domain(ctx, req)]))


def list_domains(ctx, req):
    st = _state(ctx.state)
    try:
        limit = int(req.query.get("limit") or 20)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError("InvalidArgument", "limit must be within 1..100")
    region = _region_of(req)
    names = sorted(n for n in st.domains if n.startswith(req.query.get("prefix", ""))
                   and (not region or st.regions[n] == region) and n > req.query.get("nextToken", ""))
    page = names[:limit]
    doc = {"customDomains": [_public(st.domains[n]) for n in page]}
    if len(names) > limit:
        doc["nextToken"] = page[-1]
    return _json(200, doc)


def _body(req):
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError("InvalidArgument", "the body must be a JSON object (UpdateCustomDomainInput)")
    unknown = set(body) - set(UPDATABLE)
    if unknown:
        raise ApiError("InvalidArgument", "unknown field(s): %s" % ", ".join(sorted(unknown)))
    if "protocol" in body and body["protocol"] not in PROTOCOLS:
        raise ApiError("InvalidArgument", "protocol must be one of %s" % ", ".join(PROTOCOLS))
    tls = body.get("tlsConfig")
    if tls is not None and not (isinstance(tls, dict) and tls.get("minVersion") and tls.get("cipherSuites")):
        raise ApiError("InvalidArgument", "tlsConfig.minVersion and tlsConfig.cipherSuites are required")
    return body


def _certificate(name, cert):
    if not isinstance(cert, dict):
        raise ApiError("InvalidArgument", "certConfig must be an object")
    for field in ("certName", "certificate", "privateKey"):
        if not cert.get(field):
            raise ApiError("InvalidArgument", "certConfig.%s is required" % field)
    try:
        upload = load_upload(cert["certificate"], cert["privateKey"])
    except CertProblem as problem:
        raise ApiError("InvalidArgument", "certConfig: the certificate or key is invalid (%s)" % problem.kind) from None
    if upload.expired() or not upload.covers(name):
        raise ApiError("InvalidArgument", "certConfig: the certificate is expired or does not cover %s" % name)
    return upload


def update_domain(ctx, req):
    st = _state(ctx.state)
    name = _domain(ctx, req)
    body = _body(req)
    upload = _certificate(name, body["certConfig"]) if "certConfig" in body else st.uploads.get(name)
    stored = st.domains[name]
    new = {k: v for k, v in stored.items() if k not in UPDATABLE or st.keep_omitted or k in ("protocol", "certConfig")}
    new.update(copy.deepcopy(body))
    if "HTTPS" in new.get("protocol", "HTTP") and upload is None:
        raise ApiError("InvalidArgument", "protocol %s needs certConfig" % new["protocol"])
    new["lastModifiedTime"] = _iso()
    st.domains[name] = new
    if upload is not None:
        st.uploads[name] = upload
    return _json(200, _public(new))


# --- answers -------------------------------------------------------------------------------------

def error(err, request_id, req):
    code = {"Throttling.User": "Throttling"}.get(err.code, err.code)
    return _json(err.http_status or STATUS.get(code, 400),
                 {"Code": code, "Message": err.message or code, "RequestId": request_id})


def error_code(reply):
    if reply.status < 300:
        return None
    try:
        return json.loads(reply.body).get("Code")
    except ValueError:
        return "HTTP%d" % reply.status


def body_keys(req):
    try:
        body = json.loads(req.body) if req.body else {}
    except ValueError:
        return ()
    if not isinstance(body, dict):
        return ()
    keys = set(body)
    if isinstance(body.get("certConfig"), dict):
        keys |= {"certConfig." + k for k in body["certConfig"]}
    return tuple(sorted(keys))


class _Product:
    code = CODE
    version = VERSION
    request_id_header = "x-acs-request-id"
    throttle_code = "Throttling.User"
    qps = {"ListCustomDomains": 10, "GetCustomDomain": 10, "UpdateCustomDomain": 10}   # [assumed]
    seeds = {"fc_custom_domains": add_custom_domain}   # standalone config: [{"domain", "region", ...}]

    claims = staticmethod(claims)
    operation = staticmethod(operation)
    error = staticmethod(error)
    error_code = staticmethod(error_code)
    body_keys = staticmethod(body_keys)

    def authenticate(self, auth, req):
        return authenticate(auth, req)


PRODUCT = _Product()
