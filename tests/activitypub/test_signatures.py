"""HTTP signatures (PROTOCOL.md §2, S1-S21): golden vectors, the negative matrix, interop."""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpsig
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from activitypub.errors import SignatureError
from activitypub.keys import (
    PublicKeyTypes,
    generate_private_key,
    load_private_key,
    private_key_to_pem,
    public_key_to_pem,
)
from activitypub.signatures import (
    SignedRequest,
    content_digest_header,
    digest_header,
    parse_signed_request,
    sign_request,
    sign_request_rfc9421,
)

VECTORS = Path(__file__).parent.parent / "vectors"
GOLDEN: dict[str, Any] = json.loads((VECTORS / "http-signatures.json").read_text())
NOW = datetime(2023, 12, 20, 10, 0, tzinfo=UTC)
DATE = "Wed, 20 Dec 2023 10:00:00 GMT"
KEY_ID = "https://dept-b.test/users/bob#main-key"
INBOX = "https://dept-a.test/users/alice/inbox"
OUTBOX = "https://dept-a.test/users/alice/outbox"
BODY = b'{"type":"Follow","actor":"https://dept-b.test/users/bob"}'
# Kantine's own fixed RSA-2048 test key; never used outside tests.
KEY = load_private_key((VECTORS / "kantine-test-rsa-2048.pem").read_text())
PUBLIC = KEY.public_key()
OTHER_KEY = generate_private_key()
ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _parse(
    method: str, url: str, headers: dict[str, str], body: bytes | None, now: datetime = NOW
) -> SignedRequest:
    return parse_signed_request(method=method, url=url, headers=headers, body=body, now=now)


def _cavage(
    method: str,
    path: str,
    headers: dict[str, str],
    covered: str,
    *,
    algorithm: str | None = "rsa-sha256",
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = KEY,
    extra: str = "",
    params: dict[str, str] | None = None,
    separator: str = ",",
) -> dict[str, str]:
    """Sign like a third-party peer would, independently of sign_request (draft-cavage-12 §2.3)."""
    lower = {name.lower(): value for name, value in headers.items()}
    params = params or {}
    lines = []
    for name in covered.split():
        if name == "(request-target)":
            lines.append(f"{name}: {method.lower()} {path}")
        elif name in ("(created)", "(expires)"):
            lines.append(f"{name}: {params[name[1:-1]]}")
        else:
            lines.append(f"{name}: {lower[name]}")
    data = "\n".join(lines).encode()
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = key.sign(data)
    parts = [f'keyId="{KEY_ID}"']
    if algorithm is not None:
        parts.append(f'algorithm="{algorithm}"')
    parts += [f"{name}={value}" for name, value in params.items()]
    parts += [f'headers="{covered}"', f'signature="{base64.b64encode(raw).decode()}"']
    return {**headers, "Signature": separator.join(parts) + extra}


def _rejects(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    now: datetime = NOW,
    key: PublicKeyTypes = PUBLIC,
) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        _parse(method, url, headers, body, now).verify(key)
    return caught.value


# --------------------------------------------------------------------------- signing


def test_digest_headers_match_rfc9530_vector() -> None:
    """S3, S19; RFC 9530 Appendix B value for {"hello": "world"} (PROTOCOL.md T4)."""
    body = b'{"hello": "world"}'
    assert digest_header(body) == "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
    assert content_digest_header(body) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"


@pytest.mark.parametrize("name", ["cavage_get", "cavage_post"])
def test_sign_request_matches_openssl_golden_vector_s1_s4(name: str) -> None:
    """S1-S4: our Signature equals the one openssl computed over the expected signing string."""
    case = GOLDEN[name]
    body = case["body"].encode() if "body" in case else None
    headers = sign_request(
        method=case["method"],
        url=case["url"],
        key_id=case["key_id"],
        private_key=KEY,
        body=body,
        now=NOW,
    )
    assert headers == case["headers"]
    signed = _parse(case["method"], case["url"], headers, body)
    assert signed.bases[0].decode() == case["signing_string"]
    signed.verify(PUBLIC)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dept-a.test:443/x", "dept-a.test"),
        ("http://dept-a.test:80/x", "dept-a.test"),
        ("http://Dept-A.test:8080/x", "dept-a.test:8080"),
        ("https://[fd00::1]:8443/x", "[fd00::1]:8443"),
    ],
)
def test_sign_request_host_is_authority_sent_s4(url: str, host: str) -> None:
    """S4: Host carries a non-default port and drops the default one; Date is IMF-fixdate."""
    headers = sign_request(method="GET", url=url, key_id=KEY_ID, private_key=KEY, now=NOW)
    assert headers["Host"] == host
    assert headers["Date"] == DATE
    assert "Digest" not in headers


