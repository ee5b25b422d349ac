"""WAF 3.0, waf-openapi 2021-10-01 (RPC): DescribeInstance, DescribeDomainDetail, ModifyDomainCert.

Two regions (RegionId cn-hangzhou or ap-southeast-1), one WAF instance per region; a call naming
another instance is refused (Waf.Instance.NotExist [assumed code]), as is a domain the instance does
not protect (Waf.Pullin.DomainNotExist [assumed code]). ModifyDomainCert needs a domain listening on
HTTPS (Waf.Pullin.MustListenHTTPS, documented) and a CertId '<id>-<site>' of a CAS certificate in
that site; the site must be the WAF region ([unconfirmed]: the stricter reading) and the
certificate unexpired and covering the domain (Waf.Cert.Invalid [assumed code]). It changes only
the certificate. DescribeDomainDetail answers Listen (CertId, HttpsPorts, HttpPorts) and
CertDetail (Id, Name, CommonName, StartTime, EndTime in epoch ms).
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..errors import ApiError
from ..state import epoch_ms
from .base import Action, Product

CODE = "waf-openapi"
REGIONS = ("cn-hangzhou", "ap-southeast-1")
INSTANCES = {"cn-hangzhou": "waf_v3prepaid_public_cn-emu0001", "ap-southeast-1": "waf_v3prepaid_public_intl-emu0001"}


@dataclass
class WafDomain:
    name: str
    region: str
    https_ports: Tuple[int, ...] = (443,)
    cert: Optional[object] = None      # certstore.StoredCert


@dataclass
class WafState:
    domains: Dict[Tuple[str, str], WafDomain] = field(default_factory=dict)   # (region, domain) -> WafDomain

    def serving(self, stored):
        return [d.name for d in self.domains.values() if d.cert is not None and d.cert.cert_id == stored.cert_id]


def _state(ctx_state) -> WafState:
    return ctx_state.extra.setdefault(CODE, WafState())


def add_waf_domain(emu, domain, region="cn-hangzhou", https_ports=(443,)):
    """A domain protected by the region's WAF instance (CNAME access), HTTPS on ``https_ports``."""
    with emu._state.lock:
        _state(emu._state).domains[(region, domain.lower())] = WafDomain(domain.lower(), region, tuple(https_ports))


def waf_domain_state(emu, domain, region="cn-hangzhou"):
    """dict: domain, cert_id ('<id>-<site>' or None), cert_name, serial, not_after."""
    with emu._state.lock:
        d = _state(emu._state).domains[(region, domain.lower())]
        c = d.cert
        return {"domain": d.name, "cert_id": c.identifier if c else None, "cert_name": c.name if c else None,
                "serial": c.upload.serial if c else None, "not_after": c.upload.not_after if c else None}


def _domain(ctx, params):
    region = params.require("RegionId")
    if region not in REGIONS:
        raise ApiError("InvalidRegionId", "WAF 3.0 regions: %s" % ", ".join(REGIONS))
    if params.require("InstanceId") != INSTANCES[region]:
        raise ApiError("Waf.Instance.NotExist", "The instance does not exist.")
    found = _state(ctx.state).domains.get((region, params.require("Domain").lower()))
    if found is None:
        raise ApiError("Waf.Pullin.DomainNotExist", "The domain %s does not exist." % params.get("Domain"))
    return found


def describe_instance(ctx, params):
    region = params.require("RegionId")
    if region not in REGIONS:
        raise ApiError("InvalidRegionId", "WAF 3.0 regions: %s" % ", ".join(REGIONS))
    return {"InstanceId": INSTANCES[region], "Edition": "enterprise", "Status": 1, "RegionId": region}


def describe_domain_detail(ctx, params):
    d = _domain(ctx, params)
    c = d.cert
    listen = {"HttpsPorts": list(d.https_ports), "HttpPorts": [80], "CertId": c.identifier if c else "",
              "TLSVersion": "tlsv1.2", "EnableTLSv3": True, "CipherSuite": 2}
    out = {"Domain": d.name, "Status": 1, "Cname": "emu.waf.example", "Listen": listen,
           "Redirect": {"Backends": [{"Backend": "192.0.2.10"}], "Loadbalance": "iphash"}}
    if c is not None:
        out["CertDetail"] = {"Id": c.identifier, "Name": c.name, "CommonName": c.upload.common_name,
                             "StartTime": epoch_ms(c.upload.not_before), "EndTime": epoch_ms(c.upload.not_after)}
    return out


def modify_domain_cert(ctx, params):
    d = _domain(ctx, params)
    if not d.https_ports:
        raise ApiError("Waf.Pullin.MustListenHTTPS", "The domain must listen on HTTPS.")
    number, _, site = params.require("CertId").partition("-")
    stored = ctx.state.certs.get(site, int(number)) if number.isdigit() and site == d.region else None
    if stored is None:
        raise ApiError("Waf.Cert.NotExist", "The certificate does not exist in %s." % d.region)
    if stored.upload.expired() or not stored.upload.covers(d.name):
        raise ApiError("Waf.Cert.Invalid", "The certificate is expired or does not match %s." % d.name)
    d.cert = stored
    return {}


def _targets(state, params):
    return ((params.get("Domain") or "").lower(),)


PRODUCT = Product(
    code=CODE, version="2021-10-01", host="wafopenapi.cn-hangzhou.aliyuncs.com", dotted_missing=False,
    actions={a.name: a for a in (
        Action("DescribeInstance", describe_instance),
        Action("DescribeDomainDetail", describe_domain_detail),
        Action("ModifyDomainCert", modify_domain_cert, write=True, targets=_targets),
    )},
    qps={"DescribeInstance": 10, "DescribeDomainDetail": 10, "ModifyDomainCert": 10},   # [assumed]
)
