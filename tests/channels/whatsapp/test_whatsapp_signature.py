"""X-Hub-Signature-256 vectors from Meta's SDK, pywa and whatsapp-api-js; the GET handshake."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine.channels.whatsapp import answer_challenge, signature_header, verify_signature

SIGNATURES = Path(__file__).parents[2] / "fixtures" / "whatsapp" / "signature"
HANDSHAKE = Path(__file__).parents[2] / "fixtures" / "whatsapp" / "verification" / "get_handshake.json"


def _triple(name: str) -> dict[str, str]:
    return json.loads((SIGNATURES / name).read_text(encoding="utf-8"))


def _vectors() -> list[tuple[str, str, bytes, str]]:
    pywa, meta, uni = (_triple(n) for n in (
        "pywa_triple.json", "meta_nodejs_sdk_triple.json", "whatsapp_api_js_unicode_triple.json"))
    return [
        ("pywa", pywa["app_secret"], (SIGNATURES / pywa["request_body_file"]).read_bytes(),
         pywa["x_hub_signature_256"]),
        ("meta-node-sdk", meta["app_secret"], meta["request_body"].encode(), meta["x_hub_signature_256_header_form"]),
        ("unicode-escaped", uni["app_secret"], uni["escaped_body_that_is_signed"].encode("ascii"),
         uni["x_hub_signature_256"]),
    ]


def test_every_triple_in_the_folder_is_covered() -> None:
    assert sorted(p.name for p in SIGNATURES.glob("*triple.json")) == [
        "meta_nodejs_sdk_triple.json", "pywa_triple.json", "whatsapp_api_js_unicode_triple.json"]


@pytest.mark.parametrize(("secret", "body", "header"), [v[1:] for v in _vectors()], ids=[v[0] for v in _vectors()])
def test_vector_verifies_and_any_flipped_byte_fails(secret: str, body: bytes, header: str) -> None:
    assert verify_signature(secret, body, header)
    assert signature_header(secret, body) == header
    for i in range(len(body)):
        flipped = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        assert not verify_signature(secret, flipped, header)
    assert not verify_signature(secret + "x", body, header)


def test_pywa_raw_body_is_the_recorded_bytes() -> None:
    triple = _triple("pywa_triple.json")
    raw = (SIGNATURES / triple["request_body_file"]).read_bytes()
    assert len(raw) == triple["request_body_length_bytes"]
    assert hashlib.sha256(raw).hexdigest() == triple["request_body_sha256_of_bytes"]


def test_unicode_body_verifies_only_as_sent_escaped() -> None:
    """Meta signs (and sends) the \\u-escaped body; hashing a decoded UTF-8 form must fail."""
    uni = _triple("whatsapp_api_js_unicode_triple.json")
    utf8 = uni["decoded_body_text"].encode("utf-8")
    assert not verify_signature(uni["app_secret"], utf8, uni["x_hub_signature_256"])
    assert verify_signature(uni["app_secret"], utf8, uni["hmac_over_utf8_of_decoded_text_for_contrast"])


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha256", "0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
    "sha1=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
    "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d988822",
    "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d98882211",
    "sha256=zc61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
    "sha256=０c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d988822",
])
def test_missing_or_malformed_header_is_false(header: str | None) -> None:
    assert not verify_signature("TEST_APP_SECRET", b"test", header)


def test_header_case_and_whitespace_are_tolerated_but_secret_is_required() -> None:
    good = "0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221"
    assert verify_signature("TEST_APP_SECRET", b"test", f" SHA256={good.upper()} ")
    assert not verify_signature("", b"test", "sha256=" + hashlib.sha256(b"").hexdigest())


def _handshakes() -> list[tuple[dict[str, str], str, str]]:
    doc = json.loads(HANDSHAKE.read_text(encoding="utf-8"))
    meta = doc["meta_graph_webhooks_getting_started_sample"]
    js = doc["whatsapp_api_js_test_vector"]
    return [
        (meta["query"], meta["query"]["hub.verify_token"], meta["expected_response_when_token_matches"]["body"]),
        (js["query"], js["configured_verify_token"], "challenge"),
    ]


@pytest.mark.parametrize(("query", "token", "expected"), _handshakes())
def test_handshake_echoes_the_challenge(query: dict[str, str], token: str, expected: str) -> None:
    assert answer_challenge(query, token) == expected
    assert answer_challenge(query, token + "x") is None
    assert answer_challenge({**query, "hub.mode": "unsubscribe"}, token) is None
    assert answer_challenge({k: v for k, v in query.items() if k != "hub.challenge"}, token) is None
    assert answer_challenge({k: v for k, v in query.items() if k != "hub.verify_token"}, token) is None
    assert answer_challenge(query, "") is None