@pytest.mark.parametrize(
    ("method", "url", "body", "covered"),
    [
        ("GET", OUTBOX, None, ("(request-target)", "host", "date")),
        ("GET", OUTBOX + "?page=true&min_id=5", None, ("(request-target)", "host", "date")),
        ("POST", INBOX, BODY, ("(request-target)", "host", "date", "digest")),
        ("POST", INBOX, b"", ("(request-target)", "host", "date", "digest")),
    ],
    ids=["get", "get-query", "post", "post-empty-body"],
)
def test_round_trip_s2_s3(
    method: str, url: str, body: bytes | None, covered: tuple[str, ...]
) -> None:
    """S2, S3: what we sign, we verify; GET covers host, POST covers digest."""
    headers = sign_request(
        method=method, url=url, key_id=KEY_ID, private_key=KEY, body=body, now=NOW
    )
    signed = _parse(method, url, headers, body)
    assert (signed.key_id, signed.scheme, signed.algorithm) == (KEY_ID, "cavage", "rsa-sha256")
    assert (signed.covered, signed.created) == (covered, NOW)
    signed.verify(PUBLIC)


# --------------------------------------------------------------------------- negative matrix


@dataclass(frozen=True)
class Case:
    """One received request and the exact rejection it must produce (SECURITY.md row 5)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    reason: str
    now: datetime = NOW
    key: PublicKeyTypes = field(default_factory=lambda: PUBLIC)
    status: int = 401


def _cavage_cases() -> list[Any]:
    get = sign_request(method="GET", url=OUTBOX, key_id=KEY_ID, private_key=KEY, now=NOW)
    post = sign_request(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    ok = Case("POST", INBOX, post, BODY, "signature does not verify")
    tampered = post["Signature"].replace('signature="', 'signature="AAAA', 1)
    tampered = tampered[: tampered.rindex('"') - 4] + '"'
    given = digest_header(BODY).removeprefix("SHA-256=")
    computed = digest_header(b'{"type":"Block"}').removeprefix("SHA-256=")
    no_digest = _cavage("POST", "/users/alice/inbox", post, "(request-target) host date")
    no_host = _cavage("GET", "/users/alice/outbox", get, "(request-target) date")
    window = "Signed request date outside acceptable time window"
    cases = {
        "header-missing": replace(
            ok,
            headers={k: v for k, v in post.items() if k != "Signature"},
            reason="request is not signed",
        ),
        "unknown-algorithm": replace(
            ok,
            headers={**post, "Signature": post["Signature"].replace("rsa-sha256", "rsa-sha512")},
            reason="Unsupported signature algorithm 'rsa-sha512' "
            "(only rsa-sha256 and hs2019 are supported)",
        ),
        "post-without-digest-covered": replace(
            ok, headers=no_digest, reason="the Digest header must be signed on a POST request"
        ),
        "get-without-host-covered": Case(
            "GET", OUTBOX, no_host, None, "the Host header must be signed on a GET request"
        ),
        "digest-mismatch": replace(
            ok,
            body=b'{"type":"Block"}',
            reason=f"Invalid Digest value. Computed SHA-256 digest: {computed}; given: {given}",
        ),
        "path-mismatch": replace(ok, url="https://dept-a.test/users/carol/inbox"),
        "method-mismatch": replace(ok, method="PUT"),
        "host-mismatch": replace(
            ok, url="https://dept-c.test/users/alice/inbox", headers={**post, "Host": "dept-c.test"}
        ),
        "date-too-old": replace(ok, now=NOW + timedelta(hours=2), reason=window),
        "date-in-future": replace(ok, now=NOW - timedelta(hours=2), reason=window),
        "date-unparseable": replace(
            ok, headers={**post, "Date": "wrong date"}, reason="Invalid Date header: 'wrong date'"
        ),
        "tampered-signature": replace(ok, headers={**post, "Signature": tampered}),
        "wrong-key": replace(ok, key=OTHER_KEY.public_key()),
        "malformed-header": replace(
            ok,
            headers={**post, "Signature": 'keyId="a" signature="b"'},
            reason="Error parsing signature parameters",
        ),
        "keyid-missing": replace(
            ok,
            headers={**post, "Signature": 'signature="AAAA"'},
            reason="Incompatible request signature. keyId and signature are required",
        ),
    }
    return [pytest.param(case, id=f"cavage-{name}") for name, case in cases.items()]


def _rfc9421_cases() -> list[Any]:
    post = sign_request_rfc9421(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    ok = Case("POST", INBOX, post, BODY, "signature does not verify")
    no_digest = sign_request_rfc9421(
        method="POST",
        url=INBOX,
        key_id=KEY_ID,
        private_key=KEY,
        body=BODY,
        now=NOW,
        components=("@method", "@target-uri", "@authority"),
    )
    raw = base64.b64decode(post["Signature"][6:-1])
    tampered = "sig1=:" + base64.b64encode(bytes([raw[0] ^ 1]) + raw[1:]).decode() + ":"
    given = content_digest_header(BODY)[9:-1]
    computed = content_digest_header(b'{"type":"Block"}')[9:-1]
    window = "Signed request date outside acceptable time window"
    cases = {
        "unknown-algorithm": replace(
            ok,
            headers={
                **post,
                "Signature-Input": post["Signature-Input"].replace(
                    "rsa-v1_5-sha256", "rsa-pss-sha512"
                ),
            },
            reason="Unsupported signature algorithm 'rsa-pss-sha512' "
            "(only rsa-v1_5-sha256 and ed25519 are supported)",
        ),
        "post-without-digest-covered": replace(
            ok,
            headers=no_digest,
            reason="the Content-Digest header must be signed on a POST request",
        ),
        "digest-mismatch": replace(
            ok,
            body=b'{"type":"Block"}',
            reason=f"Invalid Digest value. Computed SHA-256 digest: {computed}; given: {given}",
        ),
        "path-mismatch": replace(ok, url="https://dept-a.test/users/carol/inbox"),
        "method-mismatch": replace(ok, method="PUT"),
        "host-mismatch": replace(ok, url="https://dept-c.test/users/alice/inbox"),
        "created-too-old": replace(ok, now=NOW + timedelta(hours=2), reason=window),
        "created-in-future": replace(ok, now=NOW - timedelta(hours=2), reason=window),
        "tampered-signature": replace(ok, headers={**post, "Signature": tampered}),
        "wrong-key": replace(ok, key=OTHER_KEY.public_key()),
    }
    return [pytest.param(case, id=f"rfc9421-{name}") for name, case in cases.items()]


@pytest.mark.parametrize("case", _cavage_cases() + _rfc9421_cases())
def test_signature_negative_matrix(case: Case) -> None:
    """SECURITY.md row 5 (S7-S11, S17-S19): each changed field is rejected with its reason."""
    error = _rejects(case.method, case.url, case.headers, case.body, now=case.now, key=case.key)
    assert (error.reason, error.status) == (case.reason, case.status)


def test_negative_matrix_baselines_verify() -> None:
    """The matrix's unmodified requests verify, so each case fails only for its one change."""
    for sign in (sign_request, sign_request_rfc9421):
        headers = sign(method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW)
        _parse("POST", INBOX, headers, BODY).verify(PUBLIC)


