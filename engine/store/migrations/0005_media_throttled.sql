-- A client address past its limit of refused media requests (engine/web/media.py) is answered
-- 429 before any lookup, without a row per request (a flood must not fill this table): one
-- 'throttled' row per address and minute keeps the record that it happened.

ALTER TABLE media_access_log DROP CONSTRAINT media_access_log_outcome_check;
ALTER TABLE media_access_log ADD CONSTRAINT media_access_log_outcome_check
    CHECK (outcome IN ('granted', 'expired', 'bad_signature', 'missing', 'unavailable', 'throttled'));
