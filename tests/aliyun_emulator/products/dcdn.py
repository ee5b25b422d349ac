"""DCDN 2018-01-15 (product code dcdn): SetDcdnDomainSSLCertificate, BatchSetDcdnDomainCertificate,
DescribeDcdnDomainCertificateInfo, DescribeDcdnHttpsDomainList. Certificate rules and the account-wide
certificate-name registry are shared with CDN and CAS (certdeploy, certstore)."""

from ..errors import invalid, missing
from . import certdeploy
from .base import Action, Context, Params, Product, iso_z


def set_ssl_certificate(ctx, params):
    name = params.require("DomainName")
    staging = certdeploy.is_staging(params)
    certdeploy.deploy(ctx, "dcdn", ctx.state.dcdn, params, [name], staging=staging)
    return {}


def batch_set_certificate(ctx: Context, params: Params) -> dict:
    """BatchSetDcdnDomainCertificate: like the CDN batch call, but without ForceSet (the SDK class has no
    such parameter; one sent anyway is ignored, so a reused name is refused)."""
    names = certdeploy.domain_targets(ctx.state, params)
    if not names:
        raise missing("DomainName", dotted=True)
    if len(names) > ctx.config.batch_max_domains:
        raise invalid("DomainName", "At most %d domain names per call." % ctx.config.batch_max_domains)
    certdeploy.deploy(ctx, "dcdn", ctx.state.dcdn, params, names, batch=True)
    return {}


def describe_certificate_info(ctx, params):
    domain = certdeploy.find_domain(ctx.state.dcdn, params.require("DomainName"))
    info = {"DomainName": domain.name, "SSLProtocol": domain.ssl}
    deployed = domain.cert
    if deployed is None:
        info.update(dict.fromkeys(("CertName", "CertId", "CertRegion", "CertType", "Status", "CertDomainName",
                                   "CertOrg", "CertLife", "CertStartTime", "CertExpireTime", "SSLPub"), ""))
    else:
        upload = deployed.upload
        info.update({
            "CertName": deployed.name, "CertId": deployed.cert_id, "CertRegion": deployed.region,
            "CertType": deployed.cert_type, "Status": "success", "CertDomainName": upload.common_name,
            "CertOrg": upload.issuer_org, "CertLife": certdeploy.cert_life(upload),
            "CertStartTime": iso_z(upload.not_before), "CertExpireTime": iso_z(upload.not_after),
            "SSLPub": certdeploy.served_pem(ctx, deployed),
        })
    return {"CertInfos": {"CertInfo": [info]}}


def describe_https_domain_list(ctx, params):
    return certdeploy.https_domain_list(ctx, ctx.state.dcdn, params, "DescribeDcdnHttpsDomainList", "dcdn")


PRODUCT = Product(
    code="dcdn", version="2018-01-15", host="dcdn.aliyuncs.com", dotted_missing=True,
    actions={a.name: a for a in (
        Action("SetDcdnDomainSSLCertificate", set_ssl_certificate, write=True, targets=certdeploy.domain_targets),
        Action("BatchSetDcdnDomainCertificate", batch_set_certificate, write=True,
               targets=certdeploy.domain_targets),
        Action("DescribeDcdnDomainCertificateInfo", describe_certificate_info),
        Action("DescribeDcdnHttpsDomainList", describe_https_domain_list),
    )},
)
