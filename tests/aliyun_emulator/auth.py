"""Who may call: AccessKeys (long-term and STS), and the checks every request passes before routing
to a product — signature, Timestamp window, SignatureNonce reuse, STS SecurityToken.

Order of checks: common signature parameters present and supported (IncompleteSignature), AccessKeyId
known (InvalidAccessKeyId.NotFound), signature (SignatureDoesNotMatch, message carries the server's
StringToSign after a ':' as the SDK requires), Timestamp (InvalidTimeStamp.Format / .Expired), nonce
(SignatureNonceUsed), then for STS keys the SecurityToken (InvalidSecurityToken.*).
"""

import calendar
import collections
import threading
import time
from dataclasses import dataclass

from .errors import ApiError
from .signature import SIGNATURE_METHOD, SIGNATURE_VERSION, TIMESTAMP_FORMAT, signature_matches

_SIGNATURE_PARAMS = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce",
                     "Timestamp")


@dataclass(frozen=True)
class StsCredential:
    secret: str
    security_token: str
    expires_at: float   # on Authenticator.now(), the STS clock


class Authenticator:
    """Holds the keys and the recently used nonces; ``authenticate`` returns the caller's AccessKeyId."""

    def __init__(self, accounts, timestamp_tolerance_s, nonce_ttl_s):
        self._skew = 0.0                           # the STS clock runs this far ahead of time.time()
        self._secrets = dict(accounts)
        self._sts = {}
        self._tolerance = timestamp_tolerance_s
        self._nonce_ttl = nonce_ttl_s
        self._nonces = collections.OrderedDict()   # (AccessKeyId, nonce) -> time first seen
        self._lock = threading.Lock()

    def now(self):
        """The STS clock: when temporary credentials are minted and when they expire. Signature
        Timestamps are checked against time.time() (the SDK signs with the real time)."""
        return time.time() + self._skew

    def advance_sts_clock(self, seconds):
        with self._lock:
            self._skew += seconds

    def add_sts(self, access_key_id, access_key_secret, security_token, expires_in):
        with self._lock:
            self._sts[access_key_id] = StsCredential(access_key_secret, security_token, self.now() + expires_in)

    def secret_for(self, key_id, token):
        """For products with their own signature scheme: the secret of ``key_id`` once its STS
        token (if any) checks out; ApiError InvalidAccessKeyId.NotFound or InvalidSecurityToken.*."""
        with self._lock:
            sts = self._sts.get(key_id)
            secret = sts.secret if sts else self._secrets.get(key_id)
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound")
        self._check_token(key_id, sts, token)
        return secret

    def use_nonce(self, key_id, nonce):
        """SignatureNonceUsed when ``nonce`` was seen for this key within the nonce TTL."""
        self._use_nonce(key_id, nonce)

    def authenticate(self, method, params):
        for name in _SIGNATURE_PARAMS:
            if not params.get(name):
                raise ApiError("IncompleteSignature", "The request signature does not conform to Aliyun "
                               "standards: %s is missing." % name)
        if params["SignatureMethod"] != SIGNATURE_METHOD or params["SignatureVersion"] != SIGNATURE_VERSION:
            raise ApiError("IncompleteSignature", "Only SignatureMethod %s with SignatureVersion %s is supported."
                           % (SIGNATURE_METHOD, SIGNATURE_VERSION))
        key_id = params["AccessKeyId"]
        with self._lock:
            sts = self._sts.get(key_id)
            secret = sts.secret if sts else self._secrets.get(key_id)
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound")
        ok, to_sign = signature_matches(method, params, secret)
        if not ok:
            raise ApiError("SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. server string to sign is:"
                           + to_sign)
        self._check_timestamp(params["Timestamp"])
        self._use_nonce(key_id, params["SignatureNonce"])
        self._check_token(key_id, sts, params.get("SecurityToken"))
        return key_id

    def _check_timestamp(self, value):
        try:
            sent = calendar.timegm(time.strptime(value, TIMESTAMP_FORMAT))
        except ValueError:
            raise ApiError("InvalidTimeStamp.Format") from None
        if abs(time.time() - sent) > self._tolerance:
            raise ApiError("InvalidTimeStamp.Expired")

    def _use_nonce(self, key_id, nonce):
        now = time.time()
        with self._lock:
            while self._nonces:
                oldest, seen = next(iter(self._nonces.items()))
                if now - seen <= self._nonce_ttl:
                    break
                del self._nonces[oldest]
            if (key_id, nonce) in self._nonces:
                raise ApiError("SignatureNonceUsed")
            self._nonces[(key_id, nonce)] = now

    def _check_token(self, key_id, sts, token):
        if sts is None:
            if token:   # a long-term key with a SecurityToken
                raise ApiError("InvalidSecurityToken.MismatchWithAccessKey")
            return
        if not token:
            raise ApiError("InvalidSecurityToken.Malformed")
        if token != sts.security_token:
            with self._lock:
                known = any(c.security_token == token for c in self._sts.values())
            raise ApiError("InvalidSecurityToken.MismatchWithAccessKey" if known else
                           "InvalidSecurityToken.Malformed")
        if self.now() >= sts.expires_at:
            raise ApiError("InvalidSecurityToken.Expired")
