"""Error classes shared by every layer, and how to describe an ini file's parse error.

The CLI turns any ToolError into one line on stderr and its exit code; nothing
else should escape to the user as a traceback.
"""

import configparser
from typing import Optional


class ToolError(Exception):
    """An operation failed (server said no, network down, deploy refused): exit 1."""

    exit_code = 1


class UsageError(ToolError):
    """The user asked for something impossible (bad arguments, bad input files): exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """acme.ini (or a file it names) is wrong. The message names file, section and key."""

    def __init__(self, message: str, file: Optional[str] = None, section: Optional[str] = None,
                 key: Optional[str] = None) -> None:
        self.file, self.section, self.key, self.detail = file, section, key, message
        where = []
        if file:
            where.append(str(file))
        if section:
            where.append("[%s]" % section)
        if key:
            where.append(key)
        prefix = " ".join(where)
        super().__init__("%s: %s" % (prefix, message) if prefix else message)


class LockHeld(ToolError):
    """Another run holds the state lock and we were told not to wait: exit 3."""

    exit_code = 3
    stale = False       # held longer than a run can take: worth a warning and a notification


class AccountDeactivated(ToolError):
    """The account for this CA was deactivated here; automatic runs must not register a new one."""


def ini_error(e: BaseException) -> str:
    """What is wrong with an ini file, without quoting its lines (they may hold secrets)."""
    if isinstance(e, configparser.MissingSectionHeaderError):
        return "line %d comes before any [section]" % e.lineno
    if isinstance(e, configparser.ParsingError):
        return "line(s) %s not of the form 'key = value'" % ", ".join(str(n) for n, _ in e.errors)
    if isinstance(e, (configparser.DuplicateOptionError, configparser.DuplicateSectionError)):
        return "line %s: %s %r is given twice" % (e.lineno, "key" if hasattr(e, "option") else "section",
                                                   getattr(e, "option", None) or e.section)
    if isinstance(e, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return getattr(e, "strerror", None) or type(e).__name__
