"""No request in the suite may carry private-key material in its URL query (issue 11).

Every emulator the suite starts logs its calls through CallLog.append; the guard wraps
that one method for the whole session and notes each record flagged key_in_query with
the test that was running (setup, call or teardown). A test whose emulators received
such a request fails; a flagged request outside any test fails the session (under xdist the
workers relay theirs to the controller, tests/relay.py). The
emulator's own tests (tests/emulator/) send keys in the query on purpose and are exempt.
"""

import threading

import pytest

from tests import relay

EXEMPT = ("tests/emulator/",)
_current = {"test": None}
_flagged = []                 # (nodeid or None, action)
_lock = threading.Lock()


def _install():
    from tests.aliyun_emulator.calllog import CallLog

    original = CallLog.append
    if getattr(original, "_key_guard", False):
        return
    def append(self, record):  # noqa: E306
        if getattr(record, "key_in_query", False):
            test = _current["test"]
            if not (test or "").startswith(EXEMPT):
                with _lock:
                    _flagged.append((test, record.action))
        return original(self, record)

    append._key_guard = True
    CallLog.append = append


def taken(nodeid):
    """The flagged requests noted while this test ran (and forget them)."""
    with _lock:
        mine = [a for t, a in _flagged if t == nodeid]
        _flagged[:] = [(t, a) for t, a in _flagged if t != nodeid]
    return mine


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _install()
    _current["test"] = item.nodeid
    yield
    _current["test"] = None


@pytest.fixture(autouse=True)
def _no_key_in_url_query(request):
    yield
    leaked = taken(request.node.nodeid)
    assert not leaked, "private-key material travelled in a URL query: %s" % ", ".join(map(str, leaked))


def pytest_sessionfinish(session, exitstatus):
    """A flagged request outside any test fails the session; an xdist worker hands its own to the
    controller (tests/relay.py), which owns the exit status."""
    stray = [(t, a) for t, a in _flagged if t is None]
    if relay.is_worker(session.config):
        relay.send(session.config, "key_guard_stray", stray)
        return
    stray = relay.gathered("key_guard_stray", stray)
    if stray:
        session.exitstatus = 1
        print("\nprivate-key material travelled in a URL query outside any test: %s" % stray)
