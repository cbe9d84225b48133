"""HTTP signatures: draft-cavage-12 as Mastodon deploys it, RFC 9421, and RFC 3230/9530 digests."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from activitypub.digests import check_body_digests, content_digest_header, digest_header
from activitypub.errors import SignatureError
from activitypub.keys import PublicKeyTypes
from activitypub.message_signatures import (
    authority,
    header_fields,
    sign_request_rfc9421,
    signature_base,
    utc,
)
from activitypub.structured_fields import (
    InnerList,
    Item,
    StructuredFieldError,
    parse_dictionary,
    serialize_item,
)

__all__ = [
    "SignedRequest",
    "content_digest_header",
    "digest_header",
    "parse_signed_request",
    "sign_request",
    "sign_request_rfc9421",
]

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_CAVAGE_ALGORITHMS = ("rsa-sha256", "hs2019")
_RFC9421_ALGORITHMS = ("rsa-v1_5-sha256", "ed25519")
# Algorithm names a key type may verify; "" is an RFC 9421 signature without ``alg`` (§3.3.7).
_RSA_ALGORITHMS = frozenset({"rsa-sha256", "hs2019", "rsa-v1_5-sha256", ""})
_ED25519_ALGORITHMS = frozenset({"hs2019", "ed25519", ""})
# Mastodon SignedRequest: without (expires) a signature lives 5 minutes, never more than 12 hours.
_DEFAULT_LIFETIME = timedelta(minutes=5)
_MAX_LIFETIME = timedelta(hours=12)
# The quoted value as an unrolled loop (runs of plain characters, then one escape): the
# same language as ``(?:[^"\\]|\\.)*`` without one alternation per character of a signature.
_CAVAGE_PARAM = re.compile(
    r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^",\s]*))\s*'
)
_UNESCAPE = re.compile(r"\\(.)")
# RFC 9110 §5.6.7 IMF-fixdate, which every peer sends; anything else takes the email parser.
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d\d):(\d\d):(\d\d) GMT\Z"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_WINDOW_REASON = "Signed request date outside acceptable time window"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _request_target(method: str, parts: SplitResult, *, with_query: bool) -> str:
    """The draft-cavage-12 §2.3 ``(request-target)`` value: ``get /path?query``, S2."""
    query = f"?{parts.query}" if with_query and parts.query else ""
    return f"{method.lower()} {parts.path or '/'}{query}"


def sign_request(
    *,
    method: str,
    url: str,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    body: bytes | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign a request with draft-cavage-12 ``rsa-sha256`` exactly as Mastodon does (S1-S6).

    Returns the headers to add: ``Host``, ``Date`` (IMF-fixdate, RFC 9110 §5.6.7), ``Digest``
    (only when ``body`` is not None) and ``Signature``. A GET covers ``(request-target) host
    date``; with a body ``digest`` is covered too. Sign the final body bytes (S5).
    """
    if '"' in key_id or "\\" in key_id:
        raise ValueError("key_id must not contain quotes or backslashes")
    parts = urlsplit(url)
    headers = {"Host": authority(parts), "Date": format_datetime(utc(now), usegmt=True)}
    lines = [
        f"(request-target): {_request_target(method, parts, with_query=True)}",
        f"host: {headers['Host']}",
        f"date: {headers['Date']}",
    ]
    covered = "(request-target) host date"
    if body is not None:
        headers["Digest"] = digest_header(body)
        lines.append(f"digest: {headers['Digest']}")
        covered += " digest"
    signature = private_key.sign("\n".join(lines).encode(), _PKCS1, _SHA256)
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{covered}",signature="{_b64(signature)}"'
    )
    return headers


@dataclass(frozen=True)
class SignedRequest:
    """A parsed, pre-checked request signature, waiting only for the signer's public key.

    ``algorithm`` is the signature's declared algorithm (``hs2019`` when a cavage signature
    names none; ``""`` when an RFC 9421 signature has no ``alg``, RFC 9421 §3.3.7).
    ``bases`` are the signing strings to try, in order (S9: with the query, then without).
    """

    key_id: str
    scheme: Literal["cavage", "rfc9421"]
    algorithm: str
    covered: tuple[str, ...]
    created: datetime | None
    signature: bytes = field(repr=False)
    bases: tuple[bytes, ...] = field(repr=False)

    def verify(self, public_key: PublicKeyTypes) -> None:
        """Check the signature: RSASSA-PKCS1-v1_5 SHA-256 (RFC 8017 §8.2) or Ed25519 (RFC 8032).

        Raises ``SignatureError`` (401) if it does not verify with ``public_key``.
        """
        if isinstance(public_key, rsa.RSAPublicKey):
            if self.algorithm not in _RSA_ALGORITHMS:
                raise SignatureError(f"an RSA key cannot verify a {self.algorithm} signature")
            for base in self.bases:
                try:
                    public_key.verify(self.signature, base, _PKCS1, _SHA256)
                except InvalidSignature:
                    continue
                return
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            if self.algorithm not in _ED25519_ALGORITHMS:
                raise SignatureError(f"an Ed25519 key cannot verify a {self.algorithm} signature")
            for base in self.bases:
                try:
                    public_key.verify(self.signature, base)
                except InvalidSignature:
                    continue
                return
        else:
            raise SignatureError(f"unsupported key type {type(public_key).__name__}")
        raise SignatureError("signature does not verify")


