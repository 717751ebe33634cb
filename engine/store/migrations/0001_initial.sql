-- 0001 — the messaging log, conversations, consent, channel settings and the audit log.
--
-- Applied once, in one transaction, by engine/store/migrate.py (`flowbot migrate`, and on start
-- in the embedded default). Never edit this file once it has been applied anywhere: the runner
-- refuses a changed checksum. Change the schema with the next numbered file instead.

-- ─── Append-only guard ──────────────────────────────────────────────────────────────────────
-- The log tables are append-only: a row, once written, is never changed or removed. The one
-- exception is an erasure or retention job ("delete my data"), which says so in its own
-- transaction first:  SELECT set_config('flowbot.erasure', 'on', true);

CREATE FUNCTION flowbot_erasing() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('flowbot.erasure', true), '') = 'on'
$$;

CREATE FUNCTION flowbot_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF flowbot_erasing() THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'flowbot: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;


-- ─── Messaging log ──────────────────────────────────────────────────────────────────────────
-- One row per message, inbound or outbound, as it happened. What a message was (who, which
-- channel, provider id, body, template) never changes. An outbound row also carries its
-- furthest delivery status so far (status, status_rank, status_at, error_*), which the status
-- webhooks only ever move forward (sent 1 < delivered 2 < read 3; failed 4 is final); every
-- status event itself, as it arrived, is kept in message_statuses.

CREATE TABLE messages (
    id                  bigserial   PRIMARY KEY,
    bot                 text        NOT NULL,
    user_id             text        NOT NULL,
    direction           text        NOT NULL CHECK (direction IN ('in', 'out')),
    channel             text        NOT NULL DEFAULT 'whatsapp',
    account             text        NOT NULL DEFAULT '',   -- the business number / phone_number_id
    provider_message_id text,                              -- wamid, Twilio SID, ...; NULL if never sent
    item_id             text,                              -- the outbox item that became this message
    kind                text        NOT NULL DEFAULT 'text',
    body                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    template_name       text,
    template_language   text,
    status              text,
    status_rank         smallint    NOT NULL DEFAULT 0,
    status_at           timestamptz,
    error_code          integer,
    error_message       text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- A provider id is one message per channel: a redelivered inbound webhook is a no-op. The
-- provider id comes first so a status lookup by id alone uses it too.
CREATE UNIQUE INDEX messages_provider_id ON messages (provider_message_id, channel)
    WHERE provider_message_id IS NOT NULL;
-- An outbox item that never got a provider id (the send failed for good) is logged once.
CREATE UNIQUE INDEX messages_unsent_item ON messages (item_id)
    WHERE provider_message_id IS NULL AND item_id IS NOT NULL;
-- A user's history, in order (the inbox, an audit, "delete my data").
CREATE INDEX messages_user_history ON messages (bot, user_id, created_at, id);

CREATE FUNCTION flowbot_messages_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF flowbot_erasing() THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'flowbot: messages is append-only (DELETE refused)'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.bot, NEW.user_id, NEW.direction, NEW.channel, NEW.account,
        NEW.provider_message_id, NEW.item_id, NEW.kind, NEW.body, NEW.template_name,
        NEW.template_language, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.bot, OLD.user_id, OLD.direction, OLD.channel, OLD.account,
        OLD.provider_message_id, OLD.item_id, OLD.kind, OLD.body, OLD.template_name,
        OLD.template_language, OLD.created_at) THEN
        RAISE EXCEPTION 'flowbot: a logged message never changes, only its delivery status'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status_rank < OLD.status_rank THEN
        RAISE EXCEPTION 'flowbot: a delivery status only moves forward (% after %)', NEW.status, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER messages_guard BEFORE UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION flowbot_messages_guard();

-- Every delivery status event, once per (message, status), as the provider reported it.
-- Keyed by the provider id, not by a foreign key: a status webhook often arrives before the
-- sender has logged the message it is about.
CREATE TABLE message_statuses (
    id                  bigserial   PRIMARY KEY,
    channel             text        NOT NULL DEFAULT 'whatsapp',
    provider_message_id text        NOT NULL,
    status              text        NOT NULL,
    rank                smallint    NOT NULL,
    error_code          integer,
    error_message       text,
    at                  timestamptz NOT NULL,                -- when the provider says it happened
    received_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_message_id, channel, status)
);

CREATE TRIGGER message_statuses_append_only BEFORE UPDATE OR DELETE ON message_statuses
    FOR EACH ROW EXECUTE FUNCTION flowbot_append_only();


-- ─── Conversations ──────────────────────────────────────────────────────────────────────────
-- At most one open conversation per bot and user; a closed one keeps its ended_at.

CREATE TABLE conversations (
    id                  bigserial   PRIMARY KEY,
    bot                 text        NOT NULL,
    user_id             text        NOT NULL,
    channel             text        NOT NULL DEFAULT 'whatsapp',
    flow                text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    last_message_at     timestamptz NOT NULL DEFAULT now(),
    ended_at            timestamptz,
    handed_to_human_at  timestamptz,
    human               text,                                -- the agent who took it over
    released_at         timestamptz
);

CREATE UNIQUE INDEX conversations_open ON conversations (bot, user_id) WHERE ended_at IS NULL;
CREATE INDEX conversations_user ON conversations (bot, user_id, started_at);
CREATE INDEX conversations_recent ON conversations (bot, last_message_at DESC);


-- ─── Consent ────────────────────────────────────────────────────────────────────────────────
-- Every opt-in and opt-out per bot, user and channel, append-only; `consent` is the current
-- state (the latest event by its time). No row means the user never said either.

CREATE TABLE consent_events (
    id                  bigserial   PRIMARY KEY,
    bot                 text        NOT NULL,
    user_id             text        NOT NULL,
    channel             text        NOT NULL DEFAULT 'whatsapp',
    state               text        NOT NULL CHECK (state IN ('opted_in', 'opted_out')),
    source              text        NOT NULL CHECK (source IN ('keyword', 'api', 'import', 'admin')),
    detail              text        NOT NULL DEFAULT '',    -- the keyword (STOP), API key name, import file
    at                  timestamptz NOT NULL DEFAULT now(),  -- when the user said it
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX consent_events_user ON consent_events (bot, user_id, channel, at DESC, id DESC);

CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION flowbot_append_only();

CREATE VIEW consent AS
    SELECT DISTINCT ON (bot, user_id, channel)
           bot, user_id, channel, state, source, detail, at
      FROM consent_events
     ORDER BY bot, user_id, channel, at DESC, id DESC;


-- ─── Channel settings ───────────────────────────────────────────────────────────────────────
-- Per bot, channel and business number. Never secrets: tokens stay in the environment.

CREATE TABLE channel_settings (
    bot                 text        NOT NULL,
    channel             text        NOT NULL,
    account             text        NOT NULL DEFAULT '',
    settings            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot, channel, account)
);


-- ─── Audit log ──────────────────────────────────────────────────────────────────────────────
-- Who did what to what: operators, API keys, jobs. Append-only.

CREATE TABLE audit_log (
    id                  bigserial   PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT now(),
    actor               text        NOT NULL,
    action              text        NOT NULL,
    subject             text        NOT NULL DEFAULT '',
    details             jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject, at);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION flowbot_append_only();
