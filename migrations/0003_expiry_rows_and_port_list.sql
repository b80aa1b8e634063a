-- An expired hold becomes a ledger row at its estimate, flagged here, so the
-- ledger, breakdown and CSV show the charge; a late commit replaces the
-- numbers with the actual usage and clears the flag.
ALTER TABLE usage_ledger ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0 CHECK (estimated IN (0, 1));
-- Usage answers report how much of the period is still estimates: few rows.
CREATE INDEX usage_ledger_port_estimated ON usage_ledger (port_id, created_at) WHERE estimated = 1;
-- The port list reads every port's current periods at once (no port in the
-- filter), and the cron prunes long-past periods: both by period and start.
CREATE INDEX usage_rollup_period_start ON usage_rollup (period, period_start);
