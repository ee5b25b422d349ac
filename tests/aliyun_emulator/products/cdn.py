"""CDN 2018-05-10 (product code Cdn): SetCdnDomainSSLCertificate, BatchSetCdnDomainServerCertificate,
DescribeDomainCertificateInfo, DescribeCdnHttpsDomainList, DescribeUserDomains, DescribeCdnDomainDetail."""

from ..errors import invalid, missing
from . import certdeploy
from .base import Action, Product, iso_z, page

SEARCH_TYPES = {
    "fuzzy_match": lambda name, q: q in name,
    "pre_match": lambda name, q: name.startswith(q),
    "suf_match": lambda name, q: name.endswith(q),
    "full_match": lambda name, q: name == q,
}


def set_ssl_certificate(ctx, params):
    name = params.require("DomainName")
    staging = certdeploy.is_staging(params)
    certdeploy.deploy(ctx, "cdn", ctx.state.cdn, params, [name], staging=staging)
    return {}


def batch_set_server_certificate(ctx, params):
    names = certdeploy.domain_targets(ctx.state, params)
    if not names:
        raise missing("DomainName", dotted=True)
    if len(names) > ctx.config.batch_max_domains:
        raise invalid("DomainName", "At most %d domain names per call." % ctx.config.batch_max_domains)
    certdeploy.deploy(ctx, "cdn", ctx.state.cdn, params, names, force=params.get("ForceSet") == "1", batch=True)
    return {}


def describe_certificate_info(ctx, params):
    domain = certdeploy.find_domain(ctx.state.cdn, params.require("DomainName"))
    info = {"DomainName": domain.name, "ServerCertificateStatus": domain.ssl, "DomainCnameStatus": "ok"}
    deployed = domain.cert
    if deployed is None:
        info.update(dict.fromkeys(("CertName", "CertId", "CertRegion", "CertType", "Status", "CertDomainName",
                                   "CertOrg", "CertLife", "CertStartTime", "CertExpireTime", "CertUpdateTime",
                                   "ServerCertificate"), ""))
    else:
        upload = deployed.upload
        info.update({
            "CertName": deployed.name, "CertId": deployed.cert_id, "CertRegion": deployed.region,
            "CertType": deployed.cert_type, "Status": "success", "CertDomainName": upload.common_name,
            "CertOrg": upload.issuer_org, "CertLife": certdeploy.cert_life(upload),
            "CertStartTime": iso_z(upload.not_before), "CertExpireTime": iso_z(upload.not_after),
            "CertUpdateTime": iso_z(deployed.updated_at), "ServerCertificate": certdeploy.served_pem(ctx, deployed),
        })
    return {"CertInfos": {"CertInfo": [info]}}


def describe_https_domain_list(ctx, params):
    return certdeploy.https_domain_list(ctx, ctx.state.cdn, params, "DescribeCdnHttpsDomainList", "Cdn")


def describe_user_domains(ctx, params):
    number, size = params.paging(ctx.config.page_size_max("DescribeUserDomains"), ctx.config.page_size_cap)
    search = params.get("DomainSearchType", "fuzzy_match")
    if search not in SEARCH_TYPES:
        raise invalid("DomainSearchType")
    query = params.get("DomainName", "").lower()
    status = params.get("DomainStatus")
    domains = [d for _, d in sorted(ctx.state.cdn.items())
               if (not query or SEARCH_TYPES[search](d.name, query)) and (not status or d.status == status)]
    data = [{
        "DomainName": d.name, "DomainId": d.domain_id, "Cname": d.cname, "CdnType": d.cdn_type,
        "DomainStatus": d.status, "SslProtocol": d.ssl, "GmtCreated": iso_z(d.created_at),
        "GmtModified": iso_z(d.modified_at), "Description": "", "ResourceGroupId": "rg-emulator",
        "Sandbox": "normal", "Coverage": "domestic",
        "Sources": {"Source": [_SOURCE]},
    } for d in page(domains, number, size)]
    return {"PageNumber": number, "PageSize": size, "TotalCount": len(domains), "Domains": {"PageData": data}}


def describe_domain_detail(ctx, params):
    d = certdeploy.find_domain(ctx.state.cdn, params.require("DomainName"))
    return {"GetDomainDetailModel": {
        "DomainName": d.name, "Cname": d.cname, "HttpsCname": d.cname if d.ssl == "on" else "",
        "CdnType": d.cdn_type, "DomainStatus": d.status, "ServerCertificateStatus": d.ssl, "Scope": "domestic",
        "GmtCreated": iso_z(d.created_at), "GmtModified": iso_z(d.modified_at), "Description": "",
        "ResourceGroupId": "rg-emulator",
        "SourceModels": {"SourceModel": [dict(_SOURCE, Enabled="online")]},
    }}


_SOURCE = {"Type": "ipaddr", "Content": "127.0.0.1", "Port": 80, "Priority": "20", "Weight": "10"}

PRODUCT = Product(
    code="Cdn", version="2018-05-10", host="cdn.aliyuncs.com", dotted_missing=True,
    actions={a.name: a for a in (
        Action("SetCdnDomainSSLCertificate", set_ssl_certificate, write=True, targets=certdeploy.domain_targets),
        Action("BatchSetCdnDomainServerCertificate", batch_set_server_certificate, write=True,
               targets=certdeploy.domain_targets),
        Action("DescribeDomainCertificateInfo", describe_certificate_info),
        Action("DescribeCdnHttpsDomainList", describe_https_domain_list),
        Action("DescribeUserDomains", describe_user_domains),
        Action("DescribeCdnDomainDetail", describe_domain_detail),
    )},
)
