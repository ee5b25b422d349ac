#!/usr/bin/env python3
"""dns-01 hook for DnsHookSolver that publishes TXT records in pebble-challtestsrv.

Usage: DnsHookSolver("python3 tests/hooks/challtestsrv_hook.py") with
CHALLTESTSRV_URL (its management URL, e.g. http://127.0.0.1:8055) in the
environment; the action comes as the last argument (or ACME_ACTION).

challtestsrv's set-txt adds a value next to those already there, but clear-txt
removes every value of the name. So that example.test and *.example.test (both
_acme-challenge.example.test) can be cleaned up one at a time, the hook keeps
the values it published per name in a small state file (one per
CHALLTESTSRV_URL, in the temp folder, or CHALLTESTSRV_HOOK_STATE), and
cleanup clears the name and puts the other values back.
Standard library only, so it runs with any python3.
"""

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import urllib.request


def post(base, path, body):
    req = urllib.request.Request(base.rstrip("/") + "/" + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))    # loopback: never a proxy
    with opener.open(req, timeout=10) as resp:
        resp.read()


def state_path(base):
    default = os.path.join(tempfile.gettempdir(),
                           "challtestsrv-hook-%s.json" % hashlib.sha256(base.encode()).hexdigest()[:16])
    return os.environ.get("CHALLTESTSRV_HOOK_STATE", default)


def main(argv):
    base = os.environ["CHALLTESTSRV_URL"]
    action = argv[-1] if argv[-1:] and argv[-1] in ("present", "cleanup") else os.environ["ACME_ACTION"]
    host = os.environ["ACME_RECORD_NAME"].rstrip(".") + "."
    value = os.environ["ACME_TXT_VALUE"]
    with open(state_path(base), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)          # hooks of parallel runs against the same server
        fh.seek(0)
        text = fh.read()
        state = json.loads(text) if text.strip() else {}
        values = state.get(host, [])
        if action == "present":
            post(base, "set-txt", {"host": host, "value": value})
            values = values + [value] if value not in values else values
        else:
            values = [v for v in values if v != value]
            post(base, "clear-txt", {"host": host})
            for other in values:
                post(base, "set-txt", {"host": host, "value": other})
        if values:
            state[host] = values
        else:
            state.pop(host, None)
        fh.seek(0)
        fh.truncate()
        json.dump(state, fh)
    print("%s %s %s" % (action, host, value))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
