"""Alibaba Cloud API Gateway (CloudAPI 2016-07-14) custom domains as deploy targets.

A target is "GroupId:domain". DescribeApiGroup lists every custom domain of a group
with its CertificateName and CertificateValidEnd (epoch ms) in one call;
DescribeDomain returns one domain's certificate body; SetDomainCertificate writes.
"""

from typing import Dict, List, Optional, Tuple

from acme_aliyun.cloud.certinfo import Deployed, parse_time, write_each
from acme_aliyun.cloud.sdk import CloudError
from acme_aliyun.errors import UsageError

KIND = "apigateway"


def parse_spec(spec) -> Tuple[str, Optional[str]]:
    """'GroupId:domain' -> (GroupId, domain); a bare 'GroupId' -> (GroupId, None)."""
    group, _, domain = spec.strip().partition(":")
    if not group or (_ and not domain):
        raise UsageError("API Gateway target %r: give GroupId or GroupId:domain" % spec)
    return group, (domain.lower() or None)


def read_group(client, group_id) -> Dict[str, Deployed]:
    """Every custom domain of the group with the certificate it has (by name and expiry)."""
    data = client.call(KIND, "DescribeApiGroup", {"GroupId": group_id}, write=False)
    out = {}
    for item in (data.get("CustomDomains") or {}).get("DomainItem") or []:
        name = (item.get("DomainName") or "").lower()
        if name:
            out[name] = Deployed(item.get("CertificateName") or None,
                                 parse_time(item.get("CertificateValidEnd")))
    return out


def read_one(client, target) -> Deployed:
    group, domain = parse_spec(target)
    data = client.call(KIND, "DescribeDomain", {"GroupId": group, "DomainName": domain}, write=False)
    return Deployed.from_pem(data.get("CertificateBody"), data.get("CertificateName"),
                             parse_time(data.get("CertificateValidEnd")))


def write(client, targets: List[str], cert_name, bundle) -> Dict[str, Optional[CloudError]]:
    """SetDomainCertificate for each GroupId:domain, a few at a time; per target None or the error."""
    def send(target):
        group, domain = parse_spec(target)
        client.call(KIND, "SetDomainCertificate", {
            "GroupId": group, "DomainName": domain, "CertificateName": cert_name,
            "CertificateBody": bundle.fullchain_pem, "CertificatePrivateKey": bundle.key_pem}, write=True)

    return write_each(targets, send, lambda t: read_one(client, t), cert_name, bundle)
