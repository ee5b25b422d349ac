"""Notifications by email: SMTP with STARTTLS ([notify] SMTP = host:port, From, To).

The user name and password come from the environment (ACME_ALIYUN_SMTP_USER,
ACME_ALIYUN_SMTP_PASSWORD), never from acme.ini, so the file holds no mail
secret. STARTTLS is required and the server certificate verified (system trust
store, or SSL_CERT_FILE): a server that does not offer it gets nothing, not even
the report, because the report names hosts and domains.
"""

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Mapping

from acme_aliyun import log as logsetup

USER_ENV = "ACME_ALIYUN_SMTP_USER"
PASSWORD_ENV = "ACME_ALIYUN_SMTP_PASSWORD"


class EmailError(Exception):
    """The message was not accepted; the text is safe to log."""


def build_message(settings: Any, subject: str, body: str) -> EmailMessage:
    """The email: plain UTF-8 text, one To header listing every recipient."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    msg.set_content(body)
    return msg


def send_email(settings: Any, subject: str, body: str, env: Mapping[str, str]) -> None:
    """Deliver through settings.smtp with STARTTLS (and login when a user is set); EmailError if not."""
    host, _, port = settings.smtp.rpartition(":")
    user, password = env.get(USER_ENV), env.get(PASSWORD_ENV)
    logsetup.register_secret(password)
    timeout = float(settings.timeout or 10.0)
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=timeout) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise EmailError("%s does not offer STARTTLS; not sent" % settings.smtp)
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
            if user:
                smtp.login(user, password or "")
            smtp.send_message(build_message(settings, subject, body))
    except EmailError:
        raise
    except smtplib.SMTPAuthenticationError as e:
        raise EmailError("%s refused the login of %s (code %s)" % (settings.smtp, user, e.smtp_code)) from None
    except smtplib.SMTPResponseException as e:
        raise EmailError("%s answered %s %s" % (settings.smtp, e.smtp_code, _text(e.smtp_error))) from None
    except smtplib.SMTPRecipientsRefused as e:
        raise EmailError("%s refused the recipient(s) %s" % (settings.smtp, ", ".join(e.recipients))) from None
    except ssl.SSLError as e:
        raise EmailError("%s: TLS failed: %s" % (settings.smtp, e.reason or e)) from None
    except (OSError, smtplib.SMTPException) as e:
        raise EmailError("%s: %s" % (settings.smtp, getattr(e, "strerror", None) or e)) from None


def _text(raw) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))[:300]
