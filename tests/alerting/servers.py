"""Real servers on loopback for the alerting tests, each a context manager:

    MailServer       SMTP (aiosmtpd) keeping every email it takes; optionally offers STARTTLS
                     or speaks TLS from the start, asks for a login, refuses some addresses
    HttpReceiver     HTTP (http.server) recording every request; per path it can answer any
                     status, or hang past the client's timeout
    nothing_listens  a port where nothing listens: connections are refused
    Alertmanager     Debian's prometheus-alertmanager, on its own port and storage

The fixtures in conftest.py start them; tests elsewhere may use these classes directly.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.conftest import free_port

__all__ = ["Alertmanager", "Answer", "HttpReceiver", "Mail", "MailServer", "Request",
           "alertmanager_binary", "nothing_listens"]

LOOPBACK = "127.0.0.1"


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One email as the server took it."""

    sender: str  # MAIL FROM
    recipients: tuple[str, ...]  # RCPT TO
    message: EmailMessage
    encrypted: bool  # the session was TLS (STARTTLS or from the start)
    login: str | None  # who logged in, if anyone

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        text = cast(EmailMessage, part).get_content() if part is not None else ""
        return str(text).replace("\r\n", "\n")


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        refusal = self.server.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        auth = session.auth_data
        mail = Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos),
                    cast(EmailMessage, message_from_bytes(raw, policy=policy.default)),
                    encrypted=self.server.tls or session.ssl is not None,
                    login=auth.login.decode() if isinstance(auth, LoginPassword) else None)
        with self.server.arrived:
            self.server.mails.append(mail)
            self.server.arrived.notify_all()
        return "250 OK"


class MailServer:
    """An SMTP server on loopback keeping what it is sent in ``mails``.

    ``starttls``: offer STARTTLS with this server context. ``tls``: TLS from the first byte
    (smtps). ``login``: (user, password) it accepts, only over TLS. ``refuse``: address ->
    the reply to RCPT TO for it (``"550 5.1.1 no such user"``)."""

    def __init__(self, *, starttls: ssl.SSLContext | None = None,
                 tls: ssl.SSLContext | None = None, login: tuple[str, str] | None = None,
                 refuse: Mapping[str, str] | None = None) -> None:
        self.mails: list[Mail] = []
        self.arrived = threading.Condition()
        self.refuse = dict(refuse or {})
        self.login = login
        self.tls = tls is not None
        kwargs: dict[str, Any] = {"hostname": LOOPBACK, "port": free_port(),
                                  "ready_timeout": 10.0}
        if starttls is not None:
            kwargs["tls_context"] = starttls
        if tls is not None:
            kwargs["ssl_context"] = tls
        if login is not None:
            kwargs["authenticator"] = self._authenticate
            # (aiosmtpd knows only STARTTLS as TLS here; smtps is TLS from the first byte)
            kwargs["auth_require_tls"] = tls is None
        self.controller = Controller(_Handler(self), **kwargs)
        self.host = LOOPBACK
        self.port = int(kwargs["port"])

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self.login is not None
              and (data.login, data.password) == tuple(s.encode() for s in self.login))
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[Mail]:
        """The emails taken, once there are ``count`` (AssertionError after ``timeout``)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.mails) >= count, timeout):
                raise AssertionError(f"{len(self.mails)} email(s) arrived, not {count}")
            return list(self.mails)

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What the receiver answers on a path. ``hang``: answer nothing until it is closed."""

    status: int = 200
    body: bytes = b"ok"
    content_type: str = "text/plain"
    hang: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpReceiver:
    """An HTTP server on loopback recording every request (``requests``); it answers
    200 "ok" unless ``answer(path, ...)`` says otherwise for a path."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: dict[str, Answer] = {}
        self.closing = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._record()

            def do_GET(self) -> None:
                self._record()

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.partition("?")[0]
                with receiver._lock:
                    receiver.requests.append(Request(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        body))
                    answer = receiver.answers.get(path, Answer())
                if answer.hang:
                    receiver.closing.wait(600)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout) leaves a broken pipe: expected

        self.server = Server((LOOPBACK, 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       name=f"http-receiver-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def answer(self, path: str, status: int = 200, body: bytes | str = b"ok", *,
               content_type: str = "text/plain", hang: bool = False,
               headers: Mapping[str, str] | None = None) -> str:
        """Answer requests on ``path`` so; returns the URL of the path."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.answers[path] = Answer(status, data, content_type, hang, dict(headers or {}))
        return self.url + path

    def received(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()  # hanging answers return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def nothing_listens() -> Iterator[str]:
    """http://127.0.0.1:PORT where nothing listens: connecting is refused. The port is
    bound, without listening, for as long as this lasts, so nothing else can take it."""
    with socket.socket() as held:
        held.bind((LOOPBACK, 0))
        yield f"http://{LOOPBACK}:{held.getsockname()[1]}"


# --- Alertmanager -------------------------------------------------------------------------------


def alertmanager_binary() -> str | None:
    """Debian's prometheus-alertmanager (or an upstream ``alertmanager``) on the PATH."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


CONFIG = """\
# Surge's tests: every alert is kept and shown, none is sent anywhere
route:
  receiver: nowhere
receivers:
  - name: nowhere
"""


class Alertmanager:
    """A real Alertmanager on loopback: clustering off, storage under ``directory``."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, ready_timeout: float = 15.0) -> Alertmanager:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "alertmanager.yml"
        config.write_text(CONFIG)
        log_path = self.directory / "alertmanager.log"
        for _ in range(3):  # another process may take the free port before it binds
            self.port = free_port()
            with log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [self.binary, f"--config.file={config}",
                     f"--storage.path={self.directory / 'data'}",
                     f"--web.listen-address={LOOPBACK}:{self.port}",
                     "--cluster.listen-address=", "--log.level=warn"],
                    stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(OSError), \
                        urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as reply:
                    if reply.status == 200:
                        return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"Alertmanager did not start: {log_path.read_text()[-2000:]}")

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts it holds as active (or as ``filters`` say)."""
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?{query}", timeout=5) as reply:
            return cast(list[dict[str, Any]], json.load(reply))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Alertmanager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
