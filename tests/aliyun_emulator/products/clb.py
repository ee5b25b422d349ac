"""CLB (classic load balancer), Slb 2014-05-15 (RPC): server certificates, HTTPS listeners, domain extensions.

Why: issue 13 deploys certificates to CLB HTTPS listeners. Facts from
/work/shared/reference/aliyun-targets.md section 3 and the request classes of aliyun-python-sdk-slb 3.3.22.

State (kept in ``State.extra["clb"]``): load balancers per region with HTTPS (or other) listeners by port,
each HTTPS listener with its default ServerCertificateId and its domain extensions; server certificates per
region, uploaded inline (ServerCertificate + PrivateKey) or made from a CAS certificate (AliCloudCertificateId
+ AliCloudCertificateName [+ AliCloudCertificateRegionId, default cn-hangzhou]); the server certificate keeps
its own copy of the certificate, as CLB does. Everything is regional: a LoadBalancerId or
ServerCertificateId asked for with another RegionId is not found.

Documented refusals: DeleteServerCertificate of a certificate a listener uses ->
CertificateAndPrivateKeyIsRefered, one a domain extension uses -> CertificateRelatedDomainExtensionExist.
Codes the reference does not give are the emulator's choice [assumed]: InvalidLoadBalancerId.NotFound,
ListenerNotExists, ServerCertificateId.NotFound, DomainExtensionExist, DomainExtensionNotExist,
AliCloudCertificate.NotFound, CertificateNotMatchDomain; certificate/key problems are InvalidParameter naming
the parameter.

Strict readings of UNCONFIRMED points, with their switches (EmulatorConfig.product_options["clb"]):
* ``check_domain`` (True): a domain extension's certificate must cover its domain;
* ``cas_in_use`` (True): CAS refuses to delete a certificate a CLB server certificate was made from
  (CertificateInUse), through State.cas_users;
* ``fingerprint`` ("sha256"): the Fingerprint field is colon-separated SHA-256 of the leaf ("sha1" the other
  plausible reading);
* ``refuse_expired`` (True): an expired certificate is refused on upload.
"""

import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certs import CertProblem, UploadedCert, load_upload
from ..errors import CATALOGUE, ApiError, invalid
from ..state import epoch_ms, utcnow
from .base import Action, Context, Params, Product, iso_z

KEY = "clb"
OPTIONS = {"check_domain": True, "cas_in_use": True, "fingerprint": "sha256", "refuse_expired": True}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,79}$")

CATALOGUE.update({
    "InvalidLoadBalancerId.NotFound": (404, "The specified LoadBalancerId does not exist."),   # [assumed]
    "ListenerNotExists": (400, "The specified listener does not exist."),                       # [assumed]
    "ServerCertificateId.NotFound": (404, "The specified ServerCertificateId does not exist."),  # [assumed]
    "CertificateAndPrivateKeyIsRefered": (400, "The specified certificate is in use by a listener."),
    "CertificateRelatedDomainExtensionExist": (400, "The certificate is used by a domain extension."),
    "DomainExtensionExist": (400, "A domain extension for this domain already exists."),         # [assumed]
    "DomainExtensionNotExist": (404, "The specified domain extension does not exist."),          # [assumed]
    "AliCloudCertificate.NotFound": (404, "The specified Alibaba Cloud certificate does not exist."),  # [assumed]
    "CertificateNotMatchDomain": (400, "The certificate does not match the domain."),            # [assumed]
})


@dataclass
class ServerCert:
    cert_id: str
    name: str
    region: str
    upload: UploadedCert
    created_at: datetime.datetime
    ali_id: Optional[int] = None       # the CAS certificate it was made from
    ali_name: str = ""
    ali_region: str = ""


@dataclass
class DomainExt:
    ext_id: str
    domain: str
    cert_id: str


@dataclass
class Listener:
    port: int
    protocol: str = "https"
    cert_id: str = ""                  # default server certificate
    extensions: Dict[str, DomainExt] = field(default_factory=dict)   # id -> extension


@dataclass
class LoadBalancer:
    lb_id: str
    region: str
    listeners: Dict[int, Listener] = field(default_factory=dict)


@dataclass
class ClbState:
    lbs: Dict[str, LoadBalancer] = field(default_factory=dict)
    certs: Dict[str, ServerCert] = field(default_factory=dict)
    cas_in_use: bool = True            # OPTIONS["cas_in_use"], set from the config on use


