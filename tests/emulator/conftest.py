"""Fixtures: a fresh emulator per test (starting one takes milliseconds) and an SDK client."""

import pytest

from tests.aliyun_emulator import Emulator, EmulatorConfig
from tests.emulator import sdk


@pytest.fixture
def emu():
    with Emulator(EmulatorConfig(accounts={sdk.AK: sdk.SECRET})) as emulator:
        yield emulator


@pytest.fixture
def make_emu():
    """Factory for emulators with a custom EmulatorConfig; all are stopped after the test."""
    started = []

    def make(**config):
        config.setdefault("accounts", {sdk.AK: sdk.SECRET})
        started.append(Emulator(EmulatorConfig(**config)).start())
        return started[-1]

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def client():
    return sdk.client()
