//! Which IP literals a production webhook URL may name: every special-purpose
//! block of the IPv4 and IPv6 registries that is not a public unicast
//! destination is refused, however the address is spelled (IPv4 embedded in
//! IPv6, the transition forms, other spellings of an IPv4 address).
#![cfg(not(target_arch = "wasm32"))]

use ai_budget::alerts::address::{Rule, V4_BLOCKS, V6_BLOCKS};
use ai_budget::alerts::endpoint::{check, Environment};

const OK: &str = "ok";
const PRIVATE: &str = "private-webhook-url";
const INVALID: &str = "invalid-webhook-url";

/// What production answers for `url`: `ok` or the refusal's code.
fn production(url: &str) -> &'static str {
    match check(url, Environment::Production) {
        Ok(_) => OK,
        Err(refused) => refused.code,
    }
}

/// Runs a table of (URL, expected answer) and reports every row that
/// differs, not just the first.
fn run(table: &[(&str, &str)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter_map(|&(url, want)| {
            let got = production(url);
            (got != want).then(|| format!("{url}: {got}, expected {want}"))
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The forms an adversarial probe got past the filter: loopback and
/// reserved space spelled through IPv6 transition forms, and IPv4 blocks
/// that were missing.
#[test]
fn probe_forms_are_refused() {
    run(&[
        // IPv4-compatible (deprecated) ::127.0.0.1.
        ("https://[::127.0.0.1]/", PRIVATE),
        ("https://[::7f00:1]/", PRIVATE),
        // IPv4-translated ::ffff:0:127.0.0.1.
        ("https://[::ffff:0:7f00:1]/", PRIVATE),
        ("https://[::ffff:0:127.0.0.1]/", PRIVATE),
        // NAT64 well-known prefix around 127.0.0.1.
        ("https://[64:ff9b::7f00:1]/", PRIVATE),
        ("https://[64:ff9b::127.0.0.1]/", PRIVATE),
        // 6to4 of 127.0.0.1.
        ("https://[2002:7f00:1::]/", PRIVATE),
        // Teredo: server 127.0.0.1; client 127.0.0.1 (obfuscated: 80ff:fffe);
        // server 10.0.0.1 with client 192.168.0.1 (3f57:fffe).
        ("https://[2001:0:7f00:1::]/", PRIVATE),
        ("https://[2001:0:808:808:0:0:80ff:fffe]/", PRIVATE),
        ("https://[2001:0:a00:1::3f57:fffe]/", PRIVATE),
        // Site-local (deprecated) and discard-only.
        ("https://[fec0::1]/", PRIVATE),
        ("https://[100::]/", PRIVATE),
        ("https://[100::1]/", PRIVATE),
        // IETF protocol assignments and the 6to4 relay anycast.
        ("https://192.0.0.1/", PRIVATE),
        ("https://192.88.99.1/", PRIVATE),
    ]);
}

/// Each non-public block of the IPv4 registry (and multicast), at least
/// once, mostly at its edges.
#[test]
fn ipv4_special_purpose_blocks_are_refused() {
    run(&[
        ("https://0.0.0.0/", PRIVATE),
        ("https://0.255.255.255/", PRIVATE),
        ("https://10.0.0.0/", PRIVATE),
        ("https://10.255.255.255/", PRIVATE),
        ("https://100.64.0.0/", PRIVATE),
        ("https://100.127.255.255/", PRIVATE),
        ("https://127.0.0.1/", PRIVATE),
        ("https://127.255.255.254/", PRIVATE),
        ("https://169.254.169.254/", PRIVATE),
        ("https://172.16.0.1/", PRIVATE),
        ("https://172.31.255.255/", PRIVATE),
        ("https://192.0.0.0/", PRIVATE),
        ("https://192.0.0.9/", PRIVATE),
        ("https://192.0.0.10/", PRIVATE),
        ("https://192.0.0.170/", PRIVATE),
        ("https://192.0.0.255/", PRIVATE),
        ("https://192.0.2.1/", PRIVATE),
        ("https://192.31.196.1/", PRIVATE),
        ("https://192.52.193.1/", PRIVATE),
        ("https://192.88.99.0/", PRIVATE),
        ("https://192.88.99.255/", PRIVATE),
        ("https://192.168.1.1/", PRIVATE),
        ("https://192.175.48.1/", PRIVATE),
        ("https://198.18.0.1/", PRIVATE),
        ("https://198.19.255.255/", PRIVATE),
        ("https://198.51.100.7/", PRIVATE),
        ("https://203.0.113.7/", PRIVATE),
        ("https://224.0.0.1/", PRIVATE),
        ("https://239.255.255.250/", PRIVATE),
        ("https://240.0.0.1/", PRIVATE),
        ("https://255.255.255.255/", PRIVATE),
    ]);
}

/// Each non-public block of the IPv6 registry, and what lies outside
/// global unicast 2000::/3.
#[test]
fn ipv6_special_purpose_blocks_are_refused() {
    run(&[
        ("https://[::]/", PRIVATE),
        ("https://[::1]/", PRIVATE),
        ("https://[::2]/", PRIVATE),
        ("https://[::ffff:7f00:1]/", PRIVATE),
        ("https://[64:ff9b:1::1]/", PRIVATE),
        ("https://[64:ff9b:1:ffff::808:808]/", PRIVATE),
        ("https://[100:0:0:1::1]/", PRIVATE),
        // 2001::/23, IETF protocol assignments: all of it.
        ("https://[2001:1::1]/", PRIVATE),
        ("https://[2001:2::1]/", PRIVATE),
        ("https://[2001:3::1]/", PRIVATE),
        ("https://[2001:4:112::1]/", PRIVATE),
        ("https://[2001:10::1]/", PRIVATE),
        ("https://[2001:20::1]/", PRIVATE),
        ("https://[2001:30::1]/", PRIVATE),
        ("https://[2001:1ff:ffff::1]/", PRIVATE),
        ("https://[2001:db8::1]/", PRIVATE),
        ("https://[2620:4f:8000::1]/", PRIVATE),
        ("https://[3fff::1]/", PRIVATE),
        ("https://[3fff:fff:ffff::1]/", PRIVATE),
        ("https://[5f00::1]/", PRIVATE),
        ("https://[fc00::1]/", PRIVATE),
        ("https://[fd12:3456::1]/", PRIVATE),
        ("https://[fe80::1]/", PRIVATE),
        ("https://[febf::1]/", PRIVATE),
        ("https://[feff::1]/", PRIVATE),
        ("https://[ff02::1]/", PRIVATE),
        ("https://[ff0e::1]/", PRIVATE),
        // Outside 2000::/3 and in no listed block.
        ("https://[4000::1]/", PRIVATE),
        ("https://[1::1]/", PRIVATE),
        ("https://[e000::1]/", PRIVATE),
    ]);
}

/// Every block of the tables, at its first and its last address, as a URL.
#[test]
fn every_listed_block_is_refused_at_both_ends() {
    let mut table: Vec<(String, &str)> = Vec::new();
    for block in V4_BLOCKS {
        for ip in [block.net, block.last()] {
            table.push((format!("https://{ip}/"), PRIVATE));
        }
    }
    for block in V6_BLOCKS.iter().filter(|b| b.rule != Rule::Public) {
        for ip in [block.net, block.last()] {
            table.push((format!("https://[{ip}]/"), PRIVATE));
        }
    }
    let rows: Vec<(&str, &str)> = table.iter().map(|(u, w)| (u.as_str(), *w)).collect();
    run(&rows);
}

/// The refusal says which block refused the address, and what an IPv6
/// address carried when that was the reason.
#[test]
fn refusals_say_why() {
    let message = |url: &str| check(url, Environment::Production).unwrap_err().message;
    assert_eq!(
        message("https://[2002:7f00:1::]/"),
        "a webhook URL must reach a public host: [2002:7f00:1::] carries 127.0.0.1, \
         which is in 127.0.0.0/8 (loopback)"
    );
    assert_eq!(
        message("https://192.88.99.1/"),
        "a webhook URL must reach a public host: 192.88.99.1 is in 192.88.99.0/24 \
         (deprecated 6to4 relay anycast)"
    );
    assert_eq!(
        message("https://[fec0::1]/"),
        "a webhook URL must reach a public host: [fec0::1] is in fec0::/10 \
         (deprecated site-local)"
    );
    assert_eq!(
        message("https://db.internal/"),
        "a webhook URL must reach a public host: db.internal is a local name"
    );
}

/// An address that carries an IPv4 address is judged by it. IPv4-mapped
/// and the NAT64 well-known prefix pass when it is public; the deprecated
/// transition forms (IPv4-compatible, IPv4-translated, 6to4, Teredo) and
/// the local-use NAT64 prefix are refused whatever they carry.
#[test]
fn embedded_ipv4_is_judged_and_transition_forms_refused() {
    run(&[
        ("https://[::ffff:8.8.8.8]/", OK),
        ("https://[::ffff:808:808]/", OK),
        ("https://[::ffff:127.0.0.1]/", PRIVATE),
        ("https://[::ffff:10.0.0.1]/", PRIVATE),
        ("https://[::ffff:192.88.99.1]/", PRIVATE),
        ("https://[64:ff9b::8.8.8.8]/", OK),
        ("https://[64:ff9b::a9fe:a9fe]/", PRIVATE),
        ("https://[64:ff9b::c000:1]/", PRIVATE),
        ("https://[::8.8.8.8]/", PRIVATE),
        ("https://[::ffff:0:8.8.8.8]/", PRIVATE),
        ("https://[2002:808:808::]/", PRIVATE),
        ("https://[2002:0808:0808::1]/", PRIVATE),
        ("https://[2002:a9fe:a9fe::]/", PRIVATE),
        ("https://[2002:c058:6301::]/", PRIVATE),
        ("https://[2001:0:808:808:0:0:f7f7:f7f7]/", PRIVATE),
    ]);
}

/// Other spellings of a host: IPv4 other than as a dotted quad is refused
/// (WHATWG URL would read it as an address); a trailing dot and upper-case
/// hex are read as the address they name; zone ids are not URLs.
#[test]
fn other_spellings_of_an_address_are_refused_or_normalised() {
    run(&[
        ("https://2130706433/", INVALID),
        ("https://0x7f.1/", INVALID),
        ("https://0x7F000001/", INVALID),
        ("https://0177.0.0.1/", INVALID),
        ("https://127.1/", INVALID),
        ("https://127.0.1/", INVALID),
        ("https://0x08.8.8.8/", INVALID),
        ("https://8.8.8.010/", INVALID),
        ("https://1.2.3.4.5/", INVALID),
        ("https://hooks.example.256/", INVALID),
        ("https://127.0.0.1./", PRIVATE),
        ("https://127.0.0.1.:8443/x", PRIVATE),
        ("https://127.0.0.1../", INVALID),
        ("https://8.8.8.8./", OK),
        ("https://[FE80::1]/", PRIVATE),
        ("https://[::FFFF:7F00:1]/", PRIVATE),
        ("https://[fe80::1%25eth0]/", INVALID),
        ("https://[fe80::1%eth0]/", INVALID),
        ("https://127%2e0%2e0%2e1/", INVALID),
        ("https://%31%32%37.0.0.1/", INVALID),
        ("https://\u{ff11}\u{ff12}\u{ff17}.0.0.1/", INVALID),
        ("https://127\u{3002}0.0.1/", INVALID),
        ("https:\\\\127.0.0.1\\", INVALID),
        ("https:127.0.0.1/", INVALID),
        ("https:///127.0.0.1/", INVALID),
        ("https://hooks.example.com\\@127.0.0.1/", INVALID),
        ("https://localhost./", PRIVATE),
        ("https://LOCALHOST/", PRIVATE),
        ("https://a.localhost/", PRIVATE),
        ("https://printer.local/", PRIVATE),
        ("https://metadata.google.internal/", PRIVATE),
    ]);
}

/// Public addresses and names still pass.
#[test]
fn public_hosts_pass() {
    run(&[
        ("https://93.184.215.14/", OK),
        ("https://8.8.8.8/hook", OK),
        ("https://1.1.1.1:8443/x", OK),
        ("https://100.63.255.255/", OK),
        ("https://100.128.0.0/", OK),
        ("https://172.15.255.255/", OK),
        ("https://172.32.0.0/", OK),
        ("https://192.0.1.1/", OK),
        ("https://192.88.98.255/", OK),
        ("https://198.17.255.255/", OK),
        ("https://198.20.0.0/", OK),
        ("https://223.255.255.255/", OK),
        ("https://[2606:4700::1111]/", OK),
        ("https://[2606:4700:4700::1111]:8443/x", OK),
        ("https://[2001:200::1]/", OK),
        ("https://[2001:4860:4860::8888]/", OK),
        ("https://[2003::1]/", OK),
        ("https://[3ffe::1]/", OK),
        ("https://[3ff0::1]/", OK),
        ("https://hooks.example.com/x", OK),
        ("https://hooks.example.com./x", OK),
    ]);
}

/// Development keeps its rules: http:// to this machine, private targets.
#[test]
fn development_still_takes_local_and_private_targets() {
    let dev = Environment::Development;
    for url in [
        "http://localhost:9000/hook",
        "http://127.0.0.1:9000/",
        "http://[::1]:9000/",
        "https://10.0.0.2/",
        "https://[::127.0.0.1]/",
        "https://[2002:7f00:1::]/",
        "https://192.88.99.1/",
    ] {
        assert!(check(url, dev).is_ok(), "{url}");
    }
    assert_eq!(
        check("http://[::ffff:127.0.0.1]:9000/", dev)
            .unwrap_err()
            .code,
        "insecure-webhook-url"
    );
}
