-- name: find_product
SELECT sku, name FROM products WHERE sku = :sku;

-- name: add_to_cart!
INSERT INTO cart_items (bot, user_id, sku, qty) VALUES (:bot, :user, :sku, :qty);
