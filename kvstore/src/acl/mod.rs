//! Access control: users, their rules and the ACL LOG (Redis 7.0's `acl.c`).
//!
//! A [`User`] is flags, password hashes and [`Selector`]s (the root one first). Rules are
//! applied to a copy and committed only if every one is valid, as `ACL SETUSER` does. The
//! [`AccessControl`] in `state::Shared` holds the users by name (byte order, like Redis's rax,
//! so ACL LIST and ACL USERS come out in Redis's order) and keeps two answers dispatch reads
//! without a lock: whether an unauthenticated client must authenticate, and whether the
//! default user may run everything (then dispatch checks nothing for its clients).
//!
//! Invariants: this module knows no command; what it needs of them is the [`Catalog`] the
//! command layer builds. A client is bound to a user by name; rules changed by ACL SETUSER
//! apply to its next command.

mod catalog;
mod log;
mod selector;
mod sha256;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{RwLock, RwLockReadGuard};

pub(crate) use catalog::{Catalog, CATEGORIES};
pub(crate) use log::{Context, Log, LogEntry, Reason};
pub(crate) use selector::{
    category_flag, channel_in, has_spaces, Call, Denial, Selector, READ, WRITE,
};

/// Why a rule was refused (Redis's errno values in `ACLSetUser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleError {
    UnknownCommand,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    /// `ACLSetUserStringError`.
    pub(crate) fn message(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// One user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) enabled: bool,
    pub(crate) nopass: bool,
    /// `skip-sanitize-payload` / `sanitize-payload` (both unset on a new user).
    sanitize: Option<bool>,
    /// SHA-256 hex of each password, in the order added.
    pub(crate) passwords: Vec<String>,
    /// The root selector first.
    pub(crate) selectors: Vec<Selector>,
}

impl User {
    fn new(allchannels: bool) -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, allchannels)],
        }
    }

    pub(crate) fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// `ACLSetUser`: applies one rule (`allchannels`: `acl-pubsub-default` is `allchannels`).
    fn apply(&mut self, catalog: &Catalog, op: &[u8], allchannels: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                sha256::hex_digest(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                sha256::hex_digest(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            let at = (self.passwords.iter().position(|p| *p == hash))
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let inner = &op[1..op.len() - 1];
            let mut selector = Selector::new(false, allchannels);
            // An unbalanced quote inside is no rule at all, as `sdssplitargs` gives none.
            for rule in crate::config::split_args(inner).unwrap_or_default() {
                selector.apply(catalog, &rule)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for rule in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(catalog, rule.as_bytes(), allchannels)?;
            }
            if allchannels {
                self.apply(catalog, b"allchannels", allchannels)?;
            }
            for rule in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(catalog, rule.as_bytes(), allchannels)?;
            }
        } else {
            self.selectors[0].apply(catalog, op)?;
        }
        Ok(())
    }

    /// `ACLDescribeUser`: the rules of ACL LIST and the ACL file, after `user <name> `.
    pub(crate) fn describe(&self, catalog: &Catalog) -> Vec<u8> {
        let mut out = Vec::new();
        for (set, name) in [
            (self.enabled, "on"),
            (!self.enabled, "off"),
            (self.nopass, "nopass"),
            (self.sanitize == Some(false), "skip-sanitize-payload"),
            (self.sanitize == Some(true), "sanitize-payload"),
        ] {
            if set {
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
            }
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                out.extend_from_slice(&s.describe(catalog));
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe(catalog));
                out.push(b')');
            }
        }
        out
    }

    /// ACL GETUSER's `flags`.
    pub(crate) fn flag_names(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    /// `ACLCheckAllUserCommandPerm`: allowed if one selector allows; otherwise the most
    /// relevant refusal (command < key < channel, then the latest argument).
    pub(crate) fn check(&self, call: &Call<'_>) -> Result<(), (Denial, usize)> {
        let mut relevant = (Denial::Command, 0);
        for s in &self.selectors {
            match s.check(call) {
                Ok(()) => return Ok(()),
                Err((denial, at)) => {
                    if denial > relevant.0 || (denial == relevant.0 && at > relevant.1) {
                        relevant = (denial, at);
                    }
                }
            }
        }
        Err(relevant)
    }

    /// `ACLKillPubsubClientsIfNeeded`'s question: `None` if every subscription `old` allowed
    /// is still allowed (no selector has all channels and the new channel list is a superset),
    /// else the channel patterns the subscribers of this user must match.
    pub(crate) fn revoked_channels(&self, old: &User) -> Option<Vec<Vec<u8>>> {
        if self.selectors.iter().any(|s| s.allchannels) {
            return None;
        }
        let upcoming: Vec<Vec<u8>> = (self.selectors.iter())
            .flat_map(|s| s.channels.iter().cloned())
            .collect();
        let kept = old
            .selectors
            .iter()
            .all(|s| !s.allchannels && s.channels.iter().all(|c| upcoming.contains(c)));
        (!kept).then_some(upcoming)
    }

    /// Whether the root selector grants everything: no check can refuse.
    fn unrestricted(&self) -> bool {
        let root = self.root();
        root.allkeys && root.allchannels && root.allcommands()
    }

    /// `ACLCheckUserCredentials` for an existing user.
    fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = sha256::hex_digest(password);
        self.passwords
            .iter()
            .any(|p| same_secret(p.as_bytes(), hashed.as_bytes()))
    }
}

