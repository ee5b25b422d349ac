"""Listing lag: bulk listings that trail the writes (EmulatorConfig.listing_lag).

Why: production reads many targets through the bulk listings (DescribeCdnHttpsDomainList,
DescribeDcdnHttpsDomainList, DescribeApiGroup) and must not trust them right after a write. With a lag
of N, a successful write to a product freezes a copy of that product's resources as they were before
the write; the next N listing calls of the product answer from that copy, then the listings are live
again. Another write meanwhile restarts the count but keeps the older copy. Per-domain reads
(DescribeDomainCertificateInfo, DescribeDcdnDomainCertificateInfo, DescribeDomain) are always live.

Resources are copied one level deep: a CDN domain's certificate is replaced (never changed in place)
on a write, and an API Gateway group's bound domains are copied with it.
"""

import copy
from typing import Dict, Optional


def _freeze(resources: Dict[str, object]) -> Dict[str, object]:
    frozen = {}
    for key, item in resources.items():
        clone = copy.copy(item)
        if hasattr(clone, "domains"):          # ApiGroup: its bound domains change in place
            clone.domains = {k: copy.copy(v) for k, v in item.domains.items()}
        frozen[key] = clone
    return frozen


class ListingLag:
    """Per product code ("Cdn", "dcdn", "CloudAPI"): the frozen copy and the listing calls it has left."""

    PRODUCTS = ("Cdn", "dcdn", "CloudAPI")

    def __init__(self, calls: int):
        self._calls = calls
        self._frozen: Dict[str, Dict[str, object]] = {}
        self._left: Dict[str, int] = {}

    def before_write(self, product: str, resources: Dict[str, object]) -> Optional[Dict[str, object]]:
        """A copy of ``resources`` to keep if the write succeeds (None when no lag applies)."""
        if self._calls <= 0 or product not in self.PRODUCTS:
            return None
        if self._left.get(product, 0) > 0:
            return self._frozen[product]
        return _freeze(resources)

    def written(self, product: str, frozen: Optional[Dict[str, object]]) -> None:
        """The write succeeded: listings trail it for the next N calls."""
        if frozen is not None:
            self._frozen[product] = frozen
            self._left[product] = self._calls

    def view(self, product: str, live: Dict[str, object]) -> Dict[str, object]:
        """What a listing call of ``product`` sees now (counts the call)."""
        if self._left.get(product, 0) <= 0:
            self._frozen.pop(product, None)
            return live
        self._left[product] -= 1
        return self._frozen[product]
