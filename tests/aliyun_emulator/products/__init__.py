"""The emulated products, found by API Version, and ``route`` from (Action, Version) to an Action."""

from ..errors import ApiError, missing
from . import alb, alidns, cas, cdn, clb, cloudapi, dcdn

PRODUCTS = {p.version: p for p in (cdn.PRODUCT, dcdn.PRODUCT, cloudapi.PRODUCT, alidns.PRODUCT, cas.PRODUCT,
                                   clb.PRODUCT, alb.PRODUCT)}
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
