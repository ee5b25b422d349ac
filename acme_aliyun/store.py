"""The state folder: certificates, keys of orders in progress, challenge journal, lock.

Layout (the same on a local disk and on a NAS/NFS mount)::

    <state_dir>/                      0700
      .lock                           flock()ed by the running process
      account-state.json              0600, per CA directory: a deactivated account (when, which)
      last-run.json                   0600, what the last run/deploy did per certificate (lastrun.py)
      certs/<name>/                   0700
        versions/<id>/                0700, one complete, fsynced set of files:
          privkey.pem                   0600
          cert.pem chain.pem fullchain.pem meta.json
        current -> versions/<id>      replaced atomically (symlink + rename)
        privkey.pem -> current/privkey.pem, cert.pem, chain.pem, fullchain.pem,
        meta.json                     stable paths for users, created once
        pending-key.pem               0600, the key of an order in progress
        challenges.json               challenges presented by a run not yet cleaned up

The key/certificate pair switches with one rename of ``current``, so a crash at
any moment leaves the old pair or the new one. A reader resolves ``current``
once and reads every file from that version folder, so it never sees a mix
either. The previous version is kept for rollback and inspection; older ones
are pruned by the next save().

Before the first certificate of a name is saved, meta.json is a plain file
(read_meta/update_meta use it for an order in progress); save() turns it into
the symlink.

Writers (save, pending_key, journal_*, update_meta) are meant to run under
lock(); readers (load, read_meta) need no lock.
"""

import contextlib
import datetime
import errno
import fcntl
import functools
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from acme_aliyun import pki
from acme_aliyun.challenges.base import Challenge
from acme_aliyun.errors import LockHeld, ToolError, UsageError
from acme_aliyun.fsio import atomic_write, ensure_private_dir, fsync_dir, make_dirs

log = logging.getLogger(__name__)

ACCOUNTS = "accounts.json"     # account URL per CA directory and key thumbprint
PAIR_FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem", "meta.json")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}\Z")


def check_name(name: str) -> str:
    """A certificate name becomes a folder name: letters, digits, '.', '_', '-', no leading dot."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(
            "invalid certificate name %r: use letters, digits, '.', '_' and '-' only "
            "(at most 200, not starting with '.')" % (name,)
        )
    return name


def _iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_copy(path: str, data: Union[str, bytes], private: bool) -> None:
    """Write an extra copy for the user (KeyFile, ChainFile...): atomic, 0600 if private else 0644.

    Missing parent folders are created (0700 for private files, 0755 otherwise).
    """
    try:
        make_dirs(os.path.dirname(os.path.abspath(path)), 0o700 if private else 0o755)
        atomic_write(path, data, mode=0o600 if private else 0o644)
    except OSError as e:
        raise ToolError("cannot write %s: %s" % (path, e.strerror or e)) from None


def _fs_errors(method):
    """Turn file-system failures (permissions, disk full, NAS gone) into one-line ToolErrors."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PermissionError as e:
            from acme_aliyun.perms import permission_error
            raise ToolError("state folder %s: %s" % (self.state_dir, permission_error(
                e.filename or self.state_dir, "read" if method.__name__.startswith(("load", "read")) else "write"))) from None
        except OSError as e:
            where = "%s: " % e.filename if e.filename else ""
            raise ToolError("state folder %s: %s%s" % (self.state_dir, where, e.strerror or e)) from None
    return wrapper


@dataclass
class StoredCert:
    """One stored version: the pair as read from a single version folder, and its meta.json."""

    name: str
    key_pem: bytes
    cert_pem: str
    chain_pem: str
    fullchain_pem: str
    meta: dict
    bundle: pki.CertBundle = field(repr=False)
    path: str                   # certs/<name>: the folder with the stable file names
    version: str                # the id of the version folder the pair was read from


