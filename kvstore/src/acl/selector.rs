//! A selector: one set of command, key and channel permissions (Redis's `aclSelector`). Every
//! user has a root selector, and may have more written `(...)`; a command runs if any
//! selector allows it.
//!
//! Command permissions are a bitmap indexed by the [`Catalog`]'s ids, plus the reserved last
//! bit that only `+@all` sets ("may run future commands"). The canonical description Redis
//! prints (`-@all +@hash +get ...`) is recomputed from the bitmap the way `acl.c` does it: the
//! best-fitting categories first, then single commands.

use std::collections::BTreeMap;

use super::catalog::{Catalog, CATEGORIES};
use super::RuleError;
use crate::glob::glob_match;

const BITS: usize = 1024;
const WORDS: usize = BITS / 64;
/// Set only by `+@all` / `allcommands`: the user may run commands added later.
const FUTURE: usize = BITS - 1;

pub(crate) const READ: u8 = 1;
pub(crate) const WRITE: u8 = 2;
const ALL: u8 = READ | WRITE;

/// A key pattern with the access it grants: `~p` (both), `%R~p`, `%W~p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPattern {
    pub(crate) access: u8,
    pub(crate) pattern: Vec<u8>,
}

impl KeyPattern {
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.access {
            ALL => &b"~"[..],
            READ => b"%R~",
            _ => b"%W~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// Why a selector refused a command, in Redis's order of relevance (`ACL_DENIED_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Denial {
    Command = 1,
    Key = 2,
    Channel = 4,
}

/// What a permission check needs to know about one command call.
pub(crate) struct Call<'a> {
    /// The command's catalog id.
    pub(crate) id: usize,
    /// A subcommand: its first argument is `args[2]`.
    pub(crate) is_subcommand: bool,
    /// `no_auth` commands (AUTH, HELLO, ...) are never refused by command rules.
    pub(crate) no_auth: bool,
    pub(crate) args: &'a [bytes::Bytes],
    /// (position, `READ`/`WRITE` access) of each key argument.
    pub(crate) keys: &'a [(usize, u8)],
    /// (position, is a pattern) of each channel argument that is published or subscribed.
    pub(crate) channels: &'a [(usize, bool)],
}

