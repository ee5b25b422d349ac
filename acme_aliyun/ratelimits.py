"""The CA's rate limits, counted before ordering, so a fleet never runs into them.

Why: a platform with hundreds of certificates on one registered domain would hit Let's
Encrypt's limits on its first run (50 new certificates per registered domain per week)
and then fail every order for days. Instead the runner asks this ledger before each
order; what would exceed a limit is deferred to a later run with a one-line reason
naming the limit and the next free slot, and the rest goes ahead.

Limits (Let's Encrypt's published numbers by default; `[limits]` sets others, see
docs): new orders per ACME account per 3 hours (300), new certificates per registered
domain per 7 days (50), duplicate certificates (the same set of names) per 7 days (5),
failed validations per name per hour (5). A value is `COUNT/PERIOD` (`50/7d`, `300/3h`,
`5/1h`, `m` `h` `d` units) or `off`. Renewals the CA's ARI window (RFC 9773) asked for,
while inside that window, are exempt, as Let's Encrypt exempts them; they are still
counted. The renewal moment itself is a random point in the window (renewal.py), so
certificates issued together are not all renewed together.

The ledger is `<state>/ratelimits.json`: every order, certificate and failed validation
with its time, pruned past the longest window, rewritten atomically after each change
(a crash loses nothing that was counted). A slot is reserved (counted) before the
order starts and handed back if the order fails, so concurrent orders never overbook
and a killed run errs on the side of counting. Time comes from `clock` (tests move it).
"""

import datetime
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from acme_aliyun.fsio import atomic_write
from acme_aliyun.regdomain import registered_domain

log = logging.getLogger(__name__)

UTC = datetime.timezone.utc
PREFIX = "deferred: "
FILE = "ratelimits.json"
_PERIOD = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([mhd])\s*$", re.I)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


clock: Callable[[], datetime.datetime] = _now
_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"            # fixed width: the ledger compares times as text


def _iso(dt: datetime.datetime) -> str:
    return dt.astimezone(UTC).strftime(_FMT)


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, _FMT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Limit:
    count: int                          # 0: not enforced
    window: datetime.timedelta

    def describe(self, what: str) -> str:
        """'50 certificates per registered domain per week'."""
        return "%d %s per %s" % (self.count, what, _period(self.window))


