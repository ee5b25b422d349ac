"""Object Storage Service bucket custom domains (CNAME), as oss2 2.19.1 calls them: ListCname
(GET /?cname) and PutCname (POST /?cname&comp=add with a BucketCnameConfiguration XML body).

Addressing: virtual-hosted (Host <bucket>.oss-<region>.aliyuncs.com) or, on a loopback endpoint
where oss2 switches to path style, the bucket as the first path segment. Signatures, checked with
our own code: V4 (OSS4-HMAC-SHA256, scope <date>/<region>/oss/aliyun_v4_request; the scope's region
must be the bucket's: AccessDenied otherwise, as the real service answers a bucket addressed at
another region's endpoint) and V1 (OSS <AK>:<HMAC-SHA1>). Dates within 15 minutes
(RequestTimeTooSkewed); an STS key needs its x-oss-security-token.

PutCname: the domain must already be bound to the bucket (binding needs the CNAME-token check,
refused here with NeedVerifyDomainOwnership [assumed code]). CertId is '<id>-<CAS site>'; a CAS
certificate that does not exist there is CertificateInvalidCasId (EC 0018-00000204). A bare id is
[unconfirmed]: refused unless ACCEPT_BARE_ID. Certificate+PrivateKey inline creates a CAS certificate
(source "oss"). While the domain has a certificate, PreviousCertId must name it unless Force is
'true' (EC 0018-00000209). Force/DeleteCertificate take 'true'/'false'; oss2's str(True) 'True' is
[unconfirmed]: refused unless ACCEPT_TITLE_CASE_BOOL. A certificate that is expired or does not
cover the domain is InvalidArgument [assumed]. Errors are OSS's XML <Error> with an EC.
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certs import CertProblem, load_upload
from ..errors import ApiError
from ..rest import Operation, RestReply, split_authorization

CODE = "Oss"
SKEW_S = 15 * 60
ACCEPT_BARE_ID = False
ACCEPT_TITLE_CASE_BOOL = False
SUBRESOURCES = frozenset(("acl", "cname", "comp", "location", "bucketInfo"))
STATUS = {"NoSuchBucket": 404, "SignatureDoesNotMatch": 403, "InvalidAccessKeyId": 403, "AccessDenied": 403,
          "RequestTimeTooSkewed": 403, "InvalidSecurityToken": 403, "CertificateInvalidCasId": 400,
          "InvalidArgument": 400, "NeedVerifyDomainOwnership": 400, "MalformedXML": 400,
          "ServiceUnavailable": 503, "InternalError": 500, "MissingSecurityHeader": 400}
EC = {"CertificateInvalidCasId": "0018-00000204", "NoSuchBucket": "0015-00000101",
      "SignatureDoesNotMatch": "0002-00000040"}


class OssError(ApiError):
    """An error answer with OSS's EC (error-centre) code."""

    def __init__(self, code, message, ec):
        super().__init__(code, message)
        self.ec = ec


@dataclass
class CnameCert:
    cert_id: str             # '<id>-<site>'
    kind: str                # "CAS" or "Upload"
    upload: object           # certs.UploadedCert
    created_at: datetime.datetime


@dataclass
class Cname:
    domain: str
    last_modified: datetime.datetime
    cert: Optional[CnameCert] = None


@dataclass
class Bucket:
    name: str
    region: str
    cnames: Dict[str, Cname] = field(default_factory=dict)


class OssState:
    def __init__(self):
        self.buckets: Dict[str, Bucket] = {}

    def serving(self, stored):
        """Custom domains whose certificate is the CAS entry ``stored`` (CAS refuses deleting it)."""
        ident = "%d-%s" % (stored.cert_id, stored.site)
        return [c.domain for b in self.buckets.values() for c in b.cnames.values()
                if c.cert and c.cert.cert_id == ident]


def _state(ctx_state) -> OssState:
    return ctx_state.extra.setdefault(CODE, OssState())


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# --- admin helpers (tests) -------------------------------------------------------------------------

def add_bucket(emu, name, region="cn-hangzhou", domains=()):
    """A bucket in ``region`` with custom ``domains`` bound (verified, no certificate yet)."""
    with emu._state.lock:
        bucket = Bucket(name, region)
        bucket.cnames = {d.lower(): Cname(d.lower(), _now()) for d in domains}
        _state(emu._state).buckets[name] = bucket