fn valid_hash(hash: &[u8]) -> Result<String, RuleError> {
    if hash.len() != 64
        || !hash
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(hash).into_owned())
}

/// Compares in time independent of where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `ACLMergeSelectorArguments`: a selector split over several arguments (`(+get`, `~k)`)
/// becomes one. `Err(index)` of an opening parenthesis never closed.
pub(crate) fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut merged = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.clone()));
            continue;
        }
        if let Some((_, selector)) = open.as_mut() {
            selector.push(b' ');
            selector.extend_from_slice(op);
            if op.last() == Some(&b')') {
                merged.push(open.take().map(|(_, s)| s).unwrap_or_default());
            }
            continue;
        }
        merged.push(op.clone());
    }
    match open {
        Some((at, _)) => Err(at),
        None => Ok(merged),
    }
}

/// Every user, by name, and the ACL LOG.
#[derive(Debug)]
pub(crate) struct Users {
    users: BTreeMap<Vec<u8>, User>,
    pub(crate) log: Log,
    /// `acl-pubsub-default allchannels`: new selectors start with every channel.
    pub(crate) allchannels_default: bool,
}

impl Users {
    /// The default user alone: every command, key and channel, enabled, with `requirepass`
    /// as its password if set (`ACLCreateDefaultUser` + `ACLUpdateDefaultUserPassword`).
    fn new(requirepass: Option<&str>) -> Users {
        let catalog = Catalog::default();
        let mut default = User::new(false);
        for rule in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = default.apply(&catalog, rule.as_bytes(), false);
        }
        let mut users = Users {
            users: BTreeMap::new(),
            log: Log::default(),
            allchannels_default: false,
        };
        users.users.insert(b"default".to_vec(), default);
        users.set_default_password(requirepass);
        users
    }

    /// `requirepass`: the default user's only password, or `nopass` when empty.
    pub(crate) fn set_default_password(&mut self, password: Option<&str>) {
        let catalog = Catalog::default();
        let Some(default) = self.users.get_mut(&b"default"[..]) else {
            return;
        };
        let _ = default.apply(&catalog, b"resetpass", false);
        match password.filter(|p| !p.is_empty()) {
            Some(p) => {
                let rule = [b">", p.as_bytes()].concat();
                let _ = default.apply(&catalog, &rule, false);
            }
            None => {
                let _ = default.apply(&catalog, b"nopass", false);
            }
        }
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<&User> {
        self.users.get(name)
    }

    /// Users in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &User)> {
        self.users.iter()
    }

    /// `ACLStringSetUser`: applies `rules` to a copy of `name` (or a new user) and commits
    /// only if all are valid. Returns the user as it was (`None` if new) on success.
    pub(crate) fn set_user(
        &mut self,
        catalog: &Catalog,
        name: &[u8],
        rules: &[Vec<u8>],
    ) -> Result<Option<User>, String> {
        let merged = merge_selector_args(rules).map_err(|at| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(&rules[at])
            )
        })?;
        let old = self.users.get(name).cloned();
        let mut user = old
            .clone()
            .unwrap_or_else(|| User::new(self.allchannels_default));
        for rule in &merged {
            user.apply(catalog, rule, self.allchannels_default)
                .map_err(|e| {
                    format!(
                        "Error in ACL SETUSER modifier '{}': {}",
                        String::from_utf8_lossy(c_str(rule)),
                        e.message()
                    )
                })?;
        }
        self.users.insert(name.to_vec(), user);
        Ok(old)
    }

    /// Removes a user; `false` if there was none.
    pub(crate) fn remove(&mut self, name: &[u8]) -> bool {
        self.users.remove(name).is_some()
    }

    /// Replaces every user but keeps the log (ACL LOAD); returns the names of the users
    /// replaced, whose clients Redis disconnects (all but `default`).
    pub(crate) fn replace_all(&mut self, users: BTreeMap<Vec<u8>, User>) -> Vec<Vec<u8>> {
        let old = std::mem::replace(&mut self.users, users);
        old.into_keys().filter(|name| name != b"default").collect()
    }

    /// `ACLLoadFromFile` over the text of `filename`: the users it defines (a missing
    /// `default` is the unrestricted one), or Redis's one-line description of every error.
    pub(crate) fn parse_file(
        &self,
        catalog: &Catalog,
        filename: &str,
        text: &[u8],
    ) -> Result<BTreeMap<Vec<u8>, User>, String> {
        let mut users: BTreeMap<Vec<u8>, User> = BTreeMap::new();
        let mut errors = String::new();
        let allchannels = self.allchannels_default;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let linenum = i + 1;
            let line = trim(line, b" \t\r\n");
            if line.is_empty() {
                continue;
            }
            let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            if argv[0] != b"user" || argv.len() < 2 {
                errors += &format!(
                    "{filename}:{linenum} should start with user keyword followed by the username. "
                );
                continue;
            }
            let name = argv[1];
            if has_spaces(name) {
                errors += &format!(
                    "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            if users.contains_key(name) {
                errors += &format!(
                    "WARNING: Duplicate user '{}' found on line {linenum}. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            let user = users
                .entry(name.to_vec())
                .or_insert_with(|| User::new(allchannels));
            let rules: Vec<Vec<u8>> = argv[2..].iter().map(|r| r.to_vec()).collect();
            let merged = merge_selector_args(&rules).unwrap_or_else(|_| {
                errors +=
                    &format!("{filename}:{linenum}: Unmatched parenthesis in selector definition.");
                Vec::new()
            });
            let mut syntax_error = false;
            for rule in &merged {
                let rule = trim(rule, b"\t\r\n");
                match user.apply(catalog, rule, allchannels) {
                    Ok(()) => {}
                    Err(RuleError::UnknownCommand) => {
                        errors += &format!(
                            "{filename}:{linenum}: Error in applying operation '{}': {}. ",
                            String::from_utf8_lossy(c_str(rule)),
                            RuleError::UnknownCommand.message()
                        );
                    }
                    Err(e) if !syntax_error => {
                        errors += &format!("{filename}:{linenum}: {}. ", e.message());
                        syntax_error = true;
                    }
                    Err(_) => {}
                }
            }
        }
        if !errors.is_empty() {
            errors += "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";
            return Err(errors);
        }
        if !users.contains_key(&b"default"[..]) {
            users.extend(Users::new(None).users);
        }
        Ok(users)
    }

    /// `ACLLoadConfiguredUsers`: the `user` directives of the configuration, in order
    /// (`default` is reset first). Redis's log line for the first error.
    pub(crate) fn load_configured(
        &mut self,
        catalog: &Catalog,
        definitions: &[Vec<Vec<u8>>],
    ) -> Result<(), String> {
        let allchannels = self.allchannels_default;
        let mut seen: Vec<&[u8]> = Vec::new();
        for definition in definitions {
            let Some((name, rules)) = definition.split_first() else {
                continue;
            };
            let declaration = |message: &str| {
                format!(
                    "Error in user declaration '{}': {message}",
                    String::from_utf8_lossy(name)
                )
            };
            if seen.contains(&&name[..]) {
                return Err(declaration(
                    "Duplicate user found. A user can only be defined once in config files",
                ));
            }
            seen.push(name);
            if has_spaces(name) {
                return Err("Spaces not allowed in ACL usernames".into());
            }
            let rules = merge_selector_args(rules).map_err(|at| {
                declaration(&format!(
                    "Unmatched parenthesis in acl selector starting at '{}'.",
                    String::from_utf8_lossy(&rules[at])
                ))
            })?;
            let user = self
                .users
                .entry(name.clone())
                .or_insert_with(|| User::new(allchannels));
            if name == b"default" {
                let _ = user.apply(catalog, b"reset", allchannels);
            }
            for rule in &rules {
                user.apply(catalog, rule, allchannels).map_err(|e| {
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(rule),
                        String::from_utf8_lossy(name),
                        e.message()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// `ACLCheckUserCredentials`.
    pub(crate) fn authenticate(&self, name: &[u8], password: &[u8]) -> bool {
        self.users.get(name).is_some_and(|u| u.accepts(password))
    }
}

/// `sdstrim`: `set` bytes off both ends.
fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// The bytes C code sees: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    s.split(|&b| b == 0).next().unwrap_or_default()
}

/// The users behind a lock, and what dispatch reads on every command without it.
#[derive(Debug)]
pub(crate) struct AccessControl {
    users: RwLock<Users>,
    /// The default user has a password or is disabled: new clients must authenticate.
    auth_required: AtomicBool,
    /// The default user may run every command on every key and channel.
    default_unrestricted: AtomicBool,
}

impl AccessControl {
    pub(crate) fn new(requirepass: Option<&str>) -> AccessControl {
        let acl = AccessControl {
            users: RwLock::new(Users::new(requirepass)),
            auth_required: AtomicBool::new(false),
            default_unrestricted: AtomicBool::new(true),
        };
        acl.refresh(&acl.users.read());
        acl
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Users> {
        self.users.read()
    }

    /// Changes the users; the lock-free answers are refreshed before the lock is released.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut Users) -> R) -> R {
        let mut users = self.users.write();
        let result = change(&mut users);
        self.refresh(&users);
        result
    }

    fn refresh(&self, users: &Users) {
        let default = users.get(b"default");
        let required = default.map_or(true, |d| !d.nopass || !d.enabled);
        let open = default.is_some_and(User::unrestricted);
        self.auth_required.store(required, Ordering::Release);
        self.default_unrestricted.store(open, Ordering::Release);
    }

    /// Redis's `authRequired` without the client's own flag.
    pub(crate) fn auth_required(&self) -> bool {
        self.auth_required.load(Ordering::Acquire)
    }

    /// Whether a client of the default user can skip every permission check.
    pub(crate) fn default_unrestricted(&self) -> bool {
        self.default_unrestricted.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        let read = 1 << 1;
        let write = 1 << 2;
        let string = 1 << 7;
        c.add("get", read | string, std::iter::empty());
        c.add("set", write | string, std::iter::empty());
        c.add("select", 0, std::iter::empty());
        c.add(
            "client",
            0,
            [("client|id", 0), ("client|kill", 0)].into_iter(),
        );
        c
    }

    fn rules(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|r| r.as_bytes().to_vec()).collect()
    }

    #[test]
    fn describes_like_redis() {
        let c = catalog();
        let mut users = Users::new(None);
        assert_eq!(
            String::from_utf8_lossy(&users.get(b"default").unwrap().describe(&c)),
            "on nopass ~* &* +@all"
        );
        users
            .set_user(
                &c,
                b"bob",
                &rules(&[
                    "on",
                    ">p1",
                    "~foo*",
                    "%R~bar",
                    "+@string",
                    "-set",
                    "+select|0",
                    "(+get ~x*)",
                ]),
            )
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&users.get(b"bob").unwrap().describe(&c)),
            "on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* %R~bar \
             resetchannels -@all +@read +select|0 (~x* resetchannels -@all +@read)"
        );
        users.set_user(&c, b"r", &rules(&["reset"])).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&users.get(b"r").unwrap().describe(&c)),
            "off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn a_bad_rule_changes_nothing() {
        let c = catalog();
        let mut users = Users::new(None);
        let err = users
            .set_user(&c, b"bob", &rules(&["on", "+nosuch"]))
            .unwrap_err();
        assert_eq!(
            err,
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert!(users.get(b"bob").is_none());
        assert_eq!(
            users
                .set_user(&c, b"bob", &rules(&["(+get", "~x"]))
                .unwrap_err(),
            "Unmatched parenthesis in acl selector starting at '(+get'."
        );
    }
}
