"""The solver table: which challenge solver a certificate uses, built from its settings.

Orchestration, not a solver: it may build a cloud client (alidns), so the solvers
themselves stay free of settings and of the cloud layer's construction.
"""

from typing import Any, Callable, Optional

from acme_aliyun.challenges.base import Solver


def solver_id(cert: Any) -> str:
    if cert.challenge == "http-01":
        return "webroot" if cert.webroot else "standalone"
    return "alidns" if cert.dns_provider == "alidns" else "dns-hook"


def make_solver(cert: Any, cloud: Optional[Callable[..., Any]] = None, solver_kind: Optional[str] = None) -> Solver:
    """A solver for the certificate; cloud(profile) returns the CloudClient of an account profile
    (built only for alidns): the certificate's DNSAccount, else its Account, else [aliyun]."""
    kind = solver_kind or solver_id(cert)
    if kind == "webroot":
        from acme_aliyun.challenges.http01 import WebrootSolver
        return WebrootSolver(cert.webroot)
    if kind == "standalone":
        from acme_aliyun.challenges.http01 import StandaloneSolver
        return StandaloneSolver(cert.http_listen)
    if kind == "dns-hook":
        from acme_aliyun.challenges.dns_hook import DnsHookSolver
        return DnsHookSolver(cert.dns_hook, env_names=getattr(cert, "dns_hook_env", ()))
    if kind == "alidns":
        from acme_aliyun.cloud.alidns import AlidnsSolver
        if cloud is None:
            raise ValueError("alidns needs a cloud client")
        profile = getattr(cert, "dns_profile", None)
        return AlidnsSolver(cloud(profile) if profile else cloud())
    raise ValueError("unknown solver %r" % kind)
