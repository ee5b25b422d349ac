"""Glue between acme.ini and the protocol layer: the account key, the client, the cached account URL.

A deactivated account (RFC 8555 §7.3.6) is final: its key is moved aside and
the deactivation is recorded in the state folder, so an unattended run refuses
instead of silently registering a new account (and agreeing to the terms)
nobody asked for. Only `account register` clears the record.
"""

import datetime
import json
import logging
import os

from acme_aliyun import pki
from acme_aliyun.errors import ConfigError, ToolError
from acme_aliyun.fsio import atomic_write, ensure_private_dir, make_dirs
from acme_aliyun.protocol import account as acct
from acme_aliyun.protocol import jose
from acme_aliyun.protocol.client import AcmeClient

log = logging.getLogger(__name__)
CACHE = "accounts.json"


class AccountDeactivated(ToolError):
    """The account for this CA was deactivated here; automatic runs must not register a new one."""


def dated_name(path, what):
    """'account.key.20261129-024950.<what>': where an old key is kept (rollover, deactivation)."""
    return "%s.%s.%s" % (path, datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), what)


def record_deactivation(acme, store, account_url) -> str:
    """After the CA deactivated the account: move its key aside and record it. Returns the key's new path."""
    moved = dated_name(acme.account_key_file, "deactivated")
    os.replace(acme.account_key_file, moved)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.write_account_state(acme.directory_url, {"deactivated_at": now, "account_url": account_url,
                                                   "key_moved_to": moved})
    return moved


def refuse_if_deactivated(acme, store=None) -> None:
    """AccountDeactivated when the account at this CA was deactivated and no new one registered since.
    Without a store, the state folder is only read (not created) when it exists."""
    if store is None:
        if not os.path.isdir(acme.state_dir):
            return
        from acme_aliyun.store import Store
        store = Store(acme.state_dir)
    when = store.read_account_state(acme.directory_url).get("deactivated_at")
    if when:
        shown = str(when).replace("T", " ").replace("Z", " UTC")
        raise AccountDeactivated("the ACME account was deactivated on %s; run `account register` to create "
                                 "a new one" % shown)


def usable_account_key(acme, store=None, create=False):
    """The account key for a command that talks to the CA: an existing key is read first (so an
    unreadable one is named as such), then a recorded deactivation refuses; a missing key is
    created only when no deactivation is recorded."""
    if os.path.exists(acme.account_key_file):
        key = load_account_key(acme)
        refuse_if_deactivated(acme, store)
        return key
    refuse_if_deactivated(acme, store)
    return load_account_key(acme, create=create)


def load_account_key(acme, create=False):
    """The account key from AccountKeyFile; created (0600, atomic) when missing and create=True."""
    path = acme.account_key_file
    if not os.path.exists(path):
        if not create:
            raise ConfigError("%s does not exist; run 'acme-aliyun account register' to create it" % path,
                              acme.config_path, acme.section, "AccountKeyFile")
        make_dirs(os.path.dirname(os.path.abspath(path)), 0o700)      # explicit mode whatever the umask
        key = pki.generate_key(acme.key_type)
        pki.write_private_key(path, key)
        log.info("created account key %s (%s)", path, acme.key_type)
        return key
    try:
        return pki.load_private_key(path, what="account key file")
    except pki.KeyFileError as e:
        raise ConfigError(str(e), acme.config_path, acme.section, "AccountKeyFile") from None


def make_client(acme, key):
    return AcmeClient(acme.directory_url, key=key, user_agent=acme.user_agent, language=acme.language,
                      ca_bundle=acme.ca_bundle)


def _cache_key(acme, key):
    return "%s#%s" % (acme.directory_url, jose.thumbprint(key))


def _read_cache(state_dir):
    try:
        with open(os.path.join(state_dir, CACHE)) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(acme, key, url):
    ensure_private_dir(acme.state_dir)
    data = _read_cache(acme.state_dir)
    data[_cache_key(acme, key)] = url
    atomic_write(os.path.join(acme.state_dir, CACHE), json.dumps(data, indent=1, sort_keys=True), mode=0o600)


def forget(acme, key):
    data = _read_cache(acme.state_dir)
    if data.pop(_cache_key(acme, key), None) is not None:
        atomic_write(os.path.join(acme.state_dir, CACHE), json.dumps(data, indent=1, sort_keys=True), mode=0o600)


def ensure_account(acme, client):
    """Set client.kid: from the cache, else find the account, else register one."""
    cached = _read_cache(acme.state_dir).get(_cache_key(acme, client.key))
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
