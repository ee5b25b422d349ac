"""The ACME account lifecycle (RFC 8555 §7.3): register, find, update, key change, deactivate."""

from dataclasses import dataclass, field
from typing import List

from acme_aliyun.protocol import jose
from acme_aliyun.protocol.errors import AcmeError, AcmeProblem, AcmeResponseError


@dataclass
class Account:
    url: str
    status: str
    contact: List[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)    # everything the server returned
    created: bool = False                        # True when this call created it


class AccountNotFound(AcmeError):
    """No account exists for this key on this server."""


def _account(resp, created):
    if not resp.location:
        raise AcmeResponseError("the server gave no Location for the account")
    doc = resp.json or {}
    return Account(url=resp.location, status=str(doc.get("status", "")), contact=list(doc.get("contact") or []),
                   data=doc, created=created)


def register(client, contacts=(), agree_tos=True, eab_kid=None, eab_hmac_key=None):
    """newAccount; an existing account for the key is returned (created=False), not an error."""
    d = client.directory
    payload = {}
    if contacts:
        payload["contact"] = list(contacts)
    if agree_tos and d.terms_of_service:
        payload["termsOfServiceAgreed"] = True
    if eab_kid and eab_hmac_key:
        payload["externalAccountBinding"] = jose.eab_jws(client.key, eab_kid, eab_hmac_key, d["newAccount"])
    elif d.external_account_required:
        raise AcmeError("the CA requires External Account Binding: set EABKeyId and EABHMACKey in [acme]")
    resp = client.post(d["newAccount"], payload, use_jwk=True)
    acct = _account(resp, created=resp.status == 201)
    client.kid = acct.url
    return acct


def find(client):
    """newAccount with onlyReturnExisting; AccountNotFound when the key has no account."""
    try:
        resp = client.post(client.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    except AcmeProblem as e:
        if e.code == "accountDoesNotExist":
            raise AccountNotFound("no account for this key at %s" % client.directory_url) from None
        raise
    acct = _account(resp, created=False)
    client.kid = acct.url
    return acct


def fetch(client):
    """POST-as-GET the account URL (client.kid): the full current object."""
    resp = client.post_as_get(client.kid)
    doc = resp.json
    return Account(url=client.kid, status=str(doc.get("status", "")), contact=list(doc.get("contact") or []),
                   data=doc)


def update_contacts(client, contacts):
    resp = client.post(client.kid, {"contact": list(contacts)})
    doc = resp.json
    return Account(url=client.kid, status=str(doc.get("status", "")), contact=list(doc.get("contact") or []),
                   data=doc)


def change_key(client, new_key):
    """§7.3.5: inner JWS by the new key (jwk, same url, no nonce), outer by the old key (kid)."""
    url = client.directory["keyChange"]
    inner = jose.jws(new_key, {"account": client.kid, "oldKey": jose.jwk(client.key)}, url, nonce=None)
    client.post(url, inner, want_json=False)
    client.key = new_key


def deactivate(client):
    resp = client.post(client.kid, {"status": "deactivated"})
    doc = resp.json or {}
    return Account(url=client.kid, status=str(doc.get("status", "")), contact=list(doc.get("contact") or []),
                   data=doc)
