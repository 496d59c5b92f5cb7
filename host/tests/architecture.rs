//! The host's layers, checked from its own source: every `crate::` path in
//! `host/src` is read, each file is placed in its layer by its folder, and
//! the test fails when a layer reaches one it must never import, or when
//! files import each other in a circle (see `docs/ARCHITECTURE.md`).
//!
//! What the code still owes is listed in [`DEBT`] and [`CIRCLE_DEBT`]: a
//! new violation fails, and so does a listed one that is gone (take it off
//! the list), so the lists only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, bottom to top, and where their files live (a path prefix under
/// `host/src/`).
const LAYERS: &[(&str, &[&str])] = &[
    ("support", &["util.rs", "files.rs", "telemetry/"]),
    ("domain", &["domain/"]),
    ("store", &["store/"]),
    ("services", &["services/"]),
    ("wit", &["wit/"]),
    ("runtime", &["runtime/"]),
    ("capabilities", &["capabilities/"]),
    ("plugins", &["plugins/"]),
    ("runner", &["runner/"]),
    ("http", &["http/"]),
    (
        "server",
        &[
            "server.rs",
            "state.rs",
            "config.rs",
            "cli/",
            "main.rs",
            "lib.rs",
        ],
    ),
];

/// What each layer must never import (the table in docs/ARCHITECTURE.md):
/// every layer above it, except the ones named here...
const MAY_IMPORT_ABOVE: &[(&str, &str)] = &[
    // Only http and the server see the app state.
    ("http", "server"),
];

/// ...and these layers below it.
const NEVER_BELOW: &[(&str, &[&str])] = &[
    ("wit", &["services"]),
    ("runtime", &["store", "services"]),
    ("capabilities", &["store"]),
    ("runner", &["store", "wit"]),
    ("http", &["store", "wit"]),
];

/// The layers `layer` must never import.
fn never(layer: &str) -> Vec<&'static str> {
    let position = LAYERS.iter().position(|(name, _)| *name == layer).unwrap();
    let above = LAYERS[position + 1..]
        .iter()
        .map(|(name, _)| *name)
        .filter(|above| !MAY_IMPORT_ABOVE.contains(&(layer, above)));
    let below = NEVER_BELOW
        .iter()
        .filter(|(name, _)| *name == layer)
        .flat_map(|(_, below)| below.iter().copied());
    above.chain(below).collect()
}

/// Imports that break the rules today, as `file -> layer`: the work the
/// layering still has to do. Remove an entry when the import goes.
const DEBT: &[&str] = &[];

/// Files that are in an import circle today. Remove a file when it is in
/// none.
const CIRCLE_DEBT: &[&str] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn layer_of(file: &str) -> &'static str {
    LAYERS
        .iter()
        .find(|(_, prefixes)| prefixes.iter().any(|p| file.starts_with(p)))
        .map(|(layer, _)| *layer)
        .unwrap_or_else(|| panic!("{file} is in no layer: add its folder to LAYERS"))
}

