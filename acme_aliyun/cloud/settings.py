"""What the cloud layer needs from the configuration, as plain data.

config.py fills one CloudSettings per account profile: the [aliyun] section (profile
"", the default) and each [aliyun:NAME] section (profile NAME). The cloud layer never
reads acme.ini itself.
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import urlsplit


@dataclass
class CloudSettings:
    region: str = "cn-hangzhou"
    international: bool = False            # international site: CDN via cdn.ap-southeast-1, CertRegion ap-southeast-1
    cert_region: Optional[str] = None      # CertRegion for CAS references (default from `international`)
    upload: str = "cas"                    # cas: upload once to CAS, reference it; direct: PEM inline
    # endpoint overrides: host[:port] or a URL; http only allowed for loopback
    endpoint: Optional[str] = None         # all products
    endpoints: Dict[str, str] = field(default_factory=dict)   # per product key ("cdn", "cas", "dns")
    # credentials given in acme.ini (discouraged) and the RAM role name for ECS
    access_key_id: Optional[str] = None
    access_key_secret: Optional[str] = None
    security_token: Optional[str] = None
    ram_role: Optional[str] = None
    # STS AssumeRole on top of the credentials above (or the chain's), refreshed before expiry
    role_arn: Optional[str] = None
    external_id: Optional[str] = None
    role_session_name: Optional[str] = None
    role_duration: int = 3600
    profile: str = ""                      # "" for [aliyun], else NAME of [aliyun:NAME]
    config_file: Optional[str] = None      # acme.ini path, for the "readable by others" warning
    # transport
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 6                  # per call, our own retry (the SDK retries nothing)
    # Alibaba Cloud DNS for dns-01
    dns_ttl: int = 600
    dns_wait: bool = False                 # wait until the zone's nameservers answer the TXT value
    dns_wait_timeout: float = 300.0

    @property
    def section(self) -> str:
        """The acme.ini section these settings come from: [aliyun] or [aliyun:NAME]."""
        return "[aliyun:%s]" % self.profile if self.profile else "[aliyun]"


def is_loopback(host: str) -> bool:
    """host[:port] names this machine (localhost or a loopback address): plain http is allowed there."""
    name = urlsplit("//" + host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
