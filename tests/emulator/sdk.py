"""Helpers for driving the emulator with the real legacy SDK, and with raw signed HTTP requests."""

import json

import requests
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import RpcRequest

from tests.aliyun_emulator.signature import sign_params

AK, SECRET = "testak", "testsecret"
GROUP = "927d50c0f2e54b359919923d908bb015"
NO_PROXY = {"http": None, "https": None}   # the SDK ignores NO_PROXY; this keeps loopback direct


def client(ak=AK, secret=SECRET, token=None, timeout=None):
    """An AcsClient without retries or proxies; with ``token``, STS credentials."""
    if token is None:
        return AcsClient(ak, secret, "cn-hangzhou", auto_retry=False, proxy=NO_PROXY, timeout=timeout)
    return AcsClient(region_id="cn-hangzhou", auto_retry=False, proxy=NO_PROXY, timeout=timeout,
                     credential=StsTokenCredential(ak, secret, token))


def req(request_class, **params):
    """``request_class()`` with set_<Name>(value) called for each keyword."""
    request = request_class()
    for name, value in params.items():
        getattr(request, "set_" + name)(value)
    return request


def form(request_class, body, **params):
    """Like ``req``, with the ``body`` dict's parameters in the POST form body instead of the URL query.

    The SDK signs body parameters too (rpc_signature_composer adds them to the string to sign).
    """
    request = req(request_class, **params)
    request.set_method("POST")
    for name, value in body.items():
        request.add_body_params(name, value)
    return request


def cas(action, body=None, **params):
    """An SSL Certificates Service (cas 2020-04-07) request as aliyun-python-sdk-cas 1.0.18 builds it
    (RpcRequest, POST), with ``body`` in the form body. That SDK is not a dependency of the project."""
    request = RpcRequest("cas", "2020-04-07", action, "cas")
    request.set_method("POST")
    for name, value in params.items():
        request.add_query_param(name, value)
    for name, value in (body or {}).items():
        request.add_body_params(name, value)
    return request


def call(acs_client, emu, request):
    """Send ``request`` to the emulator; the parsed JSON answer (ServerException on errors)."""
    request.set_endpoint(emu.endpoint)
    return json.loads(acs_client.do_action_with_exception(request))


def raw(emu, params, method="POST", ak=AK, secret=SECRET, **sign_kwargs):
    """A hand-signed request with ``params`` in the query; returns the requests.Response."""
    return send(emu, method, sign_params(method, params, ak, secret, **sign_kwargs))


def send(emu, method, query, headers=None):
    """Send ``query`` (already signed) as-is."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, emu.url + "/", params=query, headers=headers, timeout=5)
