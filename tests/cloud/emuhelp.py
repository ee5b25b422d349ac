"""Fixtures and helpers shared by the cloud-layer tests and tests/test_deployer.py.

sealed_env: no Alibaba Cloud variables, no proxies, metadata server disabled, empty HOME.
emulator_factory: starts emulators on loopback and stops them after the test.
make_client: a CloudClient on an emulator with fast retries.
"""

import os

import pytest

from acme_aliyun.cloud.credentials import CredentialProvider
from acme_aliyun.cloud.sdk import CloudClient
from acme_aliyun.cloud.settings import CloudSettings


@pytest.fixture
def sealed_env(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith(("ALIBABA_CLOUD_", "ALIYUN_", "ACME_ALIYUN_")) or k.lower().endswith("_proxy"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def emulator_factory():
    from tests.aliyun_emulator import Emulator, EmulatorConfig

    started = []

    def make(**kw):
        kw.setdefault("accounts", {"testak": "testsecret"})
        emu = Emulator(EmulatorConfig(**kw)).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


def make_client(emu, key_id="testak", secret="testsecret", token=None, **settings):
    settings.setdefault("endpoint", emu.endpoint)
    settings.setdefault("read_timeout", 3.0)
    settings.setdefault("connect_timeout", 2.0)
    return CloudClient(CloudSettings(**settings), CredentialProvider.static("test", key_id, secret, token),
                       retry_base=0.01, retry_cap=0.05)
