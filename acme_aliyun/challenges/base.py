"""The one interface every challenge solver implements (modelled on lego's provider).

A solver receives *all* the challenges of an order at once, so it can make them
answerable together (one web server, one batch of DNS records) instead of one
name at a time. cleanup() must work from the Challenge data alone: after a crash
the next run calls it with the challenges journalled by the previous run, without
any in-memory state (record ids, open sockets) from that run.
"""

import base64
import hashlib
from dataclasses import dataclass
from typing import Optional, Sequence

from acme_aliyun.errors import ToolError


@dataclass(frozen=True)
class Challenge:
    """One challenge to make answerable. Plain data, JSON-serialisable via asdict()."""

    identifier: str          # the DNS name as validated: "example.test" for "*.example.test"
    type: str                # "http-01" or "dns-01"
    token: str
    key_authorization: str   # token + "." + account key thumbprint

    @property
    def dns_record_name(self) -> str:
        """Fully qualified TXT record name, without a trailing dot."""
        return "_acme-challenge." + self.identifier

    @property
    def dns_txt_value(self) -> str:
        digest = hashlib.sha256(self.key_authorization.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    @property
    def http_path(self) -> str:
        return "/.well-known/acme-challenge/" + self.token


class SolverError(ToolError):
    """A solver could not present or clean up; the message says which name and why."""


class Solver:
    """present() / cleanup() plus an optional wait_until_visible()."""

    challenge_type = ""

    def present(self, challenges: Sequence[Challenge]) -> None:
        raise NotImplementedError

    def cleanup(self, challenges: Sequence[Challenge]) -> None:
        """Remove what present() put in place. Must not fail for things already gone."""
        raise NotImplementedError

    def wait_until_visible(self, challenges: Sequence[Challenge], timeout: Optional[float] = None) -> None:
        """Block until the CA can see the challenges (DNS propagation), at most timeout seconds
        (None: the solver's own configured limit). Default: at once."""
        return None

    def close(self) -> None:
        """Release resources held between present() and cleanup() (sockets, threads)."""
        return None
