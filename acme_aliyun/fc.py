"""Function Compute entry point: handler(event, context) -> the JSON document of docs/json.md.

The handler string is `index.handler` with deploy/fc/index.py, or
`acme_aliyun.fc.handler`. The event arrives as bytes; a timer trigger sends
{"triggerTime", "triggerName", "payload"} where payload is the trigger's message,
which may itself be JSON: {"action": "run"|"issue"|"deploy"|"status",
"certificates": ["NAME", ...], "force": false}. A direct invocation may send that
object itself.

Configuration: env ACME_ALIYUN_CONFIG (a path), else ACME_ALIYUN_CONFIG_TEXT (the
ini text), else acme.ini in the code folder. State: env ACME_ALIYUN_STATE_DIR,
a NAS mount path, overrides StateDir so the account key and certificates
survive between invocations. Credentials: context.credentials, or the
environment on runtimes without them (Python 3.12).

A fleet fits one invocation as far as the function's timeout allows: certificates are
started while the remaining time (less a reserve) allows; the rest are reported as
`pending` (also listed under "pending" in the answer and in <state>/pending.json) and
go first in the next invocation. The answer is the document `acme-aliyun <action> --json`
prints (jsondoc.py), or on failure its envelope with an error object; "command" is the
action (null when the event could not be read).

Only the standard library is imported here; the ACME and cloud modules load
when the handler runs, keeping cold starts short.
"""

import json
import logging
import os
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from acme_aliyun.cloud.credential_types import Credential
    from acme_aliyun.config import Config

ACTIONS = ("run", "issue", "deploy", "status")


class FcEventError(ValueError):
    """The event does not say something this handler can do."""


def parse_event(event: Any) -> Dict[str, Any]:
    """bytes/str/dict event -> {'action', 'certificates', 'force'}."""
    request = _request_of(_event_object(event))
    action = str(request.get("action") or "run")
    if action not in ACTIONS:
        raise FcEventError("unknown action %r (use one of %s)" % (action, ", ".join(ACTIONS)))
    certs = request.get("certificates") or request.get("certificate") or []
    if isinstance(certs, str):
        certs = [certs]
    if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
        raise FcEventError("'certificates' must be a list of names")
    return {"action": action, "certificates": certs, "force": parse_bool(request.get("force"), "force")}


def _event_object(event: Any) -> Dict[str, Any]:
    """The event as a JSON object (an empty event is {})."""
    try:
        if isinstance(event, (bytes, bytearray)):
            event = event.decode("utf-8") if event else ""
        if isinstance(event, str):
            event = json.loads(event) if event.strip() else {}
    except ValueError:                  # UnicodeDecodeError and JSONDecodeError alike
        raise FcEventError("the event is not UTF-8 JSON") from None
    if not isinstance(event, dict):
        raise FcEventError("the event is not a JSON object")
    return event


