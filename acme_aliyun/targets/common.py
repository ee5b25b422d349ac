"""Pieces the target modules share: domain lists from the config, paging, listing entries.

Paging advances by the items actually received and stops when the collected count
reaches TotalCount or a page comes back empty, so a server that caps the page size
below what we asked for never makes us skip domains.
"""

import datetime
from typing import Dict, Iterator, List, Optional, Set

from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.targets.base import TargetSpec, target_domain
from acme_aliyun.targets.served import Served, parse_time


def accelerated_domains(kind: str, value: str) -> List[TargetSpec]:
    """CDN/DCDN domains: '*.x' and '.x' are the wildcard domain the API writes '.x'."""
    out: List[TargetSpec] = []
    for item in value.split(","):
        if not item.strip():
            if value.strip():
                raise ValueError("has an empty entry (check the commas)")
            continue
        raw = item.strip()
        if raw.startswith(".") and not raw.startswith(".."):
            raw = "*" + raw
        name = target_domain(raw)
        api = name[1:] if name.startswith("*.") else name
        spec = TargetSpec(kind, api, domain=name)
        if spec not in out:
            out.append(spec)
    return out


def pages(client: CloudClient, product: str, action: str, outer: str, inner: str,
          wanted: Set[str], found: Dict[str, object], page_size: int,
          params: Optional[Dict[str, object]] = None) -> Iterator[dict]:
    """Items of each page until every wanted name is in `found` or the list ends.

    NoHttpsDomain ends the list (a successful "nothing is HTTPS").
    """
    page, seen = 1, 0
    while wanted - set(found):
        try:
            data = client.call(product, action, dict(params or {}, PageNumber=page, PageSize=page_size),
                               write=False, cached=True)     # shared by every certificate of the run
        except CloudError as e:
            if e.code == "NoHttpsDomain":
                return
            raise
        items = ((data.get(outer) or {}).get(inner)) or []
        yield from items
        seen += len(items)
        if not items or seen >= int(data.get("TotalCount") or 0):
            return
        page += 1


def listed(item: dict) -> Served:
    """A CDN/DCDN HTTPS listing entry (name, expiry, CAS id where given)."""
    return Served(item.get("CertName") or None, parse_time(item.get("CertExpireTime")),
                  cert_id=_int(item.get("CertId")))


def detail(items: List[dict], domain: str) -> Served:
    """A CDN/DCDN DescribeDomainCertificateInfo answer for one domain."""
    item = next((i for i in items if (i.get("DomainName") or domain).lower() == domain.lower()), None)
    if item is None:
        return Served(ssl_on=False)
    ssl_on = (item.get("ServerCertificateStatus") or item.get("SSLProtocol") or "on").lower() == "on"
    pem = item.get("ServerCertificate") or item.get("SSLPub")
    return Served.from_pem(pem, item.get("CertName"), parse_time(item.get("CertExpireTime")), ssl_on,
                           _int(item.get("CertId")), item.get("CertRegion") or None)


def cert_infos(data: dict) -> List[dict]:
    return ((data.get("CertInfos") or {}).get("CertInfo")) or []


def _int(value: object) -> Optional[int]:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def day(dt: Optional[datetime.datetime]) -> str:
    return dt.strftime("%Y-%m-%d") if dt else "?"
