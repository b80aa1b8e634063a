-- Settled reservations are deleted by the cron trigger once no period can
-- count them any more (see RETENTION in src/worker/store.rs); this index
-- keeps that sweep from scanning the table.
CREATE INDEX reservations_settled_at ON reservations (settled_at) WHERE settled_at IS NOT NULL;
