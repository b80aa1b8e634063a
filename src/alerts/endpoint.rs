//! Which webhook URLs a port may send its alerts to.
//!
//! In production a webhook is an `https://` URL to a public host: no
//! `http://`, no credentials in the URL, no IP literal or name of a
//! private, loopback, link-local or otherwise non-public network. In
//! development (the Worker's `ENVIRONMENT` variable is `development`, as
//! `scripts/dev.sh` and the test harnesses set it) `http://` is allowed for
//! `localhost`, `127.0.0.1` and `[::1]` only, and private targets pass, so a
//! receiver on the developer's machine can be used.
//!
//! The host is taken as a WHATWG URL parser (which the Worker's `fetch`
//! uses) takes it, and refused wherever the two readings could differ; then
//! the address it names is judged, not its spelling:
//! - A host whose last label is numeric (digits, or `0x...`) is an IPv4
//!   address to such a parser. Only the dotted quad without leading zeros
//!   is accepted (`127.0.0.1`, also with a trailing dot); every other
//!   spelling of an address (`2130706433`, `0x7f.1`, `0177.0.0.1`,
//!   `127.1`) and every such host that is no address (`1.2.3.4.5`,
//!   `hooks.example.256`) is `invalid-webhook-url`.
//! - A bracketed IPv6 address is read in any case and any compression;
//!   zone ids (`[fe80::1%25eth0]`) are not part of URLs and are refused.
//! - Percent-escapes, non-ASCII characters and `\` in the host are refused
//!   (a parser would decode or map them to another host); an IDN is given
//!   in its `xn--` form.
//!
//! In production the address is then judged by the tables of
//! [`address`](super::address): the non-public blocks of the IANA
//! special-purpose registries, multicast, reserved space, and any IPv6
//! outside `2000::/3`; an IPv6 address that carries an IPv4 one (IPv4-mapped,
//! NAT64, 6to4, Teredo, ...) is judged by it too. Names refused are
//! `localhost`, single labels, and names under `.localhost`, `.local`,
//! `.internal`, `.home.arpa`, `.lan` or `.intranet`. A public name
//! that resolves to a private address is left to the platform: a Worker's
//! `fetch` goes out from Cloudflare's edge, not from inside the owner's
//! network, so it cannot reach their private addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::address::{judge_v4, judge_v6};

/// The longest webhook URL accepted.
pub const MAX_URL_LENGTH: usize = 2_048;

/// Where the Worker runs, for the rules above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Anything but `development`.
    Production,
    /// `ENVIRONMENT = "development"`.
    Development,
}

impl Environment {
    /// The environment of the `ENVIRONMENT` variable's value (`None`:
    /// unset, production).
    pub fn of_var(value: Option<&str>) -> Environment {
        match value {
            Some("development") => Environment::Development,
            _ => Environment::Production,
        }
    }
}

/// Why a URL was refused, with its API error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// `invalid-webhook-url`, `insecure-webhook-url` or
    /// `private-webhook-url`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// The host of a URL, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Checks a webhook URL under `env`'s rules; answers it as given.
///
/// # Errors
/// [`Refused`], with the code the API answers.
pub fn check(url: &str, env: Environment) -> Result<String, Refused> {
    if url.is_empty() || url.len() > MAX_URL_LENGTH {
        return Err(refused(
            "invalid-webhook-url",
            format!("a webhook URL is 1 to {MAX_URL_LENGTH} characters"),
        ));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refused(
            "invalid-webhook-url",
            "a webhook URL has no spaces or control characters",
        ));
    }
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(refused(
            "invalid-webhook-url",
            "a webhook URL starts with https://",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(refused(
            "invalid-webhook-url",
            "a webhook URL carries no user name or password",
        ));
    }
    let host = parse_host(authority)?;
    let plain_http_allowed = env == Environment::Development && is_loopback_host(&host);
    if !(secure || plain_http_allowed) {
        let also = if env == Environment::Development {
            " (http:// only for localhost in development)"
        } else {
            ""
        };
        return Err(refused(
            "insecure-webhook-url",
            format!("a webhook URL must use https://{also}"),
        ));
    }
    if env == Environment::Production {
        if let Some(why) = why_private(&host) {
            return Err(refused(
                "private-webhook-url",
                format!("a webhook URL must reach a public host: {why}"),
            ));
        }
    }
    Ok(url.to_owned())
}

fn parse_host(authority: &str) -> Result<Host, Refused> {
    let bad = |why: &str| {
        refused(
            "invalid-webhook-url",
            format!("the webhook URL's host {why}"),
        )
    };
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or_else(|| bad("is not valid"))?;
        let ip: Ipv6Addr = v6.parse().map_err(|_| bad("is not a valid IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("is not valid"))?),
        };
        (Host::V6(ip), port)
    } else {
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        (
            name_or_v4(name).ok_or_else(|| bad("is not a valid name"))?,
            port,
        )
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !ok {
            return Err(bad("has an invalid port"));
        }
    }
    Ok(host)
}

/// A host name of letters, digits, `-` and `.`; or a dotted-quad IPv4
/// address. A name whose last label is numeric must be a dotted quad (no
/// other spelling of an address, such as `2130706433` or `0x7f.1`, passes).
fn name_or_v4(name: &str) -> Option<Host> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return None;
    }
    let last = labels.last()?;
    let numeric = last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x");
    if numeric {
        let quad = labels.len() == 4
            && labels.iter().all(|l| {
                l.bytes().all(|b| b.is_ascii_digit()) && (l.len() == 1 || !l.starts_with('0'))
            });
        return if quad {
            name.parse().ok().map(Host::V4)
        } else {
            None
        };
    }
    Some(Host::Name(name.to_owned()))
}

fn is_loopback_host(host: &Host) -> bool {
    match host {
        Host::Name(n) => n == "localhost",
        Host::V4(ip) => *ip == Ipv4Addr::LOCALHOST,
        Host::V6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

/// Names that only mean something inside a network.
const LOCAL_SUFFIXES: [&str; 6] = [
    ".localhost",
    ".local",
    ".internal",
    ".home.arpa",
    ".lan",
    ".intranet",
];

/// Why `host` is not a public destination, for people; `None` when it is.
fn why_private(host: &Host) -> Option<String> {
    match host {
        Host::Name(n) => {
            let local = n == "localhost"
                || !n.contains('.')
                || LOCAL_SUFFIXES.iter().any(|suffix| n.ends_with(suffix));
            local.then(|| format!("{n} is a local name"))
        }
        Host::V4(ip) => judge_v4(*ip).err().map(|why| format!("{ip} {why}")),
        Host::V6(ip) => judge_v6(*ip).err().map(|why| format!("[{ip}] {why}")),
    }
}
