"""The registered domain of a name (example.co.uk for www.shop.example.co.uk), offline.

Why: CA limits such as "50 certificates per registered domain per week" count by the
domain one registers, which only the Public Suffix List tells (co.uk, com.cn and
github.io are suffixes). Nothing is fetched: the list is read from a file on this
machine, by default the one Debian's `publicsuffix` package installs
(/usr/share/publicsuffix/public_suffix_list.dat), or the file `[limits]
PublicSuffixFile` names. Without a list the rule is the documented fallback: the
last two labels, which lumps names under a multi-label suffix (co.uk) together: a
limit may then defer sooner than needed, never later.

The PSL algorithm (publicsuffix.org/list): the longest matching rule wins, `*`
matches one label, a `!` exception rule beats the wildcard and means its parent is
the suffix; with no rule matching, the suffix is the last label.
"""

import functools
import os
from typing import FrozenSet, Optional, Tuple

DEFAULT_FILES = ("/usr/share/publicsuffix/public_suffix_list.dat",)


@functools.lru_cache(maxsize=4)
def _rules(path: Optional[str]) -> Optional[Tuple[FrozenSet[str], FrozenSet[str], FrozenSet[str]]]:
    """(plain, wildcard parents, exceptions) from a PSL file, or None without one."""
    candidates = [path] if path else list(DEFAULT_FILES)
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        plain, wild, exceptions = set(), set(), set()
        for line in lines:
            rule = line.strip().split()[0].lower() if line.strip() else ""
            if not rule or rule.startswith("//"):
                continue
            rule = rule.encode("idna").decode("ascii") if not rule.isascii() else rule
            if rule.startswith("!"):
                exceptions.add(rule[1:])
            elif rule.startswith("*."):
                wild.add(rule[2:])
            else:
                plain.add(rule)
        return frozenset(plain), frozenset(wild), frozenset(exceptions)
    return None


def _suffix_len(labels: list, rules: Tuple[FrozenSet[str], FrozenSet[str], FrozenSet[str]]) -> int:
    plain, wild, exceptions = rules
    best = 1
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        size = len(labels) - i
        if candidate in exceptions:
            return size - 1
        if candidate in plain:
            best = max(best, size)
        if i > 0 and ".".join(labels[i:]) in wild:
            best = max(best, size + 1)
    return best


def registered_domain(name: str, psl_file: Optional[str] = None) -> str:
    """The registered domain of a DNS name (wildcard label and trailing dot dropped);
    a name that is itself a public suffix is its own registered domain."""
    labels = [x for x in name.lower().rstrip(".").split(".") if x and x != "*"]
    if not labels:
        return name.lower()
    rules = _rules(psl_file)
    size = _suffix_len(labels, rules) if rules is not None else 1
    return ".".join(labels[-min(len(labels), size + 1):])


def source(psl_file: Optional[str] = None) -> str:
    """Which rule is in force, for `cloud check`/docs: the file, or the two-label fallback."""
    if _rules(psl_file) is None:
        return "last two labels (no Public Suffix List file found)"
    return psl_file or next(p for p in DEFAULT_FILES if os.path.exists(p))
