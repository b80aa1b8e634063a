//! Finding a request's rows in the route table: a path matched segment by
//! segment against each row's pattern, its parameters, and what answers
//! the request's method.

use worker::{Method, Response};

use super::row::{ApiHandler, Handler, Params, Route};
use super::ROUTES;

/// One segment of a row's pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// A segment the path must have as written.
    Fixed(&'static str),
    /// `{name}`: any one segment.
    Param(&'static str),
    /// `{*name}`: the rest of the path, however many segments.
    Rest(&'static str),
}

/// The parts of `pattern`.
fn parts(pattern: &'static str) -> Vec<Part> {
    pattern
        .split('/')
        .skip(1)
        .map(|part| {
            if let Some(name) = part.strip_prefix("{*").and_then(|p| p.strip_suffix('}')) {
                Part::Rest(name)
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Part::Param(name)
            } else {
                Part::Fixed(part)
            }
        })
        .collect()
}

/// The segments of `path`, its trailing slashes trimmed.
fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

/// The parameters `segments` give `parts`, if they match.
fn match_parts(parts: &[Part], segments: &[&str]) -> Option<Params> {
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Part::Rest(name) = part {
            params.push((*name, segments.get(i..).unwrap_or_default().join("/")));
            return Some(Params(params));
        }
        let segment = segments.get(i)?;
        match part {
            Part::Param(name) => params.push((*name, (*segment).to_owned())),
            Part::Fixed(fixed) if fixed == segment => {}
            _ => return None,
        }
    }
    (segments.len() == parts.len()).then_some(Params(params))
}

/// The parameters of `path` under `pattern`, if it matches.
#[cfg(test)]
pub(super) fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    match_parts(&parts(pattern), &segments(path))
}

/// A pattern of the table, split into its parts once, and its rows (one
/// run: the rows of a path are together).
struct Pattern {
    parts: Vec<Part>,
    rows: std::ops::Range<usize>,
}

thread_local! {
    /// The table's patterns in table order, split when first needed: a
    /// request's path is split once and compared part by part, instead of
    /// splitting every row's pattern again for every request.
    static PATTERNS: Vec<Pattern> = {
        let mut patterns: Vec<Pattern> = Vec::new();
        for (i, route) in ROUTES.iter().enumerate() {
            match patterns.last_mut() {
                Some(last) if ROUTES[last.rows.start].path == route.path => last.rows.end = i + 1,
                _ => patterns.push(Pattern {
                    parts: parts(route.path),
                    rows: i..i + 1,
                }),
            }
        }
        patterns
    };
}

/// The rows of one path, with the parameters the path gave them.
pub struct Found {
    /// The rows of the matched pattern, in table order.
    pub rows: Vec<&'static Route>,
    /// The path's parameters.
    pub params: Params,
}

/// What answers a request to a found path, by its method.
pub enum Chosen {
    /// The gateway: it answers every method itself, in the provider's format.
    Gateway,
    /// `OPTIONS`: 204 with `Allow`.
    Options,
    /// A fixed answer (`head`: a `HEAD`, answered without the body).
    Open {
        /// The answer.
        answer: fn() -> Response,
        /// True for a `HEAD`.
        head: bool,
    },
    /// An API handler's row (`head` as above).
    Api {
        /// The row.
        route: &'static Route,
        /// Its handler.
        handler: ApiHandler,
        /// True for a `HEAD`.
        head: bool,
    },
    /// No row answers the method: 405 with `Allow`.
    NotAllowed,
}

impl Found {
    /// The methods the path answers (GET implies HEAD; OPTIONS is always
    /// answered), in table order.
    pub fn methods(&self) -> Vec<Method> {
        self.rows.iter().map(|r| r.method.clone()).collect()
    }

    /// True when the gateway answers the path.
    pub fn is_gateway(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.handler, Handler::Gateway))
    }

    /// What answers `method` (`None`: a method the Worker does not know).
    pub fn choose(&self, method: Option<Method>) -> Chosen {
        if self.is_gateway() {
            return Chosen::Gateway;
        }
        let (wanted, head) = match method {
            Some(Method::Options) => return Chosen::Options,
            Some(Method::Head) => (Method::Get, true),
            Some(m) => (m, false),
            None => return Chosen::NotAllowed,
        };
        let Some(route) = self.rows.iter().copied().find(|r| r.method == wanted) else {
            return Chosen::NotAllowed;
        };
        match route.handler {
            Handler::Open(answer) => Chosen::Open { answer, head },
            Handler::Api(handler) => Chosen::Api {
                route,
                handler,
                head,
            },
            Handler::Gateway => Chosen::Gateway,
        }
    }
}

/// The route of `path`, if any.
pub fn find(path: &str) -> Option<Found> {
    let segments = segments(path);
    PATTERNS.with(|patterns| {
        patterns.iter().find_map(|pattern| {
            let params = match_parts(&pattern.parts, &segments)?;
            Some(Found {
                rows: ROUTES[pattern.rows.clone()].iter().collect(),
                params,
            })
        })
    })
}
