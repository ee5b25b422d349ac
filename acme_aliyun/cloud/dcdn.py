"""Alibaba Cloud DCDN (dynamic route for CDN) as a deploy target.

Same shape as CDN: DescribeDcdnHttpsDomainList for the bulk state (an unlisted domain
serves no certificate), DescribeDcdnDomainCertificateInfo for one domain's served certificate,
SetDcdnDomainSSLCertificate per domain to write, a few domains at a time (a duplicate
answer is success when the domain reads back as serving the certificate).
"""

from typing import Dict, List, Optional

from acme_aliyun.cloud import cdn
from acme_aliyun.cloud.certinfo import Deployed, write_each
from acme_aliyun.cloud.sdk import CloudError

KIND = "dcdn"


def list_https(client, domains) -> Dict[str, Deployed]:
    """The listed certificate of each HTTPS domain among `domains` (absent: not listed)."""
    return cdn.list_https(client, domains, action="DescribeDcdnHttpsDomainList", product=KIND)


def read_many(client, domains) -> Dict[str, Deployed]:
    """What the bulk read says about each of `domains`: a domain the (successful) HTTPS list
    leaves out serves no certificate. Raises CloudError when the list fails.

    Unlike CDN there is no existence check (no bulk DCDN domain list is in use): an
    unknown domain is planned and its write fails with InvalidDomain.NotFound.
    """
    found = list_https(client, domains)
    return dict({d.lower(): Deployed(ssl_on=False) for d in domains}, **found)


def read_one(client, domain) -> Deployed:
    data = client.call(KIND, "DescribeDcdnDomainCertificateInfo", {"DomainName": domain}, write=False)
    return cdn.detail(cdn.cert_infos(data), domain)


def write(client, domains: List[str], cert_name, bundle) -> Dict[str, Optional[CloudError]]:
    """Deploy bundle to each domain under cert_name; per domain None or the error."""
    def send(domain):
        client.call(KIND, "SetDcdnDomainSSLCertificate", {
            "DomainName": domain, "CertName": cert_name, "CertType": "upload", "SSLProtocol": "on",
            "SSLPub": bundle.fullchain_pem, "SSLPri": bundle.key_pem}, write=True)

    return write_each(domains, send, lambda d: read_one(client, d), cert_name, bundle)
