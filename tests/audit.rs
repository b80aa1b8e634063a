//! The audit trail's records and the admin keys' rows on the real D1
//! migrations: a record written reads back as built, pages and filters
//! (port, actor, instants, a confined key's reach) pick the right rows,
//! pruning keeps the retention, CSV escapes its fields, and no secret is
//! ever recorded. Admin keys: a secret finds its key only while valid; a
//! rotation keeps the old secret for its overlap; a revocation ends all.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::access::{Role, Scope};
use ai_budget::admin_keys::{self, AdminKey};
use ai_budget::audit::{self, Actor, Change, Filter};
use ai_budget::text::csv_field;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::sqlite::Sqlite;
use serde_json::json;

fn now() -> DateTime<Utc> {
    common::test_now(Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 0).unwrap())
}

fn actor(id: &str, name: Option<&str>) -> Actor {
    Actor {
        id: id.into(),
        name: name.map(Into::into),
    }
}

fn change(
    action: &str,
    port: Option<&str>,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Change {
    Change {
        action: action.into(),
        port: port.map(Into::into),
        group: None,
        before,
        after,
    }
}

fn page(db: &Sqlite, filter: &Filter, cursor: Option<u64>, limit: u32) -> Vec<audit::Record> {
    let rows = db
        .batch(&[audit::page(filter, cursor, limit)])
        .expect("a page");
    rows[0].iter().map(audit::record_of).collect()
}

#[test]
fn a_record_reads_back_as_it_was_built() {
    let db = Sqlite::with_d1_schema();
    let budget = change(
        "PUT /v1/ports/{port}/budget",
        Some("acme"),
        json!({"hardCap": 100}),
        json!({"hardCap": 200}),
    );
    db.batch(&[audit::insert(
        now(),
        &actor("adm_1", Some("ci bot")),
        &budget,
    )])
    .unwrap();
    let records = page(&db, &Filter::default(), None, 10);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.at, now());
    assert_eq!(r.actor, actor("adm_1", Some("ci bot")));
    assert_eq!(r.change, budget);
    assert_eq!(r.json()["before"], json!({"hardCap": 100}));
    assert_eq!(r.json()["actorName"], "ci bot");
    // A creation has nothing before; a deletion nothing after.
    let created = change(
        "POST /v1/ports/{port}/keys",
        Some("acme"),
        json!(null),
        json!({"keyId": "key_1"}),
    );
    db.batch(&[audit::insert(
        now(),
        &actor(audit::ADMIN_TOKEN_ACTOR, None),
        &created,
    )])
    .unwrap();
    let newest = &page(&db, &Filter::default(), None, 1)[0];
    assert_eq!(newest.change.before, json!(null));
    assert_eq!(newest.actor.id, "admin-token");
    assert!(newest.seq > r.seq);
}

#[test]
fn pages_filter_by_port_actor_instants_and_reach_newest_first() {
    let db = Sqlite::with_d1_schema();
    let t0 = now();
    let writes = [
        (0, "adm_a", Some("acme"), None),
        (1, "adm_b", Some("beta"), None),
        (2, "adm_a", Some("beta"), None),
        (3, "admin-token", None, Some("team")),
        (4, "adm_a", Some("acme"), None),
    ];
    for (minutes, who, port, group) in writes {
        let mut c = change("PUT x", port, json!(null), json!(minutes));
        c.group = group.map(Into::into);
        db.batch(&[audit::insert(
            t0 + Duration::minutes(minutes),
            &actor(who, None),
            &c,
        )])
        .unwrap();
    }
    let afters = |records: Vec<audit::Record>| -> Vec<i64> {
        records
            .iter()
            .map(|r| r.change.after.as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        afters(page(&db, &Filter::default(), None, 10)),
        vec![4, 3, 2, 1, 0]
    );
    let acme = Filter {
        port: Some("acme".into()),
        ..Filter::default()
    };
    assert_eq!(afters(page(&db, &acme, None, 10)), vec![4, 0]);
    let by_a = Filter {
        actor: Some("adm_a".into()),
        ..Filter::default()
    };
    assert_eq!(afters(page(&db, &by_a, None, 10)), vec![4, 2, 0]);
    let window = Filter {
        since: Some(t0 + Duration::minutes(1)),
        until: Some(t0 + Duration::minutes(3)),
        ..Filter::default()
    };
    assert_eq!(
        afters(page(&db, &window, None, 10)),
        vec![2, 1],
        "since is inclusive, until exclusive"
    );
    let reach = Filter {
        reach: Some((vec!["beta".into()], vec!["team".into()])),
        ..Filter::default()
    };
    assert_eq!(afters(page(&db, &reach, None, 10)), vec![3, 2, 1]);
    let nothing = Filter {
        reach: Some((vec![], vec![])),
        ..Filter::default()
    };
    assert!(
        page(&db, &nothing, None, 10).is_empty(),
        "a reach of nothing shows nothing"
    );
    // Paging: each page starts before the last record of the one before.
    let first = page(&db, &Filter::default(), None, 2);
    let second = page(&db, &Filter::default(), Some(first[1].seq), 2);
    assert_eq!(afters(first), vec![4, 3]);
    assert_eq!(afters(second), vec![2, 1]);
}

#[test]
fn pruning_keeps_the_retention() {
    let db = Sqlite::with_d1_schema();
    let days = audit::DEFAULT_RETENTION_DAYS;
    assert_eq!(days, 400);
    for age in [days + 1, days, days - 1, 0] {
        let c = change("PUT x", Some("p"), json!(null), json!(age));
        db.batch(&[audit::insert(
            now() - Duration::days(age),
            &actor("a", None),
            &c,
        )])
        .unwrap();
    }
    db.batch(&[audit::prune(audit::prune_before(now(), days))])
        .unwrap();
    let kept: Vec<i64> = page(&db, &Filter::default(), None, 10)
        .iter()
        .map(|r| r.change.after.as_i64().unwrap())
        .collect();
    assert_eq!(
        kept,
        vec![0, days - 1, days],
        "a record exactly as old as the retention stays"
    );
}

#[test]
fn csv_escapes_every_field_and_keeps_json_whole() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)", "a formula is defused");
    assert_eq!(csv_field("-5"), "'-5");
    let db = Sqlite::with_d1_schema();
    let c = change(
        "PUT /v1/prices/{model}",
        None,
        json!(null),
        json!({"model": "m,1", "note": "a \"b\""}),
    );
    db.batch(&[audit::insert(now(), &actor("adm_1", Some("=cmd")), &c)])
        .unwrap();
    let text = audit::csv(&page(&db, &Filter::default(), None, 10));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(audit::CSV_COLUMNS.join(",").as_str()));
    let line = lines.next().unwrap();
    assert!(line.contains(",'=cmd,"), "{line}");
    assert!(
        line.ends_with(",,\"{\"\"model\"\":\"\"m,1\"\",\"\"note\"\":\"\"a \\\"\"b\\\"\"\"\"}\""),
        "{line}"
    );
    assert_eq!(lines.next(), None);
}

