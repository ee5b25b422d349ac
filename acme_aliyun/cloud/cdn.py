"""Alibaba Cloud CDN as a deploy target.

Reads: DescribeCdnHttpsDomainList (500 per page) for the bulk state of many domains
(a domain it does not list serves no certificate, once DescribeUserDomains shows the
domain exists), DescribeDomainCertificateInfo per domain where the served PEM is needed.
Writes: BatchSetCdnDomainServerCertificate (10 domains a call) when several domains
get the same certificate, else SetCdnDomainSSLCertificate; a batch refused for one
bad domain is redone domain by domain. A name clash from an
earlier, partly failed upload of the same certificate is resolved by read-back and
then ForceSet=1 (the name encodes the serial, so it can only hold this certificate).
"""

import logging
from typing import Dict, List, Optional

from acme_aliyun.cloud.certinfo import DUPLICATE_CODES, Deployed, parse_time
from acme_aliyun.cloud.sdk import CloudError

logger = logging.getLogger(__name__)

KIND = "cdn"
PAGE_SIZE = 500
BATCH_SIZE = 10


def cert_infos(data):
    return ((data.get("CertInfos") or {}).get("CertInfo")) or []


def list_https(client, domains, action="DescribeCdnHttpsDomainList", product="cdn") -> Dict[str, Deployed]:
    """The listed certificate of each HTTPS domain among `domains` (absent: not listed).

    NoHttpsDomain is a successful answer (nothing is HTTPS: {}); any other failure raises.
    """
    wanted = {d.lower() for d in domains}
    found: Dict[str, Deployed] = {}
    for item in _pages(client, product, action, "CertInfos", "CertInfo", wanted, found):
        name = (item.get("DomainName") or "").lower()
        if name in wanted:
            found[name] = Deployed(item.get("CertName") or None, parse_time(item.get("CertExpireTime")))
    return found


def read_many(client, domains) -> Dict[str, Deployed]:
    """What the bulk reads say about each of `domains`; a domain without an entry needs read_one.

    HTTPS domains have their listed certificate; a domain the (successful) HTTPS list
    leaves out serves no certificate, if DescribeUserDomains shows it exists with HTTPS
    off (an unknown domain is left to read_one, which reports InvalidDomain.NotFound).
    Raises CloudError when the HTTPS list fails; a failed DescribeUserDomains only
    leaves the unlisted domains to read_one.
    """
    found = list_https(client, domains)
    absent = {d.lower() for d in domains} - set(found)
    if absent:
        try:
            found.update({d: Deployed(ssl_on=False) for d in _https_off(client, absent)})
        except CloudError as e:
            logger.debug("DescribeUserDomains failed (%s); reading %d domain(s) one by one", e.code, len(absent))
    return found


def _https_off(client, domains) -> set:
    """Those of `domains` that DescribeUserDomains lists with SslProtocol off."""
    seen: Dict[str, str] = {}
    for item in _pages(client, KIND, "DescribeUserDomains", "Domains", "PageData", domains, seen):
        name = (item.get("DomainName") or "").lower()
        if name in domains:
            seen[name] = (item.get("SslProtocol") or "").lower()
    return {d for d, ssl in seen.items() if ssl != "on"}


def _pages(client, product, action, outer, inner, wanted, found):
    """Items of each page (PAGE_SIZE a page) until every wanted name is in `found` or the list ends."""
    page = 1
    while wanted - set(found):
        try:
            data = client.call(product, action, {"PageNumber": page, "PageSize": PAGE_SIZE}, write=False)
        except CloudError as e:
            if e.code == "NoHttpsDomain":
                return
            raise
        items = ((data.get(outer) or {}).get(inner)) or []
        yield from items
        if not items or page * PAGE_SIZE >= int(data.get("TotalCount") or 0):
            return
        page += 1


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
        force = force or result[d] is None      # once uploaded, the name exists: overwrite it with itself
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