def cname_state(emu, bucket, domain):
    """dict: domain, cert_id ('<id>-<site>' or None), cert_type, serial, fingerprint (SHA-256 hex),
    not_after, cert_pem."""
    with emu._state.lock:
        c = _state(emu._state).buckets[bucket].cnames[domain.lower()]
        u = c.cert.upload if c.cert else None
        return {"domain": c.domain, "cert_id": c.cert.cert_id if c.cert else None,
                "cert_type": c.cert.kind if c.cert else None, "serial": u.serial if u else None,
                "fingerprint": u.fingerprint if u else None, "not_after": u.not_after if u else None,
                "cert_pem": u.pem if u else None}


# --- addressing and signatures -------------------------------------------------------------------

def claims(req):
    auth = req.headers.get("authorization", "")
    return auth.startswith(("OSS ", "OSS4-HMAC-SHA256 ")) or "x-oss-date" in req.headers


def _bucket_and_key(req):
    host = req.host.split(":")[0].lower()
    if host.endswith(".aliyuncs.com") and not host.startswith("oss-"):
        return host.split(".")[0], unquote(req.path.lstrip("/"))
    first, _, rest = req.path.lstrip("/").partition("/")
    return unquote(first), unquote(rest)


def _enc(text, keep_slash):
    return quote(text, safe="-_.~" + ("/" if keep_slash else ""))


def authenticate(auth, req):
    value = req.headers.get("authorization", "")
    if value.startswith("OSS4-HMAC-SHA256 "):
        return _v4(auth, req, value)
    if value.startswith("OSS "):
        return _v1(auth, req, value)
    raise ApiError("AccessDenied", "Anonymous access is forbidden for this operation.")


def _secret(auth, key_id, req):
    try:
        return auth.secret_for(key_id, req.headers.get("x-oss-security-token"))
    except ApiError as e:
        raise ApiError("InvalidAccessKeyId" if e.code.startswith("InvalidAccessKeyId") else "InvalidSecurityToken",
                       "The OSS Access Key Id you provided does not exist in our records." if
                       e.code.startswith("InvalidAccessKeyId") else "The security token you provided is invalid.")


