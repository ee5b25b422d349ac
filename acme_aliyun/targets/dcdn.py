"""Alibaba Cloud DCDN (dcdn 2018-01-15) as a deploy target.

Same shape as CDN: DescribeDcdnHttpsDomainList for the bulk state,
DescribeDcdnDomainCertificateInfo for one domain's served certificate, and
SetDcdnDomainSSLCertificate per domain to write, a few domains at a time (DCDN has no
ForceSet; a duplicate answer is success when the domain reads back as serving the
certificate). A domain the HTTPS listing leaves out is read on its own before it is
written: without a domain list in use, the listing alone cannot say it serves nothing.
"""

import logging
from typing import Dict, List

from acme_aliyun.cloud.sdk import CloudClient, Product
from acme_aliyun.targets import common
from acme_aliyun.targets.base import ParseDefaults, Reading, TargetSpec, Upload, WriteErrors, merge_qps
from acme_aliyun.targets.cdn import CdnKind

logger = logging.getLogger(__name__)

FACTS = Product(
    "dcdn", "dcdn", "2018-01-15", "aliyunsdkdcdn.request.v20180115",
    lambda region, intl: "dcdn.aliyuncs.com",
    merge_qps({"DescribeDcdnHttpsDomainList": 100, "DescribeDcdnDomainCertificateInfo": 100},
              # ASSUMED, not documented: the comparable CDN write allows 30/s
              {"SetDcdnDomainSSLCertificate": 20}),
    ram="dcdn",
)


class DcdnKind(CdnKind):
    name = "dcdn"
    ini_key = "DCDN"
    endpoint_key = "DCDNEndpoint"
    facts = FACTS
    list_action = "DescribeDcdnHttpsDomainList"
    detail_action = "DescribeDcdnDomainCertificateInfo"
    set_action = "SetDcdnDomainSSLCertificate"

    def parse(self, value: str, defaults: ParseDefaults) -> List[TargetSpec]:
        return common.accelerated_domains(self.name, value)

    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Listed HTTPS domains have their certificate; the others are left to read_one."""
        try:
            found = self.list_https(client, [s.target for s in specs])
        except Exception as e:  # noqa: BLE001 - CloudError: read every domain on its own
            logger.debug("%s listing failed (%s); reading domains one by one", self.name, e)
            return {}
        return {s: found.get(s.target) for s in specs}

    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        return self.write_each(client, specs, upload)


KIND = DcdnKind()
