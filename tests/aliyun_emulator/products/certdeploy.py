"""Certificate deployment shared by CDN and DCDN: checking an upload, the CertName rules, storing the
certificate on domains, and the certificate views both products describe.

Write order of checks: DomainName present, Env, SSLProtocol, each domain exists (InvalidDomain.NotFound)
and is not offline (InvalidDomain.Offline), CertType. For CertType=cas: CertRegion, CertId (a bare
integer; CertId.MissingParameter), the certificate exists in that CAS site (Certificate.NotFind), not
expired, covers every domain; the domain then serves the CAS certificate under its CAS name and id.
For CertType=upload: CertRegion, CertName length/presence, SSLPub/SSLPri
present, certificate parses, key parses, key matches, not expired, covers every domain, CertName free
in the account (certstore: shared with CAS and the other product, whatever the content; the CDN batch
call's ForceSet=1 replaces the same-name certificate), content not stored under another name
(EmulatorConfig.refuse_duplicate_content).
Only then is anything stored, so a rejected write changes nothing. An upload lands in CAS (China site).
"""

from ..certs import CertProblem, load_upload
from ..errors import ApiError
from ..state import DeployedCert, utcnow
from .base import page, plain_time

MAX_CERT_NAME = 128
CERT_REGIONS = ("cn-hangzhou", "ap-southeast-1")


def domain_targets(state, params):
    """Lower-case domain names of a DomainName parameter (a comma list for batch calls)."""
    return tuple(d.strip().lower() for d in (params.get("DomainName") or "").split(",") if d.strip())


def find_domain(store, name, for_write=False):
    domain = store.get(name.lower())
    if domain is None:
        raise ApiError("InvalidDomain.NotFound")
    if for_write and domain.status == "offline":
        raise ApiError("InvalidDomain.Offline")
    return domain


def deploy(ctx, product_key, store, params, names, force=False, staging=False, batch=False):
    """Apply SSLProtocol (and for "on" the uploaded or referenced certificate) to every domain in ``names``."""
    protocol = params.require("SSLProtocol")
    if protocol not in ("on", "off"):
        raise ApiError("InvalidSSLProtocol.ValueNotSupported")
    domains = [find_domain(store, name, for_write=True) for name in names]
    now = utcnow()
    if protocol == "off":
        for domain in domains:
            domain.ssl, domain.modified_at = "off", now
        return
    cert_type = params.get("CertType", "upload")
    if cert_type == "cas":
        deployed = _cas_reference(ctx, product_key, params, domains, batch, now)
    elif cert_type == "upload":
        deployed = _uploaded(ctx, product_key, params, domains, force, now)
    else:
        raise ApiError("SetDomainCertificate.ParameterError", "The specified CertType is invalid.")
    for domain in domains:
        if staging:
            domain.staging_cert = deployed
        else:
            domain.cert, domain.ssl = deployed, "on"
        domain.modified_at = now


def is_staging(params):
    """Env: absent or "production" deploys to production, "staging" to the canary environment."""
    env = params.get("Env", "production")
    if env not in ("production", "staging"):
        raise ApiError("InvalidEnv")
    return env == "staging"


def _uploaded(ctx, product_key, params, domains, force, now):
    """CertType=upload: check the PEM pair, store it in CAS (China site) under a free name."""
    upload, name = _checked_upload(ctx, product_key, params, domains)
    codes = {check: ctx.config.cert_code(product_key, check) for check in ("name", "content")}
    stored = ctx.state.certs.add(name, upload, CERT_REGIONS[0], product_key, codes, force=force,
                                 refuse_content=ctx.config.refuse_duplicate_content, now=now)
    return DeployedCert(name, str(stored.cert_id), "upload", stored.site, upload, now)