def state_of(state) -> ClbState:
    """The CLB part of the emulator state (created, with its CAS hook, on first use)."""
    with state.lock:
        if KEY not in state.extra:
            state.extra[KEY] = ClbState()
            state.cas_users.append(lambda stored, s=state: _cas_users(s, stored))
        return state.extra[KEY]


def _cas_users(state, stored):
    clb = state.extra[KEY]
    return ["clb server certificate " + c.cert_id for c in clb.certs.values()
            if clb.cas_in_use and c.ali_id == stored.cert_id and c.ali_region == stored.site]


def _opt(ctx, name):
    return ctx.config.option(KEY, name, OPTIONS)


def region_of(params: Params) -> str:
    return params.get("RegionId") or "cn-hangzhou"


# --- lookups ------------------------------------------------------------------------------------------

def _lb(ctx, params) -> LoadBalancer:
    lb = state_of(ctx.state).lbs.get(params.require("LoadBalancerId"))
    if lb is None or lb.region != region_of(params):
        raise ApiError("InvalidLoadBalancerId.NotFound", "The specified LoadBalancerId %s does not exist in %s."
                       % (params.require("LoadBalancerId"), region_of(params)))
    return lb


def _https_listener(ctx, params) -> Listener:
    lb = _lb(ctx, params)
    port = params.integer("ListenerPort", None, minimum=1, maximum=65535)
    if port is None:
        params.require("ListenerPort")
    listener = lb.listeners.get(port)
    if listener is None or listener.protocol != "https":
        raise ApiError("ListenerNotExists", "The HTTPS listener %s:%d does not exist." % (lb.lb_id, port))
    return listener


def _server_cert(ctx, params, name="ServerCertificateId") -> ServerCert:
    cert = state_of(ctx.state).certs.get(params.require(name))
    if cert is None or cert.region != region_of(params):
        raise ApiError("ServerCertificateId.NotFound")
    return cert


def _check_covers(ctx, cert: ServerCert, domain: str) -> None:
    if _opt(ctx, "check_domain") and not cert.upload.covers(domain):
        raise ApiError("CertificateNotMatchDomain", "The certificate does not match the domain %s." % domain)


# --- server certificates ------------------------------------------------------------------------------

def upload_server_certificate(ctx: Context, params: Params) -> dict:
    name = params.get("ServerCertificateName") or "cert-" + secrets.token_hex(4)
    if not _NAME.match(name):
        raise invalid("ServerCertificateName", "1-80 characters, starting with a letter: letters, digits, . _ -")
    ali_id = params.get("AliCloudCertificateId")
    if ali_id:
        upload, ali = _from_cas(ctx, params, ali_id)
    elif params.get("ServerCertificate") or params.get("PrivateKey"):
        upload, ali = _inline(ctx, params), (None, "", "")
    else:
        raise ApiError("MissingParameter", "Give ServerCertificate and PrivateKey, or AliCloudCertificateId.")
    clb = state_of(ctx.state)
    clb.cas_in_use = _opt(ctx, "cas_in_use")
    cert = ServerCert("%s-%s" % (secrets.token_hex(8), region_of(params)), name, region_of(params), upload,
                      utcnow(), *ali)
    clb.certs[cert.cert_id] = cert
    return _cert_item(ctx, cert)


def _from_cas(ctx, params, ali_id):
    params.require("AliCloudCertificateName")
    site = params.get("AliCloudCertificateRegionId", "cn-hangzhou")
    try:
        stored = ctx.state.certs.get(site, int(ali_id))
    except ValueError:
        raise invalid("AliCloudCertificateId") from None
    if stored is None:
        raise ApiError("AliCloudCertificate.NotFound")
    return stored.upload, (stored.cert_id, params.get("AliCloudCertificateName"), site)


def _inline(ctx: Context, params: Params) -> dict:
    cert_pem, key_pem = params.require("ServerCertificate"), params.require("PrivateKey")
    try:
        upload = load_upload(cert_pem, key_pem)
    except CertProblem as problem:
        raise invalid({"format": "ServerCertificate", "key": "PrivateKey"}.get(problem.kind, "PrivateKey"),
                      "The certificate and private key do not form a valid pair.") from None
    if upload.expired() and _opt(ctx, "refuse_expired"):
        raise invalid("ServerCertificate", "The certificate has expired.")
    return upload


def _fingerprint(ctx, upload):
    der = x509.load_pem_x509_certificate(upload.leaf_pem.encode()).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der) if _opt(ctx, "fingerprint") == "sha1" else hashlib.sha256(der)  # noqa: S324
    return ":".join("%02x" % b for b in digest.digest())


