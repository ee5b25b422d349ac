"""How the certificate travels to the targets: by CAS reference or inline, and under which names.

[aliyun] Upload = cas (default): the certificate is found in or uploaded to the SSL
Certificates Service once (cas.ensure), and every kind that takes a reference
(by_reference) is set with its id; the others get the PEM.

Upload = direct (for accounts without CAS permission): no CAS API call. CDN and DCDN
uploads land in CAS anyway, in one account-wide name registry that refuses a reused
name (DCDN has no ForceSet) and, strictly, the same content under a new name. So the
certificate goes inline once, under a name no other call uses (kind, a unique stamp,
expiry, serial prefix), to one target; that target is read back for the CAS id the
upload got, and the other by-reference targets are set with that id. When a target
already serves the certificate by id, nothing is uploaded at all. A rerun recognises
the served certificate by its serial or the name's evidence, never by an exact name.
"""

import logging
import time
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Set, Tuple

from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.pki import CertBundle
from acme_aliyun.targets import cas
from acme_aliyun.targets.base import CasRef, Probe, TargetKind, TargetSpec, Upload
from acme_aliyun.targets.served import Served, name_evidence

logger = logging.getLogger(__name__)

DIRECT_SEED_TRIES = 3
Writes = List[Tuple[TargetKind, List[TargetSpec]]]
Written = Dict[TargetSpec, Optional[CloudError]]


def prepare(client: CloudClient, bundle: CertBundle, base: str, cert_name: str, writes: Writes,
            served: Dict[TargetSpec, Served]) -> Tuple[Upload, Written, Optional[CloudError]]:
    """The Upload for these writes, the specs already written while preparing it (direct mode's
    seed), and the error that fails every other by-reference write (None when all is well)."""
    upload = Upload(bundle, cert_name, direct=client.settings.upload == "direct")
    by_ref = [(k, s) for k, specs in writes if k.by_reference for s in specs]
    if not by_ref:
        return upload, {}, None
    if not upload.direct:
        try:
            upload.ref = cas.ensure(client, bundle, base)
        except CloudError as e:
            return upload, {}, e
        return upload, {}, None
    upload.ref = _served_reference(served, bundle)
    if upload.ref is not None:
        return upload, {}, None
    return _seed(client, upload, by_ref)


def _served_reference(served: Dict[TargetSpec, Served], bundle: CertBundle) -> Optional[CasRef]:
    """The CAS id of this certificate, from a target that already serves it."""
    for s in served.values():
        if s.cert_id is not None and s.serial is not None and s.serial.lower() == bundle.serial.lower():
            return CasRef(s.cert_id, s.cert_name or "", s.cert_region or "cn-hangzhou")
    return None


def _seed(client: CloudClient, upload: Upload, by_ref: List[Tuple[TargetKind, TargetSpec]]
          ) -> Tuple[Upload, Written, Optional[CloudError]]:
    """Write one target inline, read back the CAS id it got (a few targets tried at most)."""
    written: Written = {}
    err: Optional[CloudError] = None
    for kind, spec in by_ref[:DIRECT_SEED_TRIES]:
        err = kind.write(client, [spec], upload).get(spec)
        written[spec] = err
        if err is not None:
            if err.code == "CertificateContent.Duplicated":
                break           # the certificate is in CAS under a name we cannot look up without CAS access
            continue
        try:
            now = kind.read_one(client, spec)
        except CloudError:
            return upload, written, None      # written inline; the others go inline too
        if now.cert_id is not None and now.is_ours(None, upload.bundle):
            upload.ref = CasRef(now.cert_id, now.cert_name or "", now.cert_region or "cn-hangzhou")
        return upload, written, None
    return upload, written, err


def for_kind(upload: Upload, kind: TargetKind) -> Upload:
    """The upload as this kind writes it: kinds that take no CAS reference get the PEM."""
    if upload.ref is not None and not kind.by_reference:
        return replace(upload, ref=None)
    return upload


def shows(served: Served, upload: Upload, kind: TargetKind) -> bool:
    """Does a listing entry show this upload? By CAS id, else by our exact name and expiry."""
    if served.candidates:
        return any(shows(c, upload, kind) for c in served.candidates)
    if upload.ref is not None and served.cert_id is not None:
        return served.cert_id == upload.ref.cert_id
    if upload.direct or upload.ref is not None:   # names we did not choose: their expiry and serial evidence
        return served.is_ours(None, upload.bundle) and (
            name_evidence(served.cert_name, upload.bundle) or served.serial is not None)
    return served.shows_upload(upload.name_for(kind.name), upload.bundle)


def probe(client: CloudClient, write: bool) -> List[Probe]:
    """The hub for `cloud check`: cas mode lists the uploads (with write, uploads a throwaway
    self-signed certificate and deletes it); direct mode calls nothing."""
    if client.settings.upload != "cas":
        return []
    try:
        count = sum(1 for _ in cas.uploads(client))
        detail = "%d uploaded certificate(s)" % count
        if write:
            detail += "; " + cas.probe_write(client, cas.throwaway_bundle(), "acme-aliyun-check-%d" % time.time())
        return [Probe("cas", "certificates", True, detail)]
    except CloudError as e:
        return [Probe("cas", "certificates", False, str(e))]


def clean_up(client: CloudClient, base: str, bundle: CertBundle,
             served: Callable[[], Tuple[Set[int], Set[str]]]) -> List[int]:
    """cas mode: delete our uploads of this certificate name with another serial that no target
    serves (served() reads the targets; it runs only when there is something to delete)."""
    if client.settings.upload != "cas":
        return []
    try:
        old = cas.superseded(client, base, bundle)
        if not old:
            return []
        ids, names = served()
        gone = cas.delete(client, old, ids, names)
    except CloudError as e:
        logger.info("clean-up of superseded CAS uploads skipped: %s", e)
        return []
    for cert_id in gone:
        logger.info("deleted superseded CAS certificate %s", cert_id)
    return gone
