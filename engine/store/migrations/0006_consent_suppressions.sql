-- "Delete my data" removes a user's consent events with the rest, but a STOP must outlive the
-- erasure: a user who had opted out is kept here under their pseudonym (user_pseudonym in
-- engine/store/postgres.py: a hash of bot and user, never the number), so the bot stays quiet
-- towards them. A consent event newer than `since` (they write START again) wins over it.

CREATE TABLE consent_suppressions (
    subject             text        NOT NULL,               -- user_pseudonym(bot, user)
    bot                 text        NOT NULL,
    channel             text        NOT NULL DEFAULT 'whatsapp',
    since               timestamptz NOT NULL,               -- when the user opted out
    PRIMARY KEY (subject, channel)
);