class Store:
    """All the state the tool keeps between runs, in one folder (see the module docstring)."""

    @_fs_errors
    def __init__(self, state_dir: str, read_only: bool = False) -> None:
        """read_only: create nothing (no folder, no lock file); for status and dry runs, which only read."""
        self.state_dir = os.path.abspath(os.fspath(state_dir))
        self.read_only = read_only
        if not read_only:
            ensure_private_dir(self.state_dir)

    # --- paths ------------------------------------------------------------------------

    def cert_dir(self, name: str) -> str:
        return os.path.join(self.state_dir, "certs", check_name(name))

    def _ensure_cert_dir(self, name):
        ensure_private_dir(os.path.join(self.state_dir, "certs"))
        return ensure_private_dir(self.cert_dir(name))

    @_fs_errors
    def names(self) -> List[str]:
        """Every name with a folder under certs/ (a stored certificate or only an order in progress)."""
        try:
            entries = os.listdir(os.path.join(self.state_dir, "certs"))
        except FileNotFoundError:
            return []
        return sorted(n for n in entries if _NAME.match(n) and os.path.isdir(self.cert_dir(n)))

    def _current_version(self, name) -> Optional[str]:
        """The version folder `current` points to right now (resolved once), or None."""
        try:
            target = os.readlink(os.path.join(self.cert_dir(name), "current"))
        except FileNotFoundError:
            return None
        return os.path.join(self.cert_dir(name), target)

    # --- the key/certificate pair ---------------------------------------------------------

    @_fs_errors
    def load(self, name: str) -> Optional["StoredCert"]:
        """The current pair, or None when nothing is stored. ToolError if it is corrupt or mismatched."""
        for _ in range(3):
            vdir = self._current_version(name)
            if vdir is None:
                return None
            try:
                return self._load_version(name, vdir)
            except FileNotFoundError:
                # pruned by two saves between our readlink and open: resolve again
                if self._current_version(name) == vdir:
                    return self._fall_back(name, vdir, "%s lacks files" % vdir)
            except CorruptVersion as e:
                return self._fall_back(name, vdir, str(e))
        raise ToolError("stored certificate %s changes too fast to be read" % name)

    def _fall_back(self, name, bad_vdir, why):
        """The newest other version that loads (the previous one), or None: the certificate is reissued."""
        versions = os.path.dirname(bad_vdir)
        for entry in sorted(os.listdir(versions), reverse=True):
            vdir = os.path.join(versions, entry)
            if vdir == bad_vdir or entry.startswith("."):
                continue
            try:
                stored = self._load_version(name, vdir)
            except (CorruptVersion, FileNotFoundError):
                continue
            log.warning("%s; using the previous version %s", why, entry)
            return stored
        log.warning("%s, and no earlier version is usable: the certificate will be issued again", why)
        return None

    def _load_version(self, name, vdir):
        files = {}
        for fname in PAIR_FILES:
            with open(os.path.join(vdir, fname), "rb") as fh:
                files[fname] = fh.read()
        what = "stored certificate %s (%s)" % (name, vdir)
        try:
            text = {f: files[f].decode("ascii") for f in PAIR_FILES if f != "privkey.pem"}
        except ValueError as e:
            raise CorruptVersion("%s is corrupt: %s" % (what, e)) from None
        meta = _parse_meta(text["meta.json"], what)
        try:
            bundle = _matching_bundle(text["fullchain.pem"], files["privkey.pem"], what)
        except ToolError as e:
            raise CorruptVersion(str(e)) from None
        if text["cert.pem"] + text["chain.pem"] != text["fullchain.pem"]:
            raise CorruptVersion("%s: fullchain.pem is not cert.pem + chain.pem" % what)
        return StoredCert(
            name=name, key_pem=files["privkey.pem"], cert_pem=text["cert.pem"], chain_pem=text["chain.pem"],
            fullchain_pem=text["fullchain.pem"], meta=meta, bundle=bundle,
            path=self.cert_dir(name), version=os.path.basename(vdir),
        )

    @_fs_errors
    def current_key_pem(self, name: str) -> Optional[bytes]:
        """The private key of the current pair (for ReuseKey), or None."""
        vdir = self._current_version(name)
        if vdir is None:
            return None
        with open(os.path.join(vdir, "privkey.pem"), "rb") as fh:
            return fh.read()

    @_fs_errors
    def save(self, name: str, key_pem: bytes, cert_pem: str, chain_pem: str, meta: dict) -> StoredCert:
        """Store a new pair as a new version and switch `current` to it atomically.

        meta.json of the new version is `meta` (None values left out) plus names,
        serial, not_before, not_after, issuer and saved_at taken from the
        certificate; fields update_meta() set on the previous version are not
        carried over.
        """
        if isinstance(key_pem, str):
            key_pem = key_pem.encode("ascii")
        if not cert_pem.endswith("\n"):
            cert_pem += "\n"
        fullchain_pem = cert_pem + chain_pem
        bundle = _matching_bundle(fullchain_pem, key_pem, "refusing to store certificate %s" % name)
        meta = dict(meta, names=bundle.names, serial=bundle.serial, not_before=_iso(bundle.not_before),
                    not_after=_iso(bundle.not_after), issuer=bundle.issuer,
                    saved_at=_iso(datetime.datetime.now(datetime.timezone.utc)))
        meta = {k: v for k, v in meta.items() if v is not None}

        cdir = self._ensure_cert_dir(name)
        versions = ensure_private_dir(os.path.join(cdir, "versions"))
        previous = self._current_version(name)
        version = "%s-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), secrets.token_hex(4))
        vdir = ensure_private_dir(os.path.join(versions, version))
        contents: Dict[str, Union[str, bytes]] = {"privkey.pem": key_pem, "cert.pem": cert_pem, "chain.pem": chain_pem,
                    "fullchain.pem": fullchain_pem, "meta.json": json.dumps(meta, indent=2, sort_keys=True) + "\n"}
        for fname in PAIR_FILES:
            atomic_write(os.path.join(vdir, fname), contents[fname],
                         mode=0o600 if fname == "privkey.pem" else 0o644)
        fsync_dir(versions)

        _replace_symlink(os.path.join(cdir, "current"), os.path.join("versions", version))
        for fname in PAIR_FILES:
            link = os.path.join(cdir, fname)
            if not (os.path.islink(link) and os.readlink(link) == os.path.join("current", fname)):
                _replace_symlink(link, os.path.join("current", fname))
        self._prune(versions, keep={version, os.path.basename(previous or "")})
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(cdir, "pending-key.pem"))
        return StoredCert(name=name, key_pem=key_pem, cert_pem=cert_pem, chain_pem=chain_pem,
                          fullchain_pem=fullchain_pem, meta=meta, bundle=bundle, path=cdir, version=version)

    @staticmethod
    def _prune(versions, keep):
        """Remove every version folder but the current and the previous one (and crash leftovers)."""
        for entry in os.listdir(versions):
            if entry not in keep:
                shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)

    # --- the key of an order in progress ---------------------------------------------

    @_fs_errors
    def pending_key(self, name: str, key_type: str) -> bytes:
        """The key for the order in progress: made once, reused by a rerun after a crash.

        A pending key of another type (the configuration changed) is replaced.
        save() deletes it.
        """
        path = os.path.join(self._ensure_cert_dir(name), "pending-key.pem")
        try:
            with open(path, "rb") as fh:
                key_pem = fh.read()
            if pki.key_type_of(pki.parse_private_key(key_pem, path)) == key_type:
                return key_pem
            log.info("pending key %s is not %s; making a new one", path, key_type)
        except FileNotFoundError:
            pass
        except UsageError as e:
            log.warning("ignoring unusable pending key: %s", e)
        key_pem = pki.key_to_pem(pki.generate_key(key_type))
        atomic_write(path, key_pem, mode=0o600)
        return key_pem

    # --- challenge journal -------------------------------------------------------------

    def _journal_path(self, name):
        return os.path.join(self.cert_dir(name), "challenges.json")

    def _read_journal(self, name):
        """[{"solver": id, "challenges": [Challenge as dict, ...]}, ...]"""
        path = self._journal_path(name)
        try:
            with open(path, "rb") as fh:
                entries = json.load(fh)["runs"]
            return [{"solver": e["solver"], "challenges": [dict(c) for c in e["challenges"]]} for e in entries]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unreadable challenge journal %s: %s", path, e)
            return []

    @_fs_errors
    def journal_challenges(self, name: str, solver_id: str, challenges: List[Challenge]) -> None:
        """Record, before present(), what solver_id is about to put in place (added to older entries)."""
        entries = self._read_journal(name)
        entry = next((e for e in entries if e["solver"] == solver_id), None)
        if entry is None:
            entry = {"solver": solver_id, "challenges": []}
            entries.append(entry)
        for c in challenges:
            if asdict(c) not in entry["challenges"]:
                entry["challenges"].append(asdict(c))
        self._ensure_cert_dir(name)
        atomic_write(self._journal_path(name), json.dumps({"runs": entries}, indent=2) + "\n", mode=0o600)

    @_fs_errors
    def pending_challenges(self, name: str) -> List[Tuple[str, List[Challenge]]]:
        """(solver id, challenges) journalled by runs that did not clear them (crashed)."""
        return [(e["solver"], [Challenge(**c) for c in e["challenges"]]) for e in self._read_journal(name)]

    @_fs_errors
    def clear_challenges(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._journal_path(name))

    # --- failed attempts (order bookkeeping, apart from the stored pair) -----------------

    def _attempts_path(self, name):
        return os.path.join(self.cert_dir(name), "attempts.json")

    @_fs_errors
    def read_attempts(self, name: str) -> dict:
        """Failures since the last successful order: {failures, last_error, last_failure, next_attempt}."""
        return _json_object(self._attempts_path(name))

    @_fs_errors
    def write_attempts(self, name: str, data: dict) -> None:
        """Record failed attempts atomically; None clears them."""
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._attempts_path(name))
            return
        self._ensure_cert_dir(name)
        atomic_write(self._attempts_path(name), json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)

    # --- the ACME account's standing, per CA directory -------------------------------------

    def _account_state_path(self):
        return os.path.join(self.state_dir, "account-state.json")

    @_fs_errors
    def read_account_state(self, directory_url: str) -> dict:
        """What is recorded about the account at this CA ({} when nothing): e.g. its deactivation."""
        entry = _json_object(self._account_state_path()).get(directory_url)
        return entry if isinstance(entry, dict) else {}

    @_fs_errors
    def write_account_state(self, directory_url: str, entry: Optional[dict]) -> None:
        """Record (atomically) the account's standing at this CA; None clears it."""
        data = _json_object(self._account_state_path())
        if entry is None:
            if data.pop(directory_url, None) is None:
                return
        else:
            data[directory_url] = entry
        atomic_write(self._account_state_path(), json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)

    # --- the last-run record (its shape: lastrun.py) -------------------------------------------

    def _last_run_path(self) -> str:
        return os.path.join(self.state_dir, "last-run.json")

    @_fs_errors
    def read_last_run(self) -> dict:
        """The last-run record ({} when none, or unreadable: it is only a report); creates nothing."""
        return _json_object(self._last_run_path())

    @_fs_errors
    def write_last_run(self, data: dict) -> None:
        """Replace the last-run record atomically (under lock(), like every writer)."""
        ensure_private_dir(self.state_dir)
        atomic_write(self._last_run_path(), json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)

    # --- the account URL cache: which account URL a key has at a CA ----------------------------

    def _accounts_path(self) -> str:
        return os.path.join(self.state_dir, ACCOUNTS)

    def _read_accounts(self) -> dict:
        try:
            with open(self._accounts_path()) as fh:
                data = json.load(fh)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def account_url(self, directory_url: str, thumbprint: str) -> Optional[str]:
        """The account URL cached for the key with this JWK thumbprint at this CA (None: not known)."""
        url = self._read_accounts().get("%s#%s" % (directory_url, thumbprint))
        return url if isinstance(url, str) and url else None

    def remember_account(self, directory_url: str, thumbprint: str, url: str) -> None:
        """Cache the account URL of a key (atomic, 0600, in a 0700 state folder)."""
        ensure_private_dir(self.state_dir)
        data = self._read_accounts()
        data["%s#%s" % (directory_url, thumbprint)] = url
        atomic_write(self._accounts_path(), json.dumps(data, indent=1, sort_keys=True), mode=0o600)

    def forget_account(self, directory_url: str, thumbprint: str) -> None:
        """Drop a key's cached account URL (after a rollover or a deactivation)."""
        data = self._read_accounts()
        if data.pop("%s#%s" % (directory_url, thumbprint), None) is not None:
            atomic_write(self._accounts_path(), json.dumps(data, indent=1, sort_keys=True), mode=0o600)

    # --- meta.json ---------------------------------------------------------------------

    def _meta_path(self, name):
        """meta.json of the current version, or the plain certs/<name>/meta.json before the first save."""
        vdir = self._current_version(name)
        return os.path.join(vdir or self.cert_dir(name), "meta.json")

    @_fs_errors
    def read_meta(self, name: str) -> dict:
        try:
            with open(self._meta_path(name), "rb") as fh:
                return _parse_meta(fh.read().decode("utf-8", "replace"), "certificate %s" % name)
        except FileNotFoundError:
            return {}

    @_fs_errors
    def update_meta(self, name: str, **fields: Any) -> None:
        """Set fields (JSON values) in meta.json atomically; a field given as None is removed."""
        self._ensure_cert_dir(name)
        path = self._meta_path(name)
        meta = self.read_meta(name)
        meta.update(fields)
        meta = {k: v for k, v in meta.items() if v is not None}
        atomic_write(path, json.dumps(meta, indent=2, sort_keys=True) + "\n", mode=0o644)

    # --- process lock ------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: bool = True, timeout: Optional[float] = None,
             on_wait: Optional[Callable[..., Any]] = None) -> Iterator[None]:
        """Hold an exclusive flock() on <state_dir>/.lock for the duration of the block.

        wait=False raises LockHeld at once when another process holds it; a
        timeout (seconds) raises LockHeld when it is still held by then. The
        kernel drops the lock when its holder dies; on NFS, where Linux maps
        flock() to a server-side lock, the server drops it when the dead
        client's lease expires (NFSv4: about 90 s). The file stays; it holds
        the pid and start time of the last holder, for the LockHeld message.
        A read-only store takes no lock (readers need none) and creates no file.
        """
        if self.read_only:
            yield
            return
        fd = _open_lock_file(os.path.join(self.state_dir, ".lock"))
        try:
            self._acquire(fd, wait, timeout, on_wait)
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"%d\n%d\n" % (os.getpid(), int(time.time())), 0)
            yield
        finally:
            os.close(fd)   # closing the descriptor releases the flock

    def _acquire(self, fd: int, wait: bool, timeout: Optional[float], on_wait: Optional[Callable[..., Any]]) -> None:
        """flock() the open lock file: wait for it, up to timeout, or not at all; LockHeld when not had."""
        if wait and on_wait is not None and not _try_flock(fd):     # progress: who holds it
            on_wait("waiting for the lock held by%s" % (_holder(fd).replace(" (", " ", 1).rstrip(")")
                                                       or " another run"), timeout)
        if wait and timeout is None:
            if not _try_flock(fd):
                stale = _stale_since(fd)
                if stale:
                    log.warning("waiting for the lock on %s: %s", self.state_dir, stale)
                fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + (timeout if wait and timeout is not None else 0)
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    stale = _stale_since(fd)
                    held = LockHeld("another run%s holds the lock on %s%s%s" % (
                        _holder(fd), self.state_dir, " (waited %ss)" % timeout if wait else "",
                        "; " + stale if stale else ""))
                    held.stale = bool(stale)
                    raise held
                time.sleep(0.05)


