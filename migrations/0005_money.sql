-- Money budgets: each ledger row keeps the cost it was priced at when it was
-- settled, in whole micro-dollars (NULL: its model had no price); the rollup
-- sums them per period and feature; the port list shows each object's money
-- on hold.
ALTER TABLE usage_ledger ADD COLUMN cost_usd_micros INTEGER CHECK (cost_usd_micros IS NULL OR cost_usd_micros >= 0);
ALTER TABLE usage_rollup ADD COLUMN usd_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE port_gates ADD COLUMN held_usd_micros INTEGER NOT NULL DEFAULT 0;
