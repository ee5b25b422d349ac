"""The set-up the target tests share: a certificate bundle and one plan-and-apply against the emulator.

Each target module (alb, clb, fc, oss, waf) used to write these three pieces again; they live here so
that a change to how a test deploys is made once.
"""

from typing import Any, Callable, Dict, List, Mapping

from acme_aliyun import deployer, targets
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert

NAMES = ["example.test", "*.example.test"]


def bundle(days: int = 90, names: List[str] = NAMES) -> CertBundle:
    """A fresh certificate for names, valid for days."""
    return CertBundle.from_pems(*make_cert(names, days))


def run(client: Any, b: CertBundle, specs: Mapping[str, Any], force: bool = False,
        dry_run: bool = False) -> Dict[str, Any]:
    """{target: result} of deploying b to specs (targets.specs(...)) as certificate "site"."""
    plan = deployer.plan(b, "site", specs, client, force=force)
    return {r.target: r for r in deployer.apply(plan, client, dry_run)}


def runner(kind: str) -> Callable[..., Dict[str, Any]]:
    """run(client, b, *targets, dry_run=False) for the targets of one kind (kind = its acme.ini key)."""
    def run_kind(client: Any, b: CertBundle, *specs: str, dry_run: bool = False) -> Dict[str, Any]:
        return run(client, b, targets.specs(**{kind: list(specs)}), dry_run=dry_run)
    return run_kind


def assert_refuses_uncovering_and_shorter_lived(emu: Any, client: Any, kind: str, target: str, domain: str,
                                                write_action: str) -> None:
    """A certificate that does not cover the target's domain is refused; after an 80-day one is
    deployed, a 30-day one is refused as shorter-lived; one write call in all (write_action)."""
    run_kind = runner(kind)
    r = run_kind(client, bundle(names=["other.test"]), target)[target]
    assert r.status == "refused" and "does not cover %s" % domain in r.reason, r.reason
    assert run_kind(client, bundle(80), target)[target].status == "deployed"
    r = run_kind(client, bundle(30), target)[target]
    assert r.status == "refused" and "longer" in r.reason, r.reason
    assert len(emu.calls.of(write_action)) == 1
