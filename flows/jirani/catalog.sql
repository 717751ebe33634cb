-- An example catalog for Jirani (the shop's own would come from its back office):
--   psql "$DATABASE_URL" -f flows/jirani/catalog.sql       (after `flowbot migrate`)
-- Product codes are what customers type (ADD A12 2); names are list rows (at most 24
-- characters), descriptions at most 72.
INSERT INTO products (bot, sku, category, name, description, price, currency, position) VALUES
    ('jirani', 'U1', 'Unga & rice', 'Maize flour 2 kg', 'Jogoo, sifted', 210.00, 'KES', 1),
    ('jirani', 'U2', 'Unga & rice', 'Pishori rice 1 kg', 'Mwea, long grain', 250.00, 'KES', 2),
    ('jirani', 'U3', 'Unga & rice', 'Wheat flour 2 kg', 'Exe, home baking', 230.00, 'KES', 3),
    ('jirani', 'D1', 'Dairy', 'Fresh milk 500 ml', 'Brookside', 65.00, 'KES', 10),
    ('jirani', 'D2', 'Dairy', 'Mala 500 ml', 'Fermented milk', 70.00, 'KES', 11),
    ('jirani', 'H1', 'Household', 'Bar soap 800 g', 'Menengai', 180.00, 'KES', 20),
    ('jirani', 'H2', 'Household', 'Cooking oil 1 l', 'Fresh Fri', 390.00, 'KES', 21)
ON CONFLICT (bot, sku) DO UPDATE
   SET category = excluded.category, name = excluded.name, description = excluded.description,
       price = excluded.price, currency = excluded.currency, position = excluded.position,
       active = true, updated_at = now();
