"""Function Compute entry point: set the function's handler to `index.handler`.

build.sh puts this file at the top of the code package, beside the acme_aliyun
package and its dependencies. All the work is in acme_aliyun.fc.
"""

from acme_aliyun.fc import handler

__all__ = ["handler"]
