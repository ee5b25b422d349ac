"""Benchmarks (`make bench`). Every one reaches loopback only: loopback_env() is the environment
they run in and hand to the processes they start."""

import os
from typing import Dict, Iterable, Mapping, Optional

_CLOUD_PREFIXES = ("ALIBABA_CLOUD_", "ALIYUN_", "ACME_ALIYUN_")


def loopback_env(environ: Optional[Mapping[str, str]] = None, also: Iterable[str] = ()) -> Dict[str, str]:
    """The environment without proxies, cloud credentials or tool settings (plus any prefix in
    `also`), with the ECS metadata probe off, so nothing leaves loopback."""
    strip = _CLOUD_PREFIXES + tuple(also)
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if not k.lower().endswith("_proxy") and not k.startswith(strip)}
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    return env


def isolate() -> None:
    """Give this process loopback_env()."""
    clean = loopback_env()
    os.environ.clear()
    os.environ.update(clean)
