"""Every cloud test runs sealed (see emuhelp.sealed_env) and may start emulators."""

import pytest

from tests.cloud.emuhelp import emulator_factory, make_client, sealed_env  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _sealed(sealed_env):  # noqa: F811
    return sealed_env


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    return emulator_factory()


@pytest.fixture
def client(emu):
    return make_client(emu)
