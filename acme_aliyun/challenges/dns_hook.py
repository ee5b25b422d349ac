"""dns-01 through a user command, for DNS providers the tool does not speak to itself.

Hook contract: the command (split like a shell would, but run without one) is
run once per challenge, with the action appended as its last argument::

    <command words...> present     put the TXT record in place
    <command words...> cleanup     remove that one value again

in a clean environment: PATH and LANG from ours, the variables named in
DNSHookEnv (a DNS provider's API token, say), and these:

    ACME_ACTION         present | cleanup (same as the argument)
    ACME_DOMAIN         the name validated: example.com (also for *.example.com)
    ACME_RECORD_NAME    _acme-challenge.example.com (no trailing dot)
    ACME_TXT_VALUE      the TXT value
    CERTBOT_DOMAIN      = ACME_DOMAIN, and
    CERTBOT_VALIDATION  = ACME_TXT_VALUE, so certbot manual hooks work unchanged

Nothing else of our environment reaches the hook: not the AccessKey secret, the
STS token or the webhook secrets.

Two challenges may share a record name (example.com and *.example.com): the
hook must add a value next to others, and on cleanup remove only its own.
present should return once the record is published. Exit status 0 means
success; stdout goes to the debug log; on failure the last stderr line is
reported. Certificates ordered side by side never run the hook twice at once
(one lock per command), so a hook written for one order at a time keeps working.
"""

import logging
import os
import shlex
import signal
import subprocess
import threading
from typing import Dict, Sequence, Tuple

from acme_aliyun.challenges.base import Challenge, Solver, SolverError
from acme_aliyun.errors import UsageError
from acme_aliyun.log import redact

log = logging.getLogger(__name__)
BASE_ENV = ("PATH", "LANG")      # what every hook gets from our environment

_hook_locks: Dict[Tuple[str, ...], threading.Lock] = {}                       # command -> lock: one hook run at a time per command
_hook_locks_guard = threading.Lock()


class DnsHookSolver(Solver):
    """Runs `command` to add (present) and remove (cleanup) each challenge's TXT value."""

    challenge_type = "dns-01"

    def __init__(self, command: str, timeout: float = 120, env_names: Sequence[str] = ()) -> None:
        self.env_names = tuple(env_names)       # variables of ours the hook gets (DNSHookEnv)
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise UsageError("the dns-01 hook command %r cannot be split: %s" % (command, e)) from None
        if not self.argv:
            raise UsageError("the dns-01 hook command is empty")
        self.timeout = timeout
        with _hook_locks_guard:
            self._lock = _hook_locks.setdefault(tuple(self.argv), threading.Lock())

    def present(self, challenges: Sequence[Challenge]) -> None:
        for c in challenges:
            self._run("present", c)

    def cleanup(self, challenges: Sequence[Challenge]) -> None:
        for c in challenges:
            try:
                self._run("cleanup", c)
            except SolverError as e:
                log.warning("%s", e)

    def _run(self, action, c):
        with self._lock:
            self._run_alone(action, c)

    def _run_alone(self, action, c):
        env = {k: os.environ[k] for k in BASE_ENV + self.env_names if k in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update(ACME_ACTION=action, ACME_DOMAIN=c.identifier, ACME_RECORD_NAME=c.dns_record_name,
                   ACME_TXT_VALUE=c.dns_txt_value, CERTBOT_DOMAIN=c.identifier, CERTBOT_VALIDATION=c.dns_txt_value)
        what = "dns-01 hook %s for %s" % (action, c.identifier)
        try:
            proc = subprocess.Popen(self.argv + [action], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise SolverError("%s: cannot run %s: %s" % (what, self.argv[0], e.strerror)) from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)     # the hook and whatever it started
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:       # something that left the group holds the pipes
                err = b""
                proc.stdout.close()
                proc.stderr.close()
                proc.wait()
            raise SolverError("%s: timed out after %ss%s" % (what, self.timeout, _last_line(err))) from None
        if out.strip():
            log.debug("%s: stdout: %s", what, out.decode("utf-8", "replace").rstrip())
        if proc.returncode != 0:
            status = ("killed by signal %d" % -proc.returncode if proc.returncode < 0
                      else "exit status %d" % proc.returncode)
            raise SolverError("%s failed: %s%s" % (what, status, _last_line(err)))
        if err.strip():
            log.debug("%s: stderr: %s", what, err.decode("utf-8", "replace").rstrip())


def _last_line(stderr):
    """': <last non-empty stderr line>' (redacted, at most 300 characters), or ''."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return ": %s" % redact(lines[-1])[:300] if lines else ""
