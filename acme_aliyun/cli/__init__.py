"""Command line: the parser, main and the one error-to-exit-code path; exit codes 0 ok, 1 failed,
2 usage/config, 3 lock held.

Each verb group lives in its own module exporting register(subparsers): account
(cli/account.py), issue/status/revoke (cli/certs.py), run/deploy/cloud check
(cli/run.py), directory and completion. The shared `out` and `context` helpers are
in cli/common.py (re-exported here) so no verb module imports this one. Nothing
outside this package imports it but __main__ (tests/shape/test_import_graph.py).
"""

import argparse
import logging
import os
import select
import sys

from typing import Any, Dict, List, NoReturn, Optional, Sequence

from acme_aliyun import __version__
from acme_aliyun import log as logsetup
from acme_aliyun.cli import account, certs, completion, directory, run
from acme_aliyun.cli.common import command_name, context, load_config, out, out_json, wants_json
from acme_aliyun.errors import ToolError, UsageError

__all__ = ["main", "build_parser", "locate_config", "out", "context", "load_config"]
log = logging.getLogger("acme_aliyun")
SYSTEM_CONFIG = "/etc/acme-aliyun/acme.ini"     # the fallback when ./acme.ini is absent (tests patch it)
VERB_GROUPS = (directory, account, certs, run, completion)      # the order `--help` lists them


# --- parser ------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "error: %s: %s (see '%s --help')\n" % (self.prog, message, self.prog))


def _common_options(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """-c, -v, -q: on the main parser, and again on every verb so they also work after it."""
    kw: Dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument("-c", "--config", help="path to acme.ini (default: $ACME_ALIYUN_CONFIG, else ./acme.ini, "
                                          "else %s)" % SYSTEM_CONFIG, **kw)
    p.add_argument("-v", "--verbose", action="store_true", help="more detail in the log", **kw)
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors (for cron)", **kw)


def _leaf_parsers(p: argparse.ArgumentParser) -> List[argparse.ArgumentParser]:
    """Every parser that ends a command line (the verbs and their actions)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [p]
    leaves: List[argparse.ArgumentParser] = []
    for parser in dict.fromkeys(subs[0].choices.values()):     # aliases share one parser
        leaves += _leaf_parsers(parser)
    return leaves


def locate_config(explicit: Optional[str], env: Optional[Any] = None) -> str:
    """-c, else $ACME_ALIYUN_CONFIG, else ./acme.ini, else SYSTEM_CONFIG; UsageError naming both."""
    env = os.environ if env is None else env
    if explicit or env.get("ACME_ALIYUN_CONFIG"):
        return explicit or env["ACME_ALIYUN_CONFIG"]
    for candidate in ("acme.ini", SYSTEM_CONFIG):
        if os.path.exists(candidate):
            return candidate
    raise UsageError("no configuration: neither %s nor %s exists (give one with -c)" % (
        os.path.abspath("acme.ini"), SYSTEM_CONFIG))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="acme-aliyun",
                description="Let's Encrypt certificates for Alibaba Cloud CDN, DCDN and API Gateway.")
    _common_options(p)
    p.add_argument("--version", action="version", version="acme-aliyun " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")      # subparsers inherit _Parser
    sub.required = True

    for group in VERB_GROUPS:
        group.register(sub)
    p.set_defaults(root_parser=p)           # `completion` walks the whole tree
    for leaf in _leaf_parsers(p):
        _common_options(leaf, suppress=True)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logsetup.setup(verbose=args.verbose, quiet=args.quiet)
    code = _run(args)
    try:
        sys.stdout.flush()              # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError:
        return _stdout_gone(code)
    return code


def _run(args: argparse.Namespace) -> int:
    """The verb, with every failure turned into one line and an exit code."""
    try:
        if getattr(args, "needs_config", True):
            args.config = locate_config(args.config)
        return args.func(args) or 0
    except ToolError as e:
        print("error: %s" % logsetup.redact(str(e)), file=sys.stderr)
        _json_failure(args, str(e))
        return e.exit_code
    except PermissionError as e:      # a file the other layers did not expect to be refused
        from acme_aliyun.perms import permission_error
        print("error: %s" % logsetup.redact(permission_error(e.filename or ".", "use")), file=sys.stderr)
        _json_failure(args, permission_error(e.filename or ".", "use"))
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, unless asked for detail
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            return _stdout_gone(0)      # the reader closed our stdout: a quiet end, not a bug
        if args.verbose:
            log.exception("internal error")
        print("internal error: %s: %s (run with -v for details)" % (type(e).__name__, logsetup.redact(str(e))),
              file=sys.stderr)
        _json_failure(args, "internal error: %s: %s" % (type(e).__name__, e))
        return 1


def _json_failure(args: argparse.Namespace, message: str) -> None:
    """With --json, a failed command's stdout is still one document: the envelope and its error."""
    if wants_json(args):
        from acme_aliyun import jsondoc
        out_json(jsondoc.failure(command_name(args), message))


def _stdout_closed() -> bool:
    """True when whoever read our stdout has closed it (`acme-aliyun directory | head -1`)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True         # no real descriptor to ask: the error came from writing it


def _stdout_gone(code: int) -> int:
    """The reader closed the pipe: nothing more to say to it. Point stdout at /dev/null so the
    interpreter's final flush does not complain either, and end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
    return code
