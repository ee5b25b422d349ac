"""StateDir = oss://bucket/prefix: the state folder kept in OSS, so a Function Compute deployment needs
no NAS and no VPC (issue 14, point 23).

The Store relies on a POSIX folder: a version is switched by renaming a symlink, readers resolve
the symlink once, the lock is flock(). OSS has none of these (no rename, no symlink, no lock), so the
Store is not rewritten object by object. Instead a run works on a private local mirror:

1. lock: PUT <prefix>/.lock with x-oss-forbid-overwrite: true. OSS refuses the PUT (409
   FileAlreadyExists) while the object exists, so exactly one invocation holds it. The body says who
   (pid, host, start) and until when; a lock older than LOCK_TTL (a crashed invocation) is removed.
2. pull: every object under the prefix into a fresh 0700 temporary folder; an object whose name ends
   in ".symlink" holds a symlink's target (the Store's `current` and stable paths).
3. the run uses the ordinary Store on that folder, flock and all.
4. push: changed files are PUT first, then the changed ".symlink" objects (a reader of the bucket
   never sees `current` point at a version not yet uploaded), then objects whose files are gone
   (pruned versions) are deleted. Then the lock object is deleted.

Read-only commands pull without the lock and push nothing. The object layout is documented in
docs/fc.md. Credentials are the function's (or [aliyun]'s); the endpoint is [aliyun] OSSEndpoint,
by default https://oss-<Region>.aliyuncs.com.
"""

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple

from acme_aliyun.errors import LockHeld, ToolError
from acme_aliyun.fsio import atomic_write, make_dirs

if TYPE_CHECKING:
    from acme_aliyun.cloud.settings import CloudSettings
    from acme_aliyun.config import Config
    from acme_aliyun.store import Store

log = logging.getLogger(__name__)

LOCK = ".lock"
LOCK_TTL = 1800.0          # seconds: longer than any Function Compute invocation may run
SYMLINK = ".symlink"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def parse_url(url: str) -> Tuple[str, str]:
    """('bucket', 'prefix/') of oss://bucket[/prefix]; ValueError with the reason."""
    rest = url[len("oss://"):]
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError("%r is not an OSS bucket name (3-63 lower-case letters, digits, '-')" % bucket)
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError("the prefix %r has an empty, '.' or '..' part" % prefix)
    return bucket, (prefix + "/") if prefix else ""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OssState:
    """The mirror of oss://bucket/prefix in a local folder; bucket_factory() gives an oss2.Bucket."""

    def __init__(self, url: str, bucket_factory: Callable[[], Any]) -> None:
        self.url = url
        self.bucket_name, self.prefix = parse_url(url)
        self._factory = bucket_factory
        self._bucket: Any = None
        self.local = tempfile.mkdtemp(prefix="acme-aliyun-state-")       # 0700
        self._pulled: Dict[str, str] = {}                                   # object key -> digest
        self._token: Optional[str] = None

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self._factory()
        return self._bucket

    def _call(self, what, fn, *args, **kw):
        import oss2
        try:
            return fn(*args, **kw)
        except oss2.exceptions.OssError as e:
            if getattr(e, "status", 0) == -2 or not getattr(e, "status", 0):     # no answer at all
                from acme_aliyun import netmsg
                raise ToolError("state %s: %s: %s" % (self.url, what, netmsg.reason(e) or "no answer")) from None
            raise ToolError("state %s: %s: %s (HTTP %s, RequestId %s)" % (
                self.url, what, e.code, e.status, e.request_id)) from None

    # --- the lock object -----------------------------------------------------------------

    def _try_lock(self) -> bool:
        import oss2
        self._token = "%s-%d-%f" % (socket.gethostname(), os.getpid(), time.time())
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": int(time.time()),
                           "expires": int(time.time() + LOCK_TTL), "token": self._token})
        try:
            self.bucket.put_object(self.prefix + LOCK, body, headers={"x-oss-forbid-overwrite": "true"})
            return True
        except oss2.exceptions.OssError as e:
            if e.status == 409:
                return False
            raise

    def _lock_body(self) -> Optional[bytes]:
        import oss2
        try:
            return self.bucket.get_object(self.prefix + LOCK).read()
        except oss2.exceptions.NoSuchKey:
            return None

    def _holder(self) -> Tuple[str, bool, Optional[bytes]]:
        """(' (pid N on host H, started HH:MM)', expired?, body) of the lock object; ('', False, None): gone."""
        body = self._lock_body()
        if body is None:
            return "", False, None
        try:
            info = json.loads(body)
        except ValueError:
            return " (unreadable lock object)", True, body
        started = time.strftime("%H:%M", time.localtime(info.get("started", 0)))
        return (" (pid %s on %s, started %s)" % (info.get("pid"), info.get("host"), started),
                time.time() > info.get("expires", 0), body)

    def _delete_if(self, body: bytes) -> None:
        """Delete the lock object if it still holds body (OSS has no conditional delete: read, compare,
        delete; the window between the last two is what remains of a race)."""
        if self._lock_body() == body:
            self.bucket.delete_object(self.prefix + LOCK)

    @contextlib.contextmanager
    def lock(self, wait: bool = True, timeout: Optional[float] = None,
             on_wait: Optional[Callable[..., None]] = None) -> Iterator[None]:
        """Hold the lock object for the block; LockHeld as Store.lock() raises it."""
        deadline = None if timeout is None else time.monotonic() + (timeout if wait else 0)
        told = False
        while not self._call("lock", self._try_lock):
            holder, expired, body = self._call("lock", self._holder)
            if expired:
                log.warning("removing the lock of a run that did not finish%s", holder)
                self._call("lock", self._delete_if, body)
                continue
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                raise LockHeld("another run%s holds the lock on %s" % (holder, self.url))
            if on_wait is not None and not told:
                on_wait("waiting for the lock held by%s" % (holder.replace(" (", " ", 1).rstrip(")") or
                                                              " another run"), timeout)
                told = True
            time.sleep(0.5)
        mine = self._call("lock", self._lock_body)
        try:
            yield
        finally:            # only our own lock: a run that outlived LOCK_TTL may have lost it
            if mine is not None:
                self._call("unlock", self._delete_if, mine)

    # --- pull and push -----------------------------------------------------------------------

    def pull(self) -> None:
        """Every object under the prefix into the local folder (the lock object excepted)."""
        import oss2
        for obj in oss2.ObjectIterator(self.bucket, prefix=self.prefix):
            rel = obj.key[len(self.prefix):]
            if not rel or rel == LOCK or rel.endswith("/"):
                continue
            if ".." in rel.split("/"):
                raise ToolError("state %s: object %r leaves the folder" % (self.url, obj.key))
            data = self._call("read " + rel, lambda k=obj.key: self.bucket.get_object(k).read())
            self._pulled[obj.key] = _digest(data)
            path = os.path.join(self.local, rel)
            make_dirs(os.path.dirname(path), 0o700)
            if rel.endswith(SYMLINK):
                path = path[:-len(SYMLINK)]
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                os.symlink(data.decode("utf-8"), path)
            else:
                atomic_write(path, data, mode=0o600)

    def _local_objects(self) -> Dict[str, bytes]:
        out = {}
        for base, dirs, files in os.walk(self.local):
            for name in dirs + files:
                path = os.path.join(base, name)
                rel = os.path.relpath(path, self.local).replace(os.sep, "/")
                if os.path.islink(path):
                    out[self.prefix + rel + SYMLINK] = os.readlink(path).encode("utf-8")
                elif os.path.isfile(path) and rel != LOCK:
                    with open(path, "rb") as fh:
                        out[self.prefix + rel] = fh.read()
        return out

    def push(self) -> None:
        """Upload what changed (files, then symlinks), then delete what is gone."""
        now = self._local_objects()
        changed = [k for k, data in now.items() if self._pulled.get(k) != _digest(data)]
        changed.sort(key=lambda k: k.endswith(SYMLINK))            # targets before the links to them
        for key in changed:
            self._call("write " + key, self.bucket.put_object, key, now[key])
            self._pulled[key] = _digest(now[key])
        for key in [k for k in self._pulled if k not in now]:
            self._call("delete " + key, self.bucket.delete_object, key)
            del self._pulled[key]
        if changed:
            log.debug("state %s: %d object(s) written", self.url, len(changed))

    def cleanup(self) -> None:
        shutil.rmtree(self.local, ignore_errors=True)


