"""What a product is (code, version, actions) and what action handlers share: the call context,
parameter access with the product's missing-parameter style, paging and the cloud's time formats.

A handler is ``handler(ctx, params) -> dict`` (the success body without RequestId) and raises
ApiError for an error answer. The server runs it under ``ctx.state.lock``.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

from ..errors import invalid, missing


@dataclass(frozen=True)
class Action:
    name: str
    handler: Callable
    write: bool = False
    targets: Optional[Callable] = None   # (state, params) -> domains/zones a write addresses (lower case)
    anonymous: bool = False              # called without a signature (STS AssumeRoleWithOIDC)


@dataclass(frozen=True)
class Product:
    code: str                 # product code as the SDK names it: Cdn, dcdn, CloudAPI, Alidns
    version: str
    host: str                 # HostId in error answers
    dotted_missing: bool      # "<Param>.MissingParameter" (True) or "MissingParameter"
    actions: Dict[str, Action]
    overlap_code: Optional[str] = None   # error for overlapping writes on one target, if the product has one
    qps: Dict[str, int] = field(default_factory=dict)   # action -> calls/s for actions not in config.DEFAULT_QPS
                                                        # ([assumed] unless the module says otherwise)


@dataclass
class Context:
    state: object             # state.State
    config: object            # config.EmulatorConfig
    mirror: object            # challtestsrv.TxtMirror or None
    auth: object = None       # auth.Authenticator (STS mints credentials through it)


class Params:
    """Request parameters (str -> str). An empty value counts as absent.

    ``method`` is the HTTP method, ``in_query`` the names that came in the URL query (the rest came in
    the form body), ``host`` the Host header (for products whose site depends on the endpoint).
    """

    def __init__(self, raw, dotted_missing, method="POST", in_query=frozenset(), host=""):
        self.raw = raw
        self._dotted = dotted_missing
        self.method = method
        self.in_query = in_query
        self.host = host

    def get(self, name, default=None):
        value = self.raw.get(name)
        return value if value else default

    def require(self, name):
        value = self.raw.get(name)
        if not value:
            raise missing(name, self._dotted)
        return value

    def integer(self, name, default, minimum=None, maximum=None):
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise invalid(name, "It must be an integer.") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise invalid(name, "It must be within %s..%s." % (minimum, maximum))
        return number

    def paging(self, max_size, cap=None):
        """(PageNumber, PageSize): defaults 1 and 20; a server-side ``cap`` shrinks the page whatever was asked."""
        size = self.integer("PageSize", 20, minimum=1, maximum=max_size)
        return self.integer("PageNumber", 1, minimum=1), min(size, cap) if cap else size


def page(items, number, size):
    return items[(number - 1) * size:number * size]


def iso_z(when):
    """yyyy-MM-ddTHH:mm:ssZ (UTC)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""


def plain_time(when):
    """yyyy-MM-dd HH:mm:ss (UTC), the format of the HTTPS domain lists."""
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else ""
