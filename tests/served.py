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


def _client(ak, secret, token=None):
    if token is None:
        return AcsClient(ak, secret, "cn-hangzhou", auto_retry=False, proxy=NO_PROXY, timeout=10)
    return AcsClient(region_id="cn-hangzhou", auto_retry=False, proxy=NO_PROXY, timeout=10,
                     credential=StsTokenCredential(ak, secret, token))


def _serial(pem) -> Optional[int]:
    return pki.load_cert_pem(pem).serial_number if pem and "BEGIN CERTIFICATE" in pem else None


def _ask(client, endpoint, request):
    request.set_endpoint(endpoint)
    return json.loads(client.do_action_with_exception(request))


def served_serials(endpoint: str, ak: str, secret: str, token: Optional[str] = None, cdn: Iterable[str] = (),
                   dcdn: Iterable[str] = (), api: Iterable[str] = ()) -> Dict[str, Optional[int]]:
    """{"cdn <domain>" | "dcdn <domain>" | "apigw <group>:<domain>": serial of the served certificate or None}."""
    client, out = _client(ak, secret, token), {}
    for d in cdn:
        r = DescribeDomainCertificateInfoRequest()
        r.set_DomainName(d)
        info = _ask(client, endpoint, r)["CertInfos"]["CertInfo"][0]
        out["cdn " + d] = _serial(info.get("ServerCertificate"))
    for d in dcdn:
        r = DescribeDcdnDomainCertificateInfoRequest()
        r.set_DomainName(d)
        infos = _ask(client, endpoint, r).get("CertInfos", {}).get("CertInfo") or [{}]
        out["dcdn " + d] = _serial(infos[0].get("SSLPub"))
    for item in api:
        group, domain = item.split(":", 1)
        r = DescribeDomainRequest()
        r.set_GroupId(group)
        r.set_DomainName(domain)
        out["apigw " + item] = _serial(_ask(client, endpoint, r).get("CertificateBody"))
    return out


def stored_serial(state_dir: str, name: str) -> int:
    """The serial of the stored certificates/<name>/fullchain.pem (the version `current` points at)."""
    with open(os.path.join(str(state_dir), "certs", name, "fullchain.pem")) as fh:
        return pki.load_cert_pem(fh.read()).serial_number


def wrong_targets(served: Dict[str, Optional[int]], serial: int) -> Dict[str, Optional[str]]:
    """{target: served serial in hex} for each target that does not serve `serial` (empty: all right)."""
    return {t: (None if s is None else "%x" % s) for t, s in served.items() if s != serial}