def parse_signed_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    now: datetime | None = None,
    window: timedelta = timedelta(hours=1),
) -> SignedRequest:
    """Parse and pre-check a request's HTTP signature before any key is fetched (S7-S11, S17-S19).

    ``url`` is the full URL as received, with the path exactly as sent (not re-encoded).
    ``window`` is the clock-skew margin either side of the signature's lifetime (S11).
    With ``body`` given, ``Digest``/``Content-Digest`` must match it. Raises ``SignatureError``.
    """
    fields = header_fields(headers)
    if "signature" not in fields:
        raise SignatureError("request is not signed")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise SignatureError(f"invalid request URL: {exc}", status=400) from exc
    if "signature-input" in fields:
        return _parse_rfc9421(method, parts, fields, body, utc(now), window)
    return _parse_cavage(method, parts, fields, body, utc(now), window)


def _timestamp(value: object, name: str) -> datetime:
    """A signature ``created``/``expires`` parameter (Unix seconds) as a UTC datetime."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(value)
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise SignatureError(f"Invalid {name} parameter: {value!r}") from exc


def _check_window(
    created: datetime | None, expires: datetime | None, now: datetime, window: timedelta
) -> None:
    """S11: Mastodon's rule, with ``window`` as its clock-skew margin (default 1 h)."""
    if created is not None:
        expires = min(expires or created + _DEFAULT_LIFETIME, created + _MAX_LIFETIME)
        if created > now + window:
            raise SignatureError(_WINDOW_REASON)
    if expires is not None and now > expires + window:
        raise SignatureError(_WINDOW_REASON)


def _http_date(value: str) -> datetime:
    """A ``Date`` header as a datetime, as ``email.utils.parsedate_to_datetime`` reads it."""
    fixed = _IMF_FIXDATE.match(value)
    if fixed is not None:
        day, month, year, hour, minute, second = fixed.groups()
        try:
            return datetime(
                int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
            )
        except ValueError:
            pass  # e.g. 31 Nov: the email parser decides, as it always did
    return parsedate_to_datetime(value)