#[test]
fn secrets_are_never_recorded() {
    let answer = json!({
        "keyId": "adm_1",
        "key": "adk_secret",
        "endpoints": [{"url": "https://x", "secret": "whsec_1", "previousSecret": "whsec_0"}],
        "webhookUrl": "https://x",
    });
    assert_eq!(
        audit::without_secrets(answer),
        json!({"keyId": "adm_1", "endpoints": [{"url": "https://x"}], "webhookUrl": "https://x"})
    );
}

fn key(id: &str, expires_at: Option<DateTime<Utc>>) -> AdminKey {
    AdminKey {
        key_id: id.into(),
        name: "dashboard".into(),
        role: Role::Viewer,
        scope: Scope {
            ports: vec!["acme".into()],
            groups: vec![],
        },
        expires_at,
        created_at: now(),
        rotated_at: None,
        revoked_at: None,
    }
}

fn found(db: &Sqlite, hash: &str, at: DateTime<Utc>) -> Option<AdminKey> {
    let rows = db.batch(&[admin_keys::by_secret(hash)]).unwrap();
    rows[0]
        .first()
        .and_then(|row| admin_keys::valid_key(row, at))
}

#[test]
fn an_admin_key_is_found_by_its_secret_while_valid() {
    let db = Sqlite::with_d1_schema();
    let k = key("adm_1", Some(now() + Duration::days(1)));
    db.batch(&admin_keys::insert(&k, "hash-1")).unwrap();
    assert_eq!(found(&db, "hash-1", now()), Some(k.clone()));
    assert_eq!(found(&db, "hash-2", now()), None);
    assert_eq!(
        found(&db, "hash-1", now() + Duration::days(1)),
        None,
        "expired"
    );
    let listed = db.batch(&[admin_keys::list()]).unwrap();
    assert_eq!(admin_keys::key_of(&listed[0][0]), Some(k.clone()));
    assert!(k.json().get("key").is_none(), "a listed key has no secret");
    assert_eq!(k.json()["ports"], json!(["acme"]));
}

#[test]
fn a_rotation_keeps_the_old_secret_for_its_overlap_and_a_revocation_ends_all() {
    let db = Sqlite::with_d1_schema();
    db.batch(&admin_keys::insert(&key("adm_1", None), "old"))
        .unwrap();
    let overlap_end = now() + Duration::minutes(10);
    db.batch(&admin_keys::rotate("adm_1", "new", now(), overlap_end))
        .unwrap();
    assert!(found(&db, "old", now()).is_some());
    assert!(found(&db, "old", overlap_end).is_none(), "past the overlap");
    assert!(found(&db, "new", overlap_end + Duration::days(30)).is_some());
    assert_eq!(found(&db, "new", now()).unwrap().rotated_at, Some(now()));
    // A second rotation never lengthens an older secret's overlap.
    db.batch(&admin_keys::rotate(
        "adm_1",
        "newer",
        now(),
        now() + Duration::hours(5),
    ))
    .unwrap();
    assert!(found(&db, "old", overlap_end).is_none());
    assert!(found(&db, "new", overlap_end).is_some());
    db.batch(&admin_keys::revoke("adm_1", now())).unwrap();
    for hash in ["old", "new", "newer"] {
        assert!(found(&db, hash, now()).is_none(), "{hash} after revocation");
    }
    let rows = db.batch(&[admin_keys::get("adm_1")]).unwrap();
    assert_eq!(
        admin_keys::key_of(&rows[0][0]).unwrap().revoked_at,
        Some(now())
    );
}
