-- Alerts: one row per event and webhook endpoint, with where its delivery
-- stands (the admin page's "last deliveries", resends), written by the
-- alert queue's consumer. The event's body is kept as sent, for resends.
CREATE TABLE IF NOT EXISTS alert_deliveries (
  port_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  event_type TEXT NOT NULL,
  threshold TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead', 'no-endpoint', 'dropped')),
  attempts INTEGER NOT NULL DEFAULT 0,
  response_code INTEGER,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (port_id, event_id, endpoint)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_recent ON alert_deliveries (port_id, created_at);