def _v4(auth, req, value):
    _, parts = split_authorization(value, "OSS4-HMAC-SHA256")
    cred = parts.get("Credential", "").split("/")
    stamp = req.headers.get("x-oss-date", "")
    if len(cred) != 5 or cred[3:] != ["oss", "aliyun_v4_request"] or not parts.get("Signature"):
        raise ApiError("InvalidArgument", "Authorization header is malformed.")
    key_id, day, region = cred[0], cred[1], cred[2]
    _fresh(stamp, "%Y%m%dT%H%M%SZ")
    if stamp[:8] != day or "x-oss-content-sha256" not in req.headers:
        raise ApiError("InvalidArgument", "x-oss-date / x-oss-content-sha256 do not fit the credential scope.")
    secret = _secret(auth, key_id, req)
    bucket, key = _bucket_and_key(req)
    extra = [h for h in parts.get("AdditionalHeaders", "").split(";") if h]
    signed = sorted((k, v) for k, v in req.headers.items()
                    if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in extra)
    query = sorted((_enc(k, False), _enc(v, False)) for k, v in req.query.items())
    canonical = "\n".join([
        req.method, _enc("/%s/%s" % (bucket, key) if bucket else "/", True),
        "&".join(k + ("=" + v if v else "") for k, v in query),
        "".join("%s:%s\n" % kv for kv in signed), ";".join(sorted(extra)),
        req.headers["x-oss-content-sha256"]])
    scope = "%s/%s/oss/aliyun_v4_request" % (day, region)
    to_sign = "OSS4-HMAC-SHA256\n%s\n%s\n%s" % (stamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
    signing = ("aliyun_v4" + secret).encode()
    for part in (day, region, "oss", "aliyun_v4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest(), parts["Signature"]):
        raise ApiError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                       "you provided.")
    req.sign_region = region      # checked against the bucket's region once the bucket is looked up
    return key_id


def _v1(auth, req, value):
    key_id, _, sent = value[4:].partition(":")
    date = req.headers.get("x-oss-date") or req.headers.get("date", "")
    _fresh(date, None)
    secret = _secret(auth, key_id, req)
    bucket, key = _bucket_and_key(req)
    oss_headers = "".join("%s:%s\n" % kv for kv in sorted((k, v) for k, v in req.headers.items()
                                                          if k.startswith("x-oss-")))
    subs = sorted((k, v) for k, v in req.query.items() if k in SUBRESOURCES)
    resource = ("/%s/%s" % (bucket, key) if bucket else "/") + (
        "?" + "&".join(k + ("=" + v if v else "") for k, v in subs) if subs else "")
    to_sign = "\n".join([req.method, req.headers.get("content-md5", ""), req.headers.get("content-type", ""), date,
                         oss_headers + resource])
    mine = base64.b64encode(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(mine, sent):
        raise ApiError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                       "you provided.")
    return key_id


def _fresh(stamp, fmt):
    try:
        when = (datetime.datetime.strptime(stamp, fmt).replace(tzinfo=datetime.timezone.utc) if fmt
                else email.utils.parsedate_to_datetime(stamp))
    except (TypeError, ValueError):
        raise ApiError("AccessDenied", "Date header is missing or malformed.") from None
    if abs((_now() - when).total_seconds()) > SKEW_S:
        raise ApiError("RequestTimeTooSkewed", "The difference between the request time and the current time "
                       "is too large.")


# --- operations --------------------------------------------------------------------------------

def operation(req):
    if "cname" in req.query:
        if req.method == "GET" and "comp" not in req.query:
            return Operation("ListCname", list_cname)
        if req.method == "POST" and req.query.get("comp") == "add":
            return Operation("PutCname", put_cname, write=True)
    raise ApiError("InvalidArgument", "This emulator serves only ListCname and PutCname.")


def _bucket(ctx, req):
    name, _ = _bucket_and_key(req)
    found = _state(ctx.state).buckets.get(name)
    if found is None:
        raise ApiError("NoSuchBucket", "The specified bucket does not exist.")
    if req.sign_region and req.sign_region != found.region:
        raise ApiError("AccessDenied", "The bucket you are attempting to access must be addressed using the "
                       "specified endpoint (region %s)." % found.region)
    return found


def _rfc1123(when):
    return email.utils.format_datetime(when, usegmt=True)


def _sha1_colons(upload):
    der = x509.load_pem_x509_certificate(upload.leaf_pem.encode()).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the fingerprint OSS shows
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def list_cname(ctx, req):
    bucket = _bucket(ctx, req)
    root = ET.Element("ListCnameResult")
    ET.SubElement(root, "Bucket").text = bucket.name
    ET.SubElement(root, "Owner").text = "1234567890123456"
    for c in sorted(bucket.cnames.values(), key=lambda c: c.domain):
        node = ET.SubElement(root, "Cname")
        for tag, text in (("Domain", c.domain), ("LastModified", c.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
                          ("Status", "Enabled"), ("IsPurgeCdnCache", "false")):
            ET.SubElement(node, tag).text = text
        if c.cert is not None:
            cert = ET.SubElement(node, "Certificate")
            u = c.cert.upload
            for tag, text in (("Type", c.cert.kind), ("CertId", c.cert.cert_id), ("Status", "Enabled"),
                              ("CreationDate", _rfc1123(c.cert.created_at)), ("Fingerprint", _sha1_colons(u)),
                              ("ValidStartDate", _rfc1123(u.not_before)), ("ValidEndDate", _rfc1123(u.not_after))):
                ET.SubElement(cert, tag).text = text
    return RestReply(200, b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root),
                     {"Content-Type": "application/xml"})


def _config(req):
    try:
        root = ET.fromstring(req.body)
    except ET.ParseError:
        raise ApiError("MalformedXML", "The XML you provided was not well-formed.") from None
    domain = (root.findtext("Cname/Domain") or "").strip().lower()
    if root.tag != "BucketCnameConfiguration" or not domain:
        raise ApiError("MalformedXML", "BucketCnameConfiguration/Cname/Domain is required.")
    conf = root.find("Cname/CertificateConfiguration")
    fields = {child.tag: (child.text or "") for child in conf} if conf is not None else None
    return domain, fields


def _flag(fields, name):
    value = fields.get(name)
    if value is None:
        return False
    if value in ("true", "false") or (ACCEPT_TITLE_CASE_BOOL and value in ("True", "False")):
        return value.lower() == "true"
    raise ApiError("InvalidArgument", "%s must be true or false." % name)


def put_cname(ctx, req):
    bucket = _bucket(ctx, req)
    domain, fields = _config(req)
    cname = bucket.cnames.get(domain)
    if cname is None:
        raise ApiError("NeedVerifyDomainOwnership", "Bind %s with a CNAME token first." % domain)
    if fields is None:
        return RestReply(200)
    force = _flag(fields, "Force")
    if _flag(fields, "DeleteCertificate"):
        cname.cert, cname.last_modified = None, _now()
        return RestReply(200)
    if cname.cert is not None and not force and fields.get("PreviousCertId") != cname.cert.cert_id:
        raise OssError("InvalidArgument", "PreviousCertId does not match the domain's certificate; "
                       "set Force to true to replace it.", "0018-00000209")
    cert = _from_cas(ctx, fields) if fields.get("CertId") else _inline(ctx, fields, bucket, domain)
    if cert.upload.expired() or not cert.upload.covers(domain):
        raise ApiError("InvalidArgument", "The certificate is expired or does not match the domain %s." % domain)
    cname.cert, cname.last_modified = cert, _now()
    return RestReply(200)


def _from_cas(ctx, fields):
    m = re.match(r"^(\d+)-([a-z0-9-]+)$", fields["CertId"])
    if m is None and ACCEPT_BARE_ID and fields["CertId"].isdigit():
        m = re.match(r"^(\d+)(-)?(cn-hangzhou)?$", fields["CertId"] + "-cn-hangzhou")
    stored = ctx.state.certs.get(m.group(2), int(m.group(1))) if m else None
    if stored is None:
        raise ApiError("CertificateInvalidCasId", "The certificate id is not exist or not belong to the owner "
                       "of the bucket.")
    return CnameCert(stored.identifier, "CAS", stored.upload, _now())


def _inline(ctx, fields, bucket, domain):
    try:
        upload = load_upload(fields.get("Certificate"), fields.get("PrivateKey"))
    except CertProblem as problem:
        raise ApiError("InvalidArgument", "The certificate or private key is invalid (%s)." % problem.kind) from None
    stored = ctx.state.certs.add("oss-%s-%s" % (bucket.name, secrets.token_hex(4)), upload, "cn-hangzhou", "oss",
                                 {"name": "InvalidArgument", "content": None}, refuse_content=False)
    return CnameCert(stored.identifier, "Upload", upload, _now())


# --- answers -------------------------------------------------------------------------------------

def error(err, request_id, req):
    code = {"Throttling.User": "ServiceUnavailable"}.get(err.code, err.code)
    root = ET.Element("Error")
    ec = getattr(err, "ec", None) or EC.get(code, "0000-00000000")
    bucket, _ = _bucket_and_key(req)
    for tag, text in (("Code", code), ("Message", err.message or code), ("RequestId", request_id),
                      ("HostId", req.host or "oss-cn-hangzhou.aliyuncs.com"), ("BucketName", bucket), ("EC", ec)):
        ET.SubElement(root, tag).text = text
    return RestReply(err.http_status or STATUS.get(code, 400),
                     b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root),
                     {"Content-Type": "application/xml"})


def error_code(reply):
    if reply.status < 300:
        return None
    m = re.search(rb"<Code>([^<]*)</Code>", reply.body)
    return m.group(1).decode() if m else "HTTP%d" % reply.status


def body_keys(req):
    try:
        conf = ET.fromstring(req.body).find("Cname/CertificateConfiguration") if req.body else None
    except ET.ParseError:
        return ()
    return tuple(sorted(child.tag for child in conf)) if conf is not None else ()


class _Product:
    code = CODE
    version = "oss2"
    request_id_header = "x-oss-request-id"
    throttle_code = "Throttling.User"
    qps = {"ListCname": 10, "PutCname": 10}      # [assumed]: no documented figure
    seeds = {"oss_buckets": add_bucket}          # standalone config: [{"name", "region", "domains"}]

    claims = staticmethod(claims)
    operation = staticmethod(operation)
    error = staticmethod(error)
    error_code = staticmethod(error_code)
    body_keys = staticmethod(body_keys)

    def authenticate(self, auth, req):
        return authenticate(auth, req)


PRODUCT = _Product()
