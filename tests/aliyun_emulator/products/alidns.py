"""Alibaba Cloud DNS, Alidns 2015-01-09: AddDomainRecord, DeleteDomainRecord, DescribeDomainRecords,
DescribeSubDomainRecords, DescribeDomains.

RR is stored lower-case ("@" = apex). Identical RR+Type+Value+Line -> DomainRecordDuplicate; a CNAME
next to other records of the same RR and Line -> DomainRecordConflict. TXT changes are mirrored into
pebble-challtestsrv when configured; a failed mirror is InternalError and stores nothing. Overlapping
writes on one zone may fail with LastOperationNotFinished (EmulatorConfig.dns_conflict_rate).
"""

import time
from urllib.error import URLError

from ..errors import ApiError, invalid
from ..state import DnsRecord
from .base import Action, Product, page

RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA", "REDIRECT_URL", "FORWARD_URL")
MAX_TTL = 86400


def _zone(ctx, name):
    zone = ctx.state.zones.get(name.lower().rstrip("."))
    if zone is None:
        raise ApiError("InvalidDomainName.NoExist")
    return zone


def _mirror(ctx, method, *args):
    """Call TxtMirror.<method>(*args) if a mirror is configured."""
    if ctx.mirror is None:
        return
    try:
        getattr(ctx.mirror, method)(*args)
    except (URLError, OSError) as exc:
        raise ApiError("InternalError", "The emulator could not mirror the TXT record to challtestsrv: %s" % exc)


def add_domain_record(ctx, params):
    zone = _zone(ctx, params.require("DomainName"))
    rr = params.require("RR").lower().rstrip(".")
    rtype = params.require("Type").upper()
    value = params.require("Value")
    if rtype not in RECORD_TYPES:
        raise invalid("Type")
    ttl = params.integer("TTL", 600, maximum=MAX_TTL)
    if ttl < ctx.config.default_dns_ttl_min:
        raise ApiError("QuotaExceeded.TTL")
    line = params.get("Line", "default")
    priority = params.integer("Priority", 10, minimum=1, maximum=50) if rtype == "MX" else None
    same_rr = [r for r in zone.records.values() if r.rr == rr and r.line == line]
    if any(r.type == rtype and r.value == value for r in same_rr):
        raise ApiError("DomainRecordDuplicate")
    if same_rr and (rtype == "CNAME" or any(r.type == "CNAME" for r in same_rr)):
        raise ApiError("DomainRecordConflict")
    record = DnsRecord(ctx.state.new_id(), zone.name, rr, rtype, value, ttl, line, priority,
                       int(time.time() * 1000))
    if rtype == "TXT":
        _mirror(ctx, "add", record.host, value)
    zone.records[record.record_id] = record
    return {"RecordId": record.record_id}


def delete_domain_record(ctx, params):
    record_id = params.require("RecordId")
    zone = ctx.state.zone_of_record(record_id)
    if zone is None:
        raise ApiError("DomainRecordNotBelongToUser")
    record = zone.records[record_id]
    if record.type == "TXT":
        remaining = [r.value for r in zone.records.values()
                     if r is not record and r.type == "TXT" and r.host == record.host]
        _mirror(ctx, "replace", record.host, remaining)
    del zone.records[record_id]
    return {"RecordId": record_id}


def _view(record, with_times=False):
    out = {"RecordId": record.record_id, "DomainName": record.zone, "RR": record.rr, "Type": record.type,
           "Value": record.value, "TTL": record.ttl, "Line": record.line, "Status": "ENABLE", "Locked": False,
           "Weight": 1, "Remark": ""}
    if record.priority is not None:
        out["Priority"] = record.priority
    if with_times:
        out["CreateTimestamp"] = out["UpdateTimestamp"] = record.created_ms
    return out


def _records_page(number, size, records, with_times):
    return {"TotalCount": len(records), "PageNumber": number, "PageSize": size,
            "DomainRecords": {"Record": [_view(r, with_times) for r in page(records, number, size)]}}


def _ordered(zone):
    return sorted(zone.records.values(), key=lambda r: int(r.record_id))


def describe_domain_records(ctx, params):
    zone = _zone(ctx, params.require("DomainName"))
    number, size = params.paging(ctx.config.page_size_max("DescribeDomainRecords"), ctx.config.page_size_cap)
    rr_kw = params.get("RRKeyWord", "").lower()
    type_kw = params.get("TypeKeyWord", "").upper()
    value_kw = params.get("ValueKeyWord", "").lower()
    keyword = params.get("KeyWord", "").lower()
    exact_type = params.get("Type", "").upper()
    records = [r for r in _ordered(zone)
               if rr_kw in r.rr and value_kw in r.value.lower()
               and (not type_kw or r.type == type_kw) and (not exact_type or r.type == exact_type)
               and (keyword in r.rr or keyword in r.value.lower())]
    return _records_page(number, size, records, with_times=True)


def describe_sub_domain_records(ctx, params):
    sub = params.require("SubDomain").lower().rstrip(".")
    domain_name = params.get("DomainName")
    zone = _zone(ctx, domain_name) if domain_name else ctx.state.hosted_zone_for(sub)
    if zone is None:
        raise ApiError("InvalidDomainName.NoExist")
    if sub != zone.name and not sub.endswith("." + zone.name):
        raise ApiError("SubDomainInvalid.Value")
    rr = "@" if sub == zone.name else sub[:-len(zone.name) - 1]
    number, size = params.paging(ctx.config.page_size_max("DescribeSubDomainRecords"), ctx.config.page_size_cap)
    rtype = params.get("Type", "").upper()
    records = [r for r in _ordered(zone) if r.rr == rr and (not rtype or r.type == rtype)]
    return _records_page(number, size, records, with_times=False)


def describe_domains(ctx, params):
    number, size = params.paging(ctx.config.page_size_max("DescribeDomains"), ctx.config.page_size_cap)
    keyword = params.get("KeyWord", "").lower()
    zones = [z for _, z in sorted(ctx.state.zones.items()) if keyword in z.name]
    domains = [{
        "DomainId": z.domain_id, "DomainName": z.name, "PunyCode": z.name, "RecordCount": len(z.records),
        "VersionCode": "mianfei", "VersionName": "Alibaba Cloud DNS", "AliDomain": False, "InstanceId": "",
        "GroupId": "", "GroupName": "", "Starmark": False, "Remark": "",
        "CreateTime": z.created_at.strftime("%Y-%m-%dT%H:%MZ"), "CreateTimestamp": int(z.created_at.timestamp() * 1000),
        "DnsServers": {"DnsServer": ["dns1.hichina.com", "dns2.hichina.com"]},
    } for z in page(zones, number, size)]
    return {"TotalCount": len(zones), "PageNumber": number, "PageSize": size, "Domains": {"Domain": domains}}


def _add_target(state, params):
    return ((params.get("DomainName") or "").lower().rstrip("."),)


def _delete_target(state, params):
    with state.lock:
        zone = state.zone_of_record(params.get("RecordId") or "")
    return (zone.name,) if zone else ()


PRODUCT = Product(
    code="Alidns", version="2015-01-09", host="alidns.aliyuncs.com", dotted_missing=False,
    overlap_code="LastOperationNotFinished",
    actions={a.name: a for a in (
        Action("AddDomainRecord", add_domain_record, write=True, targets=_add_target),
        Action("DeleteDomainRecord", delete_domain_record, write=True, targets=_delete_target),
        Action("DescribeDomainRecords", describe_domain_records),
        Action("DescribeSubDomainRecords", describe_sub_domain_records),
        Action("DescribeDomains", describe_domains),
    )},
)