def _request_of(event: Dict[str, Any]) -> Dict[str, Any]:
    """The request: the event itself, or a timer trigger's payload (a JSON object or its text)."""
    if not ("triggerTime" in event or "triggerName" in event or ("payload" in event and "action" not in event)):
        return event
    payload = event.get("payload") or ""
    if isinstance(payload, dict):
        return payload
    try:
        request = json.loads(payload) if isinstance(payload, str) and payload.strip().startswith("{") else {}
    except ValueError:
        raise FcEventError("the timer payload is not valid JSON: %r" % payload[:80]) from None
    return request


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def parse_bool(value: Any, name: str) -> bool:
    """A JSON boolean, 0/1, or true/false/yes/no/1/0/on/off (any case); absent is False.

    Anything else is an error: "force": "false" must never mean True (a forced reissue
    twice a day runs into the CA's duplicate-certificate limit).
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise FcEventError("%r must be true or false, not %r" % (name, value))


def _config_path():
    path = os.environ.get("ACME_ALIYUN_CONFIG")
    if path:
        return path
    text = os.environ.get("ACME_ALIYUN_CONFIG_TEXT")
    if text:
        folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "acme-aliyun")
        from acme_aliyun.fsio import atomic_write, make_dirs
        make_dirs(folder, 0o700)
        path = os.path.join(folder, "acme.ini")
        atomic_write(path, text, mode=0o600)
        return path
    code = os.environ.get("FC_FUNC_CODE_PATH") or os.getcwd()
    return os.path.join(code, "acme.ini")


def load_config() -> "Config":
    from acme_aliyun import config
    cfg = config.load(_config_path())
    state = os.environ.get("ACME_ALIYUN_STATE_DIR")
    if state:
        cfg.acme.state_dir = state
        # the code folder is read-only: a relative account key lives with the state
        if not os.path.exists(cfg.acme.account_key_file):
            cfg.acme.account_key_file = os.path.join(state, os.path.basename(cfg.acme.account_key_file))
    return cfg


def handler(event: Any, context: Any) -> str:
    from acme_aliyun import log as logsetup
    from acme_aliyun.errors import ToolError
    logsetup.setup(verbose=os.environ.get("ACME_ALIYUN_VERBOSE") == "1")
    from acme_aliyun import jsondoc
    logger = logging.getLogger("acme_aliyun.fc")
    cfg, request = None, None
    try:
        request = parse_event(event)
        cfg = load_config()
        result = _handle(request, cfg, context)
    except Exception as e:  # FC shows a traceback otherwise; ours is one masked line, and a webhook
        message = logsetup.redact(str(e) if isinstance(e, (FcEventError, ToolError))
                                  else "internal error: %s: %s" % (type(e).__name__, e))
        logger.error("%s", message)
        result = jsondoc.failure(request["action"] if request else None, message)
        if cfg is not None:
            from acme_aliyun import notify
            notify.send(cfg.notify, result, failed=True)
    return json.dumps(result, sort_keys=True)


def _handle(request, cfg, context):
    from acme_aliyun.context import Context
    ctx = Context(cfg, credentials=_LazyCredentials(context))
    try:
        return _act(ctx, request, cfg, context)
    finally:
        ctx.release_state()


def _act(ctx, request, cfg, context):
    from acme_aliyun import runner
    names = request["certificates"] or None
    if request["action"] == "status":
        from acme_aliyun import jsondoc
        from acme_aliyun.report import status_rows
        ctx.read_only = True            # reads only (an oss:// state is pulled without the lock)
        return jsondoc.status(status_rows(ctx))
    budget = run_budget(context, cfg.acme.run_budget)
    if request["action"] == "issue":
        report = runner.run(ctx, names, force_issue=request["force"], deploy=False, budget=budget)
    elif request["action"] == "deploy":
        report = runner.run(ctx, names, force_deploy=request["force"], issue_when="missing", budget=budget)
    else:
        report = runner.run(ctx, names, force_issue=request["force"], budget=budget)
    summary = report.to_dict(request["action"], {c.name: c.domains for c in cfg.certs.values()})
    from acme_aliyun import notify
    notify.send(cfg.notify, summary, failed=not report.ok)
    return summary


RESERVE_S = 15.0          # kept back from the function's remaining time: summary, webhook, slack


def run_budget(context: object, configured: "float | None" = None) -> "float | None":
    """Seconds this invocation may spend starting certificates: the function's remaining time
    (context.get_remaining_time_in_milliseconds) less a reserve, capped by [acme] RunBudget."""
    remaining = getattr(context, "get_remaining_time_in_milliseconds", None)
    budget = configured
    if callable(remaining):
        try:
            left = max(1.0, float(remaining()) / 1000.0 - max(RESERVE_S, 0.1 * float(remaining()) / 1000.0))
        except (TypeError, ValueError):
            left = None
        if left is not None:
            budget = left if budget is None else min(budget, left)
    return budget


class _LazyCredentials:
    """Resolves the function's credentials only when a cloud call needs them."""

    def __init__(self, context: Any) -> None:
        self._context, self._provider = context, None

    def _get_provider(self):
        if self._provider is None:
            from acme_aliyun.cloud.credentials import from_fc_context
            self._provider = from_fc_context(self._context)
        return self._provider

    @property
    def source(self) -> str:
        return self._get_provider().source

    def get(self) -> "Credential":
        return self._get_provider().get()
