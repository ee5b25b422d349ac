"""KeyFile and ChainFile: the user's copies of the stored pair, checked and repaired on every run.

The store switches the pair atomically; the copies live elsewhere (a web
server's folder) and can drift: a run killed between the switch and the
copies, a folder that was not writable for a while. So the copies are not
written once after an order but compared with the current pair on every run
and rewritten where they differ. The chain is written before the key: a web
server reloaded between the two sees the new certificate with the old key and
fails loudly, rather than silently serving an old certificate. A failed copy
is its own outcome (CopyError), never an order failure: the order succeeded.
"""

import logging
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from acme_aliyun.errors import ToolError
from acme_aliyun.kinds import CopyStatus
from acme_aliyun.store import write_copy

log = logging.getLogger(__name__)


class CopyError(ToolError):
    """A KeyFile or ChainFile could not be brought in line with the stored pair."""


@dataclass
class CopyResult:
    status: CopyStatus
    error: Optional[str] = None


def wanted(cert: Any, stored: Any) -> List[Tuple[str, bytes, bool]]:
    """[(path, bytes, private)] the copies should hold for this certificate's settings, chain first."""
    out = []
    if cert.chain_file:
        out.append((cert.chain_file, stored.fullchain_pem.encode("ascii"), False))
    if cert.key_file and not cert.csr_file and stored.key_pem:
        out.append((cert.key_file, stored.key_pem, True))
    return out


def _holds(path, data):
    try:
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def sync(cert: Any, stored: Any) -> CopyResult:
    """Rewrite each copy that differs from the stored pair. Never raises; the result says how it went."""
    if stored is None or not hasattr(stored, "fullchain_pem"):
        return CopyResult(CopyStatus.NONE)
    todo = wanted(cert, stored)
    if not todo:
        return CopyResult(CopyStatus.NONE)
    written, errors = [], []
    for path, data, private in todo:
        if _holds(path, data):
            continue
        try:
            write_copy(path, data, private=private)
            written.append(path)
        except ToolError as e:
            errors.append(str(e))
            if not private:
                break                   # never a new key next to an old chain
    if errors:
        message = "; ".join(errors)
        log.error("%s: copy failed: %s", cert.name, message)
        return CopyResult(CopyStatus.FAILED, message)
    if written:
        log.info("%s: wrote %s", cert.name, ", ".join(written))
        return CopyResult(CopyStatus.WRITTEN)
    return CopyResult(CopyStatus.OK)
