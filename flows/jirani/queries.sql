-- Jirani's SQL, run by the `db` plugin (docs/plugins.md, "The db plugin"). The tables are
-- engine/store/migrations/0002_payments.sql (orders) and 0004_shop.sql (products, order_items,
-- deliveries): `flowbot migrate` creates them. :bot and :user are filled from the
-- conversation, so every query here sees only this shop's rows and this customer's orders.

-- name: categories
-- The catalog's categories, in the shop's order, with how many products each has.
SELECT category, count(*)::int AS products, count(*)::text || ' items' AS hint
  FROM products
 WHERE bot = :bot AND active
 GROUP BY category
 ORDER BY min(position), category
 LIMIT 50;

-- name: products_in
-- The active products of one category, for a list message (name ≤ 24, description ≤ 72).
SELECT sku, name, price::text AS price, currency,
       currency || ' ' || price::text || CASE WHEN description = '' THEN '' ELSE ' · ' || description END AS label
  FROM products
 WHERE bot = :bot AND active AND category = :category
 ORDER BY position, sku
 LIMIT 50;

-- name: find_product
-- One active product by its code (ADD A12, or a row picked from the list).
SELECT sku, name, price::text AS price, currency
  FROM products
 WHERE bot = :bot AND active AND sku = upper(:sku);

-- name: place_order!
-- A pending order with the cart's lines, priced from the catalog now (not from the cart), in
-- one statement: the order and its lines exist together or not at all. A retried turn has the
-- same order_ref and changes nothing. Products no longer sold are left out.
WITH lines AS (
    SELECT p.sku, p.name, l.qty, p.price, p.currency, l.n
      FROM unnest(:skus::text[], :qtys::int[]) WITH ORDINALITY AS l(sku, qty, n)
      JOIN products p ON p.bot = :bot AND p.sku = l.sku AND p.active
), placed AS (
    INSERT INTO orders (bot, user_id, order_ref, total, currency)
    SELECT :bot, :user, :order_ref, sum(price * qty), min(currency)
      FROM lines
    HAVING count(*) > 0 AND count(DISTINCT currency) = 1
        ON CONFLICT (bot, order_ref) DO NOTHING
    RETURNING order_ref
)
INSERT INTO order_items (bot, order_ref, sku, name, qty, unit_price)
SELECT :bot, placed.order_ref, lines.sku, lines.name, lines.qty, lines.price
  FROM placed, lines
 ORDER BY lines.n;  -- the lines keep the cart's order

-- name: order_summary
-- One of this customer's orders with its lines, as the checkout shows it.
SELECT o.order_ref, o.status, o.total::text AS total, o.currency,
       (SELECT string_agg(i.qty || ' × ' || i.name, ', ' ORDER BY i.id)
          FROM order_items i WHERE i.bot = o.bot AND i.order_ref = o.order_ref) AS lines
  FROM orders o
 WHERE o.bot = :bot AND o.user_id = :user AND o.order_ref = :order_ref;

-- name: latest_orders
-- This customer's three latest orders (STATUS).
SELECT o.order_ref, o.status, o.total::text AS total, o.currency, o.created_at,
       coalesce(d.status, '') AS delivery,
       (SELECT t.payment_link FROM transactions t
         WHERE t.bot = o.bot AND t.order_ref = o.order_ref AND t.status = 'pending' AND o.status = 'pending'
         ORDER BY t.id DESC LIMIT 1) AS pay_link
  FROM orders o
  LEFT JOIN deliveries d ON d.bot = o.bot AND d.order_ref = o.order_ref
 WHERE o.bot = :bot AND o.user_id = :user
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT 3;

-- name: track_order
-- One of this customer's orders and its delivery, if it has one (TRACK JR-...). Another
-- customer's reference is not found, like a wrong one.
SELECT o.order_ref, o.status, o.total::text AS total, o.currency,
       coalesce(d.status, '') AS delivery, coalesce(d.carrier, '') AS carrier,
       coalesce(d.tracking_code, '') AS tracking_code, d.eta
  FROM orders o
  LEFT JOIN deliveries d ON d.bot = o.bot AND d.order_ref = o.order_ref
 WHERE o.bot = :bot AND o.user_id = :user AND o.order_ref = upper(:order_ref);
