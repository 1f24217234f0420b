//! The module graph of fs-kv has no import cycles (issue 16): every `use` and every inline
//! `crate::`/`super::`/`self::` path of each source file is resolved to the module (file) it
//! names, and the graph of those edges between files must be acyclic. A module declaring its
//! children (`mod x;`) is not an edge, but a module using a child is (`pub use value::Str`), and
//! so is a child naming its parent (`super::X`): the two make a cycle.
//!
//! `cargo test -p fs-kv --test layout -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::cmd::zset::range`) of a source file under `src/`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    std::iter::once("crate".to_string())
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text without comments, string and character literals (a path inside a string is not an
/// import, and `'"'` does not open a string).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut s = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // An escaped character literal: '\'', '\n', '\x7f', '\u{..}'.
            i += 3;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A character literal such as '"' (a lifetime has no closing quote).
            i += 3;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            s.push_str("\"\"");
        } else {
            s.push(b[i] as char);
            i += 1;
        }
    }
    s
}

/// A use tree without its renames (`x as y` -> `x`).
fn without_renames(tree: &str) -> String {
    let mut t = tree.to_string();
    while let Some(i) = t.find(" as ") {
        let j = i + 4;
        let end = t[j..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(t.len(), |e| j + e);
        t.replace_range(i..end, "");
    }
    t
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len() - 1];
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
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
        .filter(|x| !x.is_empty())
        .flat_map(|x| expand(x).into_iter().map(move |p| format!("{prefix}{p}")))
        .map(|p| p.replace("::self", ""))
        .collect()
}

/// Resolves a path as written in module `here` to the longest known module it names.
fn resolve(path: &str, here: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            vec!["crate"]
        }
        Some(&"super") | Some(&"self") => here.split("::").collect(),
        // A child module named without `self::` (`use table::Table`, `string::commands()`).
        Some(first) if modules.contains(&format!("{here}::{first}")) => here.split("::").collect(),
        _ => return None,
    };
    while let Some(&s) = segs.first() {
        match s {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        segs.remove(0);
    }
    let mut best = Some(base.join("::")).filter(|m| modules.contains(m));
    for s in segs {
        base.push(s);
        let m = base.join("::");
        if modules.contains(&m) {
            best = Some(m);
        } else {
            break;
        }
    }
    best
}

/// Every module each module names: `use` items and inline paths.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    files(&src, &mut list);
    list.retain(|p| !p.ends_with("main.rs"));
    let modules: BTreeSet<String> = list.iter().map(|f| module_of(&src, f)).collect();
    let mut g = BTreeMap::new();
    for f in &list {
        let module = module_of(&src, f);
        let text = code_only(&std::fs::read_to_string(f).expect("read"));
        // An inline `mod tests { use super::*; }` names the file's own module.
        let (body, tests) = match text.find("mod tests {") {
            Some(i) => (&text[..i], &text[i..]),
            None => (&text[..], ""),
        };
        let mut to = BTreeSet::new();
        for (part, here) in [(body, module.clone()), (tests, format!("{module}::tests"))] {
            let mut paths = Vec::new();
            let mut rest = part;
            while let Some(i) = rest.find("use ") {
                let is_word = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
                let end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
                if is_word {
                    paths.extend(expand(&without_renames(&rest[i + 4..end])));
                }
                rest = &rest[i + 4..];
            }
            for w in part.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                // A path ending in `::` opens a use tree (`use super::{a, b}`): done above.
                if w.contains("::") && !w.ends_with("::") && !w.starts_with("::") {
                    paths.push(w.to_string());
                }
            }
            for p in paths {
                if let Some(m) = resolve(&p, &here, &modules) {
                    if m != module {
                        to.insert(m);
                    }
                }
            }
        }
        g.insert(module, to);
    }
    g
}

/// The strongly connected components that contain a cycle, each sorted: the graph is small,
/// so each module's reachable set, by depth-first search, is enough.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for m in g.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let all: BTreeMap<&String, BTreeSet<String>> = g.keys().map(|k| (k, reach(k))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (a, ra) in &all {
        if ra.contains(*a) {
            let comp: Vec<String> = ra
                .iter()
                .filter(|b| all.get(b).is_some_and(|rb| rb.contains(*a)))
                .cloned()
                .collect();
            found.insert(comp);
        }
    }
    found.into_iter().collect()
}

#[test]
fn no_import_cycles() {
    let g = graph();
    assert!(g.len() > 30, "found only {} modules", g.len());
    for (m, to) in &g {
        let to: Vec<&str> = to.iter().map(|s| s.trim_start_matches("crate::")).collect();
        println!("{} -> {}", m.trim_start_matches("crate::"), to.join(", "));
    }
    let c = cycles(&g);
    assert!(c.is_empty(), "import cycles: {c:?}");
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let m: BTreeSet<String> = ["crate::x", "crate::x::y", "crate::z"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        resolve("super::y::Thing", "crate::x::w", &m).as_deref(),
        Some("crate::x::y")
    );
    assert_eq!(
        resolve("crate::z::f", "crate::x", &m).as_deref(),
        Some("crate::z")
    );
    assert_eq!(
        resolve("super::f", "crate::x::y", &m).as_deref(),
        Some("crate::x")
    );
    assert_eq!(without_renames("a::{b as c, d}"), "a::{b, d}");
    assert_eq!(
        resolve("y::f", "crate::x", &m).as_deref(),
        Some("crate::x::y")
    );
    assert_eq!(resolve("std::mem::take", "crate::x", &m), None);
    let code = code_only("let q = b'\"'; // crate::a\nlet s = \"crate::b\"; crate::c::f('\\'');");
    assert_eq!(code, "let q = b; \nlet s = \"\"; crate::c::f();");
    assert_eq!(
        expand("crate::x::{y::{A, B}, self}"),
        vec!["crate::x::y::A", "crate::x::y::B", "crate::x"]
    );
}
