-- What each port's object last reported of the requests it refused in its
-- budget's current period: that period's start (epoch ms) and the counts by
-- reason and scope (a JSON array of {reason, scope, count}), for the
-- metrics (which read D1, not every object).
ALTER TABLE port_gates ADD COLUMN refusals_period_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE port_gates ADD COLUMN refusals TEXT NOT NULL DEFAULT '[]';
