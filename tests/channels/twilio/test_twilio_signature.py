"""X-Twilio-Signature against twilio-python's and twilio-ruby's own vectors."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from _twilio_cases import FIXTURES, form_request, raw_body

from engine.channels.base import WebhookRejected
from engine.channels.twilio import TwilioAdapter, twilio_signature
from engine.channels.twilio._signature import signature_matches

VECTORS: list[dict[str, Any]] = json.loads((FIXTURES / "request_validator_vectors.json").read_text())
FORM_VECTORS = [v for v in VECTORS if "raw_body" not in v]
SMS = next(v for v in VECTORS if v["id"] == "twilio-ruby-2012/real_sms_request")


def params_of(vector: dict[str, Any]) -> dict[str, list[str]]:
    if "params_multi" in vector:
        params: dict[str, list[str]] = {}
        for name, value in vector["params_multi"]:
            params.setdefault(name, []).append(value)
        return params
    return {name: [value] for name, value in vector.get("params", {}).items()}


def adapter(public_url: str | None, token: str) -> TwilioAdapter:
    return TwilioAdapter("AC0", token, from_number="+14155238886", public_url=public_url)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["id"])
def test_every_reference_vector_computes(vector: dict[str, Any]) -> None:
    url = vector.get("url_signed") or vector["url"]
    assert twilio_signature(url, params_of(vector), vector["auth_token"]) == vector["expected_signature"]


@pytest.mark.parametrize("vector", FORM_VECTORS, ids=lambda v: v["id"])
def test_every_form_vector_validates_at_the_received_url(vector: dict[str, Any]) -> None:
    url = vector.get("url_received") or vector.get("url_signed") or vector["url"]
    assert signature_matches(vector["expected_signature"], url, params_of(vector), vector["auth_token"])


@pytest.mark.parametrize("vector", [v for v in VECTORS if "raw_body" in v], ids=lambda v: v["id"])
def test_json_vectors_sign_the_url_alone_and_carry_the_body_hash(vector: dict[str, Any]) -> None:
    body_hash = parse_qs(urlsplit(vector["url"]).query)["bodySHA256"][0]
    assert hashlib.sha256(vector["raw_body"].encode()).hexdigest() == body_hash
    assert signature_matches(vector["expected_signature"], vector["url"], {}, vector["auth_token"])


@pytest.mark.parametrize("vector", FORM_VECTORS, ids=lambda v: v["id"])
def test_any_changed_parameter_or_url_fails(vector: dict[str, Any]) -> None:
    url = vector.get("url_received") or vector.get("url_signed") or vector["url"]
    params, token, signature = params_of(vector), vector["auth_token"], vector["expected_signature"]
    for name in params:
        changed = {**params, name: [v + "x" for v in params[name]]}
        assert not signature_matches(signature, url, changed, token), name
    assert not signature_matches(signature, url, {**params, "Extra": ["1"]}, token)
    assert not signature_matches(signature, url.replace("mycompany", "othercompany").replace("twiliotests", "x"),
                                 params, token)
    assert not signature_matches(signature, url + "&baz=3", params, token)
    assert not signature_matches(signature, url, params, token + "0")
    assert not signature_matches(("B" if signature[0] != "B" else "C") + signature[1:], url, params, token)


def test_the_real_sms_request_verifies_from_its_raw_form_body() -> None:
    body = raw_body(SMS["form_body_file"])
    adapter(SMS["url"], SMS["auth_token"]).verify(form_request(body, SMS["expected_signature"]))


def test_the_public_url_is_what_counts_not_the_url_the_app_saw() -> None:
    body = raw_body(SMS["form_body_file"])
    behind_proxy = form_request(body, SMS["expected_signature"], url="http://10.0.0.7:8000/validate/sms")
    adapter(SMS["url"], SMS["auth_token"]).verify(behind_proxy)
    with pytest.raises(WebhookRejected) as rejected:
        adapter(None, SMS["auth_token"]).verify(behind_proxy)  # falls back to request.url: wrong here
    assert rejected.value.status == 403


def test_a_signature_over_the_url_with_its_default_port_is_accepted() -> None:
    vector = next(v for v in VECTORS if v["id"] == "twilio-python/https_port_443_added")
    body = urlencode(vector["params"]).encode()
    adapter(vector["url_received"], vector["auth_token"]).verify(form_request(body, vector["expected_signature"]))


@pytest.mark.parametrize("signature", [None, "", "not-a-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "é"])
def test_missing_or_wrong_signatures_are_403(signature: str | None) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter(SMS["url"], SMS["auth_token"]).verify(form_request(raw_body(SMS["form_body_file"]), signature))
    assert rejected.value.status == 403


def test_a_tampered_body_is_403() -> None:
    body = raw_body(SMS["form_body_file"]).replace(b"Body=Orly", b"Body=Yarly")
    with pytest.raises(WebhookRejected) as rejected:
        adapter(SMS["url"], SMS["auth_token"]).verify(form_request(body, SMS["expected_signature"]))
    assert rejected.value.status == 403


def test_a_json_body_is_415() -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter(SMS["url"], SMS["auth_token"]).verify(
            form_request(b"{}", SMS["expected_signature"], content_type="application/json"))
    assert rejected.value.status == 415