def _period(window: datetime.timedelta) -> str:
    hours = window.total_seconds() / 3600
    names: Dict[float, str] = {1: "hour", 24: "day", 168: "week"}
    if hours in names:
        return names[hours]
    if hours >= 24 and hours % 24 == 0:
        return "%d days" % (hours // 24)
    return "%g hours" % hours if hours >= 1 else "%d minutes" % (window.total_seconds() // 60)


@dataclass
class Limits:
    """What `[limits]` configures; the defaults are Let's Encrypt's."""

    new_orders: Limit = Limit(300, datetime.timedelta(hours=3))
    per_domain: Limit = Limit(50, datetime.timedelta(days=7))
    duplicates: Limit = Limit(5, datetime.timedelta(days=7))
    failed_validations: Limit = Limit(5, datetime.timedelta(hours=1))
    psl_file: Optional[str] = None

    def longest(self) -> datetime.timedelta:
        return max(x.window for x in (self.new_orders, self.per_domain, self.duplicates, self.failed_validations))


KEYS = {"NewOrders": "new_orders", "CertificatesPerDomain": "per_domain",
        "DuplicateCertificates": "duplicates", "FailedValidations": "failed_validations"}


def parse_limit(text: str) -> Limit:
    """'50/7d' -> Limit(50, 7 days); 'off' or '0' -> not enforced; ValueError otherwise."""
    if text.strip().lower() in ("off", "0", "none"):
        return Limit(0, datetime.timedelta(hours=1))
    m = _PERIOD.match(text)
    if not m:
        raise ValueError("%r is not COUNT/PERIOD such as 50/7d, 300/3h or 5/1h (or off)" % text)
    amount = int(m.group(2) or 1)
    if amount <= 0:
        raise ValueError("%r has an empty period" % text)
    return Limit(int(m.group(1)), datetime.timedelta(**{_UNITS[m.group(3).lower()]: amount}))


def from_section(sec: Any) -> Limits:
    """Limits from a config._Section for [limits]; errors name the key."""
    limits = Limits()
    for key, attr in KEYS.items():
        value = sec.get(key)
        if value is not None:
            try:
                setattr(limits, attr, parse_limit(value))
            except ValueError as e:
                raise sec.error(key, str(e)) from None
    limits.psl_file = sec.path_value("PublicSuffixFile", must_exist=True)
    return limits


def ari_exempt(stored: object, decision: object) -> bool:
    """A renewal the CA's ARI window (RFC 9773) asked for, still inside that window: Let's
    Encrypt exempts these from every limit. The window is the one renewal.py keeps in meta.json."""
    if stored is None or getattr(decision, "source", None) != "ari":
        return False
    end = ((getattr(stored, "meta", None) or {}).get("ari") or {}).get("end")
    try:
        return bool(end) and clock() <= datetime.datetime.fromisoformat(str(end))
    except (TypeError, ValueError):
        return False


@dataclass
class Deferral:
    reason: str                          # one line, starting with PREFIX
    next_slot: datetime.datetime


@dataclass
class Reservation:
    """Counted slots of one order; failed() hands back what a failed order did not use."""

    ledger: "Ledger"
    rid: str
    names: List[str] = field(default_factory=list)

    def failed(self, failed_names: Iterable[str] = ()) -> None:
        """The order failed: its certificate slots go back; failed validations are counted."""
        self.ledger._release(self, list(failed_names))


class Ledger:
    """The counts behind the limits, for one state folder (see the module docstring)."""

    def __init__(self, state_dir: str, limits: Optional[Limits] = None) -> None:
        self.path = os.path.join(state_dir, FILE)
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._events: List[dict] = self._load()

    def _load(self) -> List[dict]:
        try:
            with open(self.path) as fh:
                events = json.load(fh).get("events") or []
            return [e for e in events if isinstance(e, dict) and {"kind", "key", "at"} <= set(e)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.warning("%s unreadable (%s); counting CA limits from scratch", self.path, e)
            return []

    def _save(self, now: datetime.datetime) -> None:
        horizon = _iso(now - self.limits.longest())
        self._events = [e for e in self._events if e["at"] > horizon]
        atomic_write(self.path, json.dumps({"events": self._events}, indent=1) + "\n", mode=0o600)

    def _times(self, kind: str, key: str, window: datetime.timedelta, now: datetime.datetime) -> List[str]:
        start = _iso(now - window)
        return sorted(e["at"] for e in self._events if e["kind"] == kind and e["key"] == key and e["at"] > start)

    def _full(self, limit: Limit, kind: str, key: str, what: str, subject: str,
              now: datetime.datetime) -> Optional[Deferral]:
        if limit.count <= 0:
            return None
        times = self._times(kind, key, limit.window, now)
        if len(times) < limit.count:
            return None
        slot = _parse(times[len(times) - limit.count]) + limit.window
        return Deferral("%s%s reached for %s; next slot %s" % (PREFIX, limit.describe(what), subject,
                                                               slot.strftime("%a %H:%M UTC")), slot)

    def reserve(self, account: str, names: List[str], exempt: bool = False) -> Union[Deferral, Reservation]:
        """Count one order of `names` if every limit allows it, else say which one does not."""
        names = sorted({n.lower() for n in names})
        domains = sorted({registered_domain(n, self.limits.psl_file) for n in names})
        dup = ",".join(names)
        with self._lock:
            now = clock()
            if not exempt:
                for check in self._checks(account, names, domains, dup, now):
                    if check is not None:
                        return check
            rid = secrets.token_hex(6)
            at = _iso(now)
            self._events.append({"kind": "order", "key": account, "at": at, "id": rid})
            self._events.append({"kind": "dup", "key": dup, "at": at, "id": rid})
            self._events += [{"kind": "cert", "key": d, "at": at, "id": rid} for d in domains]
            self._save(now)
            return Reservation(self, rid, names)

    def _checks(self, account: str, names: List[str], domains: List[str], dup: str,
                now: datetime.datetime) -> Iterable[Optional[Deferral]]:
        lim = self.limits
        for n in names:
            yield self._full(lim.failed_validations, "authz", "%s|%s" % (account, n), "failed validations",
                             n, now)
        yield self._full(lim.new_orders, "order", account, "new orders per account", "this ACME account", now)
        yield self._full(lim.duplicates, "dup", dup, "duplicate certificates", dup, now)
        for d in domains:
            yield self._full(lim.per_domain, "cert", d, "certificates per registered domain", d, now)

    def _release(self, reservation: Reservation, failed_names: List[str]) -> None:
        with self._lock:
            now = clock()
            self._events = [e for e in self._events
                            if not (e.get("id") == reservation.rid and e["kind"] in ("dup", "cert"))]
            account = next((e["key"] for e in self._events if e.get("id") == reservation.rid), "")
            self._events += [{"kind": "authz", "key": "%s|%s" % (account, n.lower()), "at": _iso(now)}
                             for n in failed_names]
            self._save(now)

    def counts(self) -> Dict[str, int]:
        """Events per kind inside their window now (for reports and tests)."""
        now = clock()
        windows = {"order": self.limits.new_orders.window, "dup": self.limits.duplicates.window,
                   "cert": self.limits.per_domain.window, "authz": self.limits.failed_validations.window}
        with self._lock:
            return {k: sum(1 for e in self._events if e["kind"] == k and e["at"] > _iso(now - w))
                    for k, w in windows.items()}
