"""Target tests run sealed against the emulator (see tests/cloud/emuhelp.py)."""

import pytest

from tests.cloud.emuhelp import emulator_factory, make_client, sealed_env  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _sealed(sealed_env):  # noqa: F811
    return sealed_env
