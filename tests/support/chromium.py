"""Debian's Chromium (/usr/bin/chromium) driven by Playwright with `executable_path`: no browser
download. One set of flags for every test that opens a page."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def installed() -> bool:
    return shutil.which(CHROMIUM) is not None


def spki_sha256(cert_pem: bytes) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    `--ignore-certificate-errors-spki-list` takes it: only a certificate with this very key is
    accepted despite its unknown issuer; every other certificate is checked as usual."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.asynccontextmanager
async def chromium_context(*, proxy: str | None = None, trust_spki: tuple[str, ...] = ()
                           ) -> AsyncIterator[Any]:
    """A headless Chromium with a fresh profile (its own --user-data-dir), optionally through
    `proxy` (http://127.0.0.1:PORT) and trusting the certificates whose keys are `trust_spki`."""
    from playwright.async_api import async_playwright

    args = [*CHROMIUM_ARGS]
    if trust_spki:
        args.append("--ignore-certificate-errors-spki-list=" + ",".join(trust_spki))
    profile = Path(tempfile.mkdtemp(prefix="cellbridge-chromium-"))
    try:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=args,
                proxy={"server": proxy} if proxy else None)
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