def _cas_reference(ctx, product_key, params, domains, batch, now):
    """CertType=cas: the CAS certificate CertId in site CertRegion (default cn-hangzhou) serves the domains.

    The batch calls have no CertId parameter: refused (EmulatorConfig.batch_refuses_cas), or when
    relaxed the CAS certificate is chosen by CertName in the site given by Region (the presumed way).
    """
    region = params.get("CertRegion", CERT_REGIONS[0])
    if region not in CERT_REGIONS:
        raise ApiError("Abs.CertRegion.ValueNotSupported")
    if batch:
        stored = _cas_by_name(ctx, params)
    else:
        cert_id = params.integer("CertId", None, minimum=1)
        if cert_id is None:
            params.require("CertId")
        stored = ctx.state.certs.get(region, cert_id)
    if stored is None:
        raise ApiError("Certificate.NotFind")
    if stored.upload.expired():
        raise ApiError(ctx.config.cert_code(product_key, "expired"))
    _check_coverage(ctx, product_key, stored.upload, domains)
    return DeployedCert(stored.name, str(stored.cert_id), "cas", stored.site, stored.upload, now)


def _cas_by_name(ctx, params):
    if ctx.config.batch_refuses_cas:
        raise ApiError("InvalidParameter", "The specified parameter CertType is invalid: the batch call takes no "
                                           "CertId, so CertType cas is not supported.")
    name = params.require("CertName")
    site = params.get("Region", CERT_REGIONS[0])
    return next((c for c in ctx.state.certs.in_site(site) if c.name == name), None)


def _check_coverage(ctx, product_key, upload, domains):
    domain_code = ctx.config.cert_code(product_key, "domain")
    for domain in domains:
        if domain_code and not upload.covers(domain.name):
            raise ApiError(domain_code, "The certificate does not match the domain name %s." % domain.name)


def _checked_upload(ctx, product_key, params, domains):
    if params.get("CertRegion", CERT_REGIONS[0]) not in CERT_REGIONS:
        raise ApiError("Abs.CertRegion.ValueNotSupported")
    name = params.get("CertName")
    if name and len(name) > MAX_CERT_NAME:
        raise ApiError("InvalidCertName.TooLong")
    if not name and ctx.config.cert_name_required:
        raise ApiError("CertName.MissingParameter")
    cert_pem, key_pem = params.require("SSLPub"), params.require("SSLPri")
    try:
        upload = load_upload(cert_pem, key_pem)
    except CertProblem as problem:
        raise ApiError(ctx.config.cert_code(product_key, problem.kind)) from None
    if upload.expired():
        raise ApiError(ctx.config.cert_code(product_key, "expired"))
    _check_coverage(ctx, product_key, upload, domains)
    return upload, name or "cert-%s-%s" % (upload.fingerprint[:16], ctx.state.new_id())


def served_pem(ctx, deployed):
    """The certificate PEM a describe call shows: the leaf block or the stored chain (config)."""
    return deployed.upload.leaf_pem if ctx.config.server_certificate == "leaf" else deployed.upload.pem


def cert_status(domain):
    upload = domain.cert.upload
    if upload.expired():
        return "expired"
    return "ok" if upload.covers(domain.name) else "mismatch"


def cert_life(upload):
    days = (upload.not_after - upload.not_before).days
    return "%d years" % (days // 365) if days >= 365 else "%d months" % max(1, round(days / 30))


def https_domain_list(ctx, store, params, action, product_code):
    """DescribeCdnHttpsDomainList / DescribeDcdnHttpsDomainList: every domain with HTTPS on (as the
    listing lag lets this call see it).

    NoHttpsDomain only when the account has none at all; a Keyword matching nothing is an empty page.
    """
    number, size = params.paging(ctx.config.page_size_max(action), ctx.config.page_size_cap)
    https = [d for _, d in sorted(ctx.state.lag.view(product_code, store).items()) if d.ssl == "on" and d.cert]
    if not https:
        raise ApiError("NoHttpsDomain")
    keyword = params.get("Keyword", "").lower()
    matched = [d for d in https if keyword in d.name]
    infos = [{
        "DomainName": d.name,
        "CertCommonName": d.cert.upload.common_name,
        "CertName": d.cert.name,
        "CertType": d.cert.cert_type,
        "CertStatus": cert_status(d),
        "CertStartTime": plain_time(d.cert.upload.not_before),
        "CertExpireTime": plain_time(d.cert.upload.not_after),
        "CertUpdateTime": plain_time(d.cert.updated_at),
    } for d in page(matched, number, size)]
    return {"TotalCount": len(matched), "CertInfos": {"CertInfo": infos}}
