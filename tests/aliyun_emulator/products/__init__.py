"""The emulated products: RPC ones found by API Version (``route`` from (Action, Version) to an Action),
and REST ones (``REST``) that claim requests by method and path."""

from ..errors import ApiError, missing
from . import alb, alidns, cas, cdn, clb, cloudapi, dcdn, fc, oss, sts, waf

# products addressed by method and path with their own signatures (see rest.py), tried before RPC routing
REST = (oss.PRODUCT, fc.PRODUCT)

PRODUCTS = {p.version: p for p in (cdn.PRODUCT, dcdn.PRODUCT, cloudapi.PRODUCT, alidns.PRODUCT, cas.PRODUCT,
                                   clb.PRODUCT, alb.PRODUCT, waf.PRODUCT, sts.PRODUCT)}
# the limits RPC product modules declare with their actions (config.qps_limit falls back to these;
# REST products' limits are read by rest.RestPipeline)
PRODUCT_QPS = {action: limit for p in PRODUCTS.values() for action, limit in p.qps.items()}


def route(action, version):
    """(Product, Action) for a request, whatever Host it was sent to."""
    if not version:
        raise missing("Version", dotted=False)
    if not action:
        raise missing("Action", dotted=False)
    product = PRODUCTS.get(version)
    if product is None:
        raise ApiError("InvalidVersion", "Specified parameter Version is not valid: %s." % version)
    found = product.actions.get(action)
    if found is None:
        raise ApiError("InvalidAction.NotFound")
    return product, found
