"""Command line: one small function per verb; exit codes 0 ok, 1 failed, 2 usage/config, 3 lock held."""

import argparse
import json
import logging
import os
import select
import sys

from acme_aliyun import __version__
from acme_aliyun import log as logsetup
from acme_aliyun.errors import ToolError, UsageError

log = logging.getLogger("acme_aliyun")
SYSTEM_CONFIG = "/etc/acme-aliyun/acme.ini"     # the fallback when ./acme.ini is absent (tests patch it)
# The directory keys that name endpoints: RFC 8555 §7.1.1 and RFC 9773 §3 (profiles live in meta).
DIRECTORY_ENDPOINTS = ("newNonce", "newAccount", "newOrder", "newAuthz", "revokeCert", "keyChange", "renewalInfo")


def _config(args):
    from acme_aliyun import config
    return config.load(args.config)


def _out(text=""):
    print(logsetup.redact(text))


# --- directory and account ---------------------------------------------------------------

def cmd_directory(args):
    from acme_aliyun.protocol.client import AcmeClient
    cfg = _config(args)
    client = AcmeClient(cfg.acme.directory_url, user_agent=cfg.acme.user_agent, language=cfg.acme.language,
                        ca_bundle=cfg.acme.ca_bundle)
    d = client.directory
    endpoints = {k: v for k, v in d.urls.items() if k in DIRECTORY_ENDPOINTS}
    others = sorted(k for k in d.urls if k not in DIRECTORY_ENDPOINTS)
    if args.json:
        _out(json.dumps({"url": d.url, "endpoints": endpoints, "other_keys": {k: d.urls[k] for k in others},
                         "meta": d.meta}, indent=2, sort_keys=True))
        return 0
    _out("Directory: %s" % d.url)
    for name in DIRECTORY_ENDPOINTS:
        if name in endpoints:
            _out("  %-12s %s" % (name, endpoints[name]))
    if others:
        _out("Other keys (not ACME endpoints, ignored): %s" % _short_list(others))
    _out("Terms of service: %s" % (d.terms_of_service or "none"))
    _out("External account binding required: %s" % ("yes" if d.external_account_required else "no"))
    _out("Profiles: %s" % (", ".join("%s (%s)" % kv for kv in sorted(d.profiles.items())) or "none"))
    _out("Renewal info (ARI): %s" % ("yes, " + d.renewal_info if d.renewal_info else "no"))
    for k in ("website", "caaIdentities"):
        if k in d.meta:
            _out("%s: %s" % (k, d.meta[k]))
    return 0


def _store(cfg):
    from acme_aliyun.store import Store
    return Store(cfg.acme.state_dir)


def _short_list(names, width=24, count=5):
    """A few names, each cut to `width` characters, for one short line."""
    shown = [n if len(n) <= width else n[:width - 1] + "…" for n in names[:count]]
    more = " and %d more" % (len(names) - count) if len(names) > count else ""
    return ", ".join(shown) + more


def _account_client(args, create=False):
    from acme_aliyun import acme_account
    cfg = _config(args)
    if create:
        key = acme_account.load_account_key(cfg.acme, create=True)
    else:
        key = acme_account.usable_account_key(cfg.acme)
    return cfg, acme_account.make_client(cfg.acme, key)


def _print_account(a):
    _out("Account URL: %s" % a.url)
    _out("Status: %s" % a.status)
    _out("Contacts: %s" % (", ".join(a.contact) or "none"))
    for k in sorted(a.data):
        if k not in ("status", "contact", "key"):
            _out("%s: %s" % (k, a.data[k] if not isinstance(a.data[k], (dict, list)) else json.dumps(a.data[k])))


def cmd_account_register(args):
    from acme_aliyun import acme_account
    from acme_aliyun.protocol import account as acct
    cfg = _config(args)
    probe = acme_account.make_client(cfg.acme, None)
    try:
        probe.directory             # the CA must answer before a key is written
    finally:
        probe.close()
    cfg, client = _account_client(args, create=True)
    d = client.directory
    if d.terms_of_service:
        _out("Agreeing to the terms of service: %s" % d.terms_of_service)
    a = acct.register(client, cfg.acme.contacts, agree_tos=True, eab_kid=cfg.acme.eab_kid,
                      eab_hmac_key=cfg.acme.eab_hmac_key)
    acme_account.remember(cfg.acme, client.key, a.url)
    _store(cfg).write_account_state(cfg.acme.directory_url, None)     # a deactivation is behind us now
    _out("Registered a new account." if a.created else "An account already exists for this key.")
    _print_account(a)
    return 0


def cmd_account_show(args):
    from acme_aliyun.protocol import account as acct
    cfg, client = _account_client(args)
    acct.find(client)
    _print_account(acct.fetch(client))
    return 0


def cmd_account_update(args):
    from acme_aliyun.protocol import account as acct
    cfg, client = _account_client(args)
    acct.find(client)
    a = acct.update_contacts(client, cfg.acme.contacts)
    _out("Contacts updated.")
    _print_account(a)
    return 0


def cmd_account_rollover(args):
    from acme_aliyun import acme_account, pki
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
    backup = acme_account.dated_name(path, "bak")
    atomic_write(backup, pki.key_to_pem(old_key), mode=0o600)
    os.replace(pending, path)
    acme_account.forget(cfg.acme, old_key)
    acme_account.remember(cfg.acme, new_key, client.kid)
    _out("Account key rolled over (%s). The old key is kept in %s." % (key_type, backup))
    _out("Account URL: %s" % client.kid)
    return 0


