SELECT 1;

-- name: find_product
SELECT sku, name FROM products WHERE sku = 'unclosed;
