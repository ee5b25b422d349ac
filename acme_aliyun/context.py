"""One run's shared objects, built lazily: the store, the ACME client with its account, the cloud clients.

cli, runner and fc build a Context from a Config; nothing is constructed (no
key read, no network, no SDK import) until a command needs it. An account profile
([aliyun] or [aliyun:NAME]) is its settings, a credentials provider and a CloudClient,
built once per run on first use and shared by every certificate (and thread) using it.
"""

import logging
import threading
from typing import TYPE_CHECKING, Optional

from acme_aliyun.errors import UsageError

if TYPE_CHECKING:
    from acme_aliyun.cloud.sdk import CloudClient
    from acme_aliyun.ratelimits import Ledger

log = logging.getLogger(__name__)


class Context:
    def __init__(self, cfg, credentials=None, progress=None, read_only=False):
        self.cfg = cfg
        self.read_only = read_only             # status, dry runs: the store creates nothing
        self._credentials = credentials        # a CredentialProvider for [aliyun] (FC passes its own)
        self.progress = progress or (lambda msg, limit=None: log.info("%s", msg))
        self._store = self._acme = self._ledger = None
        self._build = threading.RLock()        # certificates run side by side: build each object once
        self._clouds = {}                      # profile name ("" for [aliyun]) -> CloudClient
        self._clouds_lock = threading.Lock()
        self._remote = None                    # StateDir = oss://...: the local mirror (state_oss.py)
        if str(cfg.acme.state_dir).lower().startswith("oss://"):
            from acme_aliyun import state_oss
            self._remote = state_oss.attach(cfg, credentials)

    @property
    def store(self):
        if self._store is None:
            from acme_aliyun.store import Store
            if self._remote is not None:
                from acme_aliyun import state_oss
                self._store = state_oss.store(self._remote, self.read_only)
            else:
                self._store = Store(self.cfg.acme.state_dir, read_only=self.read_only)
        return self._store

    def acme(self, create_key=True):
        """The ACME client with its account (found, or registered on first use; never after a deactivation)."""
        with self._build:
            return self._acme_locked(create_key)

    def _acme_locked(self, create_key):
        if self._acme is None:
            from acme_aliyun import acme_account
            key = acme_account.usable_account_key(self.cfg.acme, self.store, create=create_key)
            client = acme_account.make_client(self.cfg.acme, key)
            acme_account.ensure_account(self.cfg.acme, client)
            self._acme = client
        return self._acme

    @property
    def ledger(self) -> "Ledger":
        """The CA rate-limit ledger of the state folder ([limits])."""
        with self._build:
            if self._ledger is None:
                from acme_aliyun.ratelimits import Ledger
                self._ledger = Ledger(self.store.state_dir, getattr(self.cfg, "limits", None))
            return self._ledger

    def cloud(self, profile: Optional[str] = None) -> "CloudClient":
        """The CloudClient of account profile NAME ([aliyun:NAME]), or of [aliyun] for None."""
        key = profile or ""
        with self._clouds_lock:
            client = self._clouds.get(key)
            if client is None:   # the SDK is imported only when a command needs the cloud (FC cold start)
                from acme_aliyun.cloud.credentials import resolve_credentials
                from acme_aliyun.cloud.sdk import CloudClient
                settings = self.cfg.cloud_for(profile)
                creds = self._credentials if (not key and self._credentials) else resolve_credentials(settings)
                client = self._clouds[key] = CloudClient(settings, creds)
            return client

    def cloud_for(self, cert, dns: bool = False) -> "CloudClient":
        """The client of the certificate's profile (Account), or with dns=True of its DNS zone's
        profile (DNSAccount, else Account)."""
        profile = cert.dns_profile if dns else cert.account
        return self.cloud(profile) if profile else self.cloud()

    def certs(self, names=None):
        """The selected certificate settings, in config order; UsageError for an unknown name."""
        if not self.cfg.certs:
            raise UsageError("%s: no certificate configured (add a [cert:NAME] section)" % self.cfg.path)
        unknown = [n for n in names or () if n not in self.cfg.certs]
        if unknown:
            raise UsageError("%s: no [cert:%s] section (configured: %s)" % (
                self.cfg.path, unknown[0], ", ".join(self.cfg.certs)))
        selected = [self.cfg.certs[n] for n in names] if names else list(self.cfg.certs.values())
        for cert in selected:       # a CSR is checked only by a command that needs the certificate
            if cert.csr_error is not None:
                raise cert.csr_error
        return selected

    def release_state(self) -> None:
        """Remove the local mirror of an oss:// state (the FC handler, after each invocation)."""
        if self._remote is not None:
            self._remote.cleanup()

    def close(self):
        if self._acme is not None:
            self._acme.close()
