"""The TOTP enrolment QR code (`segno`): as terminal text for `staff account add`, or as SVG."""

from __future__ import annotations

import io

import segno


def qr_text(uri: str) -> str:
    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False,
                                    svgns=True, title="TOTP enrolment")
    return out.getvalue().decode()


def qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
