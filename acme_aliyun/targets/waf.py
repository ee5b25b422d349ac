"""Web Application Firewall 3.0 (waf-openapi 2021-10-01, RPC) protected domains as deploy targets.

A target is "domain" or "region/domain". WAF 3.0 has two regions: cn-hangzhou (Chinese
mainland) and ap-southeast-1 (outside it); without a region, the one [aliyun] Region
belongs to. Every call carries that RegionId and the account's WAF instance of that
region (DescribeInstance, asked once per region and client). WAF takes only a CAS
reference: ModifyDomainCert with CertId '<id>-<region>' sets the certificate of a domain
that listens on HTTPS and touches nothing else (ModifyDomain would replace the whole
listen and redirect configuration). DescribeDomainDetail reads one domain back: its
Listen.CertId and the CertDetail (CAS name, validity); no PEM, so the CAS id and the name
tell whether it is ours.
"""

import threading
import weakref
from typing import Dict, List, Optional

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.targets.base import target_domain
from acme_aliyun.targets.base import ParseDefaults, Reading, TargetKind, TargetSpec, Upload, WriteErrors, merge_qps
from acme_aliyun.targets.served import Served, in_parallel, parse_time, write_each

REGIONS = ("cn-hangzhou", "ap-southeast-1")

FACTS = Product(
    "waf", "waf-openapi", "2021-10-01", "",
    lambda region, intl: "wafopenapi.%s.aliyuncs.com" % region,
    # ASSUMED, not documented: a conservative 10/s each
    merge_qps({}, {"DescribeInstance": 10, "DescribeDomainDetail": 10, "ModifyDomainCert": 10}),
    regional=True, ram="yundun-waf",
)

_instances: "weakref.WeakKeyDictionary[CloudClient, Dict[str, str]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
# one lock per client and region: concurrent reads wait for the first lookup instead of each asking
_lookups: "weakref.WeakKeyDictionary[CloudClient, Dict[str, threading.Lock]]" = weakref.WeakKeyDictionary()


def waf_region(region: str) -> str:
    """The WAF region serving a region: ap-southeast-1 outside the Chinese mainland."""
    return "cn-hangzhou" if region.startswith("cn-") else "ap-southeast-1"


def _call(client: CloudClient, action: str, params: dict, region: Optional[str], write: bool = False) -> dict:
    return client.call(FACTS.key, action, params, write=write, region=region)


def instance(client: CloudClient, region: str) -> str:
    """The account's WAF instance in `region` (one DescribeInstance per client and region, even when
    many domains are read at once)."""
    with _lock:
        known = _instances.setdefault(client, {}).get(region)
        lookup = _lookups.setdefault(client, {}).setdefault(region, threading.Lock())
    if known:
        return known
    with lookup:
        with _lock:
            known = _instances[client].get(region)
        if known:
            return known
        data = _call(client, "DescribeInstance", {}, region)
        found = data.get("InstanceId")
        if not found:
            raise CloudError("NoWafInstance", "no WAF 3.0 instance in %s" % region, action="DescribeInstance")
        with _lock:
            _instances[client][region] = found
        return found


def served_of(data: dict) -> Served:
    """DescribeDomainDetail as Served: CAS id from Listen.CertId, name and expiry from CertDetail."""
    listen = data.get("Listen") or {}
    detail = data.get("CertDetail") or {}
    ident = str(listen.get("CertId") or detail.get("Id") or "")
    number, _, region = ident.partition("-")
    if not ident or not listen.get("HttpsPorts"):
        return Served(ssl_on=False)
    return Served(detail.get("Name") or ident, parse_time(detail.get("EndTime")),
                  cert_id=int(number) if number.isdigit() else None, cert_region=region or None)


class WafKind(TargetKind):
    name = "waf"
    ini_key = "WAF"
    endpoint_key = "WAFEndpoint"
    facts = FACTS
    by_reference = True
    reads_each = True

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, slash, domain = item.rpartition("/")
        region = region.strip().lower()
        if slash and region not in REGIONS:
            raise ValueError("%r: the WAF 3.0 region is %s" % (item, " or ".join(REGIONS)))
        domain = target_domain(domain)
        return TargetSpec(self.name, (region + "/" if slash else "") + domain, domain=domain,
                          region=region or waf_region(defaults.region))

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """No bulk read that carries the certificate: every domain is read on its own, a few at a
        time, here (beside the other kinds' reads, not after them)."""
        def one(spec: TargetSpec) -> Reading:
            try:
                return self.read_one(client, spec)
            except CloudError as e:
                return e

        return dict(zip(specs, in_parallel(one, specs)))

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        data = _call(client, "DescribeDomainDetail", {"InstanceId": instance(client, spec.region or ""),
                                                     "Domain": spec.domain}, spec.region)
        return served_of(data)

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """ModifyDomainCert per domain, a few at a time; only a CAS reference will do."""
        def send(spec: TargetSpec) -> None:
            if upload.ref is None:
                raise CloudError("CasReferenceRequired", "WAF 3.0 takes only a CAS certificate id: %s needs "
                                 "[aliyun] Upload = cas" % spec.domain, action="ModifyDomainCert")
            if upload.ref.region != spec.region:
                raise CloudError("CertRegionMismatch", "WAF %s takes certificates of the CAS site %s; this one is "
                                 "in %s (set [aliyun] CertRegion)" % (spec.region, spec.region, upload.ref.region),
                                 action="ModifyDomainCert")
            _call(client, "ModifyDomainCert", {
                "InstanceId": instance(client, spec.region or ""), "Domain": spec.domain,
                "CertId": "%d-%s" % (upload.ref.cert_id, upload.ref.region)}, spec.region, write=True)

        return write_each(specs, send, lambda s: self.read_one(client, s), upload.name_for(self.name), upload.bundle)


KIND = WafKind()