def _parse_cavage_params(value: str) -> dict[str, str]:
    """Split a draft-cavage-12 §4.1 ``Signature`` header into its parameters."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _CAVAGE_PARAM.match(value, pos)
        if match is None or match.group(1) in params:
            raise SignatureError("Error parsing signature parameters")
        quoted, bare = match.group(2), match.group(3)
        if quoted is not None:
            params[match.group(1)] = _UNESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            params[match.group(1)] = bare
        pos = match.end()
        if pos < len(value):
            if value[pos] != ",":
                raise SignatureError("Error parsing signature parameters")
            pos += 1
    return params


def _parse_cavage(
    method: str,
    parts: SplitResult,
    fields: Mapping[str, str],
    body: bytes | None,
    now: datetime,
    window: timedelta,
) -> SignedRequest:
    """draft-cavage-12 §2 with the checks of Mastodon's ``HttpSignature`` (S7-S11).

    Mastodon's rule order: parameters, algorithm, time window, coverage, digest.
    """
    params = _parse_cavage_params(fields["signature"])
    key_id, encoded = params.get("keyId"), params.get("signature")
    if not key_id or not encoded:
        raise SignatureError("Incompatible request signature. keyId and signature are required")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in _CAVAGE_ALGORITHMS:
        raise SignatureError(
            f"Unsupported signature algorithm {algorithm!r} (only rsa-sha256 and hs2019 "
            "are supported)"
        )
    default_covered = "(created)" if algorithm == "hs2019" else "date"
    covered = tuple(params.get("headers", default_covered).lower().split())

    created: datetime | None = None
    if algorithm == "hs2019" and params.get("created"):
        created = _timestamp(params["created"], "(created)")
    elif "date" in fields:
        try:
            created = _http_date(fields["date"])
        except (TypeError, ValueError, IndexError) as exc:
            raise SignatureError(f"Invalid Date header: {fields['date']!r}") from exc
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
    expires = _timestamp(params["expires"], "(expires)") if params.get("expires") else None
    _check_window(created, expires, now, window)

    if "date" not in covered and "(created)" not in covered:
        raise SignatureError("the Date header or (created) pseudo-header must be signed")
    if "(request-target)" not in covered and "digest" not in covered:
        raise SignatureError("the Digest header or (request-target) pseudo-header must be signed")
    if method.upper() == "GET" and "host" not in covered:
        raise SignatureError("the Host header must be signed on a GET request")
    if method.upper() == "POST" and "digest" not in covered:
        raise SignatureError("the Digest header must be signed on a POST request")
    if body is not None:
        check_body_digests(fields, body, required="digest" if method.upper() == "POST" else None)

    def signing_string(with_query: bool) -> bytes:
        lines = []
        for name in covered:
            if name == "(request-target)":
                value = _request_target(method, parts, with_query=with_query)
            elif name in ("(created)", "(expires)"):
                if algorithm != "hs2019":
                    raise SignatureError(f"Invalid pseudo-header {name} for rsa-sha256")
                value = params.get(name[1:-1], "")
                if not value:
                    raise SignatureError(
                        f"Pseudo-header {name} used but corresponding argument missing"
                    )
            elif name in fields:
                value = fields[name]
            elif name == "host":  # HTTP/2 carries the authority in :authority, not Host
                value = authority(parts)
            else:
                raise SignatureError(f"{name.title()} header missing")
            lines.append(f"{name}: {value}")
        return "\n".join(lines).encode("utf-8", "surrogateescape")

    # S9: Mastodon before 4.x signed (request-target) without the query string.
    bases: tuple[bytes, ...] = (signing_string(True),)
    if parts.query and "(request-target)" in covered:
        bases += (signing_string(False),)
    return SignedRequest(
        key_id, "cavage", algorithm, covered, created, _decode_signature(encoded), bases
    )


def _decode_signature(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise SignatureError("signature is not valid base64") from exc


def _parse_rfc9421(
    method: str,
    parts: SplitResult,
    fields: Mapping[str, str],
    body: bytes | None,
    now: datetime,
    window: timedelta,
) -> SignedRequest:
    """RFC 9421 §3.2 with the requirements of Mastodon's ``HttpMessageSignature`` (S17-S19)."""
    try:
        inputs = parse_dictionary(fields["signature-input"])
        signatures = parse_dictionary(fields["signature"])
    except StructuredFieldError as exc:
        raise SignatureError(f"Error parsing signature parameters: {exc}") from exc
    if len(inputs) != 1:
        raise SignatureError(f"exactly one signature is supported, got {len(inputs)}")
    label, inner = next(iter(inputs.items()))
    signature = signatures.get(label)
    if not isinstance(inner, InnerList):
        raise SignatureError(f"Signature-Input {label} is not an inner list")
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise SignatureError(f"Signature has no byte sequence labelled {label}")
    key_id, created_param = inner.params.get("keyid"), inner.params.get("created")
    if not isinstance(key_id, str) or not key_id or not isinstance(created_param, int):
        raise SignatureError("Incompatible request signature. keyid and created are required")
    algorithm = inner.params.get("alg", "")
    if not isinstance(algorithm, str) or (algorithm and algorithm not in _RFC9421_ALGORITHMS):
        raise SignatureError(
            f"Unsupported signature algorithm {algorithm!r} (only rsa-v1_5-sha256 and ed25519 "
            "are supported)"
        )
    created = _timestamp(created_param, "created")
    expires_param = inner.params.get("expires")
    expires = None if expires_param is None else _timestamp(expires_param, "expires")
    _check_window(created, expires, now, window)

    covered = tuple(
        str(item.value) if not item.params else serialize_item(item) for item in inner.items
    )
    if "@method" not in covered or "@target-uri" not in covered:
        raise SignatureError("the @method and @target-uri derived components must be signed")
    if method.upper() == "POST" and "content-digest" not in covered:
        raise SignatureError("the Content-Digest header must be signed on a POST request")
    if body is not None:
        required = "content-digest" if method.upper() == "POST" else None
        check_body_digests(fields, body, required=required)
    base = signature_base(inner, method=method, parts=parts, fields=fields)
    return SignedRequest(key_id, "rfc9421", algorithm, covered, created, signature.value, (base,))
