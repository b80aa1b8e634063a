use super::*;

fn params(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    matches(pattern, path).map(|p| p.0)
}

#[test]
fn patterns_take_segments_and_trailing_slashes_are_trimmed() {
    let p = "/v1/ports/{port}/reservations/{id}/commit";
    assert_eq!(
        params(p, "/v1/ports/acme/reservations/rsv_1/commit/"),
        Some(vec![("port", "acme".into()), ("id", "rsv_1".into())])
    );
    assert_eq!(params(p, "/v1/ports/acme/reservations/rsv_1"), None);
    assert_eq!(
        params(p, "/v1/ports/acme/reservations/rsv_1/commit/x"),
        None
    );
    assert_eq!(params("/v1/ports", "/v1/ports///"), Some(vec![]));
    assert_eq!(
        params("/v1/ports/{port}/budget", "/v1/ports//budget"),
        Some(vec![("port", String::new())]),
        "an empty port is the port check's 400, not a 404"
    );
}

#[test]
fn a_tail_takes_the_rest_of_the_path() {
    let p = "/v1/ports/{port}/openai/{*endpoint}";
    assert_eq!(
        params(p, "/v1/ports/acme/openai/chat/completions"),
        Some(vec![
            ("port", "acme".into()),
            ("endpoint", "chat/completions".into())
        ])
    );
    assert_eq!(
        params(p, "/v1/ports/acme/openai"),
        Some(vec![("port", "acme".into()), ("endpoint", String::new())])
    );
    assert_eq!(params(p, "/v1/ports/acme"), None);
}

#[test]
fn every_row_is_one_method_and_path() {
    let rows: Vec<(String, &str)> = listing().map(|(m, p, _)| (m.to_string(), p)).collect();
    for (i, row) in rows.iter().enumerate() {
        assert!(!rows[..i].contains(row), "{row:?} is written twice");
    }
    // Rows of one path are together, so a path's methods are one run.
    let paths: Vec<&str> = rows.iter().map(|(_, p)| *p).collect();
    for (i, path) in paths.iter().enumerate() {
        if i > 0 && paths[i - 1] != *path {
            assert!(!paths[..i].contains(path), "{path}'s rows are apart");
        }
    }
}

#[test]
fn paths_find_their_rows() {
    let found = find("/v1/ports/acme/budget").expect("a route");
    assert_eq!(found.methods(), vec![Method::Get, Method::Put]);
    assert_eq!(found.params.port(), "acme");
    assert!(!found.is_gateway());
    let found = find("/v1/ports/acme/providers/groq/embeddings").expect("a route");
    assert!(found.is_gateway());
    assert_eq!(found.params.get("provider"), "groq");
    let found = find("/v1/ports/acme/gemini/v1beta/models/gemini-2.5-flash:generateContent")
        .expect("a route");
    assert!(found.is_gateway());
    assert!(find("/v1/ports/acme").is_none());
    assert!(find("/v1/ports/acme/providers").is_none());
    assert!(find("/v2/ports").is_none());
}

#[test]
fn every_admin_row_states_its_role_and_a_viewer_changes_nothing() {
    for (method, path, auth) in listing() {
        match auth {
            Auth::Open | Auth::Caller => {
                assert_eq!(method, Method::Get, "{path} is open to any caller")
            }
            Auth::Port(role) | Auth::Admin(role) => {
                let reads = method == Method::Get || path.ends_with("/check");
                assert!(
                    reads || role != Role::Viewer,
                    "{method} {path}: a viewer changes nothing"
                );
            }
        }
    }
    let owners: Vec<String> = listing()
        .filter(|(_, _, auth)| auth.role() == Some(Role::Owner))
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    for route in [
        "PUT /v1/prices/{model}",
        "DELETE /v1/prices/{model}",
        "PUT /v1/alerts",
        "POST /v1/admin-keys",
        "DELETE /v1/admin-keys/{id}",
    ] {
        assert!(owners.iter().any(|o| o == route), "{route} is the owner's");
    }
}

#[test]
fn every_pattern_is_found_by_a_path_it_names() {
    for (method, pattern, _) in listing() {
        let path = pattern
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        let found = find(&path).unwrap_or_else(|| panic!("{path} finds no row"));
        assert!(
            found.rows.iter().all(|r| r.path == pattern),
            "{method} {pattern}: {path} found another pattern's rows"
        );
        assert!(found.methods().contains(&method), "{method} {pattern}");
    }
}
