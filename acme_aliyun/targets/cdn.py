"""Alibaba Cloud CDN (Cdn 2018-05-10) as a deploy target.

Reads: DescribeCdnHttpsDomainList (500 a page) for the bulk state of many domains (a
domain it does not list serves no certificate, once DescribeUserDomains shows the
domain exists with HTTPS off), DescribeDomainCertificateInfo per domain where the served
PEM is needed. Writes: with a CAS reference, SetCdnDomainSSLCertificate per domain
(CertType=cas, CertId, CertRegion; whether the batch call takes a reference is
unconfirmed). With the PEM inline, BatchSetCdnDomainServerCertificate (10 domains a
call) when several domains get it, else SetCdnDomainSSLCertificate; every call uploads
under its own name, so names never clash; a batch refused for one bad domain is
redone domain by domain.
"""

import logging
from typing import Dict, List, Optional

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.targets import common
from acme_aliyun.targets.base import ParseDefaults, Reading, TargetKind, TargetSpec, Upload, WriteErrors, merge_qps
from acme_aliyun.targets.served import DUPLICATE_CODES, Served, write_each

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
BATCH_SIZE = 10

FACTS = Product(
    "cdn", "Cdn", "2018-05-10", "aliyunsdkcdn.request.v20180510",
    lambda region, intl: "cdn.ap-southeast-1.aliyuncs.com" if intl else "cdn.aliyuncs.com",
    merge_qps({"SetCdnDomainSSLCertificate": 30, "BatchSetCdnDomainServerCertificate": 10,
               "DescribeDomainCertificateInfo": 100, "DescribeCdnHttpsDomainList": 100,
               "DescribeUserDomains": 100}, {}),
    ram="cdn",
)


class CdnKind(TargetKind):
    name = "cdn"
    ini_key = "CDN"
    endpoint_key = "CDNEndpoint"
    facts = FACTS
    by_reference = True
    list_action = "DescribeCdnHttpsDomainList"
    detail_action = "DescribeDomainCertificateInfo"
    set_action = "SetCdnDomainSSLCertificate"

    def parse(self, value: str, defaults: ParseDefaults) -> List[TargetSpec]:
        return common.accelerated_domains(self.name, value)

    def list_https(self, client: CloudClient, domains: List[str]) -> Dict[str, Served]:
        """The listed certificate of each HTTPS domain among `domains` (absent: not listed)."""
        wanted = set(domains)
        found: Dict[str, object] = {}
        for item in common.pages(client, self.name, self.list_action, "CertInfos", "CertInfo", wanted, found,
                                 PAGE_SIZE):
            name = (item.get("DomainName") or "").lower()
            if name in wanted:
                found[name] = common.listed(item)
        return {d: v for d, v in found.items() if isinstance(v, Served)}

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """HTTPS domains have their listed certificate; one the (successful) list leaves out
        serves none if DescribeUserDomains shows it exists with HTTPS off. A failed listing
        leaves every domain to read_one."""
        try:
            found = self.list_https(client, [s.target for s in specs])
        except CloudError as e:
            logger.debug("%s listing failed (%s); reading domains one by one", self.name, e.code)
            return {}
        absent = {s.target for s in specs} - set(found)
        if absent:
            try:
                found.update({d: Served(ssl_on=False) for d in self._https_off(client, absent)})
            except CloudError as e:
                logger.debug("DescribeUserDomains failed (%s); reading %d domain(s) one by one", e.code, len(absent))
        return {s: found.get(s.target) for s in specs}

    def _https_off(self, client: CloudClient, domains: set) -> set:
        """Those of `domains` that DescribeUserDomains lists with SslProtocol off."""
        seen: Dict[str, object] = {}
        for item in common.pages(client, self.name, "DescribeUserDomains", "Domains", "PageData", domains, seen,
                                 PAGE_SIZE):
            name = (item.get("DomainName") or "").lower()
            if name in domains:
                seen[name] = (item.get("SslProtocol") or "").lower()
        return {d for d, ssl in seen.items() if ssl != "on"}

    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        data = client.call(self.name, self.detail_action, {"DomainName": spec.target}, write=False)
        return common.detail(common.cert_infos(data), spec.target)

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        if upload.ref is not None:
            return self.write_each(client, specs, upload)
        result: WriteErrors = {}
        for i in range(0, len(specs), BATCH_SIZE):
            result.update(self._write_chunk(client, specs[i:i + BATCH_SIZE], upload))
        return result

    def write_each(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """The single-domain call for each spec, a few at a time."""
        return write_each(specs, lambda s: self._set_one(client, s, upload), lambda s: self.read_one(client, s),
                          upload.name_for(self.name), upload.bundle)

    def _set_one(self, client: CloudClient, spec: TargetSpec, upload: Upload) -> None:
        client.call(self.name, self.set_action, dict(set_params(upload, self.name), DomainName=spec.target),
                    write=True)

    def _write_chunk(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        try:
            if len(specs) == 1:
                self._set_one(client, specs[0], upload)
            else:
                client.call(self.name, "BatchSetCdnDomainServerCertificate", dict(
                    set_params(upload, self.name), DomainName=",".join(s.target for s in specs)), write=True)
            return {s: None for s in specs}
        except CloudError as e:
            if e.code in DUPLICATE_CODES or len(specs) == 1 or not _may_be_one_domain(e):
                return self._after_error(client, specs, upload, e)
        # one bad domain fails a whole batch: write them one by one so the others still get it
        return self.write_each(client, specs, upload)

    def _after_error(self, client: CloudClient, specs: List[TargetSpec], upload: Upload,
                     err: CloudError) -> WriteErrors:
        """A duplicate answer is success for the domains that read back as serving it; a name
        clash (our name encodes the serial: an earlier partial upload) is overwritten with ForceSet."""
        if err.code not in DUPLICATE_CODES:
            return {s: err for s in specs}
        result: WriteErrors = {}
        missing = []
        for s in specs:
            try:
                ours = self.read_one(client, s).is_ours(upload.name_for(self.name), upload.bundle)
            except CloudError as e:
                result[s] = e
                continue
            if ours:
                result[s] = None
            else:
                missing.append(s)
        if missing and (err.code == "CertificateContent.Duplicated" or upload.ref is not None):
            result.update({s: err for s in missing})
        elif missing:
            try:
                client.call(self.name, "BatchSetCdnDomainServerCertificate", dict(
                    set_params(upload, self.name), DomainName=",".join(s.target for s in missing), ForceSet="1"),
                    write=True)
                result.update({s: None for s in missing})
            except CloudError as e:
                result.update({s: e for s in missing})
        return result


def set_params(upload: Upload, kind: str) -> Dict[str, Optional[str]]:
    """The certificate part of a CDN/DCDN set call: a CAS reference, or the PEM inline."""
    if upload.ref is not None:
        return {"SSLProtocol": "on", "CertType": "cas", "CertId": str(upload.ref.cert_id),
                "CertRegion": upload.ref.region}
    return {"SSLProtocol": "on", "CertType": "upload", "CertName": upload.call_name(kind),
            "SSLPub": upload.bundle.fullchain_pem, "SSLPri": upload.bundle.key_pem}


def _may_be_one_domain(err: CloudError) -> bool:
    """Could this error come from one domain of a batch? Not transport failures or throttling."""
    return err.code != "SDK.HttpError" and not (err.code or "").startswith("Throttling")


KIND = CdnKind()
