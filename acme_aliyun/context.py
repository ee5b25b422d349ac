"""One run's shared objects, built lazily: the store, the ACME client with its account, the cloud clients.

The account is loaded here too (the functions after Context): the account key from
AccountKeyFile, the client, the account URL (cached in the Store's accounts.json,
else found, else registered). A deactivated account (RFC 8555 §7.3.6) is final: its
key is moved aside and the deactivation recorded in the state folder, so an
unattended run refuses instead of silently registering a new account (and agreeing
to the terms) nobody asked for. Only `account register` clears the record.

cli, runner and fc build a Context from a Config; nothing is constructed (no
key read, no network, no SDK import) until a command needs it. An account profile
([aliyun] or [aliyun:NAME]) is its settings, a credentials provider and a CloudClient,
built once per run on first use and shared by every certificate (and thread) using it.
"""

import datetime
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from acme_aliyun.errors import AccountDeactivated, ConfigError, UsageError
from acme_aliyun.fsio import make_dirs

if TYPE_CHECKING:
    from acme_aliyun.cloud.sdk import CloudClient
    from acme_aliyun.config import AcmeSettings, CertSettings, Config
    from acme_aliyun.protocol.client import AcmeClient
    from acme_aliyun.ratelimits import Ledger
    from acme_aliyun.store import Store

__all__ = ["Context", "AccountDeactivated", "load_account_key", "usable_account_key", "make_client",
           "ensure_account", "remember", "forget", "record_deactivation", "refuse_if_deactivated", "dated_name"]

log = logging.getLogger(__name__)


def _log_progress(message: str, limit: Optional[float] = None) -> None:
    log.info("%s", message)


class Context:
    def __init__(self, cfg: "Config", credentials: Any = None, progress: Optional[Callable[..., None]] = None,
                 read_only: bool = False) -> None:
        self.cfg = cfg
        self.read_only = read_only             # status, dry runs: the store creates nothing
        self._credentials = credentials        # a CredentialProvider for [aliyun] (FC passes its own)
        self.progress: Callable[..., None] = progress or _log_progress     # progress(message, limit=None)
        self._store: Optional["Store"] = None
        self._acme: Optional["AcmeClient"] = None
        self._ledger: Optional["Ledger"] = None
        self._build = threading.RLock()        # certificates run side by side: build each object once
        self._clouds: Dict[str, "CloudClient"] = {}   # profile name ("" for [aliyun]) -> CloudClient
        self._clouds_lock = threading.Lock()
        self._remote = None                    # StateDir = oss://...: the local mirror (state_oss.py)
        if str(cfg.acme.state_dir).lower().startswith("oss://"):
            from acme_aliyun import state_oss
            self._remote = state_oss.attach(cfg, credentials)

    @property
    def store(self) -> "Store":
        if self._store is None:
            from acme_aliyun.store import Store
            if self._remote is not None:
                from acme_aliyun import state_oss
                self._store = state_oss.store(self._remote, self.read_only)
            else:
                self._store = Store(self.cfg.acme.state_dir, read_only=self.read_only)
        return self._store

    def acme(self, create_key: bool = True) -> "AcmeClient":
        """The ACME client with its account (found, or registered on first use; never after a deactivation)."""
        with self._build:
            return self._acme_locked(create_key)

    def _acme_locked(self, create_key: bool) -> "AcmeClient":
        if self._acme is None:
            key = usable_account_key(self.cfg.acme, self.store, create=create_key)
            client = make_client(self.cfg.acme, key)
            ensure_account(self.cfg.acme, client)
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

    def cloud_for(self, cert: "CertSettings", dns: bool = False) -> "CloudClient":
        """The client of the certificate's profile (Account), or with dns=True of its DNS zone's
        profile (DNSAccount, else Account)."""
        profile = cert.dns_profile if dns else cert.account
        return self.cloud(profile) if profile else self.cloud()

    def certs(self, names: Optional[Sequence[str]] = None) -> List["CertSettings"]:
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

    def close(self) -> None:
        if self._acme is not None:
            self._acme.close()


# --- the ACME account ---------------------------------------------------------------------------

def dated_name(path: str, what: str) -> str:
    """'account.key.20261129-024950.<what>': where an old key is kept (rollover, deactivation)."""
    return "%s.%s.%s" % (path, datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), what)


