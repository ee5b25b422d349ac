"""EmulatorConfig and the default tables behind it (QPS limits, page sizes, certificate error codes).

Every fact the project reference marks [unverified] is a field or a table entry here, so a test can
switch the emulator to the other plausible behaviour.
"""

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

FAULT_KINDS = ("throttling", "unavailable", "internal", "reset", "timeout")

# Calls per second per action for the whole account. [doc] = from the API reference;
# [assumed] = no documented figure, the emulator's choice (override with EmulatorConfig.qps_limits).
DEFAULT_QPS = {
    "SetCdnDomainSSLCertificate": 30,            # [doc]
    "BatchSetCdnDomainServerCertificate": 10,    # [doc]
    "DescribeDomainCertificateInfo": 100,        # [doc]
    "DescribeCdnHttpsDomainList": 100,           # [doc]
    "DescribeUserDomains": 50,                   # [assumed]
    "DescribeCdnDomainDetail": 50,               # [assumed]
    "SetDcdnDomainSSLCertificate": 20,           # [assumed]
    "BatchSetDcdnDomainCertificate": 10,         # [doc]
    "DescribeDcdnDomainCertificateInfo": 100,    # [doc]
    "DescribeDcdnHttpsDomainList": 100,          # [doc]
    "SetDomainCertificate": 20,                  # [assumed]
    "DescribeApiGroup": 50,                      # [assumed]
    "DescribeDomain": 50,                        # [assumed]
    "AddDomainRecord": 20,                       # [assumed]
    "DeleteDomainRecord": 20,                    # [assumed]
    "DescribeDomainRecords": 50,                 # [assumed]
    "DescribeSubDomainRecords": 50,              # [assumed]
    "DescribeDomains": 50,                       # [assumed]
    "UploadUserCertificate": 100,                # [doc]
    "ListUserCertificateOrder": 10,              # [doc]
    "GetUserCertificateDetail": 100,             # [doc]
    "DeleteUserCertificate": 100,                # [doc]
    "AssumeRole": 100,                           # [assumed]
    "AssumeRoleWithOIDC": 100,                   # [assumed]
}

# Largest PageSize each paged action accepts (larger -> InvalidParameter). Default PageSize is 20 everywhere.
DEFAULT_PAGE_SIZE_MAX = {
    "DescribeCdnHttpsDomainList": 500,           # [doc]
    "DescribeDcdnHttpsDomainList": 500,          # [doc]
    "DescribeUserDomains": 500,                  # [unverified]
    "DescribeDomainRecords": 500,                # [3rd-party]
    "DescribeSubDomainRecords": 500,             # [unverified]
    "DescribeDomains": 100,                      # [unverified]
    "ListUserCertificateOrder": 100,             # ShowSize [unverified]; ListCertificates documents <= 100
}

# Code answered by each certificate check, per product. Keys: format (certificate PEM does not parse),
# key (private key does not parse), mismatch (key does not belong to the certificate), expired,
# domain (certificate does not cover the domain; None = accept it and report CertStatus "mismatch"),
# name (the certificate name is taken in the account), content (the same certificate is stored under
# another name; only while EmulatorConfig.refuse_duplicate_content).
# CDN values are documented codes; the domain code, every CloudAPI code and every CAS code except
# "content" are [unverified] (CAS: the message of the name refusal is the observed one).
DEFAULT_CERT_CODES = {
    "cdn": {"format": "InvalidSSLPub", "key": "InvalidSSLPri", "mismatch": "Certificate.MissMatch",
            "expired": "Certificate.Expired", "domain": "SetDomainCertificate.ParameterError",
            "name": "Certificate.Duplicated", "content": "CertificateContent.Duplicated"},
    "dcdn": {"format": "InvalidSSLPub", "key": "InvalidSSLPri", "mismatch": "Certificate.MissMatch",
             "expired": "Certificate.Expired", "domain": "SetDomainCertificate.ParameterError",
             "name": "Certificate.Duplicated", "content": "CertificateContent.Duplicated"},
    "cas": {"format": "Certificate.FormatError", "key": "Key.Malformed", "mismatch": "Certificate.MissMatch",
            "expired": "Certificate.Expired", "name": "NameRepeat", "content": "CertificateContent.Duplicated"},
    "cloudapi": {"format": "InvalidParameter.Certificate", "key": "InvalidParameter.CertificatePrivateKey",
                 "mismatch": "InvalidParameter.CertificateNotMatch", "expired": "InvalidParameter.CertificateExpired",
                 "domain": "InvalidParameter.CertificateDomainNotMatch"},
}


