"""The two commands that use the edge probe, kept out of the CLI modules (issue 14, point 16).

`status --probe`: what every certificate's targets serve at the edge, against the local serial.
`deploy NAME --verify-edge [--wait S]`: after a deploy, wait until every edge serves the stored
certificate, or say which do not. Both exit 1 when an edge is unreachable or serves another serial.
"""

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from acme_aliyun.context import Context

from acme_aliyun import probe


def _settings(ctx) -> probe.ProbeSettings:
    return ctx.cfg.probe or probe.ProbeSettings()


def _local_serial(ctx, cert):
    stored = ctx.store.load(cert.name)
    return stored.bundle.serial if stored is not None else None


def _bad(results, serial) -> bool:
    return any((r.serial is None and not probe._unprobeable(r)) or (r.serial and r.serial != serial)
               for r in results)


def status(ctx: "Context", out: Callable[[str], None]) -> int:
    """Probe every certificate's targets; print one table per certificate; 0, or 1 when one is off."""
    code = 0
    for cert in ctx.certs():
        if not cert.targets:
            continue
        serial = _local_serial(ctx, cert)
        results = probe.probe_targets(cert.targets, _settings(ctx))
        out("")
        out("%s (local serial %s)" % (cert.name, serial or "none"))
        for line in probe.lines(results, serial):
            out("  " + line)
        code = 1 if _bad(results, serial) else code
    return code


def verify(ctx: "Context", name: str, wait: float, out: Callable[[str], None]) -> int:
    """After `deploy NAME`: wait up to wait seconds for every edge to serve the stored serial."""
    cert = ctx.certs([name])[0]
    serial = _local_serial(ctx, cert)
    if serial is None or not cert.targets:
        return 0
    results = probe.wait_for_serial(cert.targets, serial, _settings(ctx), wait, say=ctx.progress)
    getattr(ctx.progress, "end", lambda: None)()
    behind = [r for r in results if r.serial != serial and not probe._unprobeable(r)]
    if not behind:
        out("edge: every target serves serial %s" % serial)
        return 0
    out("edge: %d target(s) do not serve serial %s after %gs:" % (len(behind), serial, wait))
    for r in behind:
        out("  %s %s: %s" % (r.kind, r.target, "serves %s" % r.serial if r.serial else r.error))
    return 1
