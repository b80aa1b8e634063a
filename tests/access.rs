//! Admin keys' roles and scopes: the one rule every admin route is judged
//! by (`access::judge`), the confinement of a key to ports, groups and the
//! groups' children, and when a key's secret is valid.

use ai_budget::access::{judge, secret_valid, Denial, Role, Scope, Target};

fn scope(ports: &[&str], groups: &[&str]) -> Scope {
    Scope {
        ports: ports.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

fn chain(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|s| s.to_string()).collect()
}

#[test]
fn roles_are_ordered_and_named() {
    for held in Role::ALL {
        for needed in Role::ALL {
            let rank = |r: Role| Role::ALL.iter().position(|x| *x == r).unwrap();
            assert_eq!(
                held.covers(needed),
                rank(held) >= rank(needed),
                "{held:?} {needed:?}"
            );
        }
        assert_eq!(Role::parse(held.as_str()), Some(held));
    }
    assert_eq!(Role::parse("admin"), None);
    assert_eq!(Role::parse("Owner"), None, "names are exact");
}

#[test]
fn a_role_below_the_routes_is_refused_first() {
    let everywhere = Scope::default();
    assert_eq!(
        judge(
            Role::Viewer,
            &everywhere,
            Role::Editor,
            false,
            Target::Port("acme", &[])
        ),
        Err(Denial::RoleInsufficient {
            needed: Role::Editor,
            held: Role::Viewer
        })
    );
    assert_eq!(
        judge(
            Role::Editor,
            &everywhere,
            Role::Owner,
            false,
            Target::Instance
        ),
        Err(Denial::RoleInsufficient {
            needed: Role::Owner,
            held: Role::Editor
        })
    );
    // A role is judged before the scope: a viewer out of its ports hears
    // about its role.
    let acme = scope(&["acme"], &[]);
    assert_eq!(
        judge(
            Role::Viewer,
            &acme,
            Role::Editor,
            false,
            Target::Port("beta", &[])
        )
        .map_err(Denial::code),
        Err("role-insufficient")
    );
    assert_eq!(
        judge(
            Role::Owner,
            &everywhere,
            Role::Owner,
            false,
            Target::Instance
        ),
        Ok(())
    );
    assert_eq!(
        judge(
            Role::Viewer,
            &everywhere,
            Role::Viewer,
            true,
            Target::Port("x", &[])
        ),
        Ok(())
    );
}

#[test]
fn a_confined_key_reaches_its_ports_and_its_groups_children_only() {
    let acme = scope(&["acme"], &[]);
    assert_eq!(
        judge(
            Role::Editor,
            &acme,
            Role::Editor,
            false,
            Target::Port("acme", &[])
        ),
        Ok(())
    );
    assert_eq!(
        judge(
            Role::Editor,
            &acme,
            Role::Editor,
            false,
            Target::Port("beta", &[])
        ),
        Err(Denial::PortOutOfScope)
    );
    assert_eq!(
        judge(
            Role::Editor,
            &acme,
            Role::Viewer,
            true,
            Target::Port("beta", &[])
        ),
        Err(Denial::PortOutOfScope),
        "reading another port is out of scope too"
    );
    let team = scope(&[], &["team"]);
    let under_team = chain(&["sub", "team", "org"]);
    assert_eq!(
        judge(
            Role::Editor,
            &team,
            Role::Editor,
            false,
            Target::Port("p", &under_team)
        ),
        Ok(())
    );
    assert_eq!(
        judge(
            Role::Editor,
            &team,
            Role::Editor,
            false,
            Target::Port("p", &chain(&["org"]))
        ),
        Err(Denial::PortOutOfScope),
        "a group above the key's is not reached"
    );
    assert_eq!(
        judge(
            Role::Editor,
            &team,
            Role::Editor,
            false,
            Target::Group("team", &[])
        ),
        Ok(())
    );
    assert_eq!(
        judge(
            Role::Editor,
            &team,
            Role::Editor,
            false,
            Target::Group("sub", &chain(&["team"]))
        ),
        Ok(())
    );
    assert_eq!(
        judge(
            Role::Editor,
            &team,
            Role::Viewer,
            true,
            Target::Group("org", &[])
        ),
        Err(Denial::GroupOutOfScope)
    );
    assert_eq!(
        judge(
            Role::Editor,
            &acme,
            Role::Editor,
            false,
            Target::Group("team", &[])
        )
        .map_err(Denial::code),
        Err("group-out-of-scope")
    );
}

#[test]
fn a_confined_key_reads_instance_lists_but_changes_nothing_instance_wide() {
    let acme = scope(&["acme"], &[]);
    assert_eq!(
        judge(Role::Owner, &acme, Role::Viewer, true, Target::Instance),
        Ok(())
    );
    assert_eq!(
        judge(Role::Owner, &acme, Role::Owner, false, Target::Instance),
        Err(Denial::Confined)
    );
    assert_eq!(Denial::Confined.code(), "key-confined");
    assert!(!Scope::default().is_confined());
    assert!(acme.is_confined());
    assert!(Scope::default().reaches_port("anything", &[]));
}

#[test]
fn a_secret_is_valid_before_its_key_expires_and_its_overlap_ends() {
    assert!(secret_valid(None, None, 1_000));
    assert!(secret_valid(Some(1_001), None, 1_000));
    assert!(
        !secret_valid(Some(1_000), None, 1_000),
        "the end is exclusive"
    );
    assert!(secret_valid(None, Some(1_001), 1_000));
    assert!(!secret_valid(None, Some(1_000), 1_000));
    assert!(
        !secret_valid(Some(5_000), Some(900), 1_000),
        "an old secret past its overlap"
    );
    assert!(
        !secret_valid(Some(900), Some(5_000), 1_000),
        "an expired key's every secret"
    );
}