# --------------------------------------------------------------------------- draft-cavage quirks


def test_query_left_out_by_signer_is_accepted_s9() -> None:
    """S9: older Mastodon signed (request-target) without the query; accept it as a fallback."""
    headers = _cavage(
        "GET",
        "/users/alice/outbox",
        {"Host": "dept-a.test", "Date": DATE},
        "(request-target) host date",
    )
    signed = _parse("GET", OUTBOX + "?foo=42", headers, None)
    assert len(signed.bases) == 2
    signed.verify(PUBLIC)


def test_query_mismatch_is_rejected_s9() -> None:
    """S9: a signature over ?foo=42 does not verify for ?foo=43 (nor for the bare path)."""
    headers = sign_request(
        method="GET", url=OUTBOX + "?foo=42", key_id=KEY_ID, private_key=KEY, now=NOW
    )
    for url in (OUTBOX + "?foo=43", OUTBOX):
        assert _rejects("GET", url, headers, None).reason == "signature does not verify"


@pytest.mark.parametrize("key", [KEY, ED_KEY], ids=["rsa", "ed25519"])
def test_hs2019_with_created_and_expires_s7_s11(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    """S7, S11: hs2019 takes the key's algorithm; (created)/(expires) set the time window."""
    created = int(NOW.timestamp())
    params = {"created": str(created), "expires": str(created + 3600)}
    headers = _cavage(
        "POST",
        "/users/alice/inbox",
        {"Host": "dept-a.test", "Digest": digest_header(BODY)},
        "(request-target) (created) (expires) host digest",
        algorithm="hs2019",
        key=key,
        params=params,
    )
    signed = _parse("POST", INBOX, headers, BODY, now=NOW + timedelta(hours=1, minutes=59))
    assert (signed.algorithm, signed.created) == ("hs2019", NOW)
    signed.verify(key.public_key())
    late = NOW + timedelta(hours=2, minutes=1)
    error = _rejects("POST", INBOX, headers, BODY, now=late, key=key.public_key())
    assert error.reason == "Signed request date outside acceptable time window"


def test_algorithm_absent_defaults_to_hs2019_covering_created_s7() -> None:
    """S7: no algorithm ⇒ hs2019; no headers ⇒ only (created), which is too weak (S8)."""
    headers = _cavage(
        "GET",
        "/users/alice/outbox",
        {},
        "(created)",
        algorithm=None,
        params={"created": str(int(NOW.timestamp()))},
    )
    headers["Signature"] = headers["Signature"].replace(',headers="(created)"', "")
    error = _rejects("GET", OUTBOX, headers, None)
    assert error.reason == "the Digest header or (request-target) pseudo-header must be signed"


def test_rsa_sha256_cannot_use_created_pseudo_header_s7() -> None:
    headers = _cavage(
        "GET",
        "/users/alice/outbox",
        {"Host": "dept-a.test", "Date": DATE},
        "(request-target) host date (created)",
        params={"created": str(int(NOW.timestamp()))},
    )
    assert _rejects("GET", OUTBOX, headers, None).reason == (
        "Invalid pseudo-header (created) for rsa-sha256"
    )


def test_gotosocial_style_request_is_accepted_s1() -> None:
    """S1: GoToSocial sends hs2019, a fragment-less keyId and ", "-separated parameters."""
    headers = {
        "host": "dept-a.test",
        "date": DATE,
        "digest": digest_header(BODY),
        "content-type": "application/activity+json",
    }
    headers = _cavage(
        "POST",
        "/users/alice/inbox",
        headers,
        "(request-target) host date digest",
        algorithm="hs2019",
        separator=", ",
    )
    signed = _parse("POST", INBOX, headers, BODY)
    assert (signed.algorithm, signed.covered[-1]) == ("hs2019", "digest")
    signed.verify(PUBLIC)


def test_ed25519_key_cannot_verify_rsa_sha256() -> None:
    headers = sign_request(method="GET", url=OUTBOX, key_id=KEY_ID, private_key=KEY, now=NOW)
    error = _rejects("GET", OUTBOX, headers, None, key=ED_KEY.public_key())
    assert error.reason == "an Ed25519 key cannot verify a rsa-sha256 signature"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-59), True),
        (timedelta(minutes=-61), False),
        (timedelta(minutes=64), True),
        (timedelta(minutes=66), False),
    ],
)
def test_time_window_is_mastodons_s11(offset: timedelta, accepted: bool) -> None:
    """S11: a Date-based signature is valid from now - 65 min to now + 60 min."""
    headers = sign_request(method="GET", url=OUTBOX, key_id=KEY_ID, private_key=KEY, now=NOW)
    if accepted:
        _parse("GET", OUTBOX, headers, None, now=NOW + offset).verify(PUBLIC)
    else:
        with pytest.raises(SignatureError, match="outside acceptable time window"):
            _parse("GET", OUTBOX, headers, None, now=NOW + offset)


