-- name: find_product
SELECT sku, name FROM products WHERE sku = :sku;
