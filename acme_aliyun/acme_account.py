"""Glue between acme.ini and the protocol layer: the account key, the client, the cached account URL."""

import json
import logging
import os

from acme_aliyun import pki
from acme_aliyun.errors import ConfigError
from acme_aliyun.fsio import atomic_write, ensure_private_dir, make_dirs
from acme_aliyun.protocol import account as acct
from acme_aliyun.protocol import jose
from acme_aliyun.protocol.client import AcmeClient

log = logging.getLogger(__name__)
CACHE = "accounts.json"


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
