"""A local mailbox for trying alerts out: an SMTP server on loopback (aiosmtpd) that keeps
every email it is sent in a folder and tells what arrived.

`surge dev-mailbox` runs one on its own, printing each email whole. `surge run` starts one
for a simulated run or an exercise when no mail server is set (SURGE_SMTP_URL), so the
demo's alert emails are seen (one line each in the terminal, the emails themselves in
``var/mailbox/``) instead of failing for want of a server. Never for live data: a real run
without SURGE_SMTP_URL must say loudly that its emails cannot be sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from surge.errors import SurgeError

__all__ = ["Mailbox"]


class Mailbox:
    """An SMTP sink on ``host:port`` (port 0: any free one); ``told(recipients, message)``
    for each email; each is also written to ``folder`` when given."""

    def __init__(self, told: Callable[[list[str], EmailMessage], None], *,
                 host: str = "127.0.0.1", port: int = 0, folder: Path | None = None) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise SurgeError("the local mailbox needs aiosmtpd (pip install aiosmtpd)") from None
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # (every SMTP command, else)
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(message, EmailMessage)
                with mailbox._lock:
                    mailbox.count += 1
                    if mailbox.folder is not None:
                        mailbox.folder.mkdir(parents=True, exist_ok=True)
                        path = mailbox.folder / f"{mailbox.count:05d}.eml"
                        path.write_bytes(envelope.content)
                told(list(envelope.rcpt_tos), message)
                return "250 OK"

        if port == 0:
            import socket

            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
        self.host, self.port = host, port
        self._controller = Controller(Handler(), hostname=host, port=port, ready_timeout=10)

    @property
    def smtp_url(self) -> str:
        """SURGE_SMTP_URL for Surge to send here: plain SMTP, as nothing leaves the machine."""
        return f"smtp://{self.host}:{self.port}?starttls=off"

    def start(self) -> Mailbox:
        try:
            self._controller.start()
        except (OSError, RuntimeError) as exc:
            raise SurgeError(f"cannot listen on {self.host}:{self.port}: {exc}") from None
        return self

    def stop(self) -> None:
        self._controller.stop()
