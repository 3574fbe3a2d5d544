//! The shape of the code: dependencies point down, and modules import no one in a circle.
//!
//! Reads every file under src/, collects the `crate::…` and `super::…` paths it uses (in `use`
//! lines and in code, comments left out), and checks them against the layers below: a module
//! may use modules of lower layers and its own parts, never a module of its own layer or of a
//! higher one. Then it checks that no two modules import each other, directly or around a
//! circle. `cargo test layers` runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A unit is a top-level module, or one subcommand (`commands::X`).
const LAYERS: &[(u32, &[&str])] = &[
    // The clap definition: the subcommand tree and its dispatch.
    (90, &["cli"]),
    // One module per subcommand (`commands::*`, matched below); `commands` itself only
    // declares them.
    (80, &["commands::*", "commands"]),
    // The generators of completions and man pages, which the completions command uses.
    (75, &["docs"]),
    // Settings: flags, environment, config file, credentials; what a command needs to talk
    // to its service.
    (70, &["config"]),
    (65, &["known"]),
    // The services, and the server (which only `commands::serve` may use).
    (50, &["services", "server"]),
    // Transforms of an upload's or a download's byte stream (issue 14): folders as archives
    // (whose unpacking reports a failed decryption), and encryption.
    (47, &["archive"]),
    (45, &["crypt"]),
    // Helpers the layers above share: HTTP, upload bodies, saving downloads, the history,
    // credentials, printing results, the state of uploads to resume.
    (
        40,
        &[
            "http",
            "body",
            "save",
            "history",
            "credentials",
            "output",
            "resume",
        ],
    ),
    (
        20,
        &[
            "activity", "progress", "tls", "filename", "record", "expires", "size", "clock", "qr",
            "local_db", "tcp",
        ],
    ),
    (10, &["error"]),
    (5, &["terminal_text", "secret", "dirs"]),
];

/// Edges the layers allow against their order, and why.
const ALLOWED: &[(&str, &str, &str)] = &[(
    "docs",
    "cli",
    "the generators of completions and man pages render the clap definition",
)];

/// Edges tolerated while a refactor elsewhere removes them, so that a branch stays green
/// (none today).
const PENDING: &[(&str, &str)] = &[];

/// Units whose files may still import each other in circles, for the same reason (none
/// today).
const PENDING_INSIDE: &[&str] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; lib.rs and main.rs are the top, skipped.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        return None;
    }
    Some(parts.join("::"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comments (doc links name modules without using them).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string ("http://…") is rare on a line that also uses a path;
            // cutting there loses nothing this check reads.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module paths a file refers to, absolute (`services::fileio::FileIo`), from
/// `crate::…`, `crate::{a, b::c}` and `super::…`.
fn references(module: &str, code: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut parent: Vec<String> = module.split("::").map(str::to_owned).collect();
            parent.pop();
            parent
        }),
    ] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(is_ident) {
                continue;
            }
            let heads: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: the first segment of each item, at the top level.
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .map_or(group.len(), |(i, _)| i);
                let mut items = Vec::new();
                let mut depth = 0;
                let mut item = String::new();
                for c in group[..end].chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                        _ if depth == 0 => item.push(c),
                        _ => {}
                    }
                }
                items.push(item);
                items
                    .into_iter()
                    .map(|i| i.trim().to_string())
                    .filter(|i| !i.is_empty())
                    .collect()
            } else {
                vec![
                    rest.chars()
                        .take_while(|&c| is_ident(c) || c == ':')
                        .collect(),
                ]
            };
            for head in heads {
                let mut path = base.clone();
                path.extend(
                    head.split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && s.chars().all(is_ident) && s != "self"),
                );
                if !path.is_empty() {
                    found.insert(path);
                }
            }
        }
    }
    found
}

/// The unit a module belongs to: `commands::X` for a subcommand, else its first segment.
fn unit_of(module: &str) -> String {
    let parts: Vec<&str> = module.split("::").collect();
    match parts.as_slice() {
        ["commands", sub, ..] => format!("commands::{sub}"),
        [first, ..] => first.to_string(),
        [] => String::new(),
    }
}

