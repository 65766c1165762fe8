"""TLS as configured in `[platform]`: the platform's certificate is checked against `ca_file`, and the
terminal presents `client_cert`/`client_key` (mutual TLS). A real TLS server on 127.0.0.1 that
requires a client certificate signed by the test CA."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from terminal_toml import write_terminal_toml

from kiosk.config import load_config
from kiosk.platform import PlatformTransportError
from kiosk.wiring import open_platform_client

CATALOG = {
    "code": 0,
    "message": "ok",
    "request_id": "r1",
    "data": {"version": "1", "unchanged": True, "items": []},
}


def _cert(
    subject: str, key, issuer_key, issuer: x509.Name | None, *, ca: bool = False, ip: str | None = None
):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert, key=None) -> Path:
    data = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test platform CA", ca_key, ca_key, None, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", server_key, ca_key, ca.subject, ip="127.0.0.1")
    client = _cert("T4115020001", client_key, ca_key, ca.subject)
    return SimpleNamespace(
        ca=_write(d / "ca.pem", ca),
        server=_write(d / "server.pem", server, server_key),
        client=_write(d / "client.pem", client, client_key),
    )


@pytest.fixture(scope="module")
def platform(pki) -> Iterator[SimpleNamespace]:
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()
            seen.append(dict(x[0] for x in peer["subject"]).get("commonName") if peer else None)
            body = json.dumps(CATALOG).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server, pki.server.with_suffix(".key"))
    ctx.load_verify_locations(pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"https://127.0.0.1:{server.server_address[1]}", seen=seen)
    server.shutdown()


def client_cert(pki) -> str:
    return f'client_cert = "{pki.client}"\nclient_key = "{pki.client.with_suffix(".key")}"'


def config_with(tmp_path: Path, url: str, tls: str):
    (tmp_path / "secret").write_text("a" * 64)
    timeouts = "connect_timeout_s = 2\nread_timeout_s = 2\n"
    files = {"secret_file": "secret", "detector_model": "yunet.onnx"}
    return load_config(write_terminal_toml(tmp_path, base_url=url, platform_extra=timeouts + tls, **files))


def test_mutual_tls_with_the_configured_ca_and_client_certificate(tmp_path, pki, platform):
    tls = (
        f'ca_file = "{pki.ca}"\nclient_cert = "{pki.client}"\nclient_key = "{pki.client.with_suffix(".key")}"'
    )
    with open_platform_client(config_with(tmp_path, platform.url, tls)) as client:
        assert client.get_catalog("411502")["unchanged"] is True
    assert platform.seen[-1] == "T4115020001"  # the platform saw the terminal's certificate


def test_without_a_client_certificate_the_platform_refuses_the_connection(tmp_path, pki, platform):
    config = config_with(tmp_path, platform.url, f'ca_file = "{pki.ca}"')
    # TLS 1.3 sends the refusal after the handshake: an alert or a reset, depending on timing.
    with open_platform_client(config) as client, pytest.raises(PlatformTransportError):
        client.get_catalog("411502")


def test_a_platform_certificate_not_from_the_configured_ca_is_refused(tmp_path, pki, platform):
    tls = client_cert(pki)  # and the system's CAs only
    config = config_with(tmp_path, platform.url, tls)
    with open_platform_client(config) as client, pytest.raises(PlatformTransportError) as err:
        client.get_catalog("411502")
    assert "TLS: the platform's certificate is not trusted (check [platform] ca_file)" in str(err.value)
