"""The ACME account lifecycle (RFC 8555 §7.3): register, find, update, key change, deactivate."""

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

from acme_aliyun.protocol import jose
from acme_aliyun.protocol.errors import AcmeError, AcmeProblem, AcmeResponseError
from acme_aliyun.protocol.messages import Account

if TYPE_CHECKING:
    from acme_aliyun.protocol.client import AcmeClient, Response

__all__ = ["Account", "AccountNotFound", "register", "find", "fetch", "update_contacts", "change_key", "deactivate"]


class AccountNotFound(AcmeError):
    """No account exists for this key on this server."""


def _account(resp: "Response", created: bool) -> Account:
    if not resp.location:
        raise AcmeResponseError("the server gave no Location for the account")
    return Account.parse(resp.json, resp.location, created=created)


def register(client: "AcmeClient", contacts: Sequence[str] = (), agree_tos: bool = True,
             eab_kid: Optional[str] = None, eab_hmac_key: Optional[str] = None) -> Account:
    """newAccount; an existing account for the key is returned (created=False), not an error."""
    d = client.directory
    payload: Dict[str, Any] = {}
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


def find(client: "AcmeClient") -> Account:
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


def fetch(client: "AcmeClient") -> Account:
    """POST-as-GET the account URL (client.kid): the full current object."""
    return Account.parse(client.post_as_get(_kid(client)).json, _kid(client))


def update_contacts(client: "AcmeClient", contacts: Sequence[str]) -> Account:
    return Account.parse(client.post(_kid(client), {"contact": list(contacts)}).json, _kid(client))


def _kid(client: "AcmeClient") -> str:
    if not client.kid:
        raise AcmeError("no account URL yet (find or register the account first)")
    return client.kid


def change_key(client: "AcmeClient", new_key: Any) -> None:
    """§7.3.5: inner JWS by the new key (jwk, same url, no nonce), outer by the old key (kid)."""
    url = client.directory["keyChange"]
    inner = jose.jws(new_key, {"account": client.kid, "oldKey": jose.jwk(client.key)}, url, nonce=None)
    client.post(url, inner, want_json=False)
    client.key = new_key


def deactivate(client: "AcmeClient") -> Account:
    return Account.parse(client.post(_kid(client), {"status": "deactivated"}).json, _kid(client))
