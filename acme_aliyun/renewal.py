"""When is a stored certificate due? ARI (RFC 9773) when the CA offers it, lifetime otherwise.

The ARI answer is kept in the certificate's meta.json with the moment we picked
inside the window and the time of the next fetch (the server's Retry-After), so
a timer that fires twice a day asks the CA no more often than the CA wants.
"""

import datetime
import logging
from dataclasses import dataclass
from typing import Optional

from acme_aliyun import provenance
from acme_aliyun.protocol import ari

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


def decide(stored, cert_settings, directory=None, client=None, store=None, force=False, now=None,
           directory_url=None):
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
    source = "RenewBeforeDays" if cert_settings.renew_before_days else "lifetime"
    renew_at = backstop
    if directory is not None and directory.renewal_info and client is not None:
        chosen = _ari_time(stored, directory, client, store, now)
        if chosen is not None and chosen <= renew_at:     # the lifetime rule stays a backstop
            renew_at, source = chosen, "ari"
    if renew_at <= now:
        return Decision(True, "renewal window reached (%s)" % source, renew_at, source)
    return Decision(False, "valid until %s" % bundle.not_after.strftime("%Y-%m-%d %H:%M UTC"), renew_at, source)


def _ari_time(stored, directory, client, store, now):
    meta = stored.meta.get("ari") or {}
    cid = stored.meta.get("ari_cert_id") or ari.cert_id(stored.bundle.cert)
    next_fetch = _parse(meta.get("next_fetch"))
    if meta.get("chosen") and next_fetch and next_fetch > now and meta.get("cert_id") == cid:
        return _parse(meta["chosen"])
    try:
        info = ari.fetch_renewal_info(client.session, directory.renewal_info, cid,
                                      timeout=client.timeout, verify=client._verify())
    except ari.AriError as e:
        log.warning("%s: renewal info unavailable (%s); using the lifetime rule", stored.name, e)
        return _parse(meta.get("chosen")) if meta.get("cert_id") == cid else None
    chosen = ari.choose_renewal_time(info, now=now)
    if store is not None:
        store.update_meta(stored.name, ari={
            "cert_id": cid, "start": info.start.isoformat(), "end": info.end.isoformat(),
            "chosen": chosen.isoformat(), "explanation_url": info.explanation_url,
            "next_fetch": (now + datetime.timedelta(seconds=info.retry_after_seconds)).isoformat()})
    return chosen
