"""Item 14 of issue 12: Function Compute events parse booleans strictly."""

import json

import pytest

from acme_aliyun import fc


@pytest.mark.parametrize("value,expected", [
    (False, False), (True, True), ("false", False), ("no", False), ("0", False), ("off", False), ("False", False),
    ("true", True), ("yes", True), ("1", True), (None, False), (0, False), (1, True),
])
def test_force_values(value, expected):
    assert fc.parse_event({"action": "run", "force": value})["force"] is expected
    timer = {"triggerTime": "2026-01-01T00:00:00Z", "payload": json.dumps({"force": value})}
    assert fc.parse_event(timer)["force"] is expected


@pytest.mark.parametrize("value", ["maybe", "", [], {}, 2, "falsey"])
def test_an_unknown_boolean_is_an_error_in_the_answer(value, monkeypatch):
    with pytest.raises(fc.FcEventError, match="force"):
        fc.parse_event({"action": "run", "force": value})
    monkeypatch.setenv("ACME_ALIYUN_CONFIG", "/nonexistent/acme.ini")
    answer = json.loads(fc.handler(json.dumps({"force": value}).encode(), None))
    assert answer["ok"] is False and "force" in answer["error"]["message"], answer
