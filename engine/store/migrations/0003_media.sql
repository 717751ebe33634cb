-- 0003 — media: files users sent that a bot stored (the `storage` plugin), and every access to
-- them through flowbot's media routes.
--
-- Never edit this file once it has been applied anywhere; change the schema with the next
-- numbered file. The bytes live in a backend (a local directory or an S3-compatible bucket);
-- these tables say what each object is, whose it is, and who fetched it.

-- ─── Media objects ──────────────────────────────────────────────────────────────────────────
-- One stored file. `object_key` is where the backend keeps it (`<area>/<bot>/<user hash>/<id>.<ext>`,
-- made by flowbot, never by a user); `public_id` is the opaque id URLs and flows use.
-- `idempotency_key` is the storing turn's: a retried turn finds its row and stores nothing twice.

CREATE TABLE media_objects (
    id                  bigserial   PRIMARY KEY,
    public_id           text        NOT NULL UNIQUE,
    bot                 text        NOT NULL,
    user_id             text        NOT NULL,
    area                text        NOT NULL CHECK (area IN ('public', 'private')),
    backend             text        NOT NULL,
    object_key          text        NOT NULL,
    content_type        text        NOT NULL,
    size                bigint      NOT NULL CHECK (size >= 0),
    sha256              text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    provider_media_id   text,                                  -- the channel's media id it came from
    source_url          text,                                  -- or the URL it was fetched from
    idempotency_key     text        NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (backend, object_key)
);

CREATE INDEX media_objects_user ON media_objects (bot, user_id, created_at);


-- ─── Media access log ───────────────────────────────────────────────────────────────────────
-- Every request for a stored file through flowbot (GET /media/...), granted or refused:
-- when, which object (when known), whose, from which address, and what was answered.
-- Append-only; "delete my data" removes a user's rows (an erasure, see 0001).

CREATE TABLE media_access_log (
    id                  bigserial   PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT now(),
    public_id           text,                                  -- null when the request named no valid object
    bot                 text,
    user_id             text,                                  -- the object's owner
    area                text,
    ip                  text,
    user_agent          text,
    outcome             text        NOT NULL
                        CHECK (outcome IN ('granted', 'expired', 'bad_signature', 'missing', 'unavailable'))
);

CREATE INDEX media_access_log_object ON media_access_log (public_id, at);
CREATE INDEX media_access_log_user ON media_access_log (bot, user_id, at);

CREATE TRIGGER media_access_log_append_only BEFORE UPDATE OR DELETE ON media_access_log
    FOR EACH ROW EXECUTE FUNCTION flowbot_append_only();
