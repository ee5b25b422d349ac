"""http-01 (RFC 8555 §8.3): serve the key authorization at /.well-known/acme-challenge/<token>.

WebrootSolver writes files into the document root of a web server already
running; StandaloneSolver runs its own small HTTP server for the duration of
the order.
"""

import contextlib
import errno
import logging
import os
import re
import secrets
import socket
import stat
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Sequence, Tuple

from acme_aliyun.challenges.base import Challenge, Solver, SolverError

log = logging.getLogger(__name__)

CHALLENGE_DIR = (".well-known", "acme-challenge")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")      # base64url (RFC 8555 §8.3): no path tricks possible


def _check_token(challenge):
    if not _TOKEN.match(challenge.token):
        raise SolverError("http-01 for %s: refusing token %r (not base64url)" % (challenge.identifier, challenge.token))
    return challenge.token


_webroot_locks: Dict[str, threading.Lock] = {}                     # webroot -> lock: orders side by side share a webroot
_webroot_locks_guard = threading.Lock()


def _webroot_lock(webroot):
    with _webroot_locks_guard:
        return _webroot_locks.setdefault(webroot, threading.Lock())


class WebrootSolver(Solver):
    """Files <webroot>/.well-known/acme-challenge/<token> holding the key authorization (0644).

    The challenge path is walked with O_NOFOLLOW from the webroot: a symlink planted as
    .well-known, acme-challenge or a token file is refused, so a token never lands outside
    the docroot (the webroot itself may be a link: the admin configured it).
    Concurrent orders on one webroot take turns (a lock per webroot), so one order's
    clean-up never removes the folder another order is writing its token into.
    """

    challenge_type = "http-01"

    def __init__(self, webroot: str) -> None:
        self.webroot = os.path.abspath(webroot)
        self.folder = os.path.join(self.webroot, *CHALLENGE_DIR)

    def _challenge_dir_fd(self, create):
        """A descriptor of .well-known/acme-challenge reached without following links (None: absent)."""
        try:
            fd = os.open(self.webroot, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise SolverError("http-01: webroot %s is not a folder (%s)" % (self.webroot, e.strerror)) from None
        path = self.webroot
        try:
            for part in CHALLENGE_DIR:
                path = os.path.join(path, part)
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                        os.chmod(part, 0o755, dir_fd=fd)     # world-readable whatever the umask
                    except FileExistsError:
                        pass
                try:
                    sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    if create:
                        raise
                    os.close(fd)
                    return None
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise SolverError("http-01: %s is a symlink or not a folder; refusing to follow it"
                                          % path) from None
                    raise
                os.close(fd)
                fd = sub
            return fd
        except SolverError:
            os.close(fd)
            raise
        except OSError as e:
            os.close(fd)
            raise SolverError("http-01: cannot create %s: %s" % (path, e.strerror)) from None

    def present(self, challenges: Sequence[Challenge]) -> None:
        with _webroot_lock(self.webroot):
            self._present(challenges)

    def _present(self, challenges: Sequence[Challenge]) -> None:
        dfd = self._challenge_dir_fd(create=True)
        try:
            for c in challenges:
                self._write_token(dfd, c)
        finally:
            os.close(dfd)

    def _write_token(self, dfd, c):
        token = _check_token(c)
        path = os.path.join(self.folder, token)
        tmp = ".tmp-%s" % secrets.token_hex(8)
        try:
            try:
                if stat.S_ISLNK(os.lstat(token, dir_fd=dfd).st_mode):
                    raise SolverError("http-01 for %s: %s is a symlink; refusing it" % (c.identifier, path))
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dfd)
            try:
                os.fchmod(fd, 0o644)
                os.write(fd, c.key_authorization.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, token, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise SolverError("http-01 for %s: cannot write %s: %s" % (c.identifier, path, e.strerror)) from None
        log.debug("http-01 for %s: wrote %s", c.identifier, path)

    def cleanup(self, challenges: Sequence[Challenge]) -> None:
        """Remove the token files, then .well-known/acme-challenge and .well-known if left empty.

        After a crash the run cannot know whether it created those folders; an
        empty one serves nothing, so it goes. Failures are logged, not raised;
        links are removed, never followed.
        """
        with _webroot_lock(self.webroot):
            self._cleanup(challenges)

    def _cleanup(self, challenges):
        try:
            dfd = self._challenge_dir_fd(create=False)
        except SolverError as e:
            log.warning("%s", e)
            return
        if dfd is None:
            return
        try:
            for c in challenges:
                if not _TOKEN.match(c.token):
                    continue
                try:
                    os.unlink(c.token, dir_fd=dfd)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    log.warning("http-01 for %s: cannot remove %s: %s", c.identifier,
                                os.path.join(self.folder, c.token), e.strerror)
        finally:
            os.close(dfd)
        for folder in (self.folder, os.path.dirname(self.folder)):
            try:
                os.rmdir(folder)
            except OSError:     # not empty, not there, or not ours to remove
                return


def parse_listen(listen: str) -> Tuple[int, str, int]:
    """'host:port', '[v6]:port', ':port' or 'port' -> (family, host, port); '' host means all IPv4."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "", listen
    if host.startswith("[") and host.endswith("]"):
        host, family = host[1:-1], socket.AF_INET6
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SolverError("http-01: bad listen address %r (want host:port)" % listen)
    return family, host, int(port)


CONN_TIMEOUT = 10.0        # seconds a connection may stay silent before the server drops it
MAX_CONNECTIONS = 128      # connections served at once; more are closed at once (file descriptors are finite)


class _ChallengeServer(ThreadingHTTPServer):
    daemon_threads = True
    # A CA validates many names at once (Pebble: 3 requests per name); the default
    # backlog of 5 drops connections, which the CA retries only after a second.
    request_queue_size = 128

    def __init__(self, family, address, tokens, conn_timeout=CONN_TIMEOUT, max_connections=MAX_CONNECTIONS):
        self.address_family = family
        self.tokens = tokens            # token -> key authorization, shared with the solver
        self.conn_timeout = conn_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _ChallengeHandler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):      # full: drop it rather than run out of descriptors
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_bind(self):
        # HTTPServer.server_bind would look up our own FQDN: slow or hanging without DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _ChallengeHandler(BaseHTTPRequestHandler):
    server_version = "acme-aliyun"
    prefix = "/" + "/".join(CHALLENGE_DIR) + "/"

    def setup(self):
        self.timeout = self.server.conn_timeout        # applied to the socket by StreamRequestHandler
        super().setup()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        answer = self.server.tokens.get(path[len(self.prefix):]) if path.startswith(self.prefix) else None
        body = (answer or "not found\n").encode("ascii")
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        log.debug("http-01 server: %s %s", self.client_address[0], fmt % args)


class _SharedServer:
    """One listener per address for every order of the process, with one token table."""

    def __init__(self, family, address, listen, conn_timeout=CONN_TIMEOUT, max_connections=MAX_CONNECTIONS):
        self.tokens = {}                # token -> key authorization, of every order using it
        self.users = 0
        self.server = _ChallengeServer(family, address, self.tokens, conn_timeout, max_connections)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                       name="http-01 server", daemon=True)
        self.thread.start()
        log.info("http-01: answering on %s", listen)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


_servers: Dict[Tuple[int, str, int], "_SharedServer"] = {}                           # (family, host, port) -> _SharedServer
_servers_lock = threading.Lock()


class StandaloneSolver(Solver):
    """A built-in HTTP server answering every token of the order, from present() to close().

    Orders running side by side on the same address share one listener and its token
    table (a second bind would fail); the listener stops when the last of them closes.
    """

    challenge_type = "http-01"

    def __init__(self, listen: str = ":80", conn_timeout: float = CONN_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.listen = listen
        self.conn_timeout, self.max_connections = conn_timeout, max_connections
        self.family, self.host, self.port = parse_listen(listen)
        self.tokens: Dict[str, str] = {}      # this order's tokens
        self._shared: Optional[_SharedServer] = None

    def present(self, challenges: Sequence[Challenge]) -> None:
        mine = {_check_token(c): c.key_authorization for c in challenges}
        with _servers_lock:
            if self._shared is None:
                key = (self.family, self.host, self.port)
                shared = _servers.get(key)
                if shared is None:
                    try:
                        shared = _servers[key] = _SharedServer(
                            self.family, (self.host, self.port), self.listen, self.conn_timeout, self.max_connections)
                    except OSError as e:
                        raise SolverError("http-01: cannot listen on %s: %s"
                                          % (self.listen, e.strerror or e)) from None
                shared.users += 1
                self._shared = shared
            self.tokens.update(mine)
            self._shared.tokens.update(mine)

    def cleanup(self, challenges: Sequence[Challenge]) -> None:
        with _servers_lock:
            for c in challenges:
                self.tokens.pop(c.token, None)
                if self._shared is not None:
                    self._shared.tokens.pop(c.token, None)

    def close(self) -> None:
        with _servers_lock:
            shared, self._shared = self._shared, None
            if shared is None:
                return
            for token in self.tokens:
                shared.tokens.pop(token, None)
            shared.users -= 1
            if shared.users == 0:       # stopped under the lock: a new order then binds afresh
                _servers.pop((self.family, self.host, self.port), None)
                shared.stop()