def _cert_item(ctx, cert: ServerCert) -> dict:
    u = cert.upload
    return {"ServerCertificateId": cert.cert_id, "ServerCertificateName": cert.name, "RegionId": cert.region,
            "Fingerprint": _fingerprint(ctx, u), "CommonName": u.common_name,
            "SubjectAlternativeNames": {"SubjectAlternativeName": list(u.dns_names)},
            "ExpireTime": iso_z(u.not_after), "ExpireTimeStamp": epoch_ms(u.not_after),
            "CreateTime": iso_z(cert.created_at), "CreateTimeStamp": epoch_ms(cert.created_at),
            "IsAliCloudCertificate": 1 if cert.ali_id else 0,
            "AliCloudCertificateId": str(cert.ali_id) if cert.ali_id else "",
            "AliCloudCertificateName": cert.ali_name, "ResourceGroupId": "rg-emulator"}


def describe_server_certificates(ctx: Context, params: Params) -> dict:
    wanted = params.get("ServerCertificateId")
    certs = [c for c in state_of(ctx.state).certs.values()
             if c.region == region_of(params) and (not wanted or c.cert_id == wanted)]
    return {"ServerCertificates": {"ServerCertificate": [_cert_item(ctx, c) for c in certs]}}


def delete_server_certificate(ctx: Context, params: Params) -> dict:
    cert = _server_cert(ctx, params)
    for lb in state_of(ctx.state).lbs.values():
        for listener in lb.listeners.values():
            if listener.cert_id == cert.cert_id:
                raise ApiError("CertificateAndPrivateKeyIsRefered")
            if any(e.cert_id == cert.cert_id for e in listener.extensions.values()):
                raise ApiError("CertificateRelatedDomainExtensionExist")
    del state_of(ctx.state).certs[cert.cert_id]
    return {}


# --- listeners and domain extensions ------------------------------------------------------------------

def _ext_item(ext: DomainExt) -> dict:
    return {"DomainExtensionId": ext.ext_id, "Domain": ext.domain, "ServerCertificateId": ext.cert_id}


def describe_https_listener(ctx: Context, params: Params) -> dict:
    listener = _https_listener(ctx, params)
    return {"ListenerPort": listener.port, "ServerCertificateId": listener.cert_id, "CACertificateId": "",
            "Status": "running", "Bandwidth": -1, "Scheduler": "wrr", "StickySession": "off",
            "HealthCheck": "on", "EnableHttp2": "on", "TLSCipherPolicy": "tls_cipher_policy_1_0",
            "DomainExtensions": {"DomainExtension": [_ext_item(e) for e in listener.extensions.values()]}}


def set_https_listener(ctx: Context, params: Params) -> dict:
    listener = _https_listener(ctx, params)
    if params.get("ServerCertificateId"):
        listener.cert_id = _server_cert(ctx, params).cert_id
    return {}


def describe_domain_extensions(ctx: Context, params: Params) -> dict:
    listener = _https_listener(ctx, params)
    wanted = params.get("DomainExtensionId")
    items = [_ext_item(e) for e in listener.extensions.values() if not wanted or e.ext_id == wanted]
    return {"DomainExtensions": {"DomainExtension": items}}


def create_domain_extension(ctx: Context, params: Params) -> dict:
    listener = _https_listener(ctx, params)
    domain = params.require("Domain").lower()
    cert = _server_cert(ctx, params)
    if any(e.domain == domain for e in listener.extensions.values()):
        raise ApiError("DomainExtensionExist")
    _check_covers(ctx, cert, domain)
    ext = DomainExt("de-" + secrets.token_hex(8), domain, cert.cert_id)
    listener.extensions[ext.ext_id] = ext
    return {"DomainExtensionId": ext.ext_id, "ListenerPort": listener.port}


def set_domain_extension(ctx: Context, params: Params) -> dict:
    wanted = params.require("DomainExtensionId")
    for lb in state_of(ctx.state).lbs.values():
        for listener in lb.listeners.values():
            ext = listener.extensions.get(wanted)
            if ext is not None and lb.region == region_of(params):
                cert = _server_cert(ctx, params)
                _check_covers(ctx, cert, ext.domain)
                ext.cert_id = cert.cert_id
                return {}
    raise ApiError("DomainExtensionNotExist")


def _lb_target(state, params):
    return ((params.get("LoadBalancerId") or params.get("DomainExtensionId") or
             params.get("ServerCertificateId") or "").lower(),)


