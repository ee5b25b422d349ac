"""API Gateway, CloudAPI 2016-07-14: SetDomainCertificate, DescribeApiGroup, DescribeDomain.

Groups are regional: a GroupId asked for with another RegionId is NotFoundApiGroup, as on the real
service where each region has its own endpoint (region: RegionId, else an apigateway.<region>.… Host,
else cn-hangzhou). The SDK class sends SetDomainCertificate as GET with the key in the URL; the emulator
refuses a GET that carries CertificatePrivateKey with UnsupportedHTTPMethod [assumed code]
(EmulatorConfig.apigw_refuse_get_with_key), so the key must go as POST in the form body.
SetDomainCertificate replaces the domain's certificate (new CertificateId each time). Certificate error
codes are configurable (EmulatorConfig.cert_codes). DescribeApiGroup is a bulk listing for the listing
lag (EmulatorConfig.listing_lag); DescribeDomain is always live.
"""

import uuid

from ..certs import CertProblem, load_upload
from ..errors import ApiError
from ..state import epoch_ms
from .base import Action, Params, Product, iso_z


def region_of(params: Params) -> str:
    """The region a call addresses: RegionId, else the region named by an apigateway.<region>.… Host,
    else cn-hangzhou (the SDK's default region)."""
    host = params.host.lower().split(":")[0]
    from_host = host.split(".")[1] if host.startswith("apigateway.") and host.count(".") >= 3 else None
    return params.get("RegionId") or from_host or "cn-hangzhou"


def _group(ctx, params, listing=False):
    """The addressed group; ``listing``: as DescribeApiGroup sees it under the listing lag."""
    groups = ctx.state.lag.view("CloudAPI", ctx.state.api_groups) if listing else ctx.state.api_groups
    group = groups.get(params.require("GroupId"))
    if group is None or region_of(params) != group.region:
        raise ApiError("NotFoundApiGroup")
    return group


def _bound_domain(ctx, group, params):
    domain = group.domains.get(params.require("DomainName").lower())
    if domain is None:
        raise ApiError(ctx.config.apigw_domain_not_bound_code)
    return domain


def _code(ctx, check):
    return ctx.config.cert_code("cloudapi", check)


def set_domain_certificate(ctx, params):
    if params.method == "GET" and "CertificatePrivateKey" in params.raw and ctx.config.apigw_refuse_get_with_key:
        raise ApiError("UnsupportedHTTPMethod", "SetDomainCertificate carries a private key: send it as POST "
                                                "with the key in the form body.")
    group = _group(ctx, params)
    domain = _bound_domain(ctx, group, params)
    name = params.require("CertificateName")
    body, key = params.require("CertificateBody"), params.require("CertificatePrivateKey")
    try:
        upload = load_upload(body, key)
    except CertProblem as problem:
        raise ApiError(_code(ctx, problem.kind)) from None
    if upload.expired():
        raise ApiError(_code(ctx, "expired"))
    if _code(ctx, "domain") and not upload.covers(domain.name):
        raise ApiError(_code(ctx, "domain"))
    domain.cert_name, domain.cert_id, domain.upload = name, uuid.uuid4().hex, upload
    return {}


def _cert_fields(domain):
    if domain.upload is None:
        return {"CertificateId": "", "CertificateName": ""}
    return {"CertificateId": domain.cert_id, "CertificateName": domain.cert_name,
            "CertificateValidStart": epoch_ms(domain.upload.not_before),
            "CertificateValidEnd": epoch_ms(domain.upload.not_after)}


_DOMAIN_STATUS = {"DomainBindingStatus": "BINDING", "DomainCNAMEStatus": "RESOLVED", "DomainLegalStatus": "NORMAL",
                  "DomainWebSocketStatus": "CLOSE", "DomainRemark": ""}


def describe_api_group(ctx, params):
    group = _group(ctx, params, listing=True)
    items = []
    for _, domain in sorted(group.domains.items()):
        item = {"DomainName": domain.name}
        item.update(_cert_fields(domain))
        item.update(_DOMAIN_STATUS)
        item.update({"WildcardDomainPatterns": "", "BindStageName": "RELEASE", "CustomDomainType": "PUBLIC",
                     "IsHttpRedirectToHttps": False, "SslVerifyDepth": 0, "SslOcspEnable": False,
                     "SslOcspCacheEnable": False, "ClientCertSDnPassThrough": False})
        items.append(item)
    return {
        "GroupId": group.group_id, "GroupName": group.name, "SubDomain": group.sub_domain, "Description": "",
        "CreatedTime": iso_z(group.created_at), "ModifiedTime": iso_z(group.created_at), "RegionId": group.region,
        "Status": "NORMAL", "BillingStatus": "NORMAL", "IllegalStatus": "NORMAL", "TrafficLimit": 500,
        "InstanceId": "api-shared-vpc-001", "InstanceType": "VPC_SHARED", "HttpsPolicy": "HTTPS2_TLS1_0",
        "BasePath": "/", "VpcDomain": "",
        "CustomDomains": {"DomainItem": items},
        "StageItems": {"StageInfo": [{"StageId": group.group_id[:16] + "-release", "StageName": "RELEASE",
                                      "Description": ""}]},
    }


def describe_domain(ctx, params):
    group = _group(ctx, params)
    domain = _bound_domain(ctx, group, params)
    out = {"GroupId": group.group_id, "DomainName": domain.name, "SubDomain": group.sub_domain,
           "CertificateBody": domain.upload.pem if domain.upload else "",
           "CertificatePrivateKey": domain.upload.key_pem if domain.upload else ""}
    out.update(_cert_fields(domain))
    out.update(_DOMAIN_STATUS)
    return out


def _domain_target(state, params):
    return ((params.get("DomainName") or "").lower(),)


PRODUCT = Product(
    code="CloudAPI", version="2016-07-14", host="apigateway.cn-hangzhou.aliyuncs.com", dotted_missing=False,
    actions={a.name: a for a in (
        Action("SetDomainCertificate", set_domain_certificate, write=True, targets=_domain_target),
        Action("DescribeApiGroup", describe_api_group),
        Action("DescribeDomain", describe_domain),
    )},
)
