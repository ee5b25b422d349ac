"""Staging rehearsal: `issue --staging` and `run --staging` (issue 14, point 18).

Before pointing a new setup at production (and its rate limits), a user wants to try the whole path:
the challenge, the DNS records, the order. rehearsal(cfg) returns a copy of the configuration that
talks to Let's Encrypt's staging directory and keeps everything apart from the real state:

- the state folder is "<StateDir>-staging", and the account key lives inside it (a staging account
  is a separate account; a deactivation there must not move the production key aside);
- KeyFile, ChainFile and ReloadCommand are dropped: a staging certificate never lands in a web
  server's folder;
- the caller runs with deploy=False, and the provenance gate refuses a certificate issued by a
  staging directory anyway (provenance.staging() also knows the injected URL below).

ACME_ALIYUN_STAGING_DIRECTORY replaces the staging URL; the tests point it at Pebble, so no test
reaches the real staging CA.
"""

import copy
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acme_aliyun.config import Config

STAGING_URL = "https://acme-staging-v02.api.letsencrypt.org/directory"
ENV = "ACME_ALIYUN_STAGING_DIRECTORY"


def directory_url() -> str:
    """The staging directory: ACME_ALIYUN_STAGING_DIRECTORY, else Let's Encrypt's."""
    return os.environ.get(ENV) or STAGING_URL


def rehearsal(cfg: "Config") -> "Config":
    """A copy of cfg for a staging rehearsal; cfg itself is left as it was."""
    out = copy.deepcopy(cfg)
    out.acme.directory_url = directory_url()
    out.acme.state_dir = cfg.acme.state_dir.rstrip(os.sep) + "-staging"
    out.acme.account_key_file = os.path.join(out.acme.state_dir, "account-staging.key")
    out.acme.reload_command = None
    for cert in out.certs.values():
        cert.key_file = cert.chain_file = None
        cert.reload_command = None
    return out


def banner(cfg: "Config") -> str:
    """The line a rehearsal starts with (stderr)."""
    return ("staging rehearsal: %s, state in %s; nothing is deployed or copied"
            % (cfg.acme.directory_url, cfg.acme.state_dir))
