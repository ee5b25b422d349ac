"""Function Compute 3.0 (2023-03-30, ROA, JSON) custom domains as deploy targets.

A target is "domain" or "region/domain"; without a region, [aliyun] Region. FC takes no
CAS reference: the certificate goes inline in certConfig {certName, certificate,
privateKey} (all three required). UpdateCustomDomain replaces what it is given, and
whether omitted fields are kept is unconfirmed, so a write is GetCustomDomain, then
UpdateCustomDomain with every updatable field read (routes, auth, CORS, TLS, WAF) plus the
new certConfig; protocol HTTP becomes HTTP,HTTPS. ListCustomDomains (paged) reads many
domains at once; GetCustomDomain one. Both return the served PEM, so the served serial
decides whether a domain already has our certificate.

Endpoint: fcv3.<region>.aliyuncs.com, the host Alibaba's own generated SDK for this API
version uses; it needs no account id, where the documented <accountId>.<region>.fc.aliyuncs.com
would need one more call (sts:GetCallerIdentity) or one more setting. [aliyun] FCEndpoint
overrides it (e.g. 1234567890.cn-hangzhou.fc.aliyuncs.com). Signing: V3 (cloud.acs3), the
only scheme the FC docs describe; the key travels in the signed JSON body only.
"""

import re
from typing import Any, Dict, List, Optional

from acme_aliyun.cloud import acs3, roa
from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.targets.base import split_region, target_domain
from acme_aliyun.targets.base import (ParseDefaults, Reading, TargetKind, TargetSpec, Upload, WriteErrors,
                                      merge_qps)
from acme_aliyun.targets.served import Served, write_each

VERSION = "2023-03-30"
PAGE_LIMIT = 100
KEPT = ("authConfig", "corsConfig", "routeConfig", "tlsConfig", "wafConfig")   # re-sent as read

FACTS = Product(
    "fc", "FC", VERSION, "",
    lambda region, intl: "fcv3.%s.aliyuncs.com" % region,
    # ASSUMED, not documented (the reference marks FC QPS unconfirmed): a conservative 10/s each
    merge_qps({}, {"GetCustomDomain": 10, "UpdateCustomDomain": 10, "ListCustomDomains": 10}),
    regional=True, ram="fc",
)


def _path(domain: Optional[str] = None) -> str:
    base = "/%s/custom-domains" % VERSION
    return base if domain is None else "%s/%s" % (base, acs3.encode(domain))


def _call(client: CloudClient, action: str, method: str, path: str, what: str, region: Optional[str],
          **kw: Any) -> Dict[str, Any]:
    return roa.call(client, FACTS.key, action, method, path, what, region=region, **kw)


def served_of(item: Dict[str, Any]) -> Optional[Served]:
    """A custom domain's certificate; None when the answer carries no PEM to judge by."""
    cert = item.get("certConfig") or {}
    if cert.get("certificate"):
        return Served.from_pem(cert["certificate"], cert.get("certName"))
    if (item.get("protocol") or "HTTP").upper() == "HTTP":
        return Served(ssl_on=False)
    return None


class FcKind(TargetKind):
    name = "fc"
    ini_key = "FC"
    endpoint_key = "FCEndpoint"
    facts = FACTS

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, domain = split_region(item)
        domain = target_domain(domain)
        return TargetSpec(self.name, (region + "/" if region else "") + domain, domain=domain,
                          region=region or defaults.region)

    def get(self, client: CloudClient, spec: TargetSpec) -> Dict[str, Any]:
        return _call(client, "GetCustomDomain", "GET", _path(spec.domain), "custom domain %s" % spec.domain,
                     spec.region)

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        return served_of(self.get(client, spec)) or Served(ssl_on=False)

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """ListCustomDomains once per region; what it lacks (or a failed listing) is read one by one."""
        out: Dict[TargetSpec, Reading] = {}
        for region in sorted({s.region or "" for s in specs}):
            mine = [s for s in specs if (s.region or "") == region]
            try:
                listed = self._list(client, region or None, {s.domain for s in mine})
            except CloudError:
                continue
            out.update({s: served_of(listed[s.domain]) if s.domain in listed else None for s in mine})
        return out

    def _list(self, client: CloudClient, region: Optional[str], wanted: set) -> Dict[str, Dict[str, Any]]:
        found: Dict[str, Dict[str, Any]] = {}
        token = None
        while wanted - set(found):
            query = {"limit": str(PAGE_LIMIT)}
            if token:
                query["nextToken"] = token
            data = _call(client, "ListCustomDomains", "GET", _path(), "custom domains", region, query=query)
            for item in data.get("customDomains") or []:
                name = (item.get("domainName") or "").lower()
                if name in wanted:
                    found[name] = item
            token = data.get("nextToken")
            if not token:
                break
        return found

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """GetCustomDomain then UpdateCustomDomain per domain, a few at a time."""
        def send(spec: TargetSpec) -> None:
            body = update_body(self.get(client, spec), upload)
            _call(client, "UpdateCustomDomain", "PUT", _path(spec.domain), "custom domain %s" % spec.domain,
                  spec.region, body=body, write=True)

        return write_each(specs, send, lambda s: self.read_one(client, s), upload.name_for(self.name), upload.bundle)


def update_body(current: Dict[str, Any], upload: Upload) -> Dict[str, Any]:
    """What was read, minus the read-only fields, plus the new certConfig (and HTTPS turned on)."""
    body = {k: current[k] for k in KEPT if current.get(k) not in (None, {}, [])}
    protocol = (current.get("protocol") or "HTTP").upper()
    body["protocol"] = "HTTP,HTTPS" if protocol == "HTTP" else protocol
    body["certConfig"] = {"certName": re.sub(r"[^A-Za-z0-9_-]", "-", upload.call_name("fc"))[:128],
                          "certificate": upload.bundle.fullchain_pem, "privateKey": upload.bundle.key_pem}
    return body


KIND = FcKind()
