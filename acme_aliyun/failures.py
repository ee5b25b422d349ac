"""The failure lines under a run's table, with one cause said once (issue 14, point 9).

A wrong AccessKeySecret or a missing RAM permission fails every target the key touches, and the
same sentence printed for twelve targets hides the one other failure that differs. So failures are
grouped by what went wrong (status, reason, cloud error code): a cause shared by several targets,
or by several certificates, is one line that names them all. A cause seen once keeps its request
id; a shared one shows the code only (the request ids are in the log at -v).
"""

import re
from typing import TYPE_CHECKING, Dict, List, Tuple

from acme_aliyun.kinds import BAD_STATUSES, CertAction, TargetStatus

if TYPE_CHECKING:
    from acme_aliyun.report import RunReport

# what CloudError puts after its sentence: "(Code)" or "(HTTP 403, RequestId X)" after ": Code: ..."
_CODE_TAIL = re.compile(r" \((?P<code>[A-Za-z][\w.]*)\)$")
_HTTP_TAIL = re.compile(r" \((?:HTTP \d+)?(?:, )?(?:RequestId \S+)?\)$")


def _core(text: str) -> Tuple[str, str]:
    """(the sentence without code and request id, the code or '') of a certificate's error line."""
    text = text[len("deploy: "):] if text.startswith("deploy: ") else text
    m = _CODE_TAIL.search(text)
    if m:
        return text[:m.start()], m.group("code")
    return _HTTP_TAIL.sub("", text), ""


def _items(report) -> List[Tuple[Tuple[str, str], str, str]]:
    """((cause, code), who, the line it gets when it is the only one with that cause)."""
    out = []
    for o in report.outcomes:
        if o.error:
            out.append((_core(o.error), o.name, "%s: %s" % (o.name, o.error)))
        elif o.action in (CertAction.DEFERRED, CertAction.PENDING) and o.reason:   # a CA limit or the time budget
            out.append(((o.reason, ""), o.name, "%s: %s" % (o.name, o.reason)))
        if o.copy_error:
            out.append((("copy failed: %s" % o.copy_error, ""), o.name, "%s: copy failed: %s" % (o.name, o.copy_error)))
        if getattr(o, "reload_error", None):
            out.append(((o.reload_error, ""), o.name, "%s: %s" % (o.name, o.reload_error)))
        for t in o.targets:
            if t.status in BAD_STATUSES or (report.dry_run and t.status == TargetStatus.PLANNED):
                text = t.reason if t.status == TargetStatus.FAILED else "%s: %s" % (t.status, t.reason)
                cause = (text, t.error_code or "")
                out.append((cause, "%s %s" % (t.kind, t.target),
                            "  %s %s %s: %s%s" % (t.kind, t.target, t.status, t.reason, t.error_ref())))
    return out


def lines(report: "RunReport") -> List[str]:
    """One line per distinct cause, in the order first met; a shared cause names everyone it hit."""
    groups: Dict[Tuple[str, str], List[Tuple[str, str]]] = {}
    for cause, who, line in _items(report):
        groups.setdefault(cause, []).append((who, line))
    out = []
    for (text, code), hits in groups.items():
        if len(hits) == 1:
            out.append(hits[0][1])
            continue
        out.append("%s%s (%d: %s)" % (text, " [%s]" % code if code else "", len(hits),
                                      ", ".join(who for who, _ in hits)))
    return out
