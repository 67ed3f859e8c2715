"""Fixtures for the alerting tests: the real servers of servers.py, started and stopped.

    mail_server          SMTP without TLS (as a local relay), keeping every email
    tls_mail_server      SMTP offering STARTTLS with a certificate from ``test_ca``, and
                         asking for the login in ``SMTP_LOGIN``
    trust_test_ca        makes this process trust ``test_ca`` (SSL_CERT_FILE), as a trust
                         would its own CA
    http_receiver        HTTP recording every request; ``answer(path, ...)`` to fail
    refused_url          an http:// URL where nothing listens
    alertmanager         Debian's prometheus-alertmanager, one per test process
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.alerting.servers import (
    Alertmanager,
    HttpReceiver,
    MailServer,
    alertmanager_binary,
    nothing_listens,
)

SMTP_LOGIN = ("surge-alerts", "s3cret-Pa55word")


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust_test_ca(test_ca: trustme.CA, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return path


@pytest.fixture
def tls_mail_server(test_ca: trustme.CA) -> Iterator[MailServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with MailServer(starttls=context, login=SMTP_LOGIN) as server:
        yield server


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def refused_url() -> Iterator[str]:
    with nothing_listens() as url:
        yield url


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    binary = alertmanager_binary()
    if binary is None:
        pytest.fail("prometheus-alertmanager is not installed: `make system-deps` installs "
                    "it (Debian's prometheus-alertmanager package)")
    with Alertmanager(binary, tmp_path_factory.mktemp("alertmanager")) as server:
        yield server
