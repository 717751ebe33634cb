-- 0002 — payments: orders, payment transactions and the ledger (the `payments` plugin and
-- POST /webhooks/flutterwave).
--
-- Never edit this file once it has been applied anywhere; change the schema with the next
-- numbered file. Money is numeric(14,2) in the currency's main unit (KES 1500.00, not cents).

-- ─── Orders ─────────────────────────────────────────────────────────────────────────────────
-- What a customer ordered from a bot. `order_ref` is the bot's own reference (unique per bot);
-- a successful payment moves a pending order to processing, and only a pending one.

CREATE TABLE orders (
    id                  bigserial     PRIMARY KEY,
    bot                 text          NOT NULL,
    user_id             text          NOT NULL,
    order_ref           text          NOT NULL,
    status              text          NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    total               numeric(14,2) NOT NULL CHECK (total >= 0),
    currency            text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (bot, order_ref)
);

CREATE INDEX orders_user ON orders (bot, user_id, created_at);


-- ─── Transactions ───────────────────────────────────────────────────────────────────────────
-- One attempt to collect money for an order. `tx_ref` is our reference, sent to the provider
-- and echoed in its webhooks; `idempotency_key` is the turn's (a retried turn finds its row and
-- charges nobody twice). `status` leaves pending once: to successful (a verified payment), or
-- failed / cancelled.

CREATE TABLE transactions (
    id                  bigserial     PRIMARY KEY,
    bot                 text          NOT NULL,
    user_id             text          NOT NULL,
    order_ref           text          NOT NULL,
    tx_ref              text          NOT NULL UNIQUE,
    provider            text          NOT NULL DEFAULT 'flutterwave',
    provider_tx_id      text,                                  -- the provider's transaction id, once known
    amount              numeric(14,2) NOT NULL CHECK (amount > 0),
    currency            text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text          NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'successful', 'failed', 'cancelled')),
    payment_link        text,                                  -- hosted checkout or authorization URL
    method              text          NOT NULL CHECK (method IN ('link', 'mobile_money')),
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    idempotency_key     text          NOT NULL UNIQUE,
    FOREIGN KEY (bot, order_ref) REFERENCES orders (bot, order_ref)
);

CREATE INDEX transactions_order ON transactions (bot, order_ref);
CREATE INDEX transactions_user ON transactions (bot, user_id, created_at);


-- ─── Ledger ─────────────────────────────────────────────────────────────────────────────────
-- Money that moved, append-only: a charge when a payment is verified, a refund when money goes
-- back. At most one charge per transaction, whatever the webhooks do.

CREATE TABLE ledger_entries (
    id                  bigserial     PRIMARY KEY,
    tx_ref              text          NOT NULL REFERENCES transactions (tx_ref),
    kind                text          NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount              numeric(14,2) NOT NULL CHECK (amount > 0),
    currency            text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    at                  timestamptz   NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX ledger_one_charge ON ledger_entries (tx_ref) WHERE kind = 'charge';
CREATE INDEX ledger_at ON ledger_entries (at);

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION flowbot_append_only();
