//! The ledger of record (D1): every counted call of every port, and its
//! rollup per period and feature for reports. Fed by each port gate's
//! outbox ([`delivery`]); read by the reports ([`reports`]). Everything
//! here is plain SQL statements and readers of their rows, run by the
//! Worker against D1 and natively against SQLite in the tests.

pub mod delivery;
pub mod reports;
