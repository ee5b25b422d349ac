"""The deploy targets: one module per product behind targets.base.TargetKind, and the registry.

KINDS maps each kind's name to its implementation, in the order reports list them.
Importing this package registers every kind's API facts with the cloud layer
(cloud.sdk.register), which is how the transport learns endpoints and QPS limits
without importing anything from here. The SSL Certificates Service (cas) is not a
target kind but the upload hub the deployer uses for kinds that take a reference.
"""

from typing import Dict, List, Optional, Union

from acme_aliyun.cloud import sdk
from acme_aliyun.targets import alb, apigateway, cas, cdn, clb, dcdn, fc, oss, waf
from acme_aliyun.targets.base import ParseDefaults, TargetKind, TargetSpec

KINDS: Dict[str, TargetKind] = {kind.name: kind for kind in (
    cdn.KIND, dcdn.KIND, apigateway.KIND,
    clb.KIND, alb.KIND,
    oss.KIND, fc.KIND, waf.KIND,
)}

for _kind in KINDS.values():
    sdk.register(_kind.facts)
sdk.register(cas.FACTS)


def specs(defaults: Optional[ParseDefaults] = None, **values: Union[str, List[str]]) -> Dict[str, List[TargetSpec]]:
    """kind name -> specs from config-style values (a string, or a list joined with commas)."""
    defaults = defaults or ParseDefaults()
    out: Dict[str, List[TargetSpec]] = {}
    for name, value in values.items():
        text = value if isinstance(value, str) else ",".join(value)
        out[name] = KINDS[name].parse(text, defaults)
    return out
