-- The gate moves into a Durable Object per port; D1 stays the ledger of
-- record, fed by each object's outbox (src/ledger). Rows are numbered per
-- port by the object (`seq`, the API's entry id), carry a version (bumped
-- when a late commit corrects an expired hold's estimate) and the token
-- kinds providers report.
ALTER TABLE usage_ledger ADD COLUMN seq INTEGER;
ALTER TABLE usage_ledger ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE usage_ledger ADD COLUMN cached_input_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cached_input_tokens >= 0);
ALTER TABLE usage_ledger ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0);
ALTER TABLE usage_ledger ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0);
-- Rows from before the objects keep their row id as their number.
UPDATE usage_ledger SET seq = id WHERE seq IS NULL;
CREATE UNIQUE INDEX usage_ledger_port_seq ON usage_ledger (port_id, seq);

-- What each port's object last reported of its open holds and outbox, for
-- the port list (which reads D1, not every object).
CREATE TABLE port_gates (
  port_id         TEXT    PRIMARY KEY,
  held_tokens     INTEGER NOT NULL DEFAULT 0,
  open_holds      INTEGER NOT NULL DEFAULT 0,
  pending_entries INTEGER NOT NULL DEFAULT 0,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
