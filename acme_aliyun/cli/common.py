"""What every verb module shares: one `out` for printing and one way to build a Context.

Kept apart from cli/__init__.py so the verb modules can use them without importing
the package that imports them (no import circle, tests/shape/test_import_graph.py).
"""

import argparse
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict

from acme_aliyun import log as logsetup

if TYPE_CHECKING:       # the verbs load config and context only when run (completion, --help stay light)
    from acme_aliyun.config import Config
    from acme_aliyun.context import Context


def out(text: str = "") -> None:
    """One line of command output, with every registered secret redacted."""
    print(logsetup.redact(text))


def wants_json(args: argparse.Namespace) -> bool:
    """True when the verb was given --json: stdout then holds one JSON document and nothing else."""
    return bool(getattr(args, "json", False))


def out_json(doc: Dict[str, Any]) -> None:
    """The command's one JSON document (jsondoc.py, docs/json.md), redacted like every output."""
    from acme_aliyun import jsondoc
    out(jsondoc.dumps(doc))


def say(args: argparse.Namespace) -> Callable[..., None]:
    """Where a verb's extra text lines go: `out`, or stderr when stdout holds the JSON document."""
    if not wants_json(args):
        return out
    return lambda text="": print(logsetup.redact(text), file=sys.stderr)


def command_name(args: argparse.Namespace) -> str:
    """The command as the JSON documents name it: aliases folded, two-word verbs joined."""
    verb = {"renew": "issue", "certificates": "status"}.get(args.command, args.command)
    action = getattr(args, "cloud_command", None) or getattr(args, "account_command", None)
    return "%s %s" % (verb, action) if action else verb


def load_config(args: argparse.Namespace) -> "Config":
    """The configuration named by -c (already located by main); with --staging, its rehearsal
    against the CA's staging directory (staging.py), announced on stderr."""
    from acme_aliyun import config
    cfg = config.load(args.config)
    if getattr(args, "staging", False):
        from acme_aliyun import staging
        cfg = staging.rehearsal(cfg)
        print(staging.banner(cfg), file=sys.stderr)
    return cfg


def context(args: argparse.Namespace, read_only: bool = False, progress: bool = False) -> "Context":
    """The run's Context from the configuration; progress=True shows progress lines on stderr
    (unless -q)."""
    prog = None
    if progress:
        from acme_aliyun.progress import Progress
        prog = Progress(sys.stderr, quiet=args.quiet)
    from acme_aliyun.context import Context
    return Context(load_config(args), progress=prog, read_only=read_only)
