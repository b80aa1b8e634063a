-- The ledger, its rollup and the reservations of ai-budget.
-- Instants are epoch milliseconds (UTC); token counts are whole numbers up to 2^53 - 1.

-- One row per counted LLM call. UNIQUE(port_id, request_id) makes every write
-- idempotent: a retried write is ignored, never counted twice.
CREATE TABLE usage_ledger (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  port_id        TEXT    NOT NULL,
  user_id        TEXT,
  feature        TEXT    NOT NULL,
  provider       TEXT    NOT NULL,
  model          TEXT    NOT NULL,
  input_tokens   INTEGER NOT NULL CHECK (input_tokens >= 0),
  output_tokens  INTEGER NOT NULL CHECK (output_tokens >= 0),
  total_tokens   INTEGER NOT NULL CHECK (total_tokens = input_tokens + output_tokens),
  request_id     TEXT    NOT NULL,
  reservation_id TEXT,
  -- SHA-256 of the request's fields: a replay with another body is a conflict.
  body_hash      TEXT    NOT NULL,
  -- The write attempt that inserted the row: the rollup is bumped only by it.
  write_id       TEXT    NOT NULL,
  created_at     INTEGER NOT NULL,
  UNIQUE (port_id, request_id)
);
CREATE INDEX usage_ledger_port_created ON usage_ledger (port_id, created_at);

-- Tokens and calls per port, period kind, period start and feature, bumped in
-- the same batch as each ledger insert (for all three period kinds, so a
-- budget's period can change without rescanning the ledger).
CREATE TABLE usage_rollup (
  port_id      TEXT    NOT NULL,
  period       TEXT    NOT NULL CHECK (period IN ('day', 'week', 'month')),
  period_start INTEGER NOT NULL,
  feature      TEXT    NOT NULL,
  tokens       INTEGER NOT NULL DEFAULT 0,
  calls        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (port_id, period, period_start, feature)
) WITHOUT ROWID;

-- Holds taken by the gate before a call, settled by a commit (actual usage),
-- a release, or expiry (then charged as the estimate until a late commit).
CREATE TABLE reservations (
  id               TEXT    PRIMARY KEY,
  port_id          TEXT    NOT NULL,
  request_id       TEXT    NOT NULL,
  feature          TEXT    NOT NULL,
  estimated_tokens INTEGER NOT NULL CHECK (estimated_tokens >= 0),
  state            TEXT    NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
  body_hash        TEXT    NOT NULL,
  actual_tokens    INTEGER,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  settled_at       INTEGER,
  UNIQUE (port_id, request_id)
);
-- The gate sums a port's open holds of the current period.
CREATE INDEX reservations_port_state_created ON reservations (port_id, state, created_at);
-- The cron sweep finds stale holds of every port.
CREATE INDEX reservations_state_expires ON reservations (state, expires_at);