@dataclass
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour. All fields have working defaults.

    The emulator models ONE Alibaba Cloud account that owns every seeded resource; each AccessKey
    (long-term or STS) is a credential of it, so QPS windows and certificate-name uniqueness are
    account-wide.
    """

    accounts: Dict[str, str] = field(default_factory=lambda: {"testak": "testsecret"})  # AccessKeyId -> secret
    latency_ms: int = 0                       # added to every call
    qps_limits: Optional[Dict[str, int]] = None   # action -> calls/s, overrides DEFAULT_QPS
    enforce_qps: bool = True
    fault_rate: float = 0.0                   # probability that a call fails with one of fault_kinds
    fault_kinds: Tuple[str, ...] = FAULT_KINDS
    fault_seed: Optional[int] = None
    fault_actions: Optional[Tuple[str, ...]] = None   # None: faults may hit every action
    timeout_sleep_s: float = 30.0             # a "timeout" fault holds the answer this long
    challtestsrv_url: Optional[str] = None    # loopback pebble-challtestsrv to mirror Alidns TXT records into
    default_dns_ttl_min: int = 600            # Alidns: a smaller TTL -> QuotaExceeded.TTL
    dns_conflict_rate: float = 0.0            # Alidns: chance that a write overlapping another write on
                                              # the same zone fails with LastOperationNotFinished
    timestamp_tolerance_s: int = 900          # Timestamp may differ from the server clock by this much
    nonce_ttl_s: int = 900                    # a SignatureNonce may not be reused within this time
    batch_max_domains: int = 10               # BatchSetCdnDomainServerCertificate DomainName list limit
    page_size_limits: Optional[Dict[str, int]] = None  # action -> max PageSize, overrides DEFAULT_PAGE_SIZE_MAX
    page_size_cap: Optional[int] = None       # every paged listing answers at most this many items per page
                                              # (PageSize/ShowSize in the answer say so), whatever was asked
    listing_lag: int = 0                      # after a write, the next N bulk listings of that product
                                              # (Describe*HttpsDomainList, DescribeApiGroup) show the state
                                              # before it; per-domain reads show the new one (see lag.py)
    cert_name_required: bool = False          # CDN/DCDN: True -> omitted CertName is CertName.MissingParameter;
                                              # False -> the server generates a name [unverified]
    refuse_duplicate_content: bool = True     # CDN/DCDN upload and CAS upload: the same certificate under a
                                              # NEW name is refused (cert_codes[..]["content"]); False stores a
                                              # second copy [unverified; the suite runs with it on]
    cas_names_per_site: bool = False          # certificate names (and the content check) unique per account
                                              # across both CAS sites; True: per site region [unverified]
    batch_refuses_cas: bool = True            # CDN/DCDN batch calls have no CertId: CertType=cas -> InvalidParameter;
                                              # False picks the CAS certificate by CertName [unverified]
    cas_refuse_delete_in_use: bool = True     # CAS DeleteUserCertificate of a certificate a CDN/DCDN domain
                                              # serves -> CertificateInUse; False deletes it [unverified]
    server_certificate: str = "leaf"          # what ServerCertificate/SSLPub describe: "leaf" PEM block or the
                                              # stored "chain" as uploaded [unverified]
    cert_codes: Optional[Dict[str, Dict[str, Optional[str]]]] = None  # product -> {check: code}, merged over
                                              # DEFAULT_CERT_CODES
    apigw_domain_not_bound_code: str = "NotFoundDomain"   # CloudAPI DomainName not bound to the group
    apigw_refuse_get_with_key: bool = True    # CloudAPI SetDomainCertificate as GET with CertificatePrivateKey ->
                                              # UnsupportedHTTPMethod (the key must travel in a POST body);
                                              # False accepts it as the SDK class sends it [unverified]
    error_overrides: Optional[Dict[str, Tuple[int, str]]] = None  # code -> (HTTP status, Message)
    sts_min_duration_s: int = 900             # STS DurationSeconds minimum [doc]; tests may lower it
    product_options: Optional[Dict[str, Dict[str, object]]] = None  # product key -> {switch: value}, for
                                              # the switches a product module documents (products/*.OPTIONS)

    def __post_init__(self):
        if self.server_certificate not in ("leaf", "chain"):
            raise ValueError("server_certificate must be 'leaf' or 'chain'")
        if self.page_size_cap is not None and self.page_size_cap < 1:
            raise ValueError("page_size_cap must be a positive number of items")
        if self.listing_lag < 0:
            raise ValueError("listing_lag must be >= 0")

    def qps_limit(self, action):
        if action in (self.qps_limits or {}):
            return self.qps_limits[action]
        if action in DEFAULT_QPS:
            return DEFAULT_QPS[action]
        from .products import PRODUCT_QPS      # the limits a product module declares with its actions
        return PRODUCT_QPS[action]

    def option(self, product, name, defaults):
        """A product's switch: product_options[product][name], else the product's documented default."""
        return (self.product_options or {}).get(product, {}).get(name, defaults[name])

    def page_size_max(self, action):
        return (self.page_size_limits or {}).get(action, DEFAULT_PAGE_SIZE_MAX[action])

    def capped(self, size: int) -> int:
        """The page size a listing answers with: ``size``, or page_size_cap when that is smaller."""
        return min(size, self.page_size_cap) if self.page_size_cap else size

    def cert_code(self, product, check):
        overrides = (self.cert_codes or {}).get(product, {})
        return overrides[check] if check in overrides else DEFAULT_CERT_CODES[product][check]
