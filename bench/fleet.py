"""Fleet benchmark: 40 and 200 certificates over two accounts, side by side vs one at a time.

Run from the repository root with the venv python:

    .venv/bin/python -m bench.fleet                 # 40 and 200 certificates
    .venv/bin/python -m bench.fleet --sizes 40

Each certificate has two names, both CDN domains, issued with dns-01 through Alidns in
its account's zone. Certificates alternate between `[aliyun]` and `[aliyun:two]`, each
account its own emulator (own AccessKey, 20 ms per call, QPS limits enforced), against
one local Pebble (PEBBLE_VA_NOSLEEP). tests/fleet_setup.py builds the fleet.

For each size and each mode, on a fresh fleet (new emulators, new state folder):

  side by side   the default, [acme] Parallel = 4
  one at a time  [acme] Parallel = 1 (what every run did before issue 15)

two `acme-aliyun run` processes are timed: the first issues and deploys everything,
the second has nothing due and nothing different (a no-op). API calls and writes are
counted from the emulators' call logs. Pebble is not Let's Encrypt: the per-domain
limit is switched off (`[limits] CertificatesPerDomain = off`), since 200 certificates
on two registered domains would otherwise be spread over weeks.

Targets (issue 15): at 40 certificates the first run side by side <= 15 s; every
no-op run 0 writes and <= 8 API calls (one CDN listing and one CAS listing per account).
A missed target prints MISSED but the exit status stays 0; a failed run (exit != 0,
a write in the no-op run) exits 1.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import isolate  # noqa: E402

isolate()

from tests import fleet_setup  # noqa: E402
from tests.pebble import Pebble  # noqa: E402

MODES = (("side by side", None), ("one at a time", 1))
FIRST_TARGET_S = {40: 15.0}
NOOP_CALLS_TARGET = 8


def _run(ini):
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-q", "-c", ini, "run"], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=900, cwd=ROOT)
    return time.perf_counter() - started, r


def measure(workdir, pebble, size, parallel):
    """(first s, first calls, first writes, no-op s, no-op calls, no-op writes, ok)."""
    folder = tempfile.mkdtemp(dir=workdir)
    fleet = fleet_setup.start(folder, pebble, size, parallel=parallel, limits="CertificatesPerDomain = off")
    try:
        first_s, r1 = _run(fleet.ini)
        first = (first_s, fleet.calls(), fleet.writes())
        fleet.reset()
        noop_s, r2 = _run(fleet.ini)
        noop = (noop_s, fleet.calls(), fleet.writes())
    finally:
        fleet.stop()
    ok = r1.returncode == 0 and r2.returncode == 0 and noop[2] == 0
    if not ok:
        print("FAILED run (%d certificates, Parallel %s): exit %d/%d\n%s%s" % (
            size, parallel or "default", r1.returncode, r2.returncode, r1.stdout[-2000:], r1.stderr[-2000:]))
    return first + noop + (ok,)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="40,200", help="certificate counts, comma-separated")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print("machine: %s, %d cpu, Python %s" % (platform.machine(), os.cpu_count() or 0, platform.python_version()))
    workdir = tempfile.mkdtemp(prefix="bench-fleet-")
    pebble = Pebble(os.path.join(workdir, "pebble")).start()
    rows, missed, failed = [], [], False
    try:
        for size in sizes:
            for mode, parallel in MODES:
                m = measure(workdir, pebble, size, parallel)
                failed |= not m[6]
                rows.append((size, mode) + m)
    finally:
        pebble.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%6s  %-13s  %9s %7s %7s  %9s %7s %7s" % ("certs", "mode", "first s", "calls", "writes",
                                                   "no-op s", "calls", "writes"))
    for size, mode, fs, fc, fw, ns, nc, nw, _ in rows:
        print("%6d  %-13s  %9.1f %7d %7d  %9.2f %7d %7d" % (size, mode, fs, fc, fw, ns, nc, nw))
        if mode == "side by side" and size in FIRST_TARGET_S and fs > FIRST_TARGET_S[size]:
            missed.append("first run of %d certificates %.1f s > %.0f s" % (size, fs, FIRST_TARGET_S[size]))
        if nc > NOOP_CALLS_TARGET or nw:
            missed.append("no-op run of %d certificates (%s): %d calls, %d writes" % (size, mode, nc, nw))
    for line in missed:
        print("MISSED: " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
