"""The small closed vocabularies the runner, deployer, notify and CLI share, typed once.

Key types are a Literal (they are config values, checked at load); target statuses
and certificate actions are str-valued Enums, so a report still prints and
serialises as the plain words ("deployed", "renewed") while the code names them.
No cryptography import here: config and the CLI parser use KEY_TYPES cheaply.
"""

from enum import Enum
from typing import FrozenSet, Literal, Tuple

KeyType = Literal["ec-256", "ec-384", "rsa-2048", "rsa-3072", "rsa-4096"]
KEY_TYPES: Tuple[str, ...] = ("ec-256", "ec-384", "rsa-2048", "rsa-3072", "rsa-4096")


class _Word(str, Enum):
    """A str Enum that prints as its value on every Python version."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class TargetStatus(_Word):
    """What happened to one cloud target."""
    DEPLOYED = "deployed"
    UNCHANGED = "unchanged"
    PLANNED = "planned"         # a dry run: what would be written
    REFUSED = "refused"         # the safety rules said no
    FAILED = "failed"


class CertAction(_Word):
    """What happened to one certificate's issuance."""
    ISSUED = "issued"
    RENEWED = "renewed"
    UNCHANGED = "unchanged"
    DEFERRED = "deferred"       # failed before, or a CA rate limit: waiting for the backoff / the slot
    FAILED = "failed"
    PENDING = "pending"         # not started: the run's time budget was spent (next run starts it first)
    PLANNED = "planned"         # a dry run: there is no usable certificate, a real run would issue one


class CopyStatus(_Word):
    """What happened to a certificate's KeyFile/ChainFile copies."""
    NONE = ""                   # no copies configured
    OK = "ok"                   # already the same
    WRITTEN = "written"
    FAILED = "failed"


#: Target statuses that leave the target serving the right certificate (or would, in a dry run).
GOOD_STATUSES: FrozenSet[TargetStatus] = frozenset({TargetStatus.DEPLOYED, TargetStatus.UNCHANGED,
                                                    TargetStatus.PLANNED})
#: Target statuses a report lists line by line.
BAD_STATUSES: FrozenSet[TargetStatus] = frozenset({TargetStatus.REFUSED, TargetStatus.FAILED})
