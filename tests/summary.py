"""Reading the table `run` and `deploy` print (acme_aliyun/cli/run.py, print_summary) in tests.

A row is CERTIFICATE, ISSUE (which may hold spaces: "not due", "deferred until 2026-11-29 06:40 UTC"),
the four DEPLOY counts (DEPLOYED, or PLANNED in a dry run; UNCHANGED, REFUSED, FAILED) and NEXT RENEWAL.
"""

import re

ROW = re.compile(r"^(?P<name>\S+) +(?P<issue>\S.*?) +(?P<deployed>\d+) +(?P<unchanged>\d+) +(?P<refused>\d+) "
                 r"+(?P<failed>\d+)  (?P<next>-|\d{4}-\d\d-\d\d \d\d:\d\d UTC)$")


def rows(stdout):
    """{certificate: {"issue": str, "deployed": int, "unchanged": int, "refused": int, "failed": int,
    "next": str}} from the summary table in stdout ("deployed" holds PLANNED in a dry run)."""
    found = {}
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            row = m.groupdict()
            name = row.pop("name")
            found[name] = dict(row, **{k: int(row[k]) for k in ("deployed", "unchanged", "refused", "failed")})
    return found


def issues(stdout):
    """{certificate: its ISSUE column}."""
    return {name: row["issue"] for name, row in rows(stdout).items()}
