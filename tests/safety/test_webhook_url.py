"""Item 12 of issue 12: a webhook URL's query (robot tokens) never appears in a message; plain http
webhooks are refused unless they stay on this host."""

import pytest

from acme_aliyun import config, log as logsetup
from acme_aliyun.errors import ConfigError
from tests.conftest import write_ini

TOKEN = "access_token=f00dcafe0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("url,why", [
    ("ftp://oapi.dingtalk.com/robot/send?%s" % TOKEN, "not an http"),
    ("http://oapi.dingtalk.com/robot/send?%s" % TOKEN, "plain http"),
    ("https:///robot/send?%s" % TOKEN, "not an http"),
])
def test_a_bad_webhook_is_one_line_without_its_token(tmp_path, pebble, cli, url, why):
    ini = write_ini(tmp_path, pebble, "[cert:w]\nDomains = w.example.test\nChallenge = http-01\n\n"
                    "[notify]\nWebhook = %s\n" % url)
    r = cli("-c", ini, "status")
    assert r.returncode == 2, r.stdout + r.stderr
    assert why in r.stderr and "[notify] Webhook" in r.stderr, r.stderr
    assert "f00dcafe" not in r.stdout + r.stderr, r.stderr


def test_plain_http_on_loopback_is_allowed_and_the_query_is_a_secret(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble, "[cert:w]\nDomains = w.example.test\nChallenge = http-01\n\n"
                    "[notify]\nWebhook = http://127.0.0.1:9/hook?%s\n" % TOKEN)
    cfg = config.load(ini)
    assert cfg.notify.webhook.endswith(TOKEN)
    assert "f00dcafe" not in logsetup.redact("posting to %s failed" % cfg.notify.webhook)
    assert "127.0.0.1:9/hook" in logsetup.redact("posting to %s failed" % cfg.notify.webhook)


def test_a_format_error_does_not_show_the_url(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble, "[cert:w]\nDomains = w.example.test\nChallenge = http-01\n\n"
                    "[notify]\nWebhook = https://oapi.dingtalk.com/robot/send?%s\nFormat = slack\n" % TOKEN)
    with pytest.raises(ConfigError) as info:
        config.load(ini)
    assert "f00dcafe" not in logsetup.redact(str(info.value))
