//! The layers of `src/` (docs/ARCHITECTURE.md), checked from the code's own paths: every
//! `use crate::…`, `use super::…` and inline `crate::…` path is resolved to the module it names.
//! A module may reach only layers below its own, and no two sibling modules may need each
//! other (an import cycle), at any depth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may import from a strictly lower layer, or from inside itself.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["crypto", "telemetry", "mail", "metrics", "config"],
    &["store"],
    &["tokens", "audit"],
    &["client_metadata"],
    &["oauth"],
    &["app"],
    &["web"],
    &["cli"],
];

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// `src/web/pages/login.rs` → `["web", "pages", "login"]`; a `mod.rs` names its folder.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments and string literals, which may mention paths that are not
/// imports.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '{' (lifetimes have no closing quote).
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_string()
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every module path the file's code names, relative to the crate root or the file.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    // `use` statements, with their groups.
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let after = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        let tree = &after[..end];
        if tree.trim_start().starts_with("crate::")
            || tree.trim_start().starts_with("super::")
            || tree.trim_start().starts_with("self::")
        {
            paths.extend(expand(tree));
        }
        rest = &after[end..];
    }
    // Paths written inline.
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(anchor) {
            let at = from + found;
            let prev = code[..at].chars().last();
            from = at + anchor.len();
            if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let tail: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(tail.trim_end_matches(':').to_string());
        }
    }
    paths
}

/// The module a path names: the longest prefix that is a module of the crate.
fn resolve(
    path: &str,
    here: &[String],
    is_mod_file: bool,
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => Vec::new(),
        Some(&"self") => here.to_vec(),
        Some(&"super") => {
            // In `a/b.rs` (module a::b), `super` is `a`; in `a/b/mod.rs` too.
            let _ = is_mod_file;
            here[..here.len().saturating_sub(1)].to_vec()
        }
        _ => return None,
    };
    segments.remove(0);
    while segments.first() == Some(&"super") {
        base.pop();
        segments.remove(0);
    }
    let mut best = base.clone();
    let mut current = base;
    for s in segments {
        current.push(s.to_string());
        if modules.contains(&current) {
            best = current.clone();
        } else {
            break;
        }
    }
    Some(best)
}

struct Graph {
    /// (from module, to module) → where it was seen.
    edges: BTreeMap<(Vec<String>, Vec<String>), String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.ends_with("main.rs") || f.parent() != Some(src.as_path()));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let here = module_of(&src, file);
        if here.is_empty() {
            continue; // lib.rs: declares the modules, imports none of their insides.
        }
        let text = std::fs::read_to_string(file).expect("read");
        let is_mod = file.ends_with("mod.rs");
        let display = file
            .strip_prefix(src.parent().expect("root"))
            .expect("inside")
            .display()
            .to_string();
        for path in paths_in(&code_only(&text)) {
            if let Some(target) = resolve(&path, &here, is_mod, &modules)
                && !target.is_empty()
                && target != here
            {
                edges
                    .entry((here.clone(), target))
                    .or_insert_with(|| format!("{display}: {path}"));
            }
        }
    }
    Graph { edges }
}

#[test]
fn no_module_reaches_a_higher_layer() {
    let mut wrong = Vec::new();
    let mut unknown = BTreeSet::new();
    for ((from, to), seen) in &graph().edges {
        let (Some(a), Some(b)) = (layer(&from[0]), layer(&to[0])) else {
            unknown.insert(if layer(&from[0]).is_none() {
                from[0].clone()
            } else {
                to[0].clone()
            });
            continue;
        };
        if from[0] != to[0] && b >= a {
            wrong.push(format!(
                "{} (layer {a}) imports {} (layer {b}): {seen}",
                from.join("::"),
                to.join("::")
            ));
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (and docs/ARCHITECTURE.md): {unknown:?}"
    );
    assert!(
        wrong.is_empty(),
        "imports that reach up a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sibling_modules_never_need_each_other() {
    // Collapse every edge to the two siblings under the modules' common parent: `web::pages::
    // login` → `web::errors` is the edge `web::pages` → `web::errors`. An edge to an ancestor
    // (a child using its parent's items) is containment, not a dependency.
    let mut siblings: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut seen_at: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for ((from, to), seen) in &graph().edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        let a = from[..=common].to_vec();
        let b = to[..=common].to_vec();
        siblings.entry(a.clone()).or_default().insert(b.clone());
        seen_at.entry((a, b)).or_insert_with(|| seen.clone());
    }
    // Any cycle in a directed graph shows up as a strongly connected component of more than
    // one node; a plain depth-first search for a back edge names one.
    let mut cycles = Vec::new();
    let nodes: Vec<Vec<String>> = siblings.keys().cloned().collect();
    for start in &nodes {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut visited = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in siblings.get(&node).into_iter().flatten() {
                if next == start {
                    let mut steps = Vec::new();
                    let mut ring = trail.clone();
                    ring.push(start.clone());
                    for pair in ring.windows(2) {
                        let at = &seen_at[&(pair[0].clone(), pair[1].clone())];
                        steps.push(format!(
                            "{} -> {} ({at})",
                            pair[0].join("::"),
                            pair[1].join("::")
                        ));
                    }
                    cycles.push(steps.join("\n  "));
                } else if visited.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(
        cycles.is_empty(),
        "import cycles:\n  {}",
        cycles.join("\n\n  ")
    );
}

#[test]
fn the_checker_sees_groups_nested_paths_and_super() {
    let code = code_only(
        "use crate::{store::{Db, now}, domain::Email};\n\
         use super::render::page; // crate::web::not_this\n\
         fn f() { let s = \"crate::cli\"; crate::tokens::sign(); }",
    );
    let paths = paths_in(&code);
    for want in [
        "crate::store::Db",
        "crate::store::now",
        "crate::domain::Email",
        "super::render::page",
        "crate::tokens::sign",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} in {paths:?}");
    }
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("not_this") || p == "crate::cli")
    );
}