def _json_object(path: str) -> dict:
    """The JSON object in a state file; {} when the file is missing, unreadable as JSON or not an
    object (the records read this way are reports and waits, rebuilt by the next write)."""
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _open_lock_file(path: str) -> int:
    """The lock file's descriptor (created 0600); ToolError naming the file and the fix when refused."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        from acme_aliyun.perms import permission_error
        raise ToolError("cannot open the lock file: %s" % permission_error(path, "write")) from None
    except OSError as e:
        raise ToolError("cannot open the lock file %s: %s" % (path, e.strerror)) from None


class CorruptVersion(ToolError):
    """A version folder whose pair cannot be read: load() falls back to the previous version."""


def _parse_meta(text, what):
    """meta.json as a dict; a corrupt one is only metadata: {} and a warning (the next update rewrites it)."""
    try:
        meta = json.loads(text)
    except ValueError as e:
        log.warning("%s: meta.json is corrupt (%s); ignoring it", what, e)
        return {}
    return meta if isinstance(meta, dict) else {}


def _matching_bundle(fullchain_pem, key_pem, what):
    """The CertBundle of a pair; ToolError (prefixed by what) unless it parses and the key matches."""
    try:
        bundle = pki.CertBundle.from_pems(fullchain_pem, key_pem)
        matches = bundle.key_matches()
    except (ValueError, TypeError, ToolError) as e:
        raise ToolError("%s: unreadable key or certificate: %s" % (what, e)) from None
    if not matches:
        raise ToolError("%s: private key and certificate do not match" % what)
    return bundle


def _try_flock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


LOCK_STALE_AFTER = 6 * 3600    # seconds: longer than a run can take (every exchange has a deadline)


def _stale_since(fd):
    """'' or why the lock looks stuck: taken (the holder wrote its pid) longer ago than a run can take."""
    since = os.fstat(fd).st_mtime
    if time.time() - since <= LOCK_STALE_AFTER:
        return ""
    return ("held since %s, longer than a run can take: is that run hanging?"
            % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since)))


def _holder(fd):
    """' (pid N, started HH:MM)' from the lock file, for the message; '' when unknown."""
    lines = os.pread(fd, 64, 0).split()
    if not lines or not lines[0].isdigit():
        return ""
    if len(lines) > 1 and lines[1].isdigit():
        started = time.strftime("%H:%M", time.localtime(int(lines[1])))
        return " (pid %s, started %s)" % (lines[0].decode(), started)
    return " (pid %s)" % lines[0].decode()


def _replace_symlink(path, target):
    """Point the symlink path at target atomically: make it under a temp name, rename over."""
    tmp = os.path.join(os.path.dirname(path), ".%s.new" % os.path.basename(path))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))
