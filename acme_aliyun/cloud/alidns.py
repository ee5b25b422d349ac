"""dns-01 through Alibaba Cloud DNS (Alidns 2015-01-09).

present() adds one TXT record per challenge in the zone hosting the name (the
longest hosted suffix, from DescribeDomains, listed once per run and account);
cleanup() deletes by the RecordId present() got back, and otherwise (a run killed
after presenting) finds records by name and value (DescribeSubDomainRecords), so it
needs nothing from the run that added them. Concurrent orders in one zone never
collide: each adds its own values and deletes only the records holding them. Writes
to one zone are serialised (Alidns answers LastOperationNotFinished to concurrent
changes; the SDK layer retries that).
wait_until_visible() asks the zone's authoritative nameservers directly.
"""

import logging
import threading
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver

from acme_aliyun.challenges.base import Challenge, Solver, SolverError
from acme_aliyun.cloud.sdk import CloudClient, CloudError

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
GONE_CODES = ("DomainRecordNotBelongToUser", "InvalidRecordId.NotFound", "InvalidRR.NoExist")

_zone_locks: Dict[str, threading.Lock] = defaultdict(threading.Lock)
_zone_locks_guard = threading.Lock()


def _zone_lock(zone):
    with _zone_locks_guard:
        return _zone_locks[zone]


