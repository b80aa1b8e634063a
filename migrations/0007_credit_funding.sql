-- Credits: what funded each ledger row beyond the period's cap, as the
-- port's gate decided it: each source and its amount in the budget's unit
-- ("cap:70,cr_...:30"); NULL when the cap alone did. A customer's credit
-- statement is read from it.
ALTER TABLE usage_ledger ADD COLUMN funded_by TEXT;
