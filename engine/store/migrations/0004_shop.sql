-- 0004 — a shop's catalog, what each order holds, and its delivery: the tables a shop bot
-- (flows/jirani) reads and writes through the `db` plugin, next to 0002's orders and payments.
--
-- Every row carries its bot, as orders do: several shops share one database, and a bot's
-- queries only ever name their own (`:bot` is filled by the db plugin, never by a flow).
-- Never edit this file once it has been applied anywhere; change it with the next number.

-- ─── Catalog ────────────────────────────────────────────────────────────────────────────────
-- What a shop sells. The shop loads it (flows/jirani/catalog.sql is an example); a bot lists
-- the active products by category and puts them in carts. Prices are the main unit
-- (KES 120.00), as in orders.

CREATE TABLE products (
    bot                 text          NOT NULL,
    sku                 text          NOT NULL CHECK (sku ~ '^[A-Z0-9-]{1,32}$'),
    category            text          NOT NULL,
    name                text          NOT NULL CHECK (length(name) BETWEEN 1 AND 24),  -- a list row title
    description         text          NOT NULL DEFAULT '' CHECK (length(description) <= 72),
    price               numeric(14,2) NOT NULL CHECK (price > 0),
    currency            text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active              boolean       NOT NULL DEFAULT true,
    position            integer       NOT NULL DEFAULT 0,     -- the order in the list
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (bot, sku)
);

CREATE INDEX products_by_category ON products (bot, category, position, sku) WHERE active;


-- ─── Order lines ────────────────────────────────────────────────────────────────────────────
-- What an order holds, copied from the catalog when it was placed (a later price change does
-- not change an order). The order's total is the sum of its lines.

CREATE TABLE order_items (
    id                  bigserial     PRIMARY KEY,
    bot                 text          NOT NULL,
    order_ref           text          NOT NULL,
    sku                 text          NOT NULL,
    name                text          NOT NULL,
    qty                 integer       NOT NULL CHECK (qty BETWEEN 1 AND 99),
    unit_price          numeric(14,2) NOT NULL CHECK (unit_price > 0),
    UNIQUE (bot, order_ref, sku),
    FOREIGN KEY (bot, order_ref) REFERENCES orders (bot, order_ref)
);


-- ─── Deliveries ─────────────────────────────────────────────────────────────────────────────
-- Where an order is on its way, written by the shop's dispatch (or its courier's webhook);
-- a bot's TRACK reads it. At most one delivery per order.

CREATE TABLE deliveries (
    id                  bigserial     PRIMARY KEY,
    bot                 text          NOT NULL,
    order_ref           text          NOT NULL,
    status              text          NOT NULL DEFAULT 'preparing'
                        CHECK (status IN ('preparing', 'dispatched', 'in_transit', 'delivered', 'failed')),
    carrier             text          NOT NULL DEFAULT '',
    tracking_code       text          NOT NULL DEFAULT '',
    eta                 timestamptz,
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (bot, order_ref),
    FOREIGN KEY (bot, order_ref) REFERENCES orders (bot, order_ref)
);