/// The code of a file without comments and string literals (a path in a
/// doc comment or a message is not an import).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The module paths a file names: `crate::a::b` as `a::b...`, and
/// `super::x` resolved against the file's own module.
fn paths_named(file: &str, code: &str) -> Vec<Vec<String>> {
    let module: Vec<String> = module_of(file);
    let mut found = Vec::new();
    for (start, prefix) in [("crate::", 0usize), ("super::", 1)] {
        for (at, _) in code.match_indices(start) {
            if at > 0 {
                let before = code.as_bytes()[at - 1];
                if before.is_ascii_alphanumeric()
                    || before == b'_'
                    || (before == b':' && start == "super::")
                {
                    continue;
                }
            }
            let rest = &code[at + start.len()..];
            let mut segments: Vec<String> = Vec::new();
            let mut cursor = rest;
            loop {
                let name: String = cursor
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    break;
                }
                cursor = &cursor[name.len()..];
                segments.push(name);
                if let Some(next) = cursor.strip_prefix("::") {
                    cursor = next;
                } else {
                    break;
                }
            }
            // Grouped imports: `crate::a::{b, c::d}` names a::b and a::c::d.
            let groups = if cursor.starts_with('{') {
                let end = cursor.find('}').unwrap_or(cursor.len());
                cursor[1..end]
                    .split(',')
                    .map(|part| {
                        part.trim()
                            .split("::")
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .filter(|part| !part[0].is_empty())
                    .collect()
            } else {
                vec![Vec::new()]
            };
            let base = if prefix == 0 {
                segments.clone()
            } else {
                // super:: from a file's module: its parent module.
                let mut parent = module.clone();
                parent.pop();
                let mut path = parent;
                path.extend(segments.iter().filter(|s| *s != "super").cloned());
                path
            };
            for group in groups {
                let mut path = base.clone();
                path.extend(group);
                if !path.is_empty() {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The module path of a file: `store/query/select.rs` is store::query::select.
fn module_of(file: &str) -> Vec<String> {
    let trimmed = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The file a module path lands in: the longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for len in (1..=path.len()).rev() {
        let stem = path[..len].join("/");
        for candidate in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

struct Graph {
    /// file -> files it imports from.
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: BTreeSet<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(src().join(file)).unwrap();
        // Tests inside a file may reach anywhere.
        let text = match text.find("#[cfg(test)]") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        let code = code_of(text);
        let targets: BTreeSet<String> = paths_named(file, &code)
            .iter()
            .filter_map(|path| file_of(path, &files))
            .filter(|target| target != file)
            .collect();
        edges.insert(file.clone(), targets);
    }
    Graph { edges }
}

/// Files in some import circle (strongly connected components of more than
/// one file), by Tarjan's algorithm.
fn files_in_circles(graph: &Graph) -> BTreeSet<String> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: BTreeSet<String>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        for target in &state.graph.edges[node] {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[target].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.index[target].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                state.found.extend(component.iter().map(|s| s.to_string()));
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: BTreeSet::new(),
    };
    for node in graph.edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn each_layer_imports_only_what_it_may() {
    let graph = graph();
    let never: BTreeMap<&str, Vec<&str>> = LAYERS
        .iter()
        .map(|(name, _)| (*name, never(name)))
        .collect();
    let mut violations = BTreeSet::new();
    for (file, targets) in &graph.edges {
        let from = layer_of(file);
        for target in targets {
            let to = layer_of(target);
            if never[from].contains(&to) {
                violations.insert(format!("{file} -> {to}"));
            }
        }
    }
    let debt: BTreeSet<String> = DEBT.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = violations.difference(&debt).collect();
    let paid: Vec<&String> = debt.difference(&violations).collect();
    assert!(
        new.is_empty(),
        "imports a layer must never make (docs/ARCHITECTURE.md):\n{}",
        new.iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        paid.is_empty(),
        "no longer imported, take them off DEBT:\n{}",
        paid.iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let graph = graph();
    let in_circles = files_in_circles(&graph);
    let debt: BTreeSet<String> = CIRCLE_DEBT.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = in_circles.difference(&debt).collect();
    let paid: Vec<&String> = debt.difference(&in_circles).collect();
    // The imports among the files in circles, to show where to cut.
    let edges: Vec<String> = graph
        .edges
        .iter()
        .filter(|(from, _)| in_circles.contains(*from))
        .flat_map(|(from, tos)| {
            tos.iter()
                .filter(|to| in_circles.contains(*to))
                .map(move |to| format!("  {from} -> {to}"))
        })
        .collect();
    assert!(
        new.is_empty(),
        "files in an import circle:\n{}\ntheir imports of each other:\n{}",
        new.iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<_>>()
            .join("\n"),
        edges.join("\n")
    );
    assert!(
        paid.is_empty(),
        "in no circle any more, take them off CIRCLE_DEBT:\n{}",
        paid.iter()
            .map(|s| format!("  {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// What running SQL looks like in code: only the store may do it.
const SQL_CALLS: &[&str] = &[
    "sqlx::query",
    "query_as",
    "query_scalar",
    ".execute(",
    ".fetch_all(",
    ".fetch_one(",
    ".fetch_optional(",
    ".fetch(",
];

#[test]
fn only_the_store_runs_sql() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let mut offenders = Vec::new();
    for path in paths {
        let name = path
            .strip_prefix(src())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if name.starts_with("store/") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        for call in SQL_CALLS {
            if code.contains(call) {
                offenders.push(format!("  {name}: {call}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL outside host/src/store/:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_reader_sees_imports_as_rust_does() {
    let files: BTreeSet<String> = [
        "store/mod.rs",
        "store/query/select.rs",
        "store/query/mod.rs",
        "http/mod.rs",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let code = code_of(
        "use crate::store::query::{select::build, QueryError};\n// use crate::http::x;\nlet s = \"crate::http\";\nuse super::Thing;",
    );
    let mut targets: Vec<String> = paths_named("store/query/select.rs", &code)
        .iter()
        .filter_map(|p| file_of(p, &files))
        .collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets, ["store/query/mod.rs", "store/query/select.rs"]);
}
