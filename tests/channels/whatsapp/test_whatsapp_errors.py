"""Graph error objects → error classes keyed by Meta's codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.channels.base import SendError
from engine.channels.whatsapp import errors as e
from engine.channels.whatsapp.errors import error_class, error_from_response, retry_after

ERRORS = Path(__file__).parents[2] / "fixtures" / "whatsapp" / "errors"


def _load(name: str) -> Any:
    return json.loads((ERRORS / name).read_text(encoding="utf-8"))


def test_expired_token_190() -> None:
    error = error_from_response(401, {"error": _load("error_object_190_expired_access_token.json")}, {})
    assert isinstance(error, e.TokenExpired)
    assert (error.code, error.subcode, error.status, error.retryable) == (190, 463, 401, True)
    assert error.fbtrace_id == "ACEyrTehk6IAd0lm05Ixogh"
    assert error.error_type == "OAuthException"
    assert "Session has expired" in str(error) and "ACEyrTehk6IAd0lm05Ixogh" in str(error)


def test_reengagement_131047_in_status_error_shape() -> None:
    error = error_from_response(400, _load("error_object_131047_reengagement.json"), None)
    assert isinstance(error, e.OutsideWindow)
    assert not error.retryable and error.retry_after is None
    assert error.details.startswith("Message failed to send because more than 24 hours")


def test_media_upload_131053() -> None:
    error = error_from_response(400, json.dumps(_load("error_object_131053_media_upload.json")).encode(), {})
    assert isinstance(error, e.MediaUploadError) and not error.retryable
    assert "http code 429" in error.details


def test_rate_limit_130429_page_sample_with_and_without_retry_after() -> None:
    body = (ERRORS / "graph_error_130429_error_codes_page_sample.json").read_bytes()
    plain = error_from_response(400, body, {})
    assert isinstance(plain, e.RateLimited)
    assert (plain.code, plain.subcode, plain.retryable, plain.retry_after) == (130429, 2494055, True, 1.0)
    assert plain.details == "Cloud API message throughput has been reached."
    hinted = error_from_response(400, body, {"retry-after": "7"})
    assert hinted.retry_after == 7.0


OPENAPI_EXPECTED = {
    ("BadRequest", 400): e.InvalidRequest,
    ("Unauthorized", 401): e.TokenExpired,
    ("Forbidden", 403): e.InvalidRequest,
    ("NotFound", 404): e.InvalidRequest,
    ("TooManyRequests", 429): e.RateLimited,
    ("InternalServerError", 500): e.TemporaryError,
}


def _openapi_cases() -> list[Any]:
    doc = _load("graph_error_responses_openapi.json")
    return [pytest.param(status, body, cls, id=f"{group}-{name}")
            for (group, status), cls in OPENAPI_EXPECTED.items()
            for name, body in doc[group]["examples"].items()]


@pytest.mark.parametrize(("status", "body", "cls"), _openapi_cases())
def test_openapi_error_examples(status: int, body: dict[str, Any], cls: type[SendError]) -> None:
    error = error_from_response(status, body, {})
    assert type(error) is cls
    assert error.code == body["error"]["code"] and str(error).startswith(body["error"]["message"])


@pytest.mark.parametrize(("code", "status", "cls", "retryable"), [
    (131056, 400, e.PairRateLimited, True),
    (131050, 400, e.MarketingOptOut, False),
    (131000, 500, e.TemporaryError, True),
    (131016, 503, e.TemporaryError, True),
    (2, 400, e.TemporaryError, True),
    (1, 400, e.TemporaryError, True),
    (190, 400, e.TokenExpired, True),
    (4, 400, e.RateLimited, True),
    (100, 400, e.InvalidRequest, False),
    (131026, 400, e.InvalidRequest, False),
    (None, 502, e.TemporaryError, True),
    (None, 401, e.TokenExpired, True),
    (None, 429, e.RateLimited, True),
    (None, 418, e.InvalidRequest, False),
])
def test_codes_decide_before_http_status(code: int | None, status: int, cls: type[SendError], retryable: bool) -> None:
    body = {"error": {"message": "m", "type": "OAuthException", "code": code}}
    error = error_from_response(status, body, {})
    assert type(error) is cls and error.retryable is retryable and isinstance(error, SendError)
    assert error_class(code, status) is cls


def test_pair_rate_limit_defaults_to_six_seconds() -> None:
    error = error_from_response(400, {"error": {"message": "(#131056) pair rate limit hit", "code": 131056}}, {})
    assert error.retry_after == 6.0


def test_is_transient_makes_an_unknown_code_temporary() -> None:
    body = {"error": {"message": "try again", "code": 100, "is_transient": True}}
    assert isinstance(error_from_response(400, body, {}), e.TemporaryError)


def test_non_json_body_keeps_a_readable_message() -> None:
    error = error_from_response(502, b"<html>\n<body>Bad Gateway</body></html>", {})
    assert isinstance(error, e.TemporaryError) and error.code is None
    assert "Bad Gateway" in str(error)


def test_failed_status_codes_map_to_the_same_classes() -> None:
    assert error_class(131047) is e.OutsideWindow
    assert error_class(130472) is e.InvalidRequest


@pytest.mark.parametrize(("value", "seconds"), [
    ("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("nan", None), ("soon", None), ("", None),
    ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
])
def test_retry_after_header(value: str, seconds: float | None) -> None:
    now = 1445412480.0  # 2015-10-21 07:28:00 GMT
    assert retry_after({"Retry-After": value}, now=now) == seconds
