"""More notification channels (issue 14, point 19): WeCom robots, email over SMTP with STARTTLS,
Chinese messages, and the webhook token masked in every message."""

import email
import email.policy
import io
import json
import logging

import pytest

from acme_aliyun import config, notify, notify_email
from acme_aliyun import log as logsetup
from acme_aliyun.config import NotifySettings
from tests.smtpserver import SMTPServer
from tests.test_notify import TOKEN, Receiver, summary

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "acme_aliyun.notify" and r.levelno >= logging.WARNING]


# --- WeCom ---------------------------------------------------------------------------------------

def test_wecom_markdown(receiver):
    url = receiver.url("/cgi-bin/webhook/send?key=%s" % WECOM_KEY)
    notify.send(NotifySettings(webhook=url, format="wecom", timeout=5), summary(), failed=True)
    got = receiver.one()
    assert got["path"] == "/cgi-bin/webhook/send?key=%s" % WECOM_KEY
    doc = json.loads(got["body"])
    assert doc["msgtype"] == "markdown" and set(doc) == {"msgtype", "markdown"}
    content = doc["markdown"]["content"]
    assert content.startswith("### acme-aliyun: run FAILED on ecs-web-1")
    assert "**site**: failed" in content and "Throttling.User" in content
    assert len(content.encode("utf-8")) <= 4096


def test_wecom_error_code_is_a_warning_without_the_key(receiver, caplog):
    caplog.set_level(logging.DEBUG, logger="acme_aliyun.notify")
    receiver.answer = b'{"errcode":93000,"errmsg":"invalid webhook url, key %s"}' % WECOM_KEY.encode()
    url = receiver.url("/cgi-bin/webhook/send?key=%s" % WECOM_KEY)
    notify.send(NotifySettings(webhook=url, format="wecom", timeout=5), summary(), failed=True)
    receiver.one()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "robot answered code 93000" in warnings[0], warnings
    assert all(WECOM_KEY not in r.getMessage() for r in caplog.records)


# --- the token masked in every message -------------------------------------------------------------

def test_webhook_token_is_masked_everywhere(receiver, caplog):
    caplog.set_level(logging.DEBUG, logger="acme_aliyun")
    url = receiver.url("/robot/send?access_token=%s" % TOKEN)
    s = summary(error="the robot at %s said no" % url)       # the URL inside the report itself
    notify.send(NotifySettings(webhook=url, format="dingtalk", timeout=5), s, failed=True)
    body = receiver.one()["body"].decode("utf-8")
    assert TOKEN not in body and "[redacted]" in body
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    stream = io.StringIO()
    logsetup.setup(stream=stream)
    logging.getLogger("acme_aliyun.test").warning("retrying %s", url)
    assert "retrying" in stream.getvalue() and TOKEN not in stream.getvalue()
    assert TOKEN not in logsetup.redact("printed: %s" % url)
    assert notify.mask_webhook_url(url) == receiver.url("/robot/send?access_token=***")
    assert notify.mask_webhook_url("https://open.feishu.cn/open-apis/bot/v2/hook/%s" % TOKEN) == \
        "https://open.feishu.cn/open-apis/bot/v2/hook/***"


# --- Chinese ----------------------------------------------------------------------------------------

def test_chinese_messages(receiver):
    url = receiver.url("/cgi-bin/webhook/send?key=%s" % WECOM_KEY)
    notify.send(NotifySettings(webhook=url, format="wecom", timeout=5, language="zh-CN"), summary(), failed=True)
    content = json.loads(receiver.one()["body"])["markdown"]["content"]
    assert content.startswith("### acme-aliyun：ecs-web-1 上的运行失败")
    assert "**site**: 失败" in content and "错误:" in content and "下次续期 2031-02-03 04:05" in content
    assert "目标: 1 未变" in content and "Throttling.User" in content
    english = notify.render_text(summary(), True)
    assert "site: failed" in english and "失败" not in english


def test_notify_section_reads_language_and_smtp(tmp_path):
    ini = tmp_path / "acme.ini"
    ini.write_text("[acme]\nACMEDirectory = https://127.0.0.1:9/dir\nAccountKeyFile = a.key\n"
                   "[notify]\nSMTP = 127.0.0.1:2525\nFrom = acme@example.test\n"
                   "To = ops@example.test, oncall@example.test\nLanguage = zh-CN\nFormat = wecom\n")
    n = config.load(str(ini)).notify
    assert (n.webhook, n.smtp, n.mail_from, n.language) == (None, "127.0.0.1:2525", "acme@example.test", "zh-CN")
    assert n.mail_to == ["ops@example.test", "oncall@example.test"]
    ini.write_text(ini.read_text().replace("To = ops@example.test,", "To = ops,"))
    with pytest.raises(config.ConfigError, match=r"\[notify\] To: 'ops' is not an email address"):
        config.load(str(ini))


# --- email ------------------------------------------------------------------------------------------

def _mail_settings(server, **kw):
    return NotifySettings(webhook=None, smtp=server.address, mail_from="acme@example.test",
                          mail_to=["ops@example.test", "oncall@example.test"], timeout=5, **kw)


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    server = SMTPServer(str(tmp_path), users={"mailer": "Sm7p-Pass-Word"})
    monkeypatch.setenv("SSL_CERT_FILE", server.ca)
    yield server
    server.close()


def test_email_over_starttls_with_login(smtp, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(notify_email.USER_ENV, "mailer")
    monkeypatch.setenv(notify_email.PASSWORD_ENV, "Sm7p-Pass-Word")
    notify.send(_mail_settings(smtp, language="zh-CN"), summary(), failed=True)
    assert _warnings(caplog) == []
    (got,) = smtp.received
    assert got["tls"] and got["user"] == "mailer"
    assert got["from"] == "acme@example.test" and got["to"] == ["ops@example.test", "oncall@example.test"]
    msg = email.message_from_bytes(got["data"], policy=email.policy.default)
    assert msg["Subject"] == "acme-aliyun：ecs-web-1 上的运行失败"
    body = msg.get_content()
    assert "site: 失败" in body and "Throttling.User" in body and "[private key redacted]" in body
    assert "Sm7p-Pass-Word" not in "".join(r.getMessage() for r in caplog.records)


def test_email_refused_without_starttls(tmp_path, caplog):
    server = SMTPServer(str(tmp_path), starttls=False)
    try:
        notify.send(_mail_settings(server), summary(), failed=True)
    finally:
        server.close()
    assert server.received == []
    assert any("does not offer STARTTLS; not sent" in w for w in _warnings(caplog))


def test_email_untrusted_certificate_and_bad_login_are_warnings(smtp, monkeypatch, caplog):
    monkeypatch.setenv(notify_email.USER_ENV, "mailer")
    monkeypatch.setenv(notify_email.PASSWORD_ENV, "wrong-password-123")
    notify.send(_mail_settings(smtp), summary(), failed=True)
    monkeypatch.delenv("SSL_CERT_FILE")
    notify.send(_mail_settings(smtp), summary(), failed=True)
    warnings = _warnings(caplog)
    assert smtp.received == [] and len(warnings) == 2, warnings
    assert "refused the login of mailer (code 535)" in warnings[0]
    assert "TLS failed" in warnings[1] and "CERTIFICATE_VERIFY_FAILED" in warnings[1]
    assert all("wrong-password-123" not in w for w in warnings)


def test_email_and_webhook_both_sent(smtp, receiver):
    settings = _mail_settings(smtp)
    settings.webhook = receiver.url("/hook")
    notify.send(settings, summary(), failed=True)
    assert json.loads(receiver.one()["body"])["ok"] is False
    assert len(smtp.received) == 1
