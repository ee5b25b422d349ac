"""Short cloud retry backoff for the tool run as a separate process by a test (tests/canary.run_tool with
fast_retry=True puts this folder on PYTHONPATH; Python imports sitecustomize at start-up).

The product backs off 0.5 s doubling to 10 s between attempts, as Alibaba Cloud wants; a test that
checks how many attempts a failing call makes, and what is reported, need not wait for them. The
number of attempts, the retry rules and the deadline are the product's own: only the sleeps shrink.
"""

import functools

from acme_aliyun.cloud import sdk

sdk.CloudClient.__init__ = functools.partialmethod(sdk.CloudClient.__init__, retry_base=0.01, retry_cap=0.05)
