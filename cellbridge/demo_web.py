"""The demo's web path (docs/content-control.md): two "gov.uk-like" HTTPS origins on loopback
(127.0.0.x:443, their certificates from a demo origin CA written to DIR/web/origin-ca.pem), the
gateway's `[web]` (real Squid behind its TLS front, the names mapped in Squid's hosts file), and
T-0001's forwarder. The demo then grants T-0001 one site (find-a-job); the other origin
(www.gov.uk, council housing) is not on its list.

Listening on port 443 needs root (the proxy carries CONNECT to port 443 only); without it, or
without Squid, the demo runs without the web path and says why.
"""

from __future__ import annotations

import datetime as dt
import html
import random
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.webproxy import WebConfig
from common.broker import free_port
from gateway.web_proxy_config import WebProxyConfig
from provisioning.demo_estate import DemoEstate

SQUID = Path("/usr/sbin/squid")
PAGES = {
    "findajob.dwp.gov.uk": ("Find a job", "Search for jobs in England, Scotland and Wales."),
    "www.gov.uk": ("Apply for a council home", "Find out how to apply for council housing."),
}
GRANTED_SITE = "find-a-job"
"""The catalogue site the demo grants T-0001 (its host: findajob.dwp.gov.uk)."""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def origin_context(directory: Path) -> ssl.SSLContext:
    """A fresh demo origin CA (DIR/origin-ca.pem, what a browser would be told to trust) and a
    server context whose certificate names every page's host."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Cellbridge demo origins CA"))
          .issuer_name(_name("Cellbridge demo origins CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(next(iter(PAGES))))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in PAGES]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "origin-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "origin.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "origin.key").write_bytes(_pem_key(key))
    (directory / "origin.key").chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(directory / "origin.pem"), str(directory / "origin.key"))
    return context


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        title, text = PAGES.get(host, ("Not found", "No such page."))
        body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} - "
                f"GOV.UK (demo)</title></head><body><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(text)}</p><p>Served by the Cellbridge demo as {host}.</p>"
                "</body></html>").encode()
        self.send_response(200 if host in PAGES else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class DemoWeb:
    directory: Path
    address: str
    server: ThreadingHTTPServer
    squid_dir: Path
    gateway: WebProxyConfig
    forwarder: WebConfig

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.squid_dir, ignore_errors=True)


def serve(context: ssl.SSLContext) -> tuple[str, ThreadingHTTPServer]:
    """The origins on a free 127.0.0.x:443; raises PermissionError without root."""
    addresses = [f"127.0.0.{n}" for n in random.sample(range(2, 255), 8)]
    for address in addresses:
        try:
            server = ThreadingHTTPServer((address, 443), _Page, bind_and_activate=False)
            server.daemon_threads = True
            server.server_bind()
            server.server_activate()
        except PermissionError:
            raise
        except OSError:
            continue
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, name="demo-origins", daemon=True).start()
        return address, server
    raise OSError("no free 127.0.0.x:443 for the demo origins")


def start(directory: Path, estate: DemoEstate) -> DemoWeb | str:
    """The origins, Squid's directory and hosts file, and the `[web]` sections; or why not."""
    if not SQUID.exists():
        return "squid-openssl is not installed (scripts/system-deps.sh)"
    try:
        address, server = serve(origin_context(directory))
    except PermissionError:
        return "the demo origins listen on port 443: run the demo as root for the web path"
    except OSError as exc:
        return str(exc)
    # Squid drops to its own user: its directory must be reachable by it (the demo's may not).
    squid_dir = Path(tempfile.mkdtemp(prefix="cellbridge-demo-squid-"))
    squid_dir.chmod(0o755)
    hosts = squid_dir / "hosts"
    hosts.write_text("".join(f"{address} {name}\n" for name in PAGES))
    hosts.chmod(0o644)
    front = estate.repository_tls("127.0.0.1")
    gateway = WebProxyConfig(
        host="127.0.0.1", port=free_port(), cert=front.cert, key=front.key, ca=front.ca,
        crl=estate.estate.broker_material(estate.wing) / "crl.pem", squid_dir=squid_dir,
        hosts_file=hosts)
    forwarder = WebConfig(gateway_host="127.0.0.1", gateway_port=gateway.port,
                          listen_port=free_port())
    return DemoWeb(directory, address, server, squid_dir, gateway, forwarder)
