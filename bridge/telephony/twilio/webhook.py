"""TwiML answers and X-Twilio-Signature checks (PROTOCOLS.md C.3, C.4).

TwiML is written byte for byte as the official ``twilio`` package writes it (ElementTree
serialisation): attributes sorted by name, attribute values escaped for ``& < > "`` and
CR/LF/TAB, text escaped for ``& < >``, empty elements self-closed as ``<Name />``.

Signatures follow ``twilio.request_validator.RequestValidator``: base64 HMAC-SHA1 keyed with
the Auth Token over the URL followed by ``name + value`` for every parameter, names sorted and
each name's distinct values sorted. A request passes when the signature matches the URL with
its port removed or with the scheme's default port added. One deliberate difference: the
default port for ``wss`` is 443 here (the package adds 80 to anything not ``https``), because
Twilio connects media streams over ``wss``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = [
    "SignatureParams",
    "compute_signature",
    "twiml_connect_stream",
    "twiml_dial",
    "twiml_reject",
    "twiml_say_hangup",
    "validate_body_sha256",
    "validate_signature",
    "validate_websocket_upgrade",
    "websocket_url",
]

SignatureParams = Mapping[str, str | Sequence[str]]
"""Form or query parameters: a name maps to one value or to all its repeated values."""

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_DEFAULT_PORTS = {"https": 443, "wss": 443}  # anything else: 80, as in RequestValidator.add_port
_WS_SCHEMES = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}


# -- TwiML -----------------------------------------------------------------------------------


def _escape_attr(value: str) -> str:
    # Same replacements, in the same order, as xml.etree.ElementTree._escape_attrib.
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\n", "&#10;")
        .replace("\t", "&#09;")
    )


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _element(name: str, attrs: Mapping[str, str | None], inner: str = "") -> str:
    """One element; ``inner`` is already-escaped content. ``None`` attributes are left out."""
    attr_text = "".join(f' {key}="{_escape_attr(value)}"' for key, value in sorted(attrs.items()) if value is not None)
    if inner:
        return f"<{name}{attr_text}>{inner}</{name}>"
    return f"<{name}{attr_text} />"


def _document(body: str) -> str:
    return f"{_DECLARATION}<Response>{body}</Response>"


def twiml_connect_stream(
    url: str,
    parameters: Mapping[str, str],
    *,
    name: str | None = None,
    status_callback: str | None = None,
) -> str:
    """``<Connect><Stream>``: a bidirectional media stream to ``url`` (``wss://``, no query string).

    ``parameters`` become ``<Parameter>`` elements, in mapping order; Twilio hands them back in
    the ``start`` message's ``customParameters``.
    """
    params = "".join(_element("Parameter", {"name": key, "value": value}) for key, value in parameters.items())
    stream = _element("Stream", {"url": url, "name": name, "statusCallback": status_callback}, params)
    return _document(_element("Connect", {}, stream))


def twiml_reject(reason: str = "busy") -> str:
    """``<Reject>``: refuse the call unanswered (``reason`` is ``busy`` or ``rejected``)."""
    return _document(_element("Reject", {"reason": reason}))


def twiml_say_hangup(text: str) -> str:
    """``<Say>`` a sentence, then ``<Hangup>``."""
    return _document(_element("Say", {}, _escape_text(text)) + _element("Hangup", {}))


def twiml_dial(to: str, caller_id: str | None = None) -> str:
    """``<Dial>`` another number, for the ``Twiml`` field of a call update (no XML declaration)."""
    return f"<Response>{_element('Dial', {'callerId': caller_id}, _escape_text(to))}</Response>"


# -- signatures ------------------------------------------------------------------------------


def compute_signature(auth_token: str, url: str, params: SignatureParams | None = None) -> str:
    """The X-Twilio-Signature Twilio sends for a request to ``url`` with these POST parameters."""
    parts = [url]
    if params:
        for name in sorted(params):
            value = params[name]
            # A str is itself a Sequence[str]: test it first.
            values = (value,) if isinstance(value, str) else value
            parts.extend(name + item for item in sorted(set(values)))
    mac = hmac.new(auth_token.encode(), "".join(parts).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _port_variants(url: str) -> tuple[str, str]:
    """The URL without its port and with an explicit port (given, or the scheme's default)."""
    parts = urlsplit(url)
    if parts.port is None:
        with_port = parts._replace(netloc=f"{parts.netloc}:{_DEFAULT_PORTS.get(parts.scheme, 80)}")
        return url, urlunsplit(with_port)
    without_port = parts._replace(netloc=parts.netloc.rpartition(":")[0])
    return urlunsplit(without_port), url


def validate_signature(auth_token: str, url: str, params: SignatureParams | None, signature: str) -> bool:
    """Whether ``signature`` (the X-Twilio-Signature header) signs this URL and these parameters.

    ``url`` is the full URL Twilio requested, query included. Pass every value of a repeated
    form field (Starlette: ``{k: form.getlist(k) for k in form}``). For JSON-body webhooks
    pass ``params=None`` and check the body with :func:`validate_body_sha256` as well.
    """
    try:
        expected = signature.encode()
        return any(
            hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), expected)
            for candidate in _port_variants(url)
        )
    except ValueError:  # a malformed port or IPv6 host in the URL; text that is not encodable
        return False


def validate_body_sha256(url: str, body: bytes) -> bool:
    """Whether the URL's ``bodySHA256`` query parameter is the SHA-256 of the raw request body.

    False when the URL carries no ``bodySHA256``: such a body cannot be authenticated.
    """
    try:
        claimed = parse_qs(urlsplit(url).query).get("bodySHA256")
        if not claimed:
            return False
        return hmac.compare_digest(hashlib.sha256(body).hexdigest().encode(), claimed[0].encode())
    except ValueError:
        return False


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """First value of a header by lower-case name; plain dicts are not case-insensitive, so scan."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _first_forwarded(headers: Mapping[str, str], name: str) -> str | None:
    # A chain of proxies appends ("https, http"): the first entry is what the client used.
    value = _header(headers, name)
    if value is None:
        return None
    return value.split(",", 1)[0].strip() or None


def websocket_url(scheme: str, host: str, path: str, headers: Mapping[str, str]) -> str:
    """The ``wss://host/path`` URL Twilio connected to, as seen through any reverse proxy.

    ``scheme`` and ``host`` are what this server saw (ASGI scope scheme, Host header);
    X-Forwarded-Proto (``https`` -> ``wss``, ``http`` -> ``ws``) and X-Forwarded-Host win over
    them. ``path`` is the request path without the query string.
    """
    proto = (_first_forwarded(headers, "x-forwarded-proto") or scheme).lower()
    host = _first_forwarded(headers, "x-forwarded-host") or host
    return f"{_WS_SCHEMES.get(proto, proto)}://{host}{path}"


def validate_websocket_upgrade(
    auth_token: str,
    scheme: str,
    host: str,
    path: str,
    query: SignatureParams,
    headers: Mapping[str, str],
) -> bool:
    """Whether a media-stream WebSocket handshake carries a valid X-Twilio-Signature.

    The signature covers :func:`websocket_url` with the query parameters as the parameter set.
    A missing header fails.
    """
    signature = _header(headers, "x-twilio-signature")
    if signature is None:
        return False
    return validate_signature(auth_token, websocket_url(scheme, host, path, headers), query, signature)
