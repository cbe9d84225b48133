"""RFC 9421 HTTP Message Signatures: component values, the signature base, and signing."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from activitypub.digests import content_digest_header
from activitypub.errors import SignatureError
from activitypub.structured_fields import (
    InnerList,
    Item,
    Token,
    serialize_inner_list,
    serialize_item,
)

__all__ = [
    "authority",
    "header_fields",
    "sign_request_rfc9421",
    "signature_base",
    "utc",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def utc(now: datetime | None) -> datetime:
    """Return ``now`` (naive means UTC) or the current time, as an aware UTC datetime."""
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def authority(parts: SplitResult) -> str:
    """The normalised authority (RFC 9421 §2.2.3, RFC 9110 §4.2.3): no userinfo or default port.

    This is also what ``Host`` carries (S4).
    """
    netloc = parts.netloc.rpartition("@")[2].lower()
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        netloc = netloc.rpartition(":")[0]
    return netloc


def header_fields(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case field names; repeated fields joined by ``", "`` (RFC 9110 §5.3, RFC 9421 §2.1).

    Works for a plain dict and for a multidict whose ``items()`` repeats a name.
    """
    fields: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
    return fields


def _component_value(item: Item, method: str, parts: SplitResult, fields: Mapping[str, str]) -> str:
    """One component value: an HTTP field (RFC 9421 §2.1) or a derived component (§2.2)."""
    name = item.value
    if not isinstance(name, str) or isinstance(name, Token):
        raise SignatureError(f"malformed component identifier {name!r}")
    if name == "@query-param" and set(item.params) == {"name"}:
        wanted = item.params["name"]
        if not isinstance(wanted, str):
            raise SignatureError("malformed @query-param name")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        values = [value for key, value in pairs if key == unquote(wanted)]
        if len(values) != 1:
            raise SignatureError(f"query parameter {wanted!r} is missing or repeated")
        # §2.2.8: re-encode with the form-urlencoded percent-encode set, space as %20.
        return quote(values[0], safe="*").replace("~", "%7E")
    if item.params:
        raise SignatureError(f"unsupported component parameters on {name!r}")
    if not name.startswith("@"):
        if name not in fields:
            raise SignatureError(f"{name.title()} header missing")
        return fields[name]
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    if name == "@method":
        return method
    if name == "@target-uri":
        return f"{parts.scheme.lower()}://{parts.netloc}{path}{query}"
    if name == "@authority":
        return authority(parts)
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@request-target":
        return path + query
    if name == "@path":
        return path
    if name == "@query":
        return f"?{parts.query}"
    raise SignatureError(f"unsupported derived component {name!r}")


def signature_base(
    inner: InnerList, *, method: str, parts: SplitResult, fields: Mapping[str, str]
) -> bytes:
    """Build the signature base of RFC 9421 §2.5 for the covered components in ``inner``.

    ``fields`` maps lower-case header names to values (see ``header_fields``). Raises
    ``SignatureError`` for a missing field, an unsupported or a repeated component.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for item in inner.items:
        identifier = serialize_item(item)
        if identifier in seen:
            raise SignatureError(f"component {identifier} is covered twice")
        seen.add(identifier)
        lines.append(f"{identifier}: {_component_value(item, method, parts, fields)}")
    lines.append(f'"@signature-params": {serialize_inner_list(inner)}')
    # surrogateescape restores the raw bytes of a non-UTF-8 header decoded that way.
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def sign_request_rfc9421(
    *,
    method: str,
    url: str,
    key_id: str,
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    body: bytes | None = None,
    now: datetime | None = None,
    label: str = "sig1",
    components: Sequence[str] | None = None,
) -> dict[str, str]:
    """Sign a request with RFC 9421 §3.1 the way Fedify does (S18, S21), e.g. to double-knock (S20).

    Covers ``@method @target-uri @authority host date`` (+ ``content-digest`` with a body)
    unless ``components`` names others; RSA keys sign ``rsa-v1_5-sha256`` (§3.3.2), Ed25519
    keys ``ed25519`` (§3.3.6). Returns the headers to add: ``Host``, ``Date``,
    ``Content-Digest`` (with a body), ``Signature-Input`` and ``Signature``.
    """
    parts = urlsplit(url)
    created = utc(now)
    headers = {"Host": authority(parts), "Date": format_datetime(created, usegmt=True)}
    if body is not None:
        headers["Content-Digest"] = content_digest_header(body)
    if components is None:
        components = ("@method", "@target-uri", "@authority", "host", "date")
        components += ("content-digest",) if body is not None else ()
    is_rsa = isinstance(private_key, rsa.RSAPrivateKey)
    inner = InnerList(
        tuple(Item(name) for name in components),
        {
            "created": int(created.timestamp()),
            "keyid": key_id,
            "alg": "rsa-v1_5-sha256" if is_rsa else "ed25519",
        },
    )
    base = signature_base(inner, method=method, parts=parts, fields=header_fields(headers))
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(base, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = private_key.sign(base)
    headers["Signature-Input"] = f"{label}={serialize_inner_list(inner)}"
    headers["Signature"] = f"{label}=:{base64.b64encode(signature).decode('ascii')}:"
    return headers
