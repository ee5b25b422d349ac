"""One run's shared objects, built lazily: the store, the ACME client with its account, the cloud client.

cli, runner and fc build a Context from a Config; nothing is constructed (no
key read, no network, no SDK import) until a command needs it.
"""

import logging
import threading

from acme_aliyun.errors import UsageError

log = logging.getLogger(__name__)


class Context:
    def __init__(self, cfg, credentials=None, progress=None):
        self.cfg = cfg
        self._credentials = credentials        # a CredentialProvider (FC passes its own)
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self._store = self._acme = self._cloud = self._ledger = None
        self._build = threading.RLock()        # certificates run side by side: build each object once

    @property
    def store(self):
        if self._store is None:
            from acme_aliyun.store import Store
            self._store = Store(self.cfg.acme.state_dir)
        return self._store

    def acme(self, create_key=True):
        """The ACME client with its account (found, or registered on first use)."""
        with self._build:
            return self._acme_locked(create_key)

    def _acme_locked(self, create_key):
        if self._acme is None:
            from acme_aliyun import acme_account
            key = acme_account.load_account_key(self.cfg.acme, create=create_key)
            client = acme_account.make_client(self.cfg.acme, key)
            acme_account.ensure_account(self.cfg.acme, client)
            self._acme = client
        return self._acme

    def cloud(self):
        with self._build:
            return self._cloud_locked()

    @property
    def ledger(self):
        """The CA rate-limit ledger of the state folder ([limits])."""
        with self._build:
            if self._ledger is None:
                from acme_aliyun.ratelimits import Ledger
                self._ledger = Ledger(self.store.state_dir, getattr(self.cfg, "limits", None))
            return self._ledger

    def _cloud_locked(self):
        if self._cloud is None:
            from acme_aliyun.cloud.credentials import resolve_credentials
            from acme_aliyun.cloud.sdk import CloudClient
            creds = self._credentials or resolve_credentials(self.cfg.cloud)
            self._cloud = CloudClient(self.cfg.cloud, creds)
        return self._cloud

    def certs(self, names=None):
        """The selected certificate settings, in config order; UsageError for an unknown name."""
        if not self.cfg.certs:
            raise UsageError("%s: no certificate configured (add a [cert:NAME] section)" % self.cfg.path)
        if not names:
            return list(self.cfg.certs.values())
        unknown = [n for n in names if n not in self.cfg.certs]
        if unknown:
            raise UsageError("%s: no [cert:%s] section (configured: %s)" % (
                self.cfg.path, unknown[0], ", ".join(self.cfg.certs)))
        return [self.cfg.certs[n] for n in names]

    def close(self):
        if self._acme is not None:
            self._acme.close()
