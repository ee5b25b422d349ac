"""The `directory` verb: what the CA's directory offers, as text or JSON."""

import argparse
from typing import Any, List

from acme_aliyun.cli.common import load_config, out, out_json, wants_json

# The directory keys that name endpoints: RFC 8555 §7.1.1 and RFC 9773 §3 (profiles live in meta).
DIRECTORY_ENDPOINTS = ("newNonce", "newAccount", "newOrder", "newAuthz", "revokeCert", "keyChange", "renewalInfo")


def cmd_directory(args: argparse.Namespace) -> int:
    from acme_aliyun.protocol.client import AcmeClient
    cfg = load_config(args)
    client = AcmeClient(cfg.acme.directory_url, user_agent=cfg.acme.user_agent, language=cfg.acme.language,
                        ca_bundle=cfg.acme.ca_bundle)
    d = client.directory
    endpoints = {k: v for k, v in d.urls.items() if k in DIRECTORY_ENDPOINTS}
    others = sorted(k for k in d.urls if k not in DIRECTORY_ENDPOINTS)
    if wants_json(args):
        from acme_aliyun import jsondoc
        out_json(jsondoc.directory(d.url, endpoints, {k: d.urls[k] for k in others}, d.meta))
        return 0
    out("Directory: %s" % d.url)
    for name in DIRECTORY_ENDPOINTS:
        if name in endpoints:
            out("  %-12s %s" % (name, endpoints[name]))
    if others:
        out("Other keys (not ACME endpoints, ignored): %s" % _short_list(others))
    _print_meta(d)
    return 0


def _print_meta(d: Any) -> None:
    """Terms, EAB, profiles, ARI and the informational meta keys of a Directory."""
    out("Terms of service: %s" % (d.terms_of_service or "none"))
    out("External account binding required: %s" % ("yes" if d.external_account_required else "no"))
    out("Profiles: %s" % (", ".join("%s (%s)" % kv for kv in sorted(d.profiles.items())) or "none"))
    out("Renewal info (ARI): %s" % ("yes, " + d.renewal_info if d.renewal_info else "no"))
    for k in ("website", "caaIdentities"):
        if k in d.meta:
            out("%s: %s" % (k, d.meta[k]))


def _short_list(names: List[str], width: int = 24, count: int = 5) -> str:
    """A few names, each cut to `width` characters, for one short line."""
    shown = [n if len(n) <= width else n[:width - 1] + "…" for n in names[:count]]
    more = " and %d more" % (len(names) - count) if len(names) > count else ""
    return ", ".join(shown) + more


def register(sub: Any) -> None:
    s = sub.add_parser("directory", help="show the CA's endpoints and meta")
    s.add_argument("--json", action="store_true", help="print the directory as one JSON document (docs/json.md)")
    s.set_defaults(func=cmd_directory)
