//! The module graph of kvstore: which module refers to which, read from the sources.
//!
//! `lib.rs` promises that dependencies point one way (wire and server on top, commands in
//! the middle, keyspace and protocol at the bottom). This test holds the code to it: it reads
//! every `src/**/*.rs`, collects the `crate::…`, `super::…` and `self::…` paths each module
//! names (outside comments and its `#[cfg(test)] mod tests`), and fails on a cycle, printing
//! it. A module and its own parent may refer to each other (a `mod.rs` lists its children's
//! tables, a child uses its parent's types); any other cycle fails: one among the top-level
//! modules (where a child's imports count as its top-level module's), or one inside a
//! module's tree once the edges from parents to their direct children are left out. It also
//! fails when a command family imports another family: what two families share belongs in
//! one of `cmd`'s helper modules.
//!
//! Run with `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → `crate`.
fn module_name(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    if parts.is_empty() {
        "crate".to_owned()
    } else {
        parts.join("::")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments, string literals and the trailing `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        // Drop string literals (error messages, help text) so their words are not paths.
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else {
                code.push(c);
            }
        }
        code.push('\n');
    }
    code
}

/// Every path in `code` that starts at `crate`, `super` or `self`, or at a child module of
/// `module` (`metadata::lookup` inside the module that declares `mod metadata`), as a list
/// of segments relative to the crate root.
fn paths(code: &str, module: &str, modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let here: Vec<String> = if module == "crate" {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_ident(bytes[i]) || (i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if !code[i..].starts_with("::") {
            continue;
        }
        let mut base: Vec<String> = match word {
            "crate" => Vec::new(),
            "self" => here.clone(),
            "super" => here[..here.len().saturating_sub(1)].to_vec(),
            child => {
                let mut path = here.clone();
                path.push(child.to_owned());
                if !modules.contains(&path.join("::")) {
                    continue;
                }
                path
            }
        };
        // `super::super::`
        while code[i..].starts_with("::super") {
            base.pop();
            i += "::super".len();
        }
        i = read_tree(code, i, base, &mut out);
    }
    out
}

/// Reads `::a::b`, `::{a, b::{c, d}}` from `at`, appending each full path to `out`.
fn read_tree(code: &str, mut at: usize, base: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let bytes = code.as_bytes();
    let mut path = base;
    while code[at..].starts_with("::") {
        at += 2;
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if bytes.get(at) == Some(&b'{') {
            at += 1;
            loop {
                while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b',') {
                    at += 1;
                }
                if at >= bytes.len() || bytes[at] == b'}' {
                    return at + 1;
                }
                let start = at;
                while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    at += 1;
                }
                let mut inner = path.clone();
                if at > start && &code[start..at] != "self" {
                    inner.push(code[start..at].to_owned());
                }
                at = read_tree(code, at, inner, out);
                // Skip `as alias` and anything else up to the next item.
                while at < bytes.len() && bytes[at] != b',' && bytes[at] != b'}' {
                    at += 1;
                }
            }
        }
        let start = at;
        while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
            at += 1;
        }
        if at == start {
            break;
        }
        path.push(code[start..at].to_owned());
    }
    out.push(path);
    at
}

/// The module a path lands in: its longest prefix that is a module.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> String {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_else(|| "crate".to_owned())
}

fn parent(module: &str) -> Option<&str> {
    module.rsplit_once("::").map(|(p, _)| p)
}

fn graph() -> (Graph, BTreeSet<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| f.file_name().is_some_and(|n| n != "main.rs"));
    let modules: BTreeSet<String> = files.iter().map(|f| module_name(&src, f)).collect();
    let mut families = BTreeSet::new();
    let mut graph = Graph::new();
    for file in &files {
        let module = module_name(&src, file);
        let text = std::fs::read_to_string(file).expect("readable source");
        if text.contains("static COMMANDS") {
            families.insert(module.clone());
        }
        let code = code_of(&text);
        let deps = graph.entry(module.clone()).or_default();
        for path in paths(&code, &module, &modules) {
            let target = resolve(&path, &modules);
            if target != module && target != "crate" {
                deps.insert(target);
            }
        }
    }
    (graph, families)
}

fn print(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("{m} -> {}\n", deps.join(", "))
        })
        .collect()
}

/// A cycle of `graph`, if it has one (depth-first search with colours).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'g>(
        node: &'g str,
        graph: &'g Graph,
        state: &mut BTreeMap<&'g str, u8>,
        stack: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        state.insert(node, 1);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).expect("on the stack");
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|s| s.to_string()).collect();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

/// The graph without the edges from a module to its own children.
fn without_parent_edges(graph: &Graph) -> Graph {
    let mut pruned = graph.clone();
    for (module, deps) in &mut pruned {
        deps.retain(|d| parent(d) != Some(module.as_str()));
    }
    pruned
}

/// The graph of top-level modules: `cmd::strings -> state` counts as `cmd -> state`.
fn top_level(graph: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut out = Graph::new();
    for (module, deps) in graph {
        let entry = out.entry(top(module)).or_default();
        entry.extend(deps.iter().map(|d| top(d)).filter(|d| *d != top(module)));
    }
    out
}

/// A cycle that is not a module and its parent referring to each other: among top-level
/// modules (a child's imports count as its top-level module's), or inside one module's tree
/// once the edges from parents to their children are left out.
fn forbidden_cycle(graph: &Graph) -> Option<Vec<String>> {
    find_cycle(&top_level(graph)).or_else(|| find_cycle(&without_parent_edges(graph)))
}

#[test]
fn modules_depend_one_way() {
    let (graph, _) = graph();
    println!("kvstore module graph:\n{}", print(&graph));
    if let Some(cycle) = forbidden_cycle(&graph) {
        panic!(
            "import cycle among kvstore's modules: {}\n\nthe graph:\n{}",
            cycle.join(" -> "),
            print(&graph)
        );
    }
}

#[test]
fn command_families_do_not_import_each_other() {
    let (graph, families) = graph();
    assert!(families.len() >= 10, "families found: {families:?}");
    for family in &families {
        let imported: Vec<&String> = graph[family]
            .iter()
            .filter(|d| families.contains(*d))
            .collect();
        assert!(
            imported.is_empty(),
            "{family} imports the families {imported:?}; move what they share to a helper module"
        );
    }
}

#[test]
fn the_reader_sees_paths_and_groups() {
    let modules: BTreeSet<String> = ["a", "a::b", "a::c", "d"].map(String::from).into();
    let code = code_of(
        "use crate::{a::b::X, d};\n// crate::zzz\nuse super::c;\nlet s = \"crate::d\";\nb::f();\n",
    );
    let found: BTreeSet<String> = paths(&code, "a", &modules)
        .iter()
        .map(|p| resolve(p, &modules))
        .collect();
    let expected: BTreeSet<String> = ["a::b", "d", "crate"].map(String::from).into();
    assert_eq!(found, expected);
    let found: Vec<String> = paths("super::super::d::x", "a::b", &modules)
        .iter()
        .map(|p| resolve(p, &modules))
        .collect();
    assert_eq!(found, ["d"]);
}

#[test]
fn a_cycle_is_found_unless_it_is_a_parent_and_its_child() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (from, to) in edges {
            g.entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    let allowed = graph(&[
        ("cmd", "cmd::strings"),
        ("cmd::strings", "cmd"),
        ("cmd::strings", "cmd::args"),
        ("cmd", "state"),
    ]);
    assert_eq!(forbidden_cycle(&allowed), None);
    let siblings = graph(&[
        ("cmd", "cmd::strings"),
        ("cmd::strings", "cmd::keys"),
        ("cmd::keys", "cmd::strings"),
    ]);
    assert!(forbidden_cycle(&siblings).is_some());
    let cycle = graph(&[
        ("cmd", "cmd::strings"),
        ("cmd::strings", "state"),
        ("state", "cmd"),
    ]);
    let found = forbidden_cycle(&cycle).expect("a cycle");
    assert_eq!(found, ["cmd", "state", "cmd"]);
}