#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub(crate) root: bool,
    pub(crate) allkeys: bool,
    pub(crate) allchannels: bool,
    allcommands: bool,
    allowed: [u64; WORDS],
    /// First arguments allowed for otherwise denied commands (`+select|0`), by command id.
    firstargs: BTreeMap<usize, Vec<Vec<u8>>>,
    pub(crate) patterns: Vec<KeyPattern>,
    pub(crate) channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector (no permission), with `allchannels` when `acl-pubsub-default` says so.
    pub(crate) fn new(root: bool, allchannels: bool) -> Selector {
        Selector {
            root,
            allkeys: false,
            allchannels,
            allcommands: false,
            allowed: [0; WORDS],
            firstargs: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// `+@all` and nothing taken away since.
    pub(crate) fn allcommands(&self) -> bool {
        self.allcommands
    }

    fn bit(&self, id: usize) -> bool {
        id < BITS && self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, value: bool) {
        if id >= BITS {
            return;
        }
        if value {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    /// `ACLChangeSelectorPerm`: a command and all its subcommands.
    fn change_perm(&mut self, catalog: &Catalog, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.remove(&id);
        for &child in &catalog.entry(id).children {
            self.set_bit(child, allow);
        }
    }

    fn set_category(&mut self, catalog: &Catalog, flag: u32, allow: bool) {
        for id in 0..catalog.len() {
            if catalog.entry(id).categories & flag != 0 {
                self.change_perm(catalog, id, allow);
            }
        }
    }

    fn all_commands(&mut self, allow: bool) {
        self.allowed = [if allow { u64::MAX } else { 0 }; WORDS];
        self.allcommands = allow;
        self.firstargs.clear();
    }

    /// Redis's `ACLSetSelector`: applies one rule.
    pub(crate) fn apply(&mut self, catalog: &Catalog, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        let second = op.get(1).copied().unwrap_or(0);
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all_commands(true);
        } else if is("nocommands") || is("-@all") {
            self.all_commands(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.allkeys {
                return Err(RuleError::KeysAfterAll);
            }
            let mut access = 0;
            let mut offset = 1;
            if op[0] == b'%' {
                while offset < op.len() {
                    let c = op[offset];
                    if c.eq_ignore_ascii_case(&b'R') && access & READ == 0 {
                        access |= READ;
                    } else if c.eq_ignore_ascii_case(&b'W') && access & WRITE == 0 {
                        access |= WRITE;
                    } else if c == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
            } else {
                access = ALL;
            }
            let pattern = &op[offset..];
            // Redis would accept an access-less `%~p` and then crash describing it.
            if access == 0 || has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(existing) => existing.access |= access,
                None => self.patterns.push(KeyPattern {
                    access,
                    pattern: pattern.to_vec(),
                }),
            }
            self.allkeys = false;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.allchannels = false;
        } else if op[0] == b'+' && second != b'@' {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
                    self.change_perm(catalog, id, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = catalog.lookup(base).ok_or(RuleError::UnknownCommand)?;
                    if catalog.entry(id).parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !catalog.entry(id).children.is_empty() {
                        let id = catalog.lookup(name).ok_or(RuleError::UnknownCommand)?;
                        self.change_perm(catalog, id, true);
                    } else {
                        // C strings: the first argument ends at a NUL.
                        let sub = sub.split(|&b| b == 0).next().unwrap_or_default();
                        let list = self.firstargs.entry(id).or_default();
                        if !list.iter().any(|s| s.eq_ignore_ascii_case(sub)) {
                            list.push(sub.to_vec());
                        }
                    }
                }
            }
        } else if op[0] == b'-' && second != b'@' {
            let id = catalog.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(catalog, id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && second == b'@' {
            let flag = category_flag(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.set_category(catalog, flag, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `ACLSelectorCheckCmd`.
    pub(crate) fn check(&self, call: &Call<'_>) -> Result<(), (Denial, usize)> {
        if !self.allcommands && !call.no_auth && !self.bit(call.id) {
            let idx = if call.is_subcommand { 2 } else { 1 };
            let allowed = call.args.len() >= 2
                && self.firstargs.get(&call.id).is_some_and(|list| {
                    let arg = call.args.get(idx).map_or(&[][..], |a| c_str(a));
                    list.iter().any(|s| s.eq_ignore_ascii_case(arg))
                });
            if !allowed {
                return Err((Denial::Command, 0));
            }
        }
        if !self.allkeys {
            for &(pos, access) in call.keys {
                if !self.key_allowed(&call.args[pos], access) {
                    return Err((Denial::Key, pos));
                }
            }
        }
        if !self.allchannels {
            for &(pos, is_pattern) in call.channels {
                if !self.channel_allowed(&call.args[pos], is_pattern) {
                    return Err((Denial::Channel, pos));
                }
            }
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], access: u8) -> bool {
        self.allkeys
            || self
                .patterns
                .iter()
                .any(|p| p.access & access == access && glob_match(&p.pattern, key, false))
    }

    /// `ACLCheckChannelAgainstList`: a PSUBSCRIBE pattern must appear literally.
    pub(crate) fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.allchannels || channel_in(&self.channels, channel, is_pattern)
    }

    /// ACL GETUSER's `keys` field.
    pub(crate) fn describe_keys(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            p.describe(&mut out);
        }
        out
    }

    /// ACL GETUSER's `channels` field.
    pub(crate) fn describe_channels(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// `ACLDescribeSelector`: keys, channels and commands, as ACL LIST prints them.
    pub(crate) fn describe(&self, catalog: &Catalog) -> Vec<u8> {
        let mut out = Vec::new();
        if self.allkeys {
            out.extend_from_slice(b"~* ");
        } else {
            for p in &self.patterns {
                p.describe(&mut out);
                out.push(b' ');
            }
        }
        if self.allchannels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands(catalog).as_bytes());
        out
    }

    /// `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, the categories that fit the
    /// bitmap best, then the single commands that still differ.
    pub(crate) fn describe_commands(&self, catalog: &Catalog) -> String {
        let mut rules = String::new();
        let additive = !self.bit(FUTURE);
        let mut fake = Selector::new(false, false);
        if additive {
            rules.push_str("-@all ");
        } else {
            rules.push_str("+@all ");
            fake.all_commands(true);
        }
        let mut temp = Selector::new(false, false);
        temp.allowed = self.allowed;
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::from(i32::MAX as u32), 0);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (mut on, mut off) = (0u64, 0u64);
                for id in 0..catalog.len() {
                    if catalog.entry(id).categories & (1 << j) != 0 {
                        if temp.bit(id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(best) = best else { break };
            fake.set_category(catalog, 1 << best, additive);
            temp.set_category(catalog, 1 << best, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(CATEGORIES[best]);
            rules.push(' ');
            applied[best] = true;
        }
        for id in catalog.top_level() {
            self.describe_single(catalog, &mut fake, id, &mut rules);
        }
        rules.pop();
        rules
    }

    fn describe_single(
        &self,
        catalog: &Catalog,
        fake: &mut Selector,
        id: usize,
        rules: &mut String,
    ) {
        let entry = catalog.entry(id);
        let userbit = self.bit(id);
        if userbit != fake.bit(id) {
            rules.push(if userbit { '+' } else { '-' });
            rules.push_str(entry.name);
            rules.push(' ');
            fake.change_perm(catalog, id, userbit);
        }
        for &child in &entry.children {
            self.describe_single(catalog, fake, child, rules);
        }
        if !userbit {
            for arg in self.firstargs.get(&id).into_iter().flatten() {
                rules.push('+');
                rules.push_str(entry.name);
                rules.push('|');
                rules.push_str(&String::from_utf8_lossy(arg));
                rules.push(' ');
            }
        }
    }
}

/// Whether `channel` passes `list` (Redis's `ACLCheckChannelAgainstList`).
pub(crate) fn channel_in(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p[..] == *c_str(channel)
        } else {
            glob_match(p, channel, false)
        }
    })
}

/// The category bit for a name, case-insensitively (`ACLGetCommandCategoryFlagByName`).
pub(crate) fn category_flag(name: &[u8]) -> Option<u32> {
    let name = c_str(name);
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// `ACLStringHasSpaces`: whitespace or NUL.
pub(crate) fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b == b' ' || (b'\t'..=b'\r').contains(&b))
}

/// The bytes C code sees: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    s.split(|&b| b == 0).next().unwrap_or_default()
}
