"""ReloadCommand: tell the local server the KeyFile/ChainFile copies changed (issue 14, point 17).

certbot's deploy hook and acme.sh's --reloadcmd run after the files change; a server that is not
reloaded keeps serving the old certificate until it expires. Here the command runs when copies.sync()
wrote a copy, or when an earlier reload failed (a `reload_pending` field in the current version's
meta.json, so a failure is retried on the next run even though the copies no longer differ).

No shell: the value is split with shlex at load and run as an argument list, so a certificate name
or path never becomes shell syntax. Bounded: RELOAD_TIMEOUT seconds, then the process is killed and
the run reports it. The command gets ACME_ALIYUN_CERT, ACME_ALIYUN_KEY_FILE and ACME_ALIYUN_CHAIN_FILE.
"""

import logging
import os
import subprocess
from typing import TYPE_CHECKING, List, Optional

from acme_aliyun.kinds import CopyStatus

if TYPE_CHECKING:
    from acme_aliyun.config import CertSettings
    from acme_aliyun.store import Store

log = logging.getLogger(__name__)

RELOAD_TIMEOUT = 60.0


def _env(cert) -> dict:
    env = dict(os.environ)
    env["ACME_ALIYUN_CERT"] = cert.name
    env["ACME_ALIYUN_KEY_FILE"] = cert.key_file or ""
    env["ACME_ALIYUN_CHAIN_FILE"] = cert.chain_file or ""
    return env


def run_command(argv: List[str], cert: "CertSettings", timeout: float = RELOAD_TIMEOUT) -> Optional[str]:
    """Run argv once; None when it exits 0, else one line saying what went wrong."""
    try:
        p = subprocess.run(argv, env=_env(cert), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "ReloadCommand %s did not finish within %gs (killed)" % (argv[0], timeout)
    except OSError as e:
        return "ReloadCommand %s: %s" % (argv[0], e.strerror or e)
    if p.returncode == 0:
        return None
    tail = (p.stderr or p.stdout or b"").decode("utf-8", "replace").strip().splitlines()
    return "ReloadCommand %s exited %s%s" % (argv[0], p.returncode, ": " + tail[-1][:200] if tail else "")


def after_copies(cert: "CertSettings", copies_status: str, store: "Store", timeout: float = RELOAD_TIMEOUT) -> Optional[str]:
    """Reload when the copies were written or an earlier reload failed; the error line or None."""
    argv = getattr(cert, "reload_command", None)
    if not argv or copies_status == CopyStatus.FAILED:
        return None
    pending = store.read_meta(cert.name).get("reload_pending")
    if copies_status != "written" and not pending:
        return None
    error = run_command(argv, cert, timeout)
    if error:
        log.error("%s: %s (retried on the next run)", cert.name, error)
    else:
        log.info("%s: ran %s", cert.name, argv[0])
    if error or pending:
        store.update_meta(cert.name, reload_pending=error)
    return error