class AlidnsSolver(Solver):
    """Solver for dns-01 on zones hosted in Alibaba Cloud DNS.

    nameservers: optional ["host:port", ...] to query in wait_until_visible instead of
    the zone's own DNS servers (tests point it at pebble-challtestsrv).
    """

    challenge_type = "dns-01"

    def __init__(self, client: "CloudClient", nameservers: Optional[Sequence[str]] = None) -> None:
        self.client = client
        self.ttl = client.settings.dns_ttl or 600
        self.wait = client.settings.dns_wait
        self.nameservers = list(nameservers or [])
        self._zones: Optional[Dict[str, List[str]]] = None
        self._record_ids: Dict[Tuple[str, str], str] = {}     # (fqdn, value) -> RecordId we added

    # --- zones -----------------------------------------------------------------------------

    def zones(self) -> Dict[str, List[str]]:
        """Every zone of the account with its DNS servers (listed once, then cached)."""
        if self._zones is None:
            zones, page = {}, 1
            while True:
                data = self.client.call("dns", "DescribeDomains", {"PageNumber": page, "PageSize": PAGE_SIZE},
                                        write=False, cached="dns-zones")   # records added do not change it
                items = (data.get("Domains") or {}).get("Domain") or []
                for d in items:
                    servers = (d.get("DnsServers") or {}).get("DnsServer") or []
                    zones[d["DomainName"].lower().rstrip(".")] = list(servers)
                if not items or page * PAGE_SIZE >= int(data.get("TotalCount") or 0):
                    break
                page += 1
            self._zones = zones
        return self._zones

    def zone_for(self, fqdn: str) -> Tuple[str, str]:
        """(zone, RR) for a record name: the longest hosted suffix wins."""
        name = fqdn.lower().rstrip(".")
        labels = name.split(".")
        for i in range(len(labels)):
            zone = ".".join(labels[i:])
            if zone in self.zones():
                return zone, ".".join(labels[:i]) or "@"
        raise SolverError("no Alibaba Cloud DNS zone in this account hosts %s" % name)

    # --- present / cleanup --------------------------------------------------------------------

    def _by_zone(self, challenges):
        grouped = defaultdict(list)
        for ch in challenges:
            zone, rr = self.zone_for(ch.dns_record_name)
            grouped[zone].append((rr, ch))
        return grouped

    def present(self, challenges: Sequence[Challenge]) -> None:
        for zone, items in self._by_zone(challenges).items():
            with _zone_lock(zone):
                for rr, ch in items:
                    try:
                        data = self.client.call("dns", "AddDomainRecord", {
                            "DomainName": zone, "RR": rr, "Type": "TXT", "Value": ch.dns_txt_value,
                            "TTL": self.ttl}, write=True)
                        if data.get("RecordId"):
                            self._record_ids[(ch.dns_record_name.lower(), ch.dns_txt_value)] = str(data["RecordId"])
                    except CloudError as e:
                        if e.code != "DomainRecordDuplicate":
                            raise SolverError("adding TXT %s: %s" % (ch.dns_record_name, e)) from None
                    logger.debug("TXT %s in zone %s present", ch.dns_record_name, zone)

    def _records(self, zone, fqdn):
        out, page = [], 1
        while True:
            data = self.client.call("dns", "DescribeSubDomainRecords", {
                "SubDomain": fqdn, "DomainName": zone, "Type": "TXT", "PageNumber": page, "PageSize": PAGE_SIZE},
                write=False)
            items = (data.get("DomainRecords") or {}).get("Record") or []
            out += items
            if not items or page * PAGE_SIZE >= int(data.get("TotalCount") or 0):
                return out
            page += 1

    def cleanup(self, challenges: Sequence[Challenge]) -> None:
        failures = []
        known = [ch for ch in challenges if (ch.dns_record_name.lower(), ch.dns_txt_value) in self._record_ids]
        for ch in known:
            record_id = self._record_ids.pop((ch.dns_record_name.lower(), ch.dns_txt_value))
            try:
                with _zone_lock(self.zone_for(ch.dns_record_name)[0]):
                    self.client.call("dns", "DeleteDomainRecord", {"RecordId": record_id}, write=True)
            except CloudError as e:
                if e.code not in GONE_CODES:
                    failures.append("deleting TXT %s: %s" % (ch.dns_record_name, e))
        rest = [ch for ch in challenges if ch not in known]
        failures += self._cleanup_by_listing(rest) if rest else []
        if failures:
            raise SolverError("; ".join(failures))

    def _cleanup_by_listing(self, challenges: Sequence[Challenge]) -> List[str]:
        """Delete the records holding these values, found by name (after a killed run)."""
        failures = []
        for zone, items in self._by_zone(challenges).items():
            wanted = defaultdict(set)
            for _rr, ch in items:
                wanted[ch.dns_record_name.lower()].add(ch.dns_txt_value)
            with _zone_lock(zone):
                for fqdn, values in wanted.items():
                    try:
                        records = self._records(zone, fqdn)
                    except CloudError as e:
                        failures.append("listing %s: %s" % (fqdn, e))
                        continue
                    for rec in records:
                        if rec.get("Type", "TXT") != "TXT" or rec.get("Value") not in values:
                            continue
                        try:
                            self.client.call("dns", "DeleteDomainRecord", {"RecordId": rec["RecordId"]}, write=True)
                        except CloudError as e:
                            if e.code not in GONE_CODES:
                                failures.append("deleting TXT %s: %s" % (fqdn, e))
        return failures

    # --- propagation ------------------------------------------------------------------------

    def _servers(self, zone) -> List[Tuple[str, int]]:
        if self.nameservers:
            return [(ns.rsplit(":", 1)[0], int(ns.rsplit(":", 1)[1])) if ":" in ns else (ns, 53)
                    for ns in self.nameservers]
        out = []
        for name in self.zones().get(zone) or []:
            try:
                out += [(a.to_text(), 53) for a in dns.resolver.resolve(name, "A", lifetime=5)]
            except dns.exception.DNSException as e:
                logger.warning("cannot resolve nameserver %s of %s: %s", name, zone, e)
        if not out:
            raise SolverError("no reachable nameserver for zone %s" % zone)
        return out

    def _visible(self, server, fqdn, values) -> bool:
        query = dns.message.make_query(fqdn, dns.rdatatype.TXT)
        try:
            answer = dns.query.udp(query, server[0], port=server[1], timeout=2)
        except (dns.exception.DNSException, OSError):
            return False
        seen = set()
        for rrset in answer.answer:
            for rd in rrset:
                if rd.rdtype == dns.rdatatype.TXT:
                    seen.add(b"".join(rd.strings).decode("ascii", "replace"))
        return values <= seen

    def wait_until_visible(self, challenges: Sequence[Challenge], timeout: Optional[float] = None) -> None:
        """With settings.dns_wait: poll each authoritative server until every TXT value answers,
        for at most timeout seconds, by default DNSWaitTimeout (settings.dns_wait_timeout)."""
        if not self.wait:
            return
        pending = []
        for zone, items in self._by_zone(challenges).items():
            wanted = defaultdict(set)
            for _rr, ch in items:
                wanted[ch.dns_record_name.lower()].add(ch.dns_txt_value)
            pending += [(s, fqdn, vals) for s in self._servers(zone) for fqdn, vals in wanted.items()]
        if timeout is None:
            timeout = self.client.settings.dns_wait_timeout  # DNSWaitTimeout, not the order's budget
        deadline = time.monotonic() + timeout
        say = getattr(self, "progress", None)
        if say is not None:
            say("waiting for DNS to propagate (%d TXT answer(s) to see)" % len(pending), limit=timeout)
        while True:
            pending = [p for p in pending if not self._visible(*p)]
            if not pending:
                return
            if time.monotonic() >= deadline:
                server, fqdn, _ = pending[0]
                raise SolverError("TXT %s not visible at %s:%d after %.0fs" % (fqdn, server[0], server[1], timeout))
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
