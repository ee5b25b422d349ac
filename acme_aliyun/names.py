"""Domain names as users write them → the ASCII form certificates and clouds use.

IDNs become punycode (IDNA 2008 with UTS #46 mapping), wildcards are allowed
only as a whole left-most label, and anything a public CA will refuse (IP
literals, underscores, empty or over-long labels) is refused here first.
"""

import ipaddress
import re

import idna

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class NameError_(ValueError):
    """A domain name that cannot go into a certificate; the message says why."""


def normalize_domain(raw: str, allow_wildcard: bool = True) -> str:
    """The name as it goes into a certificate: lower case, IDNA (A-labels), no trailing dot;
    NameError_ saying why when it cannot."""
    name = raw.strip().rstrip(".").lower()
    if not name:
        raise NameError_("empty domain name")
    if _is_ip(name):
        raise NameError_("%r is an IP address; only DNS names are supported" % raw)
    wildcard = name.startswith("*.")
    if wildcard:
        if not allow_wildcard:
            raise NameError_("%r: wildcards are not allowed here" % raw)
        name = name[2:]
    _check_characters(raw, name)
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as e:
        raise NameError_("%r is not a valid domain name (%s)" % (raw, e)) from None
    _check_labels(raw, ascii_name)
    if len(ascii_name) + (2 if wildcard else 0) > 253:
        raise NameError_("%r is longer than 253 characters" % raw)
    return ("*." if wildcard else "") + ascii_name


def _check_characters(raw: str, name: str) -> None:
    """The checks before IDNA: no '*' left, no underscore, no empty label."""
    if "*" in name:
        raise NameError_("%r: '*' is allowed only as the whole left-most label" % raw)
    if "_" in name:
        raise NameError_("%r: underscores are not allowed in certificate names" % raw)
    if ".." in name or name.startswith("."):
        raise NameError_("%r has an empty label" % raw)


def _check_labels(raw: str, ascii_name: str) -> None:
    """At least two labels, each a valid DNS label, the last not all digits."""
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise NameError_("%r is not a fully qualified domain name" % raw)
    for label in labels:
        if not _LABEL.match(label):
            raise NameError_("%r: label %r is not a valid DNS label" % (raw, label))
    if labels[-1].isdigit():
        raise NameError_("%r: the top-level label cannot be numeric" % raw)


def _is_ip(text):
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