@pytest.mark.parametrize(
    "digest",
    [
        digest_header(BODY).replace("SHA-256", "sha-256"),
        "SHA-512=AAAA," + digest_header(BODY),
        digest_header(BODY) + ", MD5=AAAA",
    ],
    ids=["lower-case-token", "sha512-first", "md5-after"],
)
def test_digest_header_variants_are_accepted_s10(digest: str) -> None:
    """S10: the algorithm token is case-insensitive; other algorithms beside SHA-256 are ignored."""
    headers = {"Host": "dept-a.test", "Date": DATE, "Digest": digest}
    headers = _cavage("POST", "/users/alice/inbox", headers, "(request-target) host date digest")
    _parse("POST", INBOX, headers, BODY).verify(PUBLIC)


def test_digest_without_sha256_is_rejected_s10() -> None:
    headers = {"Host": "dept-a.test", "Date": DATE, "Digest": "MD5=AAAA"}
    headers = _cavage("POST", "/users/alice/inbox", headers, "(request-target) host date digest")
    assert _rejects("POST", INBOX, headers, BODY).reason == (
        "only SHA-256 is supported in the Digest header. Offered algorithms: md5"
    )


def test_post_body_without_any_digest_header_is_rejected_s8() -> None:
    headers = sign_request(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    del headers["Digest"]
    error = _rejects("POST", INBOX, headers, BODY)
    assert (error.reason, error.status) == ("Digest header missing", 401)


@pytest.mark.parametrize(
    ("value", "reason", "status"),
    [
        ("sha-256=:not base64!:", "Content-Digest could not be parsed", 400),
        ("sha-256=:AAAA:,", "Content-Digest could not be parsed", 400),
        ("sha-256=X48E9q", "Content-Digest sha-256 is not a byte sequence", 400),
        ("sha-256=1", "Content-Digest sha-256 is not a byte sequence", 400),
        ("sha-512=:AAAA:", "only SHA-256 is supported in the Content-Digest header", 401),
    ],
    ids=["bad-base64", "trailing-comma", "token", "integer", "sha512-only"],
)
def test_content_digest_problems_s19(value: str, reason: str, status: int) -> None:
    """S19: a Content-Digest that is no RFC 8941 dictionary is a 400, as Mastodon answers."""
    headers = sign_request(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    error = _rejects("POST", INBOX, {**headers, "Content-Digest": value}, BODY)
    assert error.reason.startswith(reason)
    assert error.status == status


def test_header_names_are_case_insensitive_and_multidict_works() -> None:
    """aiohttp hands us a CIMultiDictProxy; plain dicts may use any case."""
    headers = sign_request(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    upper = {name.upper(): value for name, value in headers.items()}
    _parse("POST", INBOX, upper, BODY).verify(PUBLIC)
    multi: CIMultiDict[str] = CIMultiDict(headers)
    multi.add("Accept", "application/activity+json")
    parse_signed_request(method="POST", url=INBOX, headers=multi, body=BODY, now=NOW).verify(PUBLIC)


# --------------------------------------------------------------------------- RFC 9421


def test_rfc9421_constructed_golden_vector_s17_s18() -> None:
    """S18: the signature base we build equals the hand-written one openssl signed."""
    case = GOLDEN["rfc9421_post"]
    signed = _parse(case["method"], case["url"], case["headers"], case["body"].encode())
    assert signed.bases[0].decode() == case["signature_base"]
    assert (signed.scheme, signed.algorithm, signed.key_id) == (
        "rfc9421",
        "rsa-v1_5-sha256",
        case["key_id"],
    )
    signed.verify(PUBLIC)


def _message(method: str, url: str, headers: dict[str, str]) -> SimpleNamespace:
    """The minimal request object http_message_signatures reads (method, url, headers)."""
    return SimpleNamespace(method=method, url=url, headers=headers)


def test_rfc9421_from_http_message_signatures_package_s17_s19() -> None:
    """An independent RFC 9421 implementation signs; we verify, derived components included."""
    url = INBOX + "?x=a%20b&Pet=dog~"
    resolver = MappingKeyResolver(public_keys={}, private_keys={KEY_ID: KEY})
    message = _message("POST", url, {"Host": "dept-a.test"})
    HTTPMessageSigner(signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=resolver).sign(
        message,
        key_id=KEY_ID,
        created=NOW,
        label="sig1",
        body=BODY,
        covered_component_ids=(
            "@method",
            "@target-uri",
            "@authority",
            "@scheme",
            "@request-target",
            "@path",
            "@query",
            '"@query-param";name="Pet"',
            "host",
        ),
    )
    signed = _parse("POST", url, message.headers, BODY)
    assert signed.covered[-1] == "content-digest"
    assert b'"@query-param";name="Pet": dog%7E' in signed.bases[0]
    signed.verify(PUBLIC)


def test_rfc9421_ed25519_without_alg_from_http_message_signatures() -> None:
    """RFC 9421 §3.3.7: without ``alg`` the key type decides (here Ed25519, §3.3.6)."""
    resolver = MappingKeyResolver(public_keys={}, private_keys={KEY_ID: ED_KEY})
    message = _message("GET", OUTBOX, {"Host": "dept-a.test"})
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver).sign(
        message,
        key_id=KEY_ID,
        created=NOW,
        include_alg=False,
        covered_component_ids=("@method", "@target-uri"),
    )
    signed = _parse("GET", OUTBOX, message.headers, None)
    assert signed.algorithm == ""
    signed.verify(ED_KEY.public_key())
    assert _rejects("GET", OUTBOX, message.headers, None).reason == "signature does not verify"


@pytest.mark.parametrize("key", [KEY, ED_KEY], ids=["rsa", "ed25519"])
def test_rfc9421_we_sign_http_message_signatures_verifies_s20_s21(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    """S20, S21: our RFC 9421 signer (for double-knocking) is accepted by another implementation."""
    headers = sign_request_rfc9421(
        method="POST", url=INBOX, key_id=KEY_ID, private_key=key, body=BODY, now=NOW
    )
    algorithm = algorithms.RSA_V1_5_SHA256 if key is KEY else algorithms.ED25519
    resolver = MappingKeyResolver(public_keys={KEY_ID: key.public_key()}, private_keys={})
    verifier = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=resolver)
    results = verifier.verify(_message("POST", INBOX, headers), max_age=None, body=BODY)
    assert results[0].parameters["keyid"] == KEY_ID
    _parse("POST", INBOX, headers, BODY).verify(key.public_key())


def _rfc9421_headers(signature_input: str) -> dict[str, str]:
    return {"Signature-Input": signature_input, "Signature": "sig1=:AAAA:"}


@pytest.mark.parametrize(
    ("signature_input", "reason"),
    [
        (
            'sig1=("@method" "@target-uri");keyid="k"',
            "Incompatible request signature. keyid and created are required",
        ),
        (
            'sig1=("@method" "@authority" "@path");created=1703066400;keyid="k"',
            "the @method and @target-uri derived components must be signed",
        ),
        (
            'sig1=("@method" "@target-uri");created=1703066400;keyid="k";alg="hmac-sha256"',
            "Unsupported signature algorithm 'hmac-sha256' "
            "(only rsa-v1_5-sha256 and ed25519 are supported)",
        ),
        (
            'sig1=("@method" "@target-uri");created=1703066400;keyid="k", '
            'sig2=("@method" "@target-uri");created=1703066400;keyid="k"',
            "exactly one signature is supported, got 2",
        ),
        ('sig2=("@method" "@target-uri");created=1703066400;keyid="k"', "Signature has no"),
        ('sig1=("@method" "@target-uri";created=1', "Error parsing signature parameters"),
        (
            'sig1=("@method" "@target-uri" "@status");created=1703066400;keyid="k"',
            "unsupported derived component '@status'",
        ),
        (
            'sig1=("@method" "@target-uri" "date";sf);created=1703066400;keyid="k"',
            "unsupported component parameters on 'date'",
        ),
    ],
    ids=[
        "no-created",
        "no-target-uri",
        "hmac",
        "two-signatures",
        "label-mismatch",
        "malformed",
        "response-component",
        "component-parameter",
    ],
)
def test_rfc9421_mastodon_requirements_s17(signature_input: str, reason: str) -> None:
    """S17: one signature, ``created`` and ``keyid``, @method and @target-uri covered."""
    error = _rejects("GET", OUTBOX, _rfc9421_headers(signature_input), None)
    assert error.reason.startswith(reason)
    assert error.status == 401


# --------------------------------------------------------------------------- httpsig interop


def test_httpsig_verifies_what_we_sign() -> None:
    """Independent draft-cavage implementation (httpsig) accepts our POST signature (S1-S3)."""
    url = INBOX + "?page=1"
    headers = sign_request(
        method="POST", url=url, key_id=KEY_ID, private_key=KEY, body=BODY, now=NOW
    )
    verifier = httpsig.HeaderVerifier(
        headers,
        public_key_to_pem(KEY),
        method="POST",
        path="/users/alice/inbox?page=1",
        required_headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )
    assert verifier.verify() is True


def test_we_verify_what_httpsig_signs() -> None:
    """httpsig signs ``(request-target) host date digest`` with rsa-sha256; we verify it."""
    signer = httpsig.HeaderSigner(
        KEY_ID,
        private_key_to_pem(KEY),
        algorithm="rsa-sha256",
        sign_header="signature",
        headers=["(request-target)", "host", "date", "digest"],
    )
    base = {"Host": "dept-a.test", "Date": DATE, "Digest": digest_header(BODY)}
    headers = dict(signer.sign(base, method="POST", path="/users/alice/inbox"))
    _parse("POST", INBOX, headers, BODY).verify(PUBLIC)


# --------------------------------------------------------------------------- properties

_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%"
_paths = st.lists(st.text(_PATH_CHARS, min_size=1, max_size=12), min_size=1, max_size=4).map(
    lambda segments: "/" + "/".join(segments)
)
_queries = st.one_of(st.just(""), st.text(_PATH_CHARS + "/?", max_size=20).map(lambda q: "?" + q))


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=2048), path=_paths, query=_queries)
def test_any_body_and_path_round_trip(body: bytes, path: str, query: str) -> None:
    """Property (S2, S5, S10): every body, path and query we sign, we verify."""
    url = f"https://dept-a.test{path}{query}"
    for method, payload in (("POST", body), ("GET", None)):
        headers = sign_request(
            method=method, url=url, key_id=KEY_ID, private_key=KEY, body=payload, now=NOW
        )
        _parse(method, url, headers, payload).verify(PUBLIC)
    headers = sign_request_rfc9421(
        method="POST", url=url, key_id=KEY_ID, private_key=KEY, body=body, now=NOW
    )
    _parse("POST", url, headers, body).verify(PUBLIC)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(min_size=1, max_size=2048), data=st.data())
def test_any_single_byte_body_tamper_fails(body: bytes, data: st.DataObject) -> None:
    """Property (S10, S19): changing any one byte of the body breaks the digest check."""
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    for sign in (sign_request, sign_request_rfc9421):
        headers = sign(method="POST", url=INBOX, key_id=KEY_ID, private_key=KEY, body=body, now=NOW)
        error = _rejects("POST", INBOX, headers, tampered)
        assert error.reason.startswith("Invalid Digest value. Computed SHA-256 digest: ")
