"""http-01 (RFC 8555 §8.3): serve the key authorization at /.well-known/acme-challenge/<token>.

WebrootSolver writes files into the document root of a web server already
running; StandaloneSolver runs its own small HTTP server for the duration of
the order.
"""

import logging
import os
import re
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from acme_aliyun.challenges.base import Solver, SolverError
from acme_aliyun.fsio import atomic_write

log = logging.getLogger(__name__)

CHALLENGE_DIR = (".well-known", "acme-challenge")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")      # base64url (RFC 8555 §8.3): no path tricks possible


def _check_token(challenge):
    if not _TOKEN.match(challenge.token):
        raise SolverError("http-01 for %s: refusing token %r (not base64url)" % (challenge.identifier, challenge.token))
    return challenge.token


_webroot_locks = {}                     # webroot -> lock: orders side by side share a webroot
_webroot_locks_guard = threading.Lock()


def _webroot_lock(webroot):
    with _webroot_locks_guard:
        return _webroot_locks.setdefault(webroot, threading.Lock())


class WebrootSolver(Solver):
    """Files <webroot>/.well-known/acme-challenge/<token> holding the key authorization (0644).

    Concurrent orders on one webroot take turns (a lock per webroot), so one order's
    clean-up never removes the folder another order is writing its token into.
    """

    challenge_type = "http-01"

    def __init__(self, webroot):
        self.webroot = os.path.abspath(webroot)
        self.folder = os.path.join(self.webroot, *CHALLENGE_DIR)

    def present(self, challenges):
        with _webroot_lock(self.webroot):
            self._present(challenges)

    def _present(self, challenges):
        if not os.path.isdir(self.webroot):
            raise SolverError("http-01: webroot %s is not a folder" % self.webroot)
        path = self.webroot
        for part in CHALLENGE_DIR:      # world-readable folders whatever the umask: the web server reads them
            path = os.path.join(path, part)
            try:
                os.mkdir(path)
                os.chmod(path, 0o755)
            except FileExistsError:
                pass
            except OSError as e:
                raise SolverError("http-01: cannot create %s: %s" % (path, e.strerror)) from None
        for c in challenges:
            path = os.path.join(self.folder, _check_token(c))
            try:
                atomic_write(path, c.key_authorization, mode=0o644)
            except OSError as e:
                raise SolverError("http-01 for %s: cannot write %s: %s" % (c.identifier, path, e.strerror)) from None
            log.debug("http-01 for %s: wrote %s", c.identifier, path)

    def cleanup(self, challenges):
        """Remove the token files, then .well-known/acme-challenge and .well-known if left empty.

        After a crash the run cannot know whether it created those folders; an
        empty one serves nothing, so it goes. Failures are logged, not raised.
        """
        with _webroot_lock(self.webroot):
            self._cleanup(challenges)

    def _cleanup(self, challenges):
        for c in challenges:
            if not _TOKEN.match(c.token):
                continue
            path = os.path.join(self.folder, c.token)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("http-01 for %s: cannot remove %s: %s", c.identifier, path, e.strerror)
        for folder in (self.folder, os.path.dirname(self.folder)):
            try:
                os.rmdir(folder)
            except OSError:     # not empty, not there, or not ours to remove
                return


def parse_listen(listen):
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


class _ChallengeServer(ThreadingHTTPServer):
    daemon_threads = True
    # A CA validates many names at once (Pebble: 3 requests per name); the default
    # backlog of 5 drops connections, which the CA retries only after a second.
    request_queue_size = 128

    def __init__(self, family, address, tokens):
        self.address_family = family
        self.tokens = tokens            # token -> key authorization, shared with the solver
        super().__init__(address, _ChallengeHandler)

    def server_bind(self):
        # HTTPServer.server_bind would look up our own FQDN: slow or hanging without DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _ChallengeHandler(BaseHTTPRequestHandler):
    server_version = "acme-aliyun"
    prefix = "/" + "/".join(CHALLENGE_DIR) + "/"

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

    def __init__(self, family, address, listen):
        self.tokens = {}                # token -> key authorization, of every order using it
        self.users = 0
        self.server = _ChallengeServer(family, address, self.tokens)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                       name="http-01 server", daemon=True)
        self.thread.start()
        log.info("http-01: answering on %s", listen)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


_servers = {}                           # (family, host, port) -> _SharedServer
_servers_lock = threading.Lock()


class StandaloneSolver(Solver):
    """A built-in HTTP server answering every token of the order, from present() to close().

    Orders running side by side on the same address share one listener and its token
    table (a second bind would fail); the listener stops when the last of them closes.
    """

    challenge_type = "http-01"

    def __init__(self, listen=":80"):
        self.listen = listen
        self.family, self.host, self.port = parse_listen(listen)
        self.tokens = {}                # this order's tokens
        self._shared = None

    def present(self, challenges):
        mine = {_check_token(c): c.key_authorization for c in challenges}
        with _servers_lock:
            if self._shared is None:
                key = (self.family, self.host, self.port)
                shared = _servers.get(key)
                if shared is None:
                    try:
                        shared = _servers[key] = _SharedServer(self.family, (self.host, self.port), self.listen)
                    except OSError as e:
                        raise SolverError("http-01: cannot listen on %s: %s"
                                          % (self.listen, e.strerror or e)) from None
                shared.users += 1
                self._shared = shared
            self.tokens.update(mine)
            self._shared.tokens.update(mine)

    def cleanup(self, challenges):
        with _servers_lock:
            for c in challenges:
                self.tokens.pop(c.token, None)
                if self._shared is not None:
                    self._shared.tokens.pop(c.token, None)

    def close(self):
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
