"""When is a stored certificate due? ARI (RFC 9773) when the CA offers it, lifetime otherwise.

RFC 9773 §4.2: when the CA suggests a window, renew at a uniformly random moment
inside it. That moment is picked once and kept in the certificate's meta.json
with the window and the time of the next fetch (the server's Retry-After), so a
timer that fires twice a day asks the CA no more often than the CA wants and
the moment does not move from run to run; it is picked again only when the CA
changes its window. The lifetime rule (or RenewBeforeDays) applies only when
there is no ARI answer, or when the window ends after the certificate expires.
"""

import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from acme_aliyun import provenance
from acme_aliyun.protocol import ari

if TYPE_CHECKING:
    from acme_aliyun.protocol.client import AcmeClient
    from acme_aliyun.store import Store

log = logging.getLogger(__name__)


@dataclass
class Decision:
    due: bool
    reason: str
    renew_at: Optional[datetime.datetime]      # when it becomes due (None: now / unknown)
    source: str                                # ari | lifetime | RenewBeforeDays | missing | forced | ...


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _parse(ts):
    return datetime.datetime.fromisoformat(ts) if ts else None


def decide(stored: Any, cert_settings: Any, directory: Any = None, client: Optional["AcmeClient"] = None,
           store: Optional["Store"] = None, force: bool = False, now: Optional[datetime.datetime] = None,
           directory_url: Optional[str] = None) -> "Decision":
    """Is the certificate due? Fetches ARI when the directory has renewalInfo and the cached answer is stale.

    directory_url (or directory.url): the configured ACME directory; a certificate from another one
    is due at once ("CA changed"), and so is a revoked one.
    """
    now = now or _now()
    if stored is None:
        return Decision(True, "no certificate yet", None, "missing")
    bundle = stored.bundle
    if sorted(bundle.names) != sorted(cert_settings.domains):
        return Decision(True, "the configured names changed", None, "names")
    if provenance.revoked(stored):
        return Decision(True, "revoked (%s)" % provenance.revoked(stored), None, "revoked")
    directory_url = directory_url or getattr(directory, "url", None)
    if provenance.ca_changed(stored, directory_url):
        return Decision(True, "CA changed (issued by %s)" % provenance.issued_by(stored), None, "ca")
    if force:
        return Decision(True, "forced", None, "forced")
    if bundle.not_after <= now:
        return Decision(True, "expired on %s" % bundle.not_after.date(), None, "expired")
    backstop = ari.fallback_renewal_time(bundle.not_before, bundle.not_after, cert_settings.renew_before_days)
    renew_at, source = backstop, "RenewBeforeDays" if cert_settings.renew_before_days else "lifetime"
    window = _ari_window(stored, directory, client, store, now)
    if window is not None:
        chosen, end = _parse(window["chosen"]), _parse(window["end"])
        if end <= bundle.not_after:
            renew_at, source = chosen, "ari"
        elif chosen < renew_at:                 # the window runs past expiry: the lifetime rule is the backstop
            renew_at, source = chosen, "ari"
    if renew_at <= now:
        return Decision(True, "renewal window reached (%s)" % source, renew_at, source)
    return Decision(False, "valid until %s" % bundle.not_after.strftime("%Y-%m-%d %H:%M UTC"), renew_at, source)


def ari_window(stored: Any) -> Optional[dict]:
    """The stored ARI answer for this certificate: {start, end, chosen, ...} (ISO strings), or None."""
    meta = stored.meta.get("ari") or {}
    cid = stored.meta.get("ari_cert_id")
    if not meta.get("chosen") or not meta.get("start") or not meta.get("end"):
        return None
    if cid is None:
        try:
            cid = ari.cert_id(stored.bundle.cert)
        except ari.AriError:
            return None
    return meta if meta.get("cert_id") == cid else None


def _ari_window(stored, directory, client, store, now):
    """The ARI answer to follow: the stored one while it is fresh (or without a client to ask),
    else the CA's current window, keeping the chosen moment unless the window changed."""
    cached = ari_window(stored)
    if directory is None or not directory.renewal_info or client is None:
        return cached
    next_fetch = _parse((cached or {}).get("next_fetch"))
    if cached and next_fetch and next_fetch > now:
        return cached
    try:
        cid = stored.meta.get("ari_cert_id") or ari.cert_id(stored.bundle.cert)
        info = client.renewal_info(stored.bundle.cert, cid)
    except ari.AriError as e:
        log.warning("%s: renewal info unavailable (%s); using what is known", stored.name, e)
        return cached
    start, end = info.start.isoformat(), info.end.isoformat()
    if cached and (cached["start"], cached["end"]) == (start, end):
        chosen = cached["chosen"]                 # the same window: the same moment
    else:
        chosen = ari.choose_renewal_time(info, now=now).isoformat()
    window = {"cert_id": cid, "start": start, "end": end, "chosen": chosen,
              "explanation_url": info.explanation_url,
              "next_fetch": (now + datetime.timedelta(seconds=info.retry_after_seconds)).isoformat()}
    if store is not None:
        store.update_meta(stored.name, ari=window)
    return window