PRODUCT = Product(
    code="Slb", version="2014-05-15", host="slb.aliyuncs.com", dotted_missing=False,
    actions={a.name: a for a in (
        Action("UploadServerCertificate", upload_server_certificate, write=True, targets=lambda s, p: ()),
        Action("DescribeServerCertificates", describe_server_certificates),
        Action("DeleteServerCertificate", delete_server_certificate, write=True, targets=_lb_target),
        Action("DescribeLoadBalancerHTTPSListenerAttribute", describe_https_listener),
        Action("SetLoadBalancerHTTPSListenerAttribute", set_https_listener, write=True, targets=_lb_target),
        Action("DescribeDomainExtensions", describe_domain_extensions),
        Action("CreateDomainExtension", create_domain_extension, write=True, targets=_lb_target),
        Action("SetDomainExtensionAttribute", set_domain_extension, write=True, targets=_lb_target),
    )},
    # [assumed]: no documented figures; the same conservative limits the tool assumes
    qps={"UploadServerCertificate": 5, "DeleteServerCertificate": 5, "DescribeServerCertificates": 10,
         "SetLoadBalancerHTTPSListenerAttribute": 5, "CreateDomainExtension": 5, "SetDomainExtensionAttribute": 5,
         "DescribeLoadBalancerHTTPSListenerAttribute": 20, "DescribeDomainExtensions": 20},
)


# --- seeding and inspection (tests, demo) ---------------------------------------------------------------

class ClbAdmin:
    """Seed and read CLB state of an Emulator: ``ClbAdmin(emu).add_load_balancer("lb-1", ports=(443,))``."""

    def __init__(self, emu) -> None:
        self._emu = emu
        self._state = emu._state
        self.clb = state_of(self._state)
        self.clb.cas_in_use = emu.config.option(KEY, "cas_in_use", OPTIONS)

    def add_load_balancer(self, lb_id: str, region: str = "cn-hangzhou", https_ports: Tuple[int, ...] = (443,),
                          http_ports: Tuple[int, ...] = ()) -> LoadBalancer:
        """A load balancer with HTTPS listeners (no certificate yet) and HTTP listeners."""
        with self._state.lock:
            lb = LoadBalancer(lb_id, region)
            lb.listeners.update({int(p): Listener(int(p)) for p in https_ports})
            lb.listeners.update({int(p): Listener(int(p), "http") for p in http_ports})
            self.clb.lbs[lb_id] = lb
        return lb

    def add_server_certificate(self, cert_pem: str, key_pem: str, name: str, region: str = "cn-hangzhou") -> str:
        """An inline server certificate (someone else's); returns its id."""
        self._emu._keys.remember(key_pem)
        with self._state.lock:
            cert = ServerCert("%s-%s" % (secrets.token_hex(8), region), name, region, load_upload(cert_pem, key_pem),
                              utcnow())
            self.clb.certs[cert.cert_id] = cert
            return cert.cert_id

    def bind(self, lb_id: str, port: int, cert_id: str, domain: Optional[str] = None) -> None:
        """Set a listener's default certificate, or a domain extension's (created when missing)."""
        with self._state.lock:
            listener = self.clb.lbs[lb_id].listeners[int(port)]
            if domain is None:
                listener.cert_id = cert_id
                return
            ext = next((e for e in listener.extensions.values() if e.domain == domain.lower()), None)
            if ext is None:
                ext = DomainExt("de-" + secrets.token_hex(8), domain.lower(), cert_id)
                listener.extensions[ext.ext_id] = ext
            ext.cert_id = cert_id

    def served(self, lb_id: str, port: int, domain: Optional[str] = None) -> Optional[dict]:
        """What a listener (or its domain extension) serves: cert_id, name, serial, not_after, ali_id, or None."""
        with self._state.lock:
            listener = self.clb.lbs[lb_id].listeners[int(port)]
            cert_id = listener.cert_id if domain is None else next(
                (e.cert_id for e in listener.extensions.values() if e.domain == domain.lower()), "")
            cert = self.clb.certs.get(cert_id)
            if cert is None:
                return None
            return {"cert_id": cert.cert_id, "name": cert.name, "serial": cert.upload.serial,
                    "not_after": cert.upload.not_after, "ali_id": cert.ali_id, "region": cert.region}

    def server_certificates(self, region: str = "cn-hangzhou") -> List[dict]:
        """list of dicts: cert_id, name, serial, ali_id — the region's server certificates."""
        with self._state.lock:
            return [{"cert_id": c.cert_id, "name": c.name, "serial": c.upload.serial, "ali_id": c.ali_id}
                    for c in self.clb.certs.values() if c.region == region]
