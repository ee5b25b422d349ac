"""Short retry backoff for the tool run as a separate process by a test (tests/canary.run_tool with
fast_retry=True puts this folder on PYTHONPATH; Python imports sitecustomize at start-up).

The product backs off 0.5 s doubling to 10 s between cloud attempts, as Alibaba Cloud wants, and
0.5 s doubling (jittered) between attempts at an ACME request that met a connection error or a bare
5xx; a test that checks how many attempts a failing call makes, and what is reported, need not wait
for them. The number of attempts, the retry rules and the deadline are the product's own: only the
sleeps shrink.
"""

import functools
import time

from acme_aliyun.cloud import sdk
from acme_aliyun.protocol import client as acme_client

sdk.CloudClient.__init__ = functools.partialmethod(sdk.CloudClient.__init__, retry_base=0.01, retry_cap=0.05)


def _short_sleep(seconds):
    time.sleep(min(seconds, 0.01))


acme_client.AcmeClient.__init__ = functools.partialmethod(acme_client.AcmeClient.__init__, sleep=_short_sleep)