def make_bucket(url: str, settings: "CloudSettings", credentials: object) -> Callable[[], object]:
    """A factory of the oss2.Bucket for url, signed with credentials.get() at first use."""
    def factory():
        import oss2
        bucket_name, _ = parse_url(url)
        cred = credentials.get()
        auth = (oss2.StsAuth(cred.access_key_id, cred.access_key_secret, cred.security_token)
                if cred.security_token else oss2.Auth(cred.access_key_id, cred.access_key_secret))
        from acme_aliyun.cloud.sdk import endpoint_for    # the OSS kind's rule: [aliyun] OSSEndpoint, else the region's
        ep = endpoint_for(settings, "oss", region=settings.region)
        return oss2.Bucket(auth, "%s://%s" % (ep.scheme, ep.host), bucket_name, connect_timeout=settings.connect_timeout)
    return factory


def attach(cfg: "Config", credentials: object) -> OssState:
    """For an oss:// StateDir: the mirror, with cfg.acme pointed at its local folder (the account key
    too, unless AccountKeyFile names a file that exists)."""
    url = cfg.acme.state_dir
    if credentials is None:
        from acme_aliyun.cloud.credentials import resolve_credentials
        credentials = resolve_credentials(cfg.cloud)
    state = OssState(url, make_bucket(url, cfg.cloud, credentials))
    atexit.register(state.cleanup)          # the CLI; the FC handler removes it after each invocation
    cfg.acme.state_url, cfg.acme.state_dir = url, state.local
    if not os.path.exists(cfg.acme.account_key_file):
        cfg.acme.account_key_file = os.path.join(state.local, os.path.basename(cfg.acme.account_key_file))
    return state


def store(state: OssState, read_only: bool) -> "Store":
    """A Store on the mirror whose lock() holds the lock object, pulls before and pushes after."""
    from acme_aliyun.store import Store

    class OssStore(Store):
        @contextlib.contextmanager
        def lock(self, wait: bool = True, timeout: Optional[float] = None,
                 on_wait: Optional[Callable[..., Any]] = None) -> Iterator[None]:
            if self.read_only:
                yield
                return
            with state.lock(wait, timeout, on_wait):
                state.pull()
                try:
                    with Store.lock(self, wait, timeout):
                        yield
                finally:
                    state.push()

    if read_only:
        state.pull()
    return OssStore(state.local, read_only=read_only)
