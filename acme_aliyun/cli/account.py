"""The `account` verbs: register, show, update, rollover, deactivate (RFC 8555 §7.3)."""

import argparse
import json
import os
from typing import Any, Tuple

from acme_aliyun.cli.common import load_config, out, out_json, wants_json
from acme_aliyun.errors import UsageError
from acme_aliyun.kinds import KEY_TYPES


def _account_client(args: argparse.Namespace, create: bool = False) -> Tuple[Any, Any]:
    from acme_aliyun import context as accounts
    cfg = load_config(args)
    if create:
        key = accounts.load_account_key(cfg.acme, create=True)
    else:
        key = accounts.usable_account_key(cfg.acme)
    return cfg, accounts.make_client(cfg.acme, key)


def _store(cfg: Any) -> Any:
    from acme_aliyun.store import Store
    return Store(cfg.acme.state_dir)


def _print_account(a: Any) -> None:
    out("Account URL: %s" % a.url)
    out("Status: %s" % a.status)
    out("Contacts: %s" % (", ".join(a.contact) or "none"))
    for k in sorted(a.data):
        if k not in ("status", "contact", "key"):
            out("%s: %s" % (k, a.data[k] if not isinstance(a.data[k], (dict, list)) else json.dumps(a.data[k])))


def cmd_account_register(args: argparse.Namespace) -> int:
    from acme_aliyun import context as accounts
    from acme_aliyun.protocol import account as acct
    cfg = load_config(args)
    probe = accounts.make_client(cfg.acme, None)
    try:
        probe.directory             # the CA must answer before a key is written
    finally:
        probe.close()
    cfg, client = _account_client(args, create=True)
    d = client.directory
    if d.terms_of_service:
        out("Agreeing to the terms of service: %s" % d.terms_of_service)
    a = acct.register(client, cfg.acme.contacts, agree_tos=True, eab_kid=cfg.acme.eab_kid,
                      eab_hmac_key=cfg.acme.eab_hmac_key)
    accounts.remember(cfg.acme, client.key, a.url)
    _store(cfg).write_account_state(cfg.acme.directory_url, None)     # a deactivation is behind us now
    out("Registered a new account." if a.created else "An account already exists for this key.")
    _print_account(a)
    return 0


def cmd_account_show(args: argparse.Namespace) -> int:
    from acme_aliyun.protocol import account as acct
    cfg, client = _account_client(args)
    acct.find(client)
    a = acct.fetch(client)
    if wants_json(args):
        from acme_aliyun import jsondoc
        out_json(jsondoc.account(a))
    else:
        _print_account(a)
    return 0


def cmd_account_update(args: argparse.Namespace) -> int:
    from acme_aliyun.protocol import account as acct
    cfg, client = _account_client(args)
    acct.find(client)
    a = acct.update_contacts(client, cfg.acme.contacts)
    out("Contacts updated.")
    _print_account(a)
    return 0


def cmd_account_rollover(args: argparse.Namespace) -> int:
    from acme_aliyun import context as accounts, pki
    from acme_aliyun.fsio import atomic_write
    from acme_aliyun.protocol import account as acct
    cfg, client = _account_client(args)
    old_key = client.key
    acct.find(client)
    key_type = args.key_type or pki.key_type_of(old_key)
    new_key = pki.generate_key(key_type)
    path = cfg.acme.account_key_file
    # Keep the new key beside the old one until the server has accepted it, so a
    # crash between the two steps leaves a key that still works and one that may.
    pending = path + ".new"
    pki.write_private_key(pending, new_key)
    acct.change_key(client, new_key)
    backup = accounts.dated_name(path, "bak")
    atomic_write(backup, pki.key_to_pem(old_key), mode=0o600)
    os.replace(pending, path)
    accounts.forget(cfg.acme, old_key)
    accounts.remember(cfg.acme, new_key, client.kid)
    out("Account key rolled over (%s). The old key is kept in %s." % (key_type, backup))
    out("Account URL: %s" % client.kid)
    return 0


def cmd_account_deactivate(args: argparse.Namespace) -> int:
    from acme_aliyun import context as accounts
    from acme_aliyun.protocol import account as acct
    if not args.yes:
        raise UsageError("deactivating an account cannot be undone; repeat with --yes to do it")
    cfg, client = _account_client(args)
    acct.find(client)
    a = acct.deactivate(client)
    accounts.forget(cfg.acme, client.key)
    moved = accounts.record_deactivation(cfg.acme, _store(cfg), a.url)
    out("Account %s is now %s. This cannot be undone; its certificates stay valid." % (a.url, a.status))
    out("Its key is kept in %s. Automatic runs now stop until `account register` creates a new account."
        % moved)
    return 0


def register(sub: Any) -> None:
    a = sub.add_parser("account", help="ACME account: register, show, update, rollover, deactivate")
    asub = a.add_subparsers(dest="account_command", metavar="ACTION")
    asub.required = True
    asub.add_parser("register", help="create the account (and its key when missing)").set_defaults(
        func=cmd_account_register)
    s = asub.add_parser("show", help="find the account by its key and print it")
    s.add_argument("--json", action="store_true", help="print the account as one JSON document (docs/json.md)")
    s.set_defaults(func=cmd_account_show)
    asub.add_parser("update", help="set the contacts from acme.ini").set_defaults(func=cmd_account_update)
    r = asub.add_parser("rollover", help="replace the account key (RFC 8555 §7.3.5)")
    r.add_argument("--key-type", choices=KEY_TYPES, help="type of the new key (default: same as the old)")
    r.set_defaults(func=cmd_account_rollover)
    d = asub.add_parser("deactivate", help="deactivate the account for good")
    d.add_argument("--yes", action="store_true", help="confirm; this cannot be undone")
    d.set_defaults(func=cmd_account_deactivate)