fn layer_of(unit: &str) -> Option<u32> {
    LAYERS.iter().find_map(|(layer, units)| {
        units
            .iter()
            .any(|u| *u == unit || (*u == "commands::*" && unit.starts_with("commands::")))
            .then_some(*layer)
    })
}

/// Every file's module and the modules it uses (the longest known prefix of each path).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .filter_map(|f| Some((module_of(f)?, f.clone())))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let code = without_comments(&std::fs::read_to_string(file).unwrap());
        let mut uses = BTreeSet::new();
        for path in references(module, &code) {
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(t) = target.filter(|t| t != module) {
                uses.insert(t);
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

fn allowed(from: &str, to: &str) -> bool {
    ALLOWED.iter().any(|(f, t, _)| *f == from && *t == to)
        || PENDING.iter().any(|(f, t)| *f == from && *t == to)
}

#[test]
fn layers_every_module_has_a_layer_and_imports_only_below_it() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let unit = unit_of(module);
        let Some(layer) = layer_of(&unit) else {
            wrong.push(format!("{module}: not in any layer of tests/cli/layers.rs"));
            continue;
        };
        for used in uses {
            let used_unit = unit_of(used);
            if used_unit == unit || allowed(&unit, &used_unit) {
                continue;
            }
            match layer_of(&used_unit) {
                Some(l) if l < layer => {}
                Some(l) => wrong.push(format!(
                    "{module} (layer {layer}) imports {used} (layer {l}): dependencies point down; \
                     move what both need to a module below them"
                )),
                None => wrong.push(format!("{used}: not in any layer of tests/cli/layers.rs")),
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn layers_no_modules_import_each_other_in_a_circle() {
    // Between files, leaving out a module's own parts (a parent declares its children, and
    // they use its types) and the allowed edges.
    let graph = graph();
    let related =
        |a: &str, b: &str| a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"));
    let edges: BTreeMap<&str, Vec<&str>> = graph
        .iter()
        .map(|(m, uses)| {
            let to = uses
                .iter()
                .filter(|u| !related(m, u) && !allowed(&unit_of(m), &unit_of(u)))
                .filter(|u| {
                    !(unit_of(m) == unit_of(u) && PENDING_INSIDE.contains(&unit_of(m).as_str()))
                })
                .map(String::as_str)
                .collect();
            (m.as_str(), to)
        })
        .collect();
    // Depth-first, colouring: a grey module met again closes a circle.
    fn visit<'a>(
        m: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        state.insert(m, 1);
        stack.push(m);
        for &n in edges.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|&s| s == n).unwrap();
                    let mut circle = stack[start..].to_vec();
                    circle.push(n);
                    return Some(circle);
                }
                0 => {
                    if let Some(c) = visit(n, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for &m in edges.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            if let Some(circle) = visit(m, &edges, &mut state, &mut Vec::new()) {
                panic!("modules import each other: {}", circle.join(" -> "));
            }
        }
    }
}

#[test]
fn layers_the_check_sees_what_it_checks() {
    // The reader itself: a check that reads nothing would pass whatever the code.
    let refs = references(
        "services::fileio",
        "use crate::{error::{Failure, Kind}, http};\nuse super::Api;\nlet x = crate::terminal_text::inert(y);",
    );
    let refs: Vec<String> = refs.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        refs,
        ["error", "http", "services::Api", "terminal_text::inert"]
    );
    let graph = graph();
    assert!(graph["commands::upload"].contains("services"), "{graph:?}");
    assert!(graph["config"].contains("services"), "{graph:?}");
    assert!(!graph["services"].contains("config"), "{graph:?}");
}

#[test]
fn layers_only_the_registry_knows_the_services_one_by_one() {
    // Commands, settings and the rest reach a service through the `Service` trait: adding
    // one is a file in src/services/ and a line in its registry, with no edits elsewhere.
    let graph = graph();
    let wrong: Vec<String> = graph
        .iter()
        .filter(|(m, _)| unit_of(m) != "services")
        .flat_map(|(m, uses)| {
            uses.iter()
                .filter(|u| u.starts_with("services::"))
                .map(move |u| format!("{m} uses {u}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}