def record_deactivation(acme: "AcmeSettings", store: "Store", account_url: str) -> str:
    """After the CA deactivated the account: move its key aside and record it. Returns the key's new path."""
    moved = dated_name(acme.account_key_file, "deactivated")
    os.replace(acme.account_key_file, moved)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.write_account_state(acme.directory_url, {"deactivated_at": now, "account_url": account_url,
                                                   "key_moved_to": moved})
    return moved


def refuse_if_deactivated(acme: "AcmeSettings", store: Optional["Store"] = None) -> None:
    """AccountDeactivated when the account at this CA was deactivated and no new one registered since.
    Without a store, the state folder is only read (not created) when it exists."""
    if store is None:
        if not os.path.isdir(acme.state_dir):
            return
        store = _store_of(acme)
    when = store.read_account_state(acme.directory_url).get("deactivated_at")
    if when:
        shown = str(when).replace("T", " ").replace("Z", " UTC")
        raise AccountDeactivated("the ACME account was deactivated on %s; run `account register` to create "
                                 "a new one" % shown)


def usable_account_key(acme: "AcmeSettings", store: Optional["Store"] = None, create: bool = False) -> Any:
    """The account key for a command that talks to the CA: an existing key is read first (so an
    unreadable one is named as such), then a recorded deactivation refuses; a missing key is
    created only when no deactivation is recorded."""
    if os.path.exists(acme.account_key_file):
        key = load_account_key(acme)
        refuse_if_deactivated(acme, store)
        return key
    refuse_if_deactivated(acme, store)
    return load_account_key(acme, create=create)


def load_account_key(acme: "AcmeSettings", create: bool = False) -> Any:
    """The account key from AccountKeyFile; created (0600, atomic) when missing and create=True."""
    path = acme.account_key_file
    if not os.path.exists(path):
        if not create:
            raise ConfigError("%s does not exist; run 'acme-aliyun account register' to create it" % path,
                              acme.config_path, acme.section, "AccountKeyFile")
        from acme_aliyun import pki
        make_dirs(os.path.dirname(os.path.abspath(path)), 0o700)      # explicit mode whatever the umask
        key = pki.generate_key(acme.key_type)
        pki.write_private_key(path, key)
        log.info("created account key %s (%s)", path, acme.key_type)
        return key
    from acme_aliyun import pki
    try:
        return pki.load_private_key(path, what="account key file")
    except pki.KeyFileError as e:
        raise ConfigError(str(e), acme.config_path, acme.section, "AccountKeyFile") from None


def make_client(acme: "AcmeSettings", key: Any) -> "AcmeClient":
    """An ACME client for the configured CA, signing with `key` (None: only for unsigned requests)."""
    from acme_aliyun.protocol.client import AcmeClient
    return AcmeClient(acme.directory_url, key=key, user_agent=acme.user_agent, language=acme.language,
                      ca_bundle=acme.ca_bundle)


def remember(acme: "AcmeSettings", key: Any, url: str) -> None:
    """Cache the account URL of `key` at the configured CA in the state folder."""
    from acme_aliyun.protocol import jose
    _store_of(acme).remember_account(acme.directory_url, jose.thumbprint(key), url)


def forget(acme: "AcmeSettings", key: Any) -> None:
    """Drop the cached account URL of `key` (rollover, deactivation)."""
    from acme_aliyun.protocol import jose
    _store_of(acme).forget_account(acme.directory_url, jose.thumbprint(key))


def _store_of(acme: "AcmeSettings") -> "Store":
    from acme_aliyun.store import Store
    return Store(acme.state_dir)


def ensure_account(acme: "AcmeSettings", client: "AcmeClient") -> str:
    """Set client.kid: from the cache, else find the account, else register one."""
    from acme_aliyun.protocol import account as acct
    from acme_aliyun.protocol import jose
    cached = _store_of(acme).account_url(acme.directory_url, jose.thumbprint(client.key))
    if cached:
        client.kid = cached
        return cached
    try:
        found = acct.find(client)
    except acct.AccountNotFound:
        found = acct.register(client, acme.contacts, agree_tos=True, eab_kid=acme.eab_kid,
                              eab_hmac_key=acme.eab_hmac_key)
        log.info("registered ACME account %s", found.url)
    remember(acme, client.key, found.url)
    return found.url
