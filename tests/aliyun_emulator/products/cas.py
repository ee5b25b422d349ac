"""SSL Certificates Service, cas 2020-04-07 (RPC): UploadUserCertificate, ListUserCertificateOrder,
GetUserCertificateDetail, DeleteUserCertificate.

Why: CAS is the upload hub of issue 11 — certificates are uploaded once and CDN/DCDN reference them by
CertId and CertRegion. Facts from /work/shared/reference/aliyun-targets.md section 1 and the SDK request
classes of aliyun-python-sdk-cas 1.0.18.

Site region: the emulator answers every product on one loopback endpoint, so the CAS site of a call is
taken from the Host header when it names the international endpoint (``cas.ap-southeast-1.…``), else
from the ``RegionId`` the SDK sends (the client's region): ``ap-southeast-1`` is the international
site, anything else the China site ``cn-hangzhou`` (as the SDK's endpoint map sends every other region
to cas.aliyuncs.com). Each site holds its own certificates.

Behaviour the reference leaves UNCONFIRMED, with the emulator's (stricter) default and its switch:
* duplicate name: refused, code ``NameRepeat`` [assumed], the observed message "名称重复，请重新输入。";
* identical content under a new name: refused, ``CertificateContent.Duplicated``
  (EmulatorConfig.refuse_duplicate_content);
* deleting a certificate a CDN/DCDN domain serves: refused, ``CertificateInUse`` [assumed]
  (EmulatorConfig.cas_refuse_delete_in_use);
* unknown CertId: ``NotFound`` [assumed]; certificate/key checks: EmulatorConfig.cert_codes["cas"].
"""

import datetime
import hashlib
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certs import CertProblem, UploadedCert, load_upload
from ..certstore import SITES
from ..errors import ApiError, invalid
from ..state import epoch_ms
from .base import Action, Context, Params, Product

MAX_NAME = 63
ORDER_TYPES = ("CPACK", "BUY", "UPLOAD", "CERT")
STATUSES = ("PAYED", "CHECKING", "CHECKED_FAIL", "ISSUED", "WILLEXPIRED", "EXPIRED", "NOTACTIVATED", "REVOKED")
WILL_EXPIRE = datetime.timedelta(days=30)


def site_of(params: Params) -> str:
    """The CAS site region a call addresses (see the module note)."""
    if params.host.lower().startswith("cas.ap-southeast-1.") or params.get("RegionId") == SITES[1]:
        return SITES[1]
    return SITES[0]


def _code(ctx, check):
    return ctx.config.cert_code("cas", check)


def upload_user_certificate(ctx: Context, params: Params) -> dict:
    name = params.require("Name")
    if len(name) > MAX_NAME:
        raise invalid("Name", "It must be at most %d characters." % MAX_NAME)
    cert_pem, key_pem = params.require("Cert"), params.require("Key")
    try:
        upload = load_upload(cert_pem, key_pem)
    except CertProblem as problem:
        raise ApiError(_code(ctx, problem.kind)) from None
    if upload.expired() and _code(ctx, "expired"):
        raise ApiError(_code(ctx, "expired"))
    codes = {"name": _code(ctx, "name"), "content": _code(ctx, "content")}
    stored = ctx.state.certs.add(name, upload, site_of(params), "cas", codes,
                                 refuse_content=ctx.config.refuse_duplicate_content)
    return {"CertId": stored.cert_id, "ResourceId": stored.resource_id}


