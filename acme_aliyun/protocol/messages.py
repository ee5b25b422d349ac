"""The ACME objects the client reads (RFC 8555 §7.1), typed and parsed once at the protocol boundary.

A server's JSON reaches the rest of the protocol layer only through this module:
check_shape() (run by the client on every JSON answer) refuses fields whose JSON type
is not the one RFC 8555 gives them, and the parse functions build Order,
Authorization, Challenge, Account and Problem with typed statuses, refusing a status
the RFC does not define. So order.py reads `order.status`, never `order.get("status")`,
and a hostile CA gets one clear AcmeResponseError, never an AttributeError.
"""

import datetime
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple, cast, get_args

from acme_aliyun.protocol.errors import AcmeProblem, AcmeResponseError

Json = Dict[str, Any]
OrderStatus = Literal["pending", "ready", "processing", "valid", "invalid"]
AuthzStatus = Literal["pending", "valid", "invalid", "deactivated", "expired", "revoked"]
ChallengeStatus = Literal["pending", "processing", "valid", "invalid"]
AccountStatus = Literal["valid", "deactivated", "revoked"]

MAX_RETRY_AFTER = 86400       # a CA's Retry-After is honoured up to one day


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[int]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date; RFC 9110 §10.2.3),
    at most one day and never negative; None when it is absent or unreadable. The one Retry-After
    parser: the client (polls, rateLimited) and ARI (with its own floor and default) both use it."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:     # "-0000": a time in UTC (RFC 5322 §3.3)
        when = when.replace(tzinfo=datetime.timezone.utc)
    seconds = when.timestamp() - (now if now is not None else time.time())
    return min(MAX_RETRY_AFTER, max(0, int(seconds)))


# What RFC 8555 says a field of a server's JSON object is, for the fields the client reads.
_STR_FIELDS = ("status", "finalize", "certificate", "expires", "url", "token", "detail", "type", "orders")
_OBJ_FIELDS = ("error", "meta")


def _is_identifier(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("type"), str) and isinstance(v.get("value"), str)


def _all(value: Any, test: Any) -> bool:
    return isinstance(value, list) and all(test(v) for v in value)


# Fields that hold something other than a string or an object: what each must be, and how to tell.
_LIST_FIELDS = (("identifiers", "a list of identifiers", _is_identifier),
                ("authorizations", "a list of strings", lambda v: isinstance(v, str)),
                ("challenges", "a list of objects", lambda v: isinstance(v, dict)))


def _misfit(doc: Json, problem: bool) -> Optional[Tuple[str, str]]:
    """(field, what it should be) for the first field of the wrong JSON type, else None."""
    for f in _STR_FIELDS:
        # a problem document's status is the HTTP status, a number
        if f in doc and not isinstance(doc[f], str) and not (problem and f == "status"):
            return f, "a string"
    for f in _OBJ_FIELDS:
        if f in doc and not isinstance(doc[f], dict):
            return f, "an object"
    if "identifier" in doc and not _is_identifier(doc["identifier"]):
        return "identifier", "an object with a type and a value"
    for f, what, test in _LIST_FIELDS:
        if f in doc and not _all(doc[f], test):
            return f, what
    return None


def check_shape(doc: Json, url: str, problem: bool = False) -> Json:
    """AcmeResponseError unless the fields of a server's JSON object have the types RFC 8555 gives them."""
    misfit = _misfit(doc, problem)
    if misfit:
        raise AcmeResponseError("%s answered with malformed JSON: %r is not %s" % (url, misfit[0], misfit[1]))
    for c in doc.get("challenges") or []:
        check_shape(c, url)
    if "error" in doc:
        check_shape(doc["error"], url, problem=True)
    return doc


def _status(doc: Json, allowed: Tuple[str, ...], what: str, url: str, default: Optional[str] = None) -> str:
    status = doc.get("status", default)
    if status not in allowed:
        raise AcmeResponseError("%s: %s has an unknown status %r" % (url, what, status))
    return cast(str, status)


@dataclass
class Problem:
    """A problem document (RFC 7807, RFC 8555 §6.7), as leniently read as the error path needs."""

    type: str
    detail: str
    raw: Json = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, doc: Any) -> Optional["Problem"]:
        """None when doc says nothing (no type, no detail)."""
        if not isinstance(doc, dict) or not (doc.get("type") or doc.get("detail")):
            return None
        return cls(str(doc.get("type") or ""), str(doc.get("detail") or ""), doc)

    def error(self) -> AcmeProblem:
        """The exception carrying this problem (its describe() is the one-line text)."""
        return AcmeProblem.from_json(self.raw)


@dataclass
class Challenge:
    type: str
    status: ChallengeStatus
    url: str = ""
    token: str = ""
    error: Optional[Problem] = None

    @classmethod
    def parse(cls, doc: Json, url: str) -> "Challenge":
        status = cast(ChallengeStatus, _status(doc, get_args(ChallengeStatus), "a challenge", url,
                                                           default="pending"))
        return cls(str(doc.get("type") or "?"), status, doc.get("url") or "", doc.get("token") or "",
                   Problem.parse(doc.get("error")))


@dataclass
class Authorization:
    url: str
    identifier: str               # the name ('?' when the CA sent none)
    status: AuthzStatus
    challenges: List[Challenge] = field(default_factory=list)

    @classmethod
    def parse(cls, doc: Json, url: str) -> "Authorization":
        check_shape(doc, url)
        status = cast(AuthzStatus, _status(doc, get_args(AuthzStatus), "an authorization", url))
        ident = doc.get("identifier")
        name = (ident.get("value") if isinstance(ident, dict) else None) or "?"
        return cls(url, name, status, [Challenge.parse(c, url) for c in doc.get("challenges") or []])

    def failed_challenge_error(self) -> Optional[Problem]:
        """The error of the failed challenge (the first challenge with one when none is marked invalid)."""
        ordered = [c for c in self.challenges if c.status == "invalid"] + self.challenges
        return next((c.error for c in ordered if c.error is not None), None)


@dataclass
class Order:
    url: str
    status: OrderStatus
    authorizations: List[str] = field(default_factory=list)
    finalize: Optional[str] = None
    certificate: Optional[str] = None
    error: Optional[Problem] = None

    @classmethod
    def parse(cls, doc: Json, url: str) -> "Order":
        check_shape(doc, url)
        status = cast(OrderStatus, _status(doc, get_args(OrderStatus), "the order", url))
        return cls(url, status, list(doc.get("authorizations") or []), doc.get("finalize") or None,
                   doc.get("certificate") or None, Problem.parse(doc.get("error")))


@dataclass
class Account:
    url: str
    status: str                                  # an AccountStatus; kept as sent when the CA says more
    contact: List[str] = field(default_factory=list)
    data: Json = field(default_factory=dict)     # everything the server returned
    created: bool = False                        # True when this call created it

    @classmethod
    def parse(cls, doc: Optional[Json], url: str, created: bool = False) -> "Account":
        doc = doc or {}
        contact = doc.get("contact")
        return cls(url=url, status=str(doc.get("status", "")),
                   contact=[str(c) for c in contact] if isinstance(contact, list) else [], data=doc,
                   created=created)
