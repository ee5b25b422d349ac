"""Checks on acme.ini that look past one value: typos, names, and how certificates relate.

config.py reads each key; this module holds what catches a mistake before a run:
  - an unknown key or section, with a "did you mean" found by difflib;
  - value shapes a user gets wrong first (a URL where a bare domain goes, names
    separated by spaces);
  - target domains the certificate's names do not cover, the same target under
    two certificates.
Kept apart so that config.py stays a reader and these rules can grow alone.
"""

import difflib
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from acme_aliyun.errors import ConfigError

# The section forms acme.ini may hold; "cert:NAME" is matched by its prefix.
SECTION_FORMS = ("acme", "acme-neoprime", "aliyun", "notify", "limits", "probe")
# "cert www", "certs:www", "crt-www": leading letters, separators, the rest.
_HEAD_REST = re.compile(r"^\s*([A-Za-z]+)[\s:;._-]*(.*?)\s*$")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for the closest choice (case-insensitive), or ''."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return "; did you mean %s?" % by_lower[match[0]] if match else ""


def unknown_key(path: str, section: str, key: str, known: Iterable[str]) -> ConfigError:
    """The error for a key no code reads in this section."""
    return ConfigError("unknown key%s" % did_you_mean(key, known), path, section, key)


def unknown_section(path: str, name: str) -> ConfigError:
    """The error for a section that is none of [acme], [cert:NAME], [aliyun], [notify]."""
    m = _HEAD_REST.match(name)
    if m and m.group(2) and difflib.SequenceMatcher(None, m.group(1).lower(), "cert").ratio() >= 0.6:
        hint = "; did you mean [cert:%s]?" % m.group(2)
    else:
        match = difflib.get_close_matches(name.strip().lower(), SECTION_FORMS, n=1, cutoff=0.6)
        hint = ("; did you mean [%s]?" % match[0] if match
                else " (known: [acme], [cert:NAME], [aliyun], [aliyun:NAME], [notify], [limits], [probe])")
    return ConfigError("unknown section [%s]%s" % (name, hint), path)


def value_shape(item: str) -> Optional[str]:
    """What is wrong with a name list entry as users commonly get it wrong, or None."""
    if "://" in item:
        bare = item.split("://", 1)[1].split("/", 1)[0]
        return "%r: give the bare domain (%s), not a URL" % (item.strip(), bare)
    if len(item.split()) > 1:
        return "%r: separate names with commas" % item.strip()
    return None


def covers(names: List[str], target: str) -> bool:
    """Does a certificate for `names` serve `target`? '*.x' covers one label; '.x' means '*.x'."""
    target = "*" + target if target.startswith(".") else target
    if target in names:
        return True
    label, _, parent = target.partition(".")
    return bool(parent) and label != "*" and ("*." + parent) in names


def check_coverage(path: str, cert: Any, entries: List[Tuple[str, str]]) -> None:
    """Every (key, domain) target of cert must be covered by its Domains (skipped when unknown)."""
    if not cert.domains:
        return
    for key, domain in entries:
        if domain and not covers(cert.domains, domain):
            raise ConfigError("%s is not covered by the certificate's names (%s)" % (
                domain, ", ".join(cert.domains)), path, cert.section, key)


def check_shared_targets(path: str, certs: Iterable[Any]) -> None:
    """No (key, target) may appear under two certificates: they would overwrite each other."""
    seen: Dict[Any, Any] = {}
    for cert in certs:
        for key, target in target_entries(cert.targets, with_groups=True):
            ident = (key.lower(), "*" + target if target.startswith(".") else target)
            if ident in seen and seen[ident] != cert.section:
                raise ConfigError("%s is also listed under [%s]; a target takes one certificate" % (
                    target, seen[ident]), path, cert.section, key)
            seen[ident] = cert.section


def target_entries(targets: Dict[str, Any], with_groups: bool = False) -> List[Tuple[str, str]]:
    """(ini key, domain) for every target that names a domain; with_groups, (ini key, target) for
    every target, scopes such as a bare API group included. `targets`: kind name -> TargetSpecs."""
    from acme_aliyun.targets import KINDS
    out = []
    for kind_name, specs in targets.items():
        key = KINDS[kind_name].ini_key
        for spec in specs:
            if with_groups:
                out.append((key, spec.target))
            elif spec.domain:
                out.append((key, spec.domain))
    return out