def status_of(upload: UploadedCert, now: Optional[datetime.datetime] = None) -> str:
    """ISSUED, WILLEXPIRED (ends within 30 days) or EXPIRED."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if upload.expired(now):
        return "EXPIRED"
    return "WILLEXPIRED" if upload.not_after - now <= WILL_EXPIRE else "ISSUED"


def serial_no(serial: int) -> str:
    """The serial as CAS shows it: hex of the DER INTEGER content, so a leading 0 whenever the top
    nibble is 0 and "00" when the top bit is set (the padding quirk tools strip before comparing)."""
    length = serial.bit_length() // 8 + 1
    return serial.to_bytes(length, "big").hex()


def _leaf_der(upload):
    return x509.load_pem_x509_certificate(upload.leaf_pem.encode()).public_bytes(serialization.Encoding.DER)


def _facts(stored):
    u = stored.upload
    der = _leaf_der(u)
    return {"Name": stored.name, "Sans": ",".join(u.dns_names), "SerialNo": serial_no(u.serial),
            "Fingerprint": hashlib.sha1(der).hexdigest(), "Issuer": u.issuer_org,
            "StartDate": u.not_before.strftime("%Y-%m-%d"), "EndDate": u.not_after.strftime("%Y-%m-%d"),
            "Expired": u.expired()}


def _order_item(stored):
    item = {"CertificateId": stored.cert_id, "CommonName": stored.upload.common_name,
            "Sha2": stored.upload.fingerprint, "Upload": True, "InstanceId": stored.resource_id,
            "ResourceGroupId": "rg-emulator", "Status": status_of(stored.upload)}
    item.update(_facts(stored))
    return item


def _matches(stored, keyword):
    u = stored.upload
    haystack = [u.common_name.lower(), stored.resource_id.lower()] + [n.lower() for n in u.dns_names]
    return any(keyword in text for text in haystack)


def list_user_certificate_order(ctx: Context, params: Params) -> dict:
    order_type = params.get("OrderType", "CPACK")
    if order_type not in ORDER_TYPES:
        raise invalid("OrderType")
    status = params.get("Status", "")
    if status and status not in STATUSES:
        raise invalid("Status")
    number = params.integer("CurrentPage", 1, minimum=1)
    size = params.integer("ShowSize", 50, minimum=1, maximum=ctx.config.page_size_max("ListUserCertificateOrder"))
    certs = ctx.state.certs.in_site(site_of(params)) if order_type in ("UPLOAD", "CERT") else []
    wanted = (status,) if status else ("ISSUED", "WILLEXPIRED")
    keyword = params.get("Keyword", "").lower()
    matched = [c for c in certs if status_of(c.upload) in wanted and (not keyword or _matches(c, keyword))]
    size = ctx.config.capped(size)          # EmulatorConfig.page_size_cap
    shown = matched[(number - 1) * size:number * size]
    return {"TotalCount": len(matched), "CurrentPage": number, "ShowSize": size,
            "CertificateOrderList": [_order_item(c) for c in shown]}


def _stored(ctx, params):
    cert_id = params.integer("CertId", None, minimum=1)
    if cert_id is None:
        params.require("CertId")
    stored = ctx.state.certs.get(site_of(params), cert_id)
    if stored is None:
        raise ApiError("NotFound")
    return stored


def _cert_filter(params):
    value = params.get("CertFilter", "false").lower()
    if value not in ("true", "false"):
        raise invalid("CertFilter", "It must be true or false.")
    return value == "true"


def get_user_certificate_detail(ctx: Context, params: Params) -> dict:
    stored = _stored(ctx, params)
    u = stored.upload
    out = {"Id": stored.cert_id, "Common": u.common_name, "CertSha2": u.fingerprint,
           "NotBefore": epoch_ms(u.not_before), "NotAfter": epoch_ms(u.not_after),
           "CertIdentifier": stored.identifier, "InstanceId": stored.resource_id, "BuyInCloud": False,
           "ResourceGroupId": "rg-emulator"}
    out.update(_facts(stored))
    if not _cert_filter(params):
        out.update({"Cert": u.pem, "Key": u.key_pem})
    return out


def delete_user_certificate(ctx: Context, params: Params) -> dict:
    stored = _stored(ctx, params)
    if ctx.config.cas_refuse_delete_in_use and ctx.state.serving(stored):
        raise ApiError("CertificateInUse")
    ctx.state.certs.delete(stored)
    return {}


def _no_targets(state, params):
    """CAS writes address no domain (fail_domain does not apply to them)."""
    return ()


PRODUCT = Product(
    code="cas", version="2020-04-07", host="cas.aliyuncs.com", dotted_missing=False,
    actions={a.name: a for a in (
        Action("UploadUserCertificate", upload_user_certificate, write=True, targets=_no_targets),
        Action("ListUserCertificateOrder", list_user_certificate_order),
        Action("GetUserCertificateDetail", get_user_certificate_detail),
        Action("DeleteUserCertificate", delete_user_certificate, write=True, targets=_no_targets),
    )},
)
