"""Permission errors an operator can act on: who owns the file, its mode, and what to do.

"Permission denied" alone sends an operator to ls -l and id; this module says it
at once: `/etc/acme-aliyun/acme.ini is owned by root and mode 0600; run as root or
chown it to acme-aliyun`. Only stat() and the user database are read.
"""

import os
import pwd


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def _blocking(path: str) -> str:
    """path itself when it exists, else the nearest existing parent (the folder that refused)."""
    current = os.path.abspath(path)
    while not os.path.lexists(current) and os.path.dirname(current) != current:
        current = os.path.dirname(current)
    return current


def permission_error(path: str, action: str = "read") -> str:
    """One line naming owner, mode and the fix for a path we may not read or write."""
    where = _blocking(path)
    me = _user(os.geteuid())
    try:
        st = os.stat(where)
    except OSError:
        return "cannot %s %s: permission denied (running as %s)" % (action, path, me)
    owner = _user(st.st_uid)
    head = "cannot %s %s: " % (action, path) if where != os.path.abspath(path) else ""
    return "%s%s is owned by %s and mode %04o; run as %s or chown it to %s" % (
        head, where, owner, st.st_mode & 0o7777, owner, me)
