//! The commands as ACL rules see them: one id per command and subcommand, its categories
//! and its family ties. The command layer builds it once from its table; ACL code knows no
//! command beyond this.

use std::collections::HashMap;

/// Redis's ACL categories, in its order; bit `i` of a category set is `CATEGORIES[i]`.
pub(crate) const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// One command or subcommand.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Lower-case full name (`client|id` for a subcommand).
    pub(crate) name: &'static str,
    pub(crate) categories: u32,
    pub(crate) parent: Option<usize>,
    pub(crate) children: Vec<usize>,
}

/// Every command, its id being its index; subcommands follow their container.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    entries: Vec<Entry>,
    by_name: HashMap<&'static str, usize>,
}

impl Catalog {
    /// Adds a top-level command and its subcommands (name, categories); returns its id.
    pub(crate) fn add(
        &mut self,
        name: &'static str,
        categories: u32,
        subcommands: impl Iterator<Item = (&'static str, u32)>,
    ) -> usize {
        let id = self.push(name, categories, None);
        for (sub, categories) in subcommands {
            let child = self.push(sub, categories, Some(id));
            self.entries[id].children.push(child);
        }
        id
    }

    fn push(&mut self, name: &'static str, categories: u32, parent: Option<usize>) -> usize {
        let id = self.entries.len();
        self.entries.push(Entry {
            name,
            categories,
            parent,
            children: Vec::new(),
        });
        self.by_name.insert(name, id);
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn entry(&self, id: usize) -> &Entry {
        &self.entries[id]
    }

    /// The ids of the top-level commands, in table order.
    pub(crate) fn top_level(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.entries.len()).filter(|&id| self.entries[id].parent.is_none())
    }

    /// `ACLLookupCommand`: `name` or `container|sub`, case-insensitively.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<usize> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        self.by_name.get(name.as_str()).copied()
    }

    /// The id of a command by its exact table name.
    pub(crate) fn id(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}
