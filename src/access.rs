//! Who may do what with an admin key: its role (`viewer`, `editor`,
//! `owner`), the scope that confines it to some ports and groups (and the
//! groups' children), and the one rule that judges a call against both.
//! Pure: the Worker reads the key and the port's chain of parents, and asks
//! [`judge`].
//!
//! The roles are ordered: an `owner` may do all an `editor` may, an
//! `editor` all a `viewer` may. Each route states the least role it needs
//! (the Worker's route table); `ADMIN_TOKEN` is an unconfined owner.

/// An admin key's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything its scope reaches (every `GET`).
    Viewer,
    /// Also changes budgets, caps, port keys, alerts, credits and raises,
    /// gateway settings and groups.
    Editor,
    /// Also prices, admin keys and the defaults.
    Owner,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Owner];

    /// The role named `name` (`viewer`, `editor`, `owner`).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The role's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    /// True when a key of this role may call a route that needs `needed`.
    pub fn covers(self, needed: Role) -> bool {
        self >= needed
    }
}

/// The ports and groups a key is confined to. Both empty: it reaches
/// everything (unconfined).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Ports the key reaches by name.
    pub ports: Vec<String>,
    /// Groups the key reaches, with every group and port below them.
    pub groups: Vec<String>,
}

impl Scope {
    /// True when the key reaches only some ports and groups.
    pub fn is_confined(&self) -> bool {
        !self.ports.is_empty() || !self.groups.is_empty()
    }

    /// True when the key reaches `port`, whose parents are `chain` (its
    /// group, that group's parent, and so on up).
    pub fn reaches_port(&self, port: &str, chain: &[String]) -> bool {
        !self.is_confined()
            || self.ports.iter().any(|p| p == port)
            || chain.iter().any(|g| self.groups.contains(g))
    }

    /// True when the key reaches `group`, whose parents are `chain`.
    pub fn reaches_group(&self, group: &str, chain: &[String]) -> bool {
        !self.is_confined()
            || self.groups.iter().any(|g| g == group)
            || chain.iter().any(|g| self.groups.contains(g))
    }
}

/// What a call acts on, as far as a scope is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Nothing of one port or group: the instance (prices, defaults, admin
    /// keys, lists).
    Instance,
    /// A port, with its chain of parents.
    Port(&'a str, &'a [String]),
    /// A group, with its chain of parents.
    Group(&'a str, &'a [String]),
}

/// Why a key may not make a call (every one answers 403).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The route needs a higher role.
    RoleInsufficient {
        /// The least role the route needs.
        needed: Role,
        /// The key's role.
        held: Role,
    },
    /// The port is outside the key's scope.
    PortOutOfScope,
    /// The group is outside the key's scope.
    GroupOutOfScope,
    /// A confined key asked to change something of the whole instance.
    Confined,
}

impl Denial {
    /// The error code of the 403.
    pub const fn code(self) -> &'static str {
        match self {
            Denial::RoleInsufficient { .. } => "role-insufficient",
            Denial::PortOutOfScope => "port-out-of-scope",
            Denial::GroupOutOfScope => "group-out-of-scope",
            Denial::Confined => "key-confined",
        }
    }
}

/// Judges a call by a key of `role` and `scope` to a route that needs
/// `needed` (`reads`: the route only reads) acting on `target`. A confined
/// key reads instance-wide lists (they show only what it reaches) but
/// changes nothing of the whole instance.
///
/// # Errors
/// The [`Denial`]: the role first, then the scope.
pub fn judge(
    role: Role,
    scope: &Scope,
    needed: Role,
    reads: bool,
    target: Target<'_>,
) -> Result<(), Denial> {
    if !role.covers(needed) {
        return Err(Denial::RoleInsufficient { needed, held: role });
    }
    match target {
        Target::Instance if !reads && scope.is_confined() => Err(Denial::Confined),
        Target::Instance => Ok(()),
        Target::Port(port, chain) if scope.reaches_port(port, chain) => Ok(()),
        Target::Port(..) => Err(Denial::PortOutOfScope),
        Target::Group(group, chain) if scope.reaches_group(group, chain) => Ok(()),
        Target::Group(..) => Err(Denial::GroupOutOfScope),
    }
}

/// True when a key's secret (of a key expiring at `expires_at_ms`, the
/// secret itself valid until `secret_until_ms`: an old secret during a
/// rotation's overlap) is valid at `now_ms`. Both bounds are exclusive.
pub fn secret_valid(expires_at_ms: Option<i64>, secret_until_ms: Option<i64>, now_ms: i64) -> bool {
    expires_at_ms.is_none_or(|t| now_ms < t) && secret_until_ms.is_none_or(|t| now_ms < t)
}
