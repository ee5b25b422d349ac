"""What a target serves, read as a user would: the product's Describe API through the real SDK.

Deploy tests compare the serial of the certificate each target serves with the
serial of the stored fullchain.pem. A CertName prefix cannot tell the new
certificate from an old one (both carry it), and the emulator's internal state
would stop being the truth once deploys go by certificate-service reference; the
Describe answers (ServerCertificate, SSLPub, CertificateBody) stay the served PEM.
"""

import json
import os
from typing import Dict, Iterable, Optional

from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import DescribeDomainCertificateInfoRequest
from aliyunsdkcloudapi.request.v20160714.DescribeDomainRequest import DescribeDomainRequest
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkdcdn.request.v20180115.DescribeDcdnDomainCertificateInfoRequest import (
    DescribeDcdnDomainCertificateInfoRequest,
)

from acme_aliyun import pki

NO_PROXY = {"http": None, "https": None}


def _client(ak, secret, token=None, region="cn-hangzhou"):
    if token is None:
        return AcsClient(ak, secret, region, auto_retry=False, proxy=NO_PROXY, timeout=10)
    return AcsClient(region_id=region, auto_retry=False, proxy=NO_PROXY, timeout=10,
                     credential=StsTokenCredential(ak, secret, token))


def _serial(pem) -> Optional[int]:
    return pki.load_cert_pem(pem).serial_number if pem and "BEGIN CERTIFICATE" in pem else None


def _ask(client, endpoint, request):
    request.set_endpoint(endpoint)
    return json.loads(client.do_action_with_exception(request))


def _cdn(ask, domain):
    r = DescribeDomainCertificateInfoRequest()
    r.set_DomainName(domain)
    infos = ask(r).get("CertInfos", {}).get("CertInfo") or [{}]
    return _serial(infos[0].get("ServerCertificate"))


def _dcdn(ask, domain):
    r = DescribeDcdnDomainCertificateInfoRequest()
    r.set_DomainName(domain)
    infos = ask(r).get("CertInfos", {}).get("CertInfo") or [{}]
    return _serial(infos[0].get("SSLPub"))


def _api(ask, item):
    group, domain = item.rpartition("/")[2].split(":", 1)
    r = DescribeDomainRequest()
    r.set_GroupId(group)
    r.set_DomainName(domain)
    return _serial(ask(r).get("CertificateBody"))


# kind -> (label in the answer, reader). A target kind added to acme_aliyun/targets/ gets a line here
# reading the served PEM from its own Describe answer; "[region/]" prefixes pick the region's client.
READERS = {"cdn": ("cdn", _cdn), "dcdn": ("dcdn", _dcdn), "api": ("apigw", _api)}


def served_serials(endpoint: str, ak: str, secret: str, token: Optional[str] = None,
                   **kinds: Iterable[str]) -> Dict[str, Optional[int]]:
    """{"cdn <domain>" | "dcdn <domain>" | "apigw [<region>/]<group>:<domain>": serial served or None}.

    Keywords name the kinds (cdn=, dcdn=, api=, see READERS); items are written as in acme.ini.
    A CDN/DCDN domain set by certificate-service reference (CertType=cas) answers the referenced PEM.
    """
    unknown = set(kinds) - set(READERS)
    if unknown:
        raise TypeError("served_serials: no reader for %s" % ", ".join(sorted(unknown)))
    clients, out = {}, {}
    for kind, items in kinds.items():
        label, reader = READERS[kind]
        for item in items:
            region = item.rpartition("/")[0] or "cn-hangzhou"
            if region not in clients:
                clients[region] = _client(ak, secret, token, region)
            out["%s %s" % (label, item)] = reader(lambda r, c=clients[region]: _ask(c, endpoint, r), item)
    return out


def stored_serial(state_dir: str, name: str) -> int:
    """The serial of the stored certificates/<name>/fullchain.pem (the version `current` points at)."""
    with open(os.path.join(str(state_dir), "certs", name, "fullchain.pem")) as fh:
        return pki.load_cert_pem(fh.read()).serial_number


def wrong_targets(served: Dict[str, Optional[int]], serial: int) -> Dict[str, Optional[str]]:
    """{target: served serial in hex} for each target that does not serve `serial` (empty: all right)."""
    return {t: (None if s is None else "%x" % s) for t, s in served.items() if s != serial}
