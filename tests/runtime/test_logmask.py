"""Phone numbers and secrets never reach the logs in clear."""

from __future__ import annotations

import logging

from engine.logmask import MaskingFilter, mask, mask_phone


def test_phone_numbers_keep_only_their_ends() -> None:
    assert mask_phone("254712345678") == "254•••••••78"
    assert mask("send to +39 347 123 4567 failed") == "send to +393•••••••67 failed"
    assert "254712345678" not in mask("user=254712345678 wa_id 254712345678")


def test_tokens_keys_and_signatures_keep_four_characters() -> None:
    text = mask("Authorization: Bearer EAAGm0PX4ZCpsBAKZxyz api_key=SECRETKEY1 sha256=abcdef0123456789 token=tok_9f8e7d")
    for secret in ("EAAGm0PX4ZCpsBAKZxyz", "SECRETKEY1", "abcdef0123456789", "tok_9f8e7d"):
        assert secret not in text
    assert "Bearer EAAG…" in text and "api_key=SECR…" in text


def test_dates_times_and_short_ids_are_left_alone() -> None:
    assert mask("at 2026-01-05 12:00:01, step 12345, HD-1236") == "at 2026-01-05 12:00:01, step 12345, HD-1236"


def test_the_filter_masks_arguments_and_extra_fields(caplog) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("flowbot.test.mask")
    handler_filter = MaskingFilter()
    record = logger.makeRecord("flowbot.test.mask", logging.WARNING, __file__, 1, "send to %s failed", ("254712345678",), None,
                               extra={"user": "254712345678"})
    assert handler_filter.filter(record)
    assert record.getMessage() == "send to 254•••••••78 failed"
    assert record.user == "254•••••••78"  # type: ignore[attr-defined]
