-- Admin keys with roles, and the audit trail of every change.
--
-- An admin key: its role (viewer, editor, owner), the ports and groups it
-- is confined to (JSON arrays; both empty: everywhere), when it expires and
-- when it was revoked. Its secrets are kept only as SHA-256 hashes, one row
-- each: a rotation adds the new secret and gives the old one an end (the
-- overlap); revoking deletes them.
CREATE TABLE admin_keys (
  key_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
  scope_ports TEXT NOT NULL DEFAULT '[]',
  scope_groups TEXT NOT NULL DEFAULT '[]',
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  rotated_at INTEGER,
  revoked_at INTEGER
);

CREATE TABLE admin_key_secrets (
  hash TEXT PRIMARY KEY,
  key_id TEXT NOT NULL REFERENCES admin_keys(key_id),
  valid_until INTEGER
);

CREATE INDEX admin_key_secrets_by_key ON admin_key_secrets (key_id);

-- One row per change: when (the Worker's clock, ms), who (a key id and its
-- name, or admin-token; never a secret), what (the route), where (a port
-- or a group) and the value before and after (JSON text, NULL for none).
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor_id TEXT NOT NULL,
  actor_name TEXT,
  action TEXT NOT NULL,
  port_id TEXT,
  group_id TEXT,
  before_json TEXT,
  after_json TEXT
);

CREATE INDEX audit_log_by_port ON audit_log (port_id, seq);
CREATE INDEX audit_log_by_at ON audit_log (at);
