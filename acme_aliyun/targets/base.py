"""The one interface every deploy target implements, and the shapes it trades in.

A product is a TargetKind: its name and ini key, its API facts (handed to the cloud
layer, which knows no product), parse() from the config value into TargetSpecs (by default
each item through parse_item), and
four cloud operations: read_many (bulk listings), read_one (one target, with the
served PEM where the API gives it), write (set a certificate on many targets) and
probe (`cloud check`). The deployer drives every kind through this interface alone,
so adding a product is one module in this package plus its entry in the registry.

Direction: targets import cloud (the transport); cloud never imports targets.
"""

import abc
import datetime
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

from acme_aliyun.cloud.sdk import CloudClient, CloudError, Product
from acme_aliyun.kinds import TargetStatus
from acme_aliyun.names import NameError_, normalize_domain
from acme_aliyun.pki import CertBundle
from acme_aliyun.targets.served import Served, direct_name


@dataclass(frozen=True)
class ParseDefaults:
    """What a bare config value falls back to (from [aliyun])."""

    region: str = "cn-hangzhou"


@dataclass(frozen=True)
class TargetSpec:
    """One configured target. `target` is its display and identity string within the kind.

    domain: the domain it serves (None for a scope such as a bare API group);
    scope: the container it lives in (an API group id), region: where its API is called.
    """

    kind: str
    target: str
    domain: Optional[str] = None
    scope: Optional[str] = None
    region: Optional[str] = None
    expanded: bool = False      # found by listing a scope: kept only if the certificate covers it


@dataclass(frozen=True)
class CasRef:
    """A certificate in the SSL Certificates Service that targets can reference."""

    cert_id: int
    name: str
    region: str


@dataclass
class Upload:
    """What write() puts on a target: the bundle, and either a CAS reference or the inline PEM."""

    bundle: CertBundle
    cert_name: str                      # the name targets report (the CAS name in cas mode)
    ref: Optional[CasRef] = None        # the hub reference (set once the certificate is in CAS)
    direct: bool = False                # direct mode: every inline upload under a name of its own

    def name_for(self, kind: str) -> str:
        """The name a target of this kind is expected to report (direct: evidence only)."""
        return self.ref.name if self.ref is not None else self.cert_name

    def call_name(self, kind: str) -> str:
        """The name one inline upload goes under: fresh for every call in direct mode."""
        return direct_name(kind, self.bundle) if self.direct else self.cert_name


class Marker:
    """A listing's verdict that is neither a certificate nor an error."""

    def __init__(self, status: TargetStatus, reason: str, code: Optional[str] = None) -> None:
        self.status, self.reason, self.code = status, reason, code

    def __repr__(self) -> str:
        return "Marker(%s)" % self.reason


# What the bulk read says about one spec: what it serves, a failure, a verdict, or nothing
# (None: read it on its own).
Reading = Union[Served, CloudError, Marker, None]
WriteErrors = Dict[TargetSpec, Optional[CloudError]]


@dataclass(frozen=True)
class Probe:
    kind: str
    target: str
    ok: bool
    detail: str


class TargetKind(abc.ABC):
    """A deploy target product. Subclasses set the class attributes and implement the methods."""

    name: str = ""                  # 'cdn': the kind's name in reports
    ini_key: str = ""               # 'CDN': the [cert:NAME] key listing its targets
    endpoint_key: str = ""          # 'CDNEndpoint': the [aliyun] key overriding its endpoint
    facts: Product                  # SDK product code, version, package, endpoints, QPS per action
    by_reference: bool = False      # takes a CAS reference (CertType=cas) instead of the PEM
    reads_each: bool = False        # read_many reads every target on its own, as read_one does (no bulk
                                    # listing that could trail a write): the plan trusts that reading

    def parse(self, value: str, defaults: ParseDefaults) -> List[TargetSpec]:
        """The config value as specs; ValueError with a plain message for bad input. By default
        each comma-separated item through parse_item, each spec once."""
        return each_item(value, lambda item: self.parse_item(item, defaults))

    def parse_item(self, item: str, defaults: ParseDefaults) -> TargetSpec:
        """One item of the config value as a spec (a kind implements this, or parse itself)."""
        raise NotImplementedError("%s: implement parse or parse_item" % type(self).__name__)

    @abc.abstractmethod
    def read_many(self, client: CloudClient, specs: List[TargetSpec]) -> Dict[TargetSpec, Reading]:
        """Bulk reads. A spec may be replaced by the specs a scope expands to; a spec missing
        from the answer, or answered None, is read on its own. Raises nothing for a failed
        listing: the affected specs are answered None (read them one by one) or the error."""

    @abc.abstractmethod
    def read_one(self, client: CloudClient, spec: TargetSpec) -> Served:
        """What one target serves now (raises CloudError)."""

    @abc.abstractmethod
    def write(self, client: CloudClient, specs: List[TargetSpec], upload: Upload) -> WriteErrors:
        """Put the upload on each spec; per spec None or the error."""

    def names_to_cover(self, spec: TargetSpec, served: Optional[Served]) -> List[str]:
        """The names the certificate must cover on this target. Default: its configured domain
        (the target string where no domain is set). A kind whose targets may have no domain of
        their own (a load balancer listener) returns the names of what it serves now (`served`,
        None before it is read) or nothing; the deployer lets --force override a refusal then."""
        return [spec.domain or spec.target]

    def probe(self, client: CloudClient, specs: List[TargetSpec]) -> List[Probe]:
        """One read per target for `cloud check` (kinds with scopes override this)."""
        out = []
        for spec in specs:
            try:
                now = self.read_one(client, spec)
                detail = "serves %s" % (now.cert_name or "a certificate") if not now.empty else "no certificate"
                out.append(Probe(self.name, spec.target, True, detail))
            except CloudError as e:
                out.append(Probe(self.name, spec.target, False, str(e)))
        return out

    def ram_actions(self) -> List[str]:
        """The RAM actions this kind calls, as 'ram-prefix:Action'."""
        return ["%s:%s" % (self.facts.ram, a) for a in sorted(self.facts.qps)]


def merge_qps(documented: Mapping[str, float], assumed: Mapping[str, float]) -> Dict[str, float]:
    """One QPS table from the documented limits and the ASSUMED ones (documented wins)."""
    return dict(assumed, **documented)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+$")


def split_region(item: str) -> Tuple[str, str]:
    """'cn-shanghai/rest' -> ('cn-shanghai', 'rest'); 'rest' -> ('', 'rest'); ValueError for a bad region."""
    region, slash, rest = item.rpartition("/")
    region = region.strip().lower()
    if slash and not REGION.match(region):
        raise ValueError("%r: %r is not a region id such as cn-shanghai" % (item, region))
    return region, rest


def target_domain(raw: str, allow_wildcard: bool = True) -> str:
    """A target's domain, normalised; ValueError with the plain reason for a bad one."""
    try:
        return normalize_domain(raw, allow_wildcard=allow_wildcard)
    except NameError_ as e:
        raise ValueError(str(e)) from None


def each_item(value: str, one: Callable[[str], TargetSpec]) -> List[TargetSpec]:
    """The comma-separated items of a config value as specs, each once, in the order given."""
    out: List[TargetSpec] = []
    for item in [i.strip() for i in value.split(",") if i.strip()]:
        spec = one(item)
        if spec not in out:
            out.append(spec)
    return out
