"""Typed ACME errors: problem documents (RFC 7807 / RFC 8555 §6.7) and transport failures."""

from typing import Any, Dict, List, Optional, Tuple

from acme_aliyun.errors import ToolError

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"


class AcmeError(ToolError):
    """Anything that went wrong talking to the ACME server."""


class AcmeTransportError(AcmeError):
    """No usable HTTP answer: connection refused, TLS failure, timeout, redirect, 5xx after retries."""


class AcmeResponseError(AcmeError):
    """The server answered, but not with what RFC 8555 says it must (bad JSON, wrong type, too big)."""


class AcmeProblem(AcmeError):
    """A problem document from the server."""

    def __init__(self, type_: Optional[str], detail: Optional[str], status: Optional[int] = None,
                 subproblems: Optional[List[Dict[str, Any]]] = None, identifier: Optional[Dict[str, Any]] = None,
                 retry_after: Optional[int] = None, url: Optional[str] = None, help_url: Optional[str] = None) -> None:
        self.type = type_ or "about:blank"
        self.detail = detail or ""
        self.status = status
        self.subproblems = list(subproblems or [])
        self.identifier = identifier
        self.retry_after = retry_after      # seconds, when the server sent Retry-After
        self.url = url
        self.help_url = help_url
        super().__init__(self.describe())

    @property
    def code(self) -> str:
        """'badNonce' for 'urn:ietf:params:acme:error:badNonce'."""
        if self.type.startswith(ACME_ERROR_PREFIX):
            return self.type[len(ACME_ERROR_PREFIX):]
        return self.type

    def describe(self) -> str:
        text = "%s: %s" % (self.code, self.detail) if self.detail else self.code
        if self.status:
            text += " (HTTP %s)" % self.status
        for sub in self.subproblems:
            ident = _identifier_value(sub.get("identifier"))
            stype = str(sub.get("type", "")).replace(ACME_ERROR_PREFIX, "")
            text += "; %s: %s %s" % (ident, stype, sub.get("detail", ""))
        if self.retry_after is not None:
            text += "; retry after %d s" % self.retry_after
        return text

    @classmethod
    def from_json(cls, doc: Any, status: Optional[int] = None, retry_after: Optional[int] = None,
                  url: Optional[str] = None, help_url: Optional[str] = None) -> "AcmeProblem":
        doc = doc if isinstance(doc, dict) else {}
        klass: type = cls
        code = str(doc.get("type", ""))
        if code == ACME_ERROR_PREFIX + "rateLimited":
            klass = RateLimited
        elif code == ACME_ERROR_PREFIX + "badNonce":
            klass = BadNonce
        subs = doc.get("subproblems") if isinstance(doc.get("subproblems"), list) else []
        ident = doc.get("identifier")
        return klass(doc.get("type") if isinstance(doc.get("type"), str) else None, str(doc.get("detail", "")),
                     status=status, subproblems=[sp for sp in subs if isinstance(sp, dict)],
                     identifier=ident if isinstance(ident, dict) else None, retry_after=retry_after, url=url,
                     help_url=help_url)


def _identifier_value(ident: Any) -> str:
    """The value of a subproblem's identifier; '?' when it is missing or not an object."""
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        return ident["value"]
    return "?"


class RateLimited(AcmeProblem):
    """urn:ietf:params:acme:error:rateLimited — never retried in a loop; Retry-After is shown."""


class BadNonce(AcmeProblem):
    """urn:ietf:params:acme:error:badNonce — retried with the nonce from the error response."""


class AuthorizationFailed(AcmeError):
    """One or more authorizations ended invalid; the message lists the CA's detail per name."""

    def __init__(self, failures: List[Tuple[str, str]]) -> None:
        self.failures = failures  # list of (identifier, problem text)
        super().__init__("validation failed: " + "; ".join("%s: %s" % f for f in failures))


class OrderFailed(AcmeError):
    """The order went invalid or never finished."""
