-- The version of the price each ledger row's cost was priced by (its
-- effectiveFrom instant, or the shipped table's date) and where it comes
-- from (`shipped` or `admin`); NULL for rows priced before versions, or
-- not priced by a version.
ALTER TABLE usage_ledger ADD COLUMN price_version TEXT;
ALTER TABLE usage_ledger ADD COLUMN price_source TEXT;