def cmd_account_deactivate(args):
    from acme_aliyun import acme_account
    from acme_aliyun.protocol import account as acct
    if not args.yes:
        raise UsageError("deactivating an account cannot be undone; repeat with --yes to do it")
    cfg, client = _account_client(args)
    acct.find(client)
    a = acct.deactivate(client)
    acme_account.forget(cfg.acme, client.key)
    moved = acme_account.record_deactivation(cfg.acme, _store(cfg), a.url)
    _out("Account %s is now %s. This cannot be undone; its certificates stay valid." % (a.url, a.status))
    _out("Its key is kept in %s. Automatic runs now stop until `account register` creates a new account."
         % moved)
    return 0


# --- parser ------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other error."""

    def error(self, message):
        self.exit(2, "error: %s: %s (see '%s --help')\n" % (self.prog, message, self.prog))


def _common_options(p, suppress=False):
    """-c, -v, -q: on the main parser, and again on every verb so they also work after it."""
    kw = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("-c", "--config", help="path to acme.ini (default: $ACME_ALIYUN_CONFIG, else ./acme.ini, "
                                          "else %s)" % SYSTEM_CONFIG, **kw)
    p.add_argument("-v", "--verbose", action="store_true", help="more detail in the log", **kw)
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors (for cron)", **kw)


def _leaf_parsers(p):
    """Every parser that ends a command line (the verbs and their actions)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    out = []
    for parser in dict.fromkeys(subs[0].choices.values()):     # aliases share one parser
        out += _leaf_parsers(parser)
    return out


def locate_config(explicit, env=None):
    """-c, else $ACME_ALIYUN_CONFIG, else ./acme.ini, else SYSTEM_CONFIG; UsageError naming both."""
    env = os.environ if env is None else env
    if explicit or env.get("ACME_ALIYUN_CONFIG"):
        return explicit or env["ACME_ALIYUN_CONFIG"]
    for candidate in ("acme.ini", SYSTEM_CONFIG):
        if os.path.exists(candidate):
            return candidate
    raise UsageError("no configuration: neither %s nor %s exists (give one with -c)" % (
        os.path.abspath("acme.ini"), SYSTEM_CONFIG))


def build_parser():
    p = _Parser(prog="acme-aliyun",
                description="Let's Encrypt certificates for Alibaba Cloud CDN, DCDN and API Gateway.")
    _common_options(p)
    p.add_argument("--version", action="version", version="acme-aliyun " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")      # subparsers inherit _Parser
    sub.required = True

    s = sub.add_parser("directory", help="show the CA's endpoints and meta")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_directory)

    a = sub.add_parser("account", help="ACME account: register, show, update, rollover, deactivate")
    asub = a.add_subparsers(dest="account_command", metavar="ACTION")
    asub.required = True
    asub.add_parser("register", help="create the account (and its key when missing)").set_defaults(
        func=cmd_account_register)
    asub.add_parser("show", help="find the account by its key and print it").set_defaults(func=cmd_account_show)
    asub.add_parser("update", help="set the contacts from acme.ini").set_defaults(func=cmd_account_update)
    r = asub.add_parser("rollover", help="replace the account key (RFC 8555 §7.3.5)")
    from acme_aliyun.keytypes import KEY_TYPES
    r.add_argument("--key-type", choices=KEY_TYPES, help="type of the new key (default: same as the old)")
    r.set_defaults(func=cmd_account_rollover)
    d = asub.add_parser("deactivate", help="deactivate the account for good")
    d.add_argument("--yes", action="store_true", help="confirm; this cannot be undone")
    d.set_defaults(func=cmd_account_deactivate)

    from acme_aliyun import cli_ops, completion
    cli_ops.add_commands(sub)
    completion.add_command(sub)
    for leaf in _leaf_parsers(p):
        _common_options(leaf, suppress=True)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logsetup.setup(verbose=args.verbose, quiet=args.quiet)
    code = _run(args)
    try:
        sys.stdout.flush()              # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError:
        return _stdout_gone(code)
    return code


def _run(args):
    """The verb, with every failure turned into one line and an exit code."""
    try:
        if getattr(args, "needs_config", True):
            args.config = locate_config(args.config)
        return args.func(args) or 0
    except ToolError as e:
        print("error: %s" % logsetup.redact(str(e)), file=sys.stderr)
        return e.exit_code
    except PermissionError as e:      # a file the other layers did not expect to be refused
        from acme_aliyun.perms import permission_error
        print("error: %s" % logsetup.redact(permission_error(e.filename or ".", "use")), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, unless asked for detail
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            return _stdout_gone(0)      # the reader closed our stdout: a quiet end, not a bug
        if args.verbose:
            log.exception("internal error")
        print("internal error: %s: %s (run with -v for details)" % (type(e).__name__, logsetup.redact(str(e))),
              file=sys.stderr)
        return 1


def _stdout_closed():
    """True when whoever read our stdout has closed it (`acme-aliyun directory | head -1`)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True         # no real descriptor to ask: the error came from writing it


def _stdout_gone(code):
    """The reader closed the pipe: nothing more to say to it. Point stdout at /dev/null so the
    interpreter's final flush does not complain either, and end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
    return code
