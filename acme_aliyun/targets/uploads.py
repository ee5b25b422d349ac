"""How the certificate travels to the targets: by CAS reference or inline, and under which names.

[aliyun] Upload = cas (default): the certificate is found in or uploaded to the SSL
Certificates Service once, and every kind that takes a reference (by_reference) is
set with its id; the others get the PEM under the CAS name. Upload = direct (for
accounts without CAS permission): the PEM goes inline and every upload gets a name
no other call uses (product, short hash of the certificate, time, counter), because
CDN and DCDN uploads land in one account-wide name registry and DCDN has no ForceSet.
A rerun recognises the served certificate by its serial, not by such a name.
"""

import time
from dataclasses import replace
from typing import List, Optional, Tuple

from acme_aliyun.cloud.sdk import CloudClient, CloudError
from acme_aliyun.pki import CertBundle
from acme_aliyun.targets import cas
from acme_aliyun.targets.base import Probe, TargetKind, Upload
from acme_aliyun.targets.served import Served, name_evidence

def prepare(client: CloudClient, bundle: CertBundle, base: str, cert_name: str,
            kinds: List[TargetKind]) -> Tuple[Upload, Optional[CloudError]]:
    """The Upload for these kinds; in cas mode the CAS reference (or the error finding/making it)."""
    upload = Upload(bundle, cert_name)
    if client.settings.upload == "direct":
        upload.direct = True
        return upload, None
    if client.settings.upload != "cas" or not any(k.by_reference for k in kinds):
        return upload, None
    try:
        upload.cas = cas.ensure(client, bundle, base)
    except CloudError as e:
        return upload, e
    return upload, None


def for_kind(upload: Upload, kind: TargetKind) -> Upload:
    """The upload as this kind writes it: kinds that take no CAS reference get the PEM."""
    if upload.cas is not None and not kind.by_reference:
        return replace(upload, cas=None)
    return upload


def shows(served: Served, upload: Upload, kind: TargetKind) -> bool:
    """Does a listing entry show this upload? By CAS id, else by our exact name and expiry."""
    if upload.cas is not None and served.cert_id is not None:
        return served.cert_id == upload.cas.cert_id
    if upload.direct:     # each call had its own name: the expiry and serial evidence it carries
        return served.is_ours(None, upload.bundle) and name_evidence(served.cert_name, upload.bundle)
    return served.shows_upload(upload.name_for(kind.name), upload.bundle)


def probe_cas(client: CloudClient, write: bool) -> Probe:
    """List the CAS uploads; with write, upload a throwaway self-signed certificate and delete it."""
    try:
        count = sum(1 for _ in cas.uploads(client))
        detail = "%d uploaded certificate(s)" % count
        if write:
            detail += "; " + cas.probe_write(client, cas.throwaway_bundle(), "acme-aliyun-check-%d" % time.time())
        return Probe("cas", "certificates", True, detail)
    except CloudError as e:
        return Probe("cas", "certificates", False, str(e))
