//! The generated files committed in `completions/` and `man/` match what the source renders,
//! and they work: the command prints the same scripts, bash loads its script, man renders the
//! pages. `FILEIO_REGENERATE=1 cargo test --test cli generated` rewrites the files instead.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use fileio::docs;

use crate::support::Env;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn regenerating() -> bool {
    std::env::var_os("FILEIO_REGENERATE").is_some_and(|v| !v.is_empty() && v != "0")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// With FILEIO_REGENERATE set, rewrites `completions/` and `man/` to hold exactly what the
/// source generates, once, before any test here reads them.
fn regenerate_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !regenerating() {
            return;
        }
        for (dir, files) in [
            ("completions", docs::completion_files()),
            ("man", docs::man_pages()),
        ] {
            let dir = repo().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            for name in names_in(&dir) {
                if !files.iter().any(|(n, _)| *n == name) {
                    std::fs::remove_file(dir.join(&name)).unwrap();
                }
            }
            for (name, contents) in files {
                std::fs::write(dir.join(name), contents).unwrap();
            }
        }
    });
}

/// The committed copy of a generated file.
fn committed(rel: &str) -> Vec<u8> {
    regenerate_if_asked();
    std::fs::read(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Compares `files` with the contents of `dir`: none missing, stale or left over.
fn check(dir: &str, files: &[(String, Vec<u8>)]) {
    regenerate_if_asked();
    let dir = repo().join(dir);
    let mut stale = Vec::new();
    for (name, contents) in files {
        match std::fs::read(dir.join(name)) {
            Ok(c) if c == *contents => {}
            Ok(_) => stale.push(format!("{name} (out of date)")),
            Err(_) => stale.push(format!("{name} (missing)")),
        }
    }
    for name in names_in(&dir) {
        if !files.iter().any(|(n, _)| *n == name) {
            stale.push(format!("{name} (no longer generated)"));
        }
    }
    assert!(
        stale.is_empty(),
        "the generated files in {} are stale: {}\nregenerate them with:\n    {}\n",
        dir.display(),
        stale.join(", "),
        docs::REGENERATE
    );
}

#[test]
fn generated_completions_are_up_to_date() {
    check("completions", &docs::completion_files());
}

#[test]
fn generated_man_pages_are_up_to_date() {
    check("man", &docs::man_pages());
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(docs::man_pages(), docs::man_pages());
    assert_eq!(docs::completion_files(), docs::completion_files());
}

#[test]
fn man_pages_cover_every_command() {
    let names: Vec<String> = docs::man_pages().into_iter().map(|(n, _)| n).collect();
    for page in [
        "fileio.1",
        "fileio-upload.1",
        "fileio-download.1",
        "fileio-list.1",
        "fileio-me.1",
        "fileio-update.1",
        "fileio-delete.1",
        "fileio-auth.1",
        "fileio-auth-login.1",
        "fileio-auth-status.1",
        "fileio-auth-logout.1",
        "fileio-history.1",
        "fileio-serve.1",
        "fileio-completions.1",
    ] {
        assert!(names.iter().any(|n| n == page), "no {page} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
}

/// Every variable the source reads is documented in fileio.1's ENVIRONMENT section.
#[test]
fn man_page_documents_every_environment_variable() {
    let (_, page) = docs::man_pages().into_iter().next().unwrap();
    let page = String::from_utf8(page).unwrap();
    let env_section = &page[page.find(".SH ENVIRONMENT").unwrap()..page.find(".SH FILES").unwrap()];
    let mut missing = Vec::new();
    for var in variables_read_by(&repo().join("src")) {
        // roff escapes '-' but not '_': the names appear as written.
        if !env_section.contains(&var) {
            missing.push(var);
        }
    }
    assert!(
        missing.is_empty(),
        "not in fileio.1 ENVIRONMENT: {missing:?}"
    );
    for code in fileio::error::EXIT_CODES.iter().map(|(c, _)| c.to_string()) {
        assert!(
            page.contains(&format!(".TP\n\\fB{code}\\fR")),
            "exit code {code}"
        );
    }
}

/// Names in `env = "NAME"`, `env::var("NAME")` and `env::var_os("NAME")` under `dir`.
fn variables_read_by(dir: &Path) -> Vec<String> {
    let mut vars = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for pat in ["env = \"", "env::var(\"", "env::var_os(\""] {
                for (i, _) in text.match_indices(pat) {
                    let rest = &text[i + pat.len()..];
                    let name = &rest[..rest.find('"').unwrap()];
                    let is_name = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                    if is_name && !vars.iter().any(|v| v == name) {
                        vars.push(name.to_string());
                    }
                }
            }
        }
    }
    vars.sort();
    assert!(vars.iter().any(|v| v == "FILEIO_API_KEY"), "{vars:?}");
    vars
}

#[test]
fn completions_command_prints_the_committed_scripts() {
    let env = Env::new();
    for (shell, file) in [
        ("bash", "fileio.bash"),
        ("zsh", "_fileio"),
        ("fish", "fileio.fish"),
        ("powershell", "_fileio.ps1"),
        ("elvish", "fileio.elv"),
    ] {
        let committed = committed(&format!("completions/{file}"));
        let out = env.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(
            out.stdout == committed,
            "`fileio completions {shell}` differs from completions/{file}; regenerate with {}",
            docs::REGENERATE
        );
    }
}

#[test]
fn completions_work_whatever_the_config_says() {
    let env = Env::new();
    let config = env.write("broken.toml", "not = [valid");
    env.cmd()
        .args(["completions", "fish", "--config"])
        .arg(&config)
        .assert()
        .success()
        .stderr("");
}

#[test]
fn completions_refuse_an_unknown_shell() {
    Env::new()
        .cmd()
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}

#[test]
fn bash_completion_sources_cleanly() {
    committed("completions/fileio.bash");
    let out = StdCommand::new("bash")
        .args(["--norc", "--noprofile", "-c"])
        .arg("source completions/fileio.bash && complete -p fileio")
        .current_dir(repo())
        .output()
        .expect("bash is needed for this test (CI installs it)");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("_fileio") && stdout.trim_end().ends_with(" fileio"),
        "{stdout}"
    );
}

#[test]
fn man_renders_every_page_without_warnings() {
    committed("man/fileio.1");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() > 10, "{pages:?}");
    for page in pages {
        let out = StdCommand::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .env("MAN_KEEP_FORMATTING", "0")
            .env("PAGER", "cat")
            .env("MANPAGER", "cat")
            .output()
            .expect("man (man-db) is needed for this test; .ci/run installs it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{}: {stderr}",
            page.display()
        );
        let stdout = plain(&String::from_utf8_lossy(&out.stdout));
        assert!(stdout.contains("SYNOPSIS"), "{}: {stdout}", page.display());
        if page.ends_with("fileio.1") {
            for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"] {
                assert!(stdout.contains(section), "fileio.1 lacks {section}");
            }
        }
    }
}

/// Text without nroff's overstriking (`N\bN` for bold, `_\bx` for underline).
fn plain(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

/// The short table after `fileio --help` lists every documented exit code.
#[test]
fn help_lists_every_exit_code() {
    for (code, _) in fileio::error::EXIT_CODES {
        let word = code.to_string();
        assert!(
            fileio::cli::EXIT_CODES_HELP
                .split(|c: char| !c.is_ascii_digit())
                .any(|w| w == word),
            "exit code {code} is missing from EXIT_CODES_HELP"
        );
    }
}

/// README.md's exit-code table is EXIT_CODES, row for row.
#[test]
fn readme_lists_every_exit_code() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (code, meaning) in fileio::error::EXIT_CODES {
        let row = format!("| {code} | {meaning} |");
        assert!(readme.contains(&row), "README.md lacks the row `{row}`");
    }
}
