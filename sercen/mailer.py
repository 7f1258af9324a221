"""Sending the second-factor code by email over SMTP (aiosmtplib).

``smtps_usa = true`` connects with implicit TLS (SMTPS, port 465 when ``smtp_puerto`` is 0);
otherwise a plain connection (port 25 by default) upgraded with STARTTLS when the server offers
it (``smtp_starttls = auto``), always (``require``) or never (``off``). Credentials are used
only when ``smtp_usuario`` is set. The server certificate is verified (system CAs, or
``smtp_ca_file``) unless ``smtp_verify_tls = false``. The code appears in the message, never
in a log line.

A machine without a mail server (``smtp_host`` empty) may set ``mail_outbox``: each message is
then written there as an ``.eml`` file readable by the service's user only (``webfon up``
shows them on its console), so a second factor still needs access to this machine.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from email.message import EmailMessage

import aiosmtplib

from sercen.settings import SercenSettings
from webfon.private_files import write_private

log = logging.getLogger("sercen.mail")


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


def build_message(settings: SercenSettings, to: str, display_name: str, code: str,
                  minutes: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.effective_smtp_from
    msg["To"] = to
    msg["Subject"] = settings.email_subject
    msg.set_content(
        f"Hello {display_name},\n\n"
        f"Your webfon login code is: {code}\n\n"
        f"It is valid for {minutes} minutes and can be used once.\n"
        "If you did not try to log in, tell your administrator.\n")
    return msg


async def send_code(settings: SercenSettings, to: str, display_name: str, code: str) -> None:
    minutes = max(1, round(settings.email_code_ttl / 60))
    msg = build_message(settings, to, display_name, code, minutes)
    if not settings.smtp_host and settings.mail_outbox is not None:
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        try:
            await asyncio.to_thread(write_private, settings.mail_outbox / name, bytes(msg))
        except OSError as exc:
            raise MailError(f"outbox not writable: {exc.strerror}") from exc
        log.info("login code written to the outbox", extra={"outbox": str(settings.mail_outbox)})
        return
    if not settings.smtp_host:
        raise MailError("no SMTP server configured (smtp_host)")
    if settings.smtps_usa:
        tls = {"use_tls": True, "start_tls": False}
    else:
        tls = {"use_tls": False,
               "start_tls": {"auto": None, "require": True, "off": False}[settings.smtp_starttls]}
    try:
        await aiosmtplib.send(
            msg, hostname=settings.smtp_host, port=settings.effective_smtp_port,
            username=settings.smtp_usuario or None,
            password=(settings.smtp_clave or None) if settings.smtp_usuario else None,
            timeout=settings.smtp_timeout, validate_certs=settings.smtp_verify_tls,
            cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None, **tls)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        log.error("sending the login code failed",
                  extra={"smtp_host": settings.smtp_host, "smtp_port": settings.effective_smtp_port,
                         "error": type(exc).__name__, "detail": str(exc)[:200]})
        raise MailError(str(exc)) from exc
