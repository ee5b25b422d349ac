"""Alibaba Cloud CDN as a deploy target.

Reads: DescribeCdnHttpsDomainList (500 per page) for the bulk state of many domains,
DescribeDomainCertificateInfo per domain where the served PEM is needed.
Writes: BatchSetCdnDomainServerCertificate (10 domains a call) when several domains
get the same certificate, else SetCdnDomainSSLCertificate; a batch refused for one
bad domain is redone domain by domain. A name clash from an
earlier, partly failed upload of the same certificate is resolved by read-back and
then ForceSet=1 (the name encodes the serial, so it can only hold this certificate).
"""

from typing import Dict, List, Optional

from acme_aliyun.cloud.certinfo import DUPLICATE_CODES, Deployed, parse_time
from acme_aliyun.cloud.sdk import CloudError

KIND = "cdn"
PAGE_SIZE = 500
BATCH_SIZE = 10


def cert_infos(data):
    return ((data.get("CertInfos") or {}).get("CertInfo")) or []


def read_many(client, domains, action="DescribeCdnHttpsDomainList", product="cdn") -> Dict[str, Deployed]:
    """The listed certificate of each HTTPS domain among `domains` (absent: not listed)."""
    wanted = {d.lower() for d in domains}
    found: Dict[str, Deployed] = {}
    page = 1
    while wanted - set(found):
        try:
            data = client.call(product, action, {"PageNumber": page, "PageSize": PAGE_SIZE}, write=False)
        except CloudError as e:
            if e.code == "NoHttpsDomain":
                break
            raise
        items = cert_infos(data)
        for item in items:
            name = (item.get("DomainName") or "").lower()
            if name in wanted:
                found[name] = Deployed(item.get("CertName") or None, parse_time(item.get("CertExpireTime")))
        if not items or page * PAGE_SIZE >= int(data.get("TotalCount") or 0):
            break
        page += 1
    return found


def read_one(client, domain) -> Deployed:
    """What the domain serves, from DescribeDomainCertificateInfo (with the PEM when given)."""
    data = client.call(KIND, "DescribeDomainCertificateInfo", {"DomainName": domain}, write=False)
    return detail(cert_infos(data), domain)


def detail(items, domain) -> Deployed:
    item = next((i for i in items if (i.get("DomainName") or domain).lower() == domain.lower()), None)
    if item is None:
        return Deployed(ssl_on=False)
    ssl_on = (item.get("ServerCertificateStatus") or item.get("SSLProtocol") or "on").lower() == "on"
    pem = item.get("ServerCertificate") or item.get("SSLPub")
    return Deployed.from_pem(pem, item.get("CertName"), parse_time(item.get("CertExpireTime")), ssl_on)


def write(client, domains: List[str], cert_name, bundle) -> Dict[str, Optional[CloudError]]:
    """Deploy bundle to the domains under cert_name; per domain None or the error."""
    result: Dict[str, Optional[CloudError]] = {}
    uploaded = False
    for i in range(0, len(domains), BATCH_SIZE):
        chunk = _write_chunk(client, domains[i:i + BATCH_SIZE], cert_name, bundle, force=uploaded)
        uploaded = uploaded or any(e is None for e in chunk.values())
        result.update(chunk)
    return result


def _write_chunk(client, domains, cert_name, bundle, force):
    try:
        _set(client, domains, cert_name, bundle, force)
        return {d: None for d in domains}
    except CloudError as e:
        if e.code in DUPLICATE_CODES:
            return _after_duplicate(client, domains, cert_name, bundle, e)
        if len(domains) == 1 or not _may_be_one_domain(e):
            return {d: e for d in domains}
    # one bad domain fails a whole batch: write them one by one so the others still get it
    result = {}
    for d in domains:
        result.update(_write_chunk(client, [d], cert_name, bundle, force))
    return result


def _may_be_one_domain(err):
    """Could this error come from one domain of a batch? Not transport failures or throttling."""
    return err.code != "SDK.HttpError" and not (err.code or "").startswith("Throttling")


def _set(client, domains, cert_name, bundle, force):
    params = {"CertName": cert_name, "CertType": "upload", "SSLProtocol": "on",
              "SSLPub": bundle.fullchain_pem, "SSLPri": bundle.key_pem}
    if len(domains) == 1 and not force:
        client.call(KIND, "SetCdnDomainSSLCertificate", dict(params, DomainName=domains[0]), write=True)
    else:
        client.call(KIND, "BatchSetCdnDomainServerCertificate",
                    dict(params, DomainName=",".join(domains), ForceSet="1" if force else None), write=True)


def _after_duplicate(client, domains, cert_name, bundle, dup):
    """Which domains already serve it; the others get it again with ForceSet=1 (name clash only)."""
    result, missing = {}, []
    for d in domains:
        try:
            ours = read_one(client, d).is_ours(cert_name, bundle)
        except CloudError as e:
            result[d] = e
            continue
        if ours:
            result[d] = None
        else:
            missing.append(d)
    if missing and dup.code == "CertificateContent.Duplicated":
        result.update({d: dup for d in missing})
    elif missing:
        try:
            _set(client, missing, cert_name, bundle, force=True)
            result.update({d: None for d in missing})
        except CloudError as e:
            result.update({d: e for d in missing})
    return result
