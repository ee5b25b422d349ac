"""Alibaba Cloud API Gateway (CloudAPI 2016-07-14) custom domains as deploy targets.

A target is "[region/]GroupId:domain", or "[region/]GroupId" for every custom domain
of the group the certificate covers; without a region, [aliyun] Region. Groups belong
to a region: each call goes to that region's endpoint with that RegionId.
DescribeApiGroup lists every custom domain of a group with its CertificateName and
CertificateValidEnd (epoch ms) in one call; DescribeDomain returns one domain's
certificate body; SetDomainCertificate writes, with the PEM (the API takes no CAS id).
"""

import re
from typing import Dict, List, Optional, Union

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.kinds import TargetStatus
from acme_aliyun.targets.base import split_region, target_domain
from acme_aliyun.targets.base import (Marker, ParseDefaults, Probe, Reading, TargetKind, TargetSpec, Upload,
                                      WriteErrors, merge_qps)
from acme_aliyun.targets.served import Served, parse_time, write_each

_GROUP_ID = re.compile(r"^[0-9a-f]{32}$")

FACTS = Product(
    "apigateway", "CloudAPI", "2016-07-14", "aliyunsdkcloudapi.request.v20160714",
    lambda region, intl: "apigateway.%s.aliyuncs.com" % region,
    # ASSUMED, not documented: conservative guesses (comparable documented actions allow
    # 30/s for a write, 100/s for a read); the pacer's 75% margin applies on top.
    merge_qps({}, {"SetDomainCertificate": 20, "DescribeApiGroup": 20, "DescribeDomain": 20}),
    regional=True, ram="apigateway",
)

NOT_BOUND = "not a custom domain of API group"
NONE_COVERED = "the certificate covers none of the group's custom domains"


class ApiGatewayKind(TargetKind):
    name = "apigateway"
    ini_key = "APIGateway"
    endpoint_key = "APIGatewayEndpoint"
    facts = FACTS

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        region, rest = split_region(item)
        group, _, domain = rest.partition(":")
        group = group.strip().lower()
        if not _GROUP_ID.match(group):
            raise ValueError("%r: the GroupId must be 32 hex characters" % item)
        prefix = region + "/" if region else ""
        if not domain.strip():
            return TargetSpec(self.name, prefix + group, scope=group, region=region or defaults.region)
        domain = target_domain(domain)
        return TargetSpec(self.name, "%s%s:%s" % (prefix, group, domain), domain=domain, scope=group,
                          region=region or defaults.region)

    def read_group(self, client: CloudClient, group: str, region: Optional[str]) -> Dict[str, Served]:
        """Every custom domain of the group with the certificate it has (by name and expiry)."""
        data = client.call(self.name, "DescribeApiGroup", {"GroupId": group}, write=False, region=region,
                           cached=True)
        out = {}
        for item in (data.get("CustomDomains") or {}).get("DomainItem") or []:
            name = (item.get("DomainName") or "").lower()
            if name:
                out[name] = Served(item.get("CertificateName") or None, parse_time(item.get("CertificateValidEnd")))
        return out

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Each group read once; a bare group expands to its custom domains (marked expanded)."""
        out: Dict[TargetSpec, Reading] = {}
        groups: Dict[tuple, Union[Dict[str, Served], CloudError]] = {}
        for spec in specs:
            key = (spec.region, spec.scope)
            if key not in groups:
                try:
                    groups[key] = self.read_group(client, spec.scope or "", spec.region)
                except CloudError as e:
                    groups[key] = e
            listing = groups[key]
            if isinstance(listing, CloudError):
                out[spec] = listing
            elif spec.domain:
                out[spec] = listing.get(spec.domain) or Marker(
                    TargetStatus.FAILED, "%s is %s %s" % (spec.domain, NOT_BOUND, spec.scope), "NotFoundDomain")
            else:
                out.update(self._expand(spec, listing))
        return out

    def _expand(self, spec: TargetSpec, listing: Dict[str, Served]) -> Dict[TargetSpec, Reading]:
        if not listing:
            return {spec: Marker(TargetStatus.REFUSED, NONE_COVERED)}
        return {TargetSpec(self.name, "%s:%s" % (spec.target, d), domain=d, scope=spec.scope, region=spec.region,
                           expanded=True): served for d, served in sorted(listing.items())}

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        data = client.call(self.name, "DescribeDomain", {"GroupId": spec.scope, "DomainName": spec.domain},
                           write=False, region=spec.region)
        return Served.from_pem(data.get("CertificateBody"), data.get("CertificateName"),
                               parse_time(data.get("CertificateValidEnd")))

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """SetDomainCertificate for each domain, a few at a time; per target None or the error."""
        name = upload.name_for(self.name)

        def send(spec: TargetSpec) -> None:
            client.call(self.name, "SetDomainCertificate", {
                "GroupId": spec.scope, "DomainName": spec.domain, "CertificateName": upload.call_name(self.name),
                "CertificateBody": upload.bundle.fullchain_pem,
                "CertificatePrivateKey": upload.bundle.key_pem}, write=True, region=spec.region)

        return write_each(specs, send, lambda s: self.read_one(client, s), name, upload.bundle)

    def probe(self, client: CloudClient, specs: List[TargetSpec]) -> List[Probe]:
        """One DescribeApiGroup per group."""
        out, seen = [], set()
        for spec in specs:
            key = (spec.region, spec.scope)
            if key in seen:
                continue
            seen.add(key)
            label = spec.target.split(":")[0]
            try:
                n = len(self.read_group(client, spec.scope or "", spec.region))
                out.append(Probe(self.name, label, True, "%d custom domain(s)" % n))
            except CloudError as e:
                out.append(Probe(self.name, label, False, str(e)))
        return out


KIND = ApiGatewayKind()
