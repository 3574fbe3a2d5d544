//! The generated files committed in `completions/` and `man/` match what the source renders,
//! and they work: the command prints the same scripts, bash loads its script, man renders the
//! pages. `FILEIO_REGENERATE=1 cargo test --test cli generated` rewrites the files instead.

use std::os::unix::process::CommandExt;
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
    if !crate::support::have_tool("bash", "bash_completion_sources_cleanly") {
        return;
    }
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
    if !crate::support::have_tool("man", "man_renders_every_page_without_warnings") {
        return;
    }
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

/// The closed sets of values a shell offers after a flag, as (words typed, values offered).
const VALUE_COMPLETIONS: &[(&[&str], &[&str])] = &[
    (
        &["--service"],
        &["fileio", "fileshot", "fiione", "filepost", "0x0"],
    ),
    (
        &["upload", "--service"],
        &["fileio", "fileshot", "fiione", "filepost", "0x0"],
    ),
    (&["list", "--sort"], &["name", "size", "expires", "created"]),
    (
        &["completions"],
        &["bash", "elvish", "fish", "powershell", "zsh"],
    ),
    (&["update", "KEY", "--auto-delete"], &["true", "false"]),
];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strings(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()).collect())
}

/// bash, with the committed script loaded, completes each flag to its values.
#[test]
fn bash_completes_closed_sets_of_values() {
    if !crate::support::have_tool("bash", "bash_completes_closed_sets_of_values") {
        return;
    }
    committed("completions/fileio.bash");
    for (words, values) in VALUE_COMPLETIONS {
        let line = format!("fileio {} ", words.join(" "));
        let script = format!(
            "source completions/fileio.bash\n\
             COMP_WORDS=(fileio {} '')\n\
             COMP_CWORD=${{#COMP_WORDS[@]}}; COMP_CWORD=$((COMP_CWORD - 1))\n\
             COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
             _fileio fileio '' \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" ")
        );
        let out = StdCommand::new("bash")
            .args(["--norc", "--noprofile", "-c", &script])
            .current_dir(repo())
            .output()
            .expect("bash is needed for this test (CI installs it)");
        assert!(out.status.success(), "{line}: {out:?}");
        let offered: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        // After a flag, only its values; where a positional goes, its values among the
        // options (what clap's bash script offers there).
        let (offered_values, others): (Vec<String>, Vec<String>) = offered
            .into_iter()
            .partition(|o| values.contains(&o.as_str()));
        assert_eq!(
            sorted(offered_values),
            strings(values),
            "bash after `{line}`"
        );
        let after_a_flag = words[words.len() - 1].starts_with('-');
        assert!(
            if after_a_flag {
                others.is_empty()
            } else {
                others.iter().all(|o| o.starts_with('-'))
            },
            "bash after `{line}` also offered {others:?}"
        );
    }
}

/// fish, with the committed script loaded, completes each flag to its values.
#[test]
fn fish_completes_closed_sets_of_values() {
    if !crate::support::have_tool("fish", "fish_completes_closed_sets_of_values") {
        return;
    }
    committed("completions/fileio.fish");
    let home = Env::new();
    for (words, values) in VALUE_COMPLETIONS {
        let line = format!("fileio {} ", words.join(" "));
        let out = StdCommand::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!(
                "source completions/fileio.fish; complete --do-complete '{line}'"
            ))
            .current_dir(repo())
            // fish keeps its state under HOME: a private one.
            .env("HOME", home.path("home"))
            .env("XDG_CONFIG_HOME", home.path("config"))
            .env("XDG_DATA_HOME", home.path("data"))
            .output()
            .expect("fish is needed for this test (.ci/run installs it)");
        assert!(out.status.success(), "{line}: {out:?}");
        let offered: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect();
        assert_eq!(sorted(offered), strings(values), "fish after `{line}`");
    }
}

/// zsh: the committed script loads under compinit, and every spec of these flags completes
/// to the values (`:NAME:(a b c)`); driving zsh's completion widget needs a terminal, so the
/// specs are read from the script.
#[test]
fn zsh_completes_closed_sets_of_values() {
    if !crate::support::have_tool("zsh", "zsh_completes_closed_sets_of_values") {
        return;
    }
    let script = String::from_utf8(committed("completions/_fileio")).unwrap();
    let out = StdCommand::new("zsh")
        .args(["-f", "-c"])
        .arg("fpath=(completions $fpath); autoload -Uz compinit; compinit -u -D; autoload -Uz _fileio; whence -w _fileio")
        .current_dir(repo())
        .output()
        .expect("zsh is needed for this test (.ci/run installs it)");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    for (flag, values) in [
        (
            "--service=",
            ["fileio", "fileshot", "fiione", "filepost", "0x0"].as_slice(),
        ),
        ("--sort=", ["name", "size", "expires", "created"].as_slice()),
        ("--auto-delete=", ["true", "false"].as_slice()),
    ] {
        let specs: Vec<&str> = script
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("'{flag}")))
            .collect();
        assert!(!specs.is_empty(), "no {flag} in _fileio");
        let tail = format!(":({})' \\", values.join(" "));
        for spec in specs {
            assert!(
                spec.ends_with(&tail),
                "{flag} does not complete to {values:?}: {spec}"
            );
        }
    }
    assert!(
        script.contains("(bash elvish fish powershell zsh)"),
        "shells"
    );
}

/// Completing to a set of values does not narrow what is accepted: a service's aliases, in
/// any case, still name it, and an unknown one gets the service parser's own error.
#[test]
fn completed_flags_still_accept_what_they_accepted() {
    let env = Env::new();
    for alias in ["0x0.st", "Null-Pointer"] {
        env.cmd()
            .args(["--service", alias, "list"])
            .assert()
            .code(2)
            .stderr(predicates::str::starts_with(
                "fileio: error: 0x0.st (The Null Pointer) does not support `fileio list`\n",
            ));
    }
    env.cmd()
        .args(["--service", "File.IO", "--json", "services"])
        .assert()
        .success();
    env.cmd()
        .args(["--service", "dropbox", "services"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "fileio: error: unknown service 'dropbox'\n",
        ));
}

/// The text of README.md's section that starts with `heading`, up to the next `## `.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no `{heading}` in README.md"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The ```sh blocks of a piece of Markdown, in order.
fn sh_blocks(text: &str) -> Vec<String> {
    text.split("```sh\n")
        .skip(1)
        .map(|b| b[..b.find("```").expect("closed block")].to_string())
        .collect()
}

/// `bash` with the isolation of [`Env::std_cmd`] and the built `fileio` first on PATH.
fn bash_in(env: &Env) -> StdCommand {
    let template = env.std_cmd();
    let mut cmd = StdCommand::new("bash");
    cmd.args(["--norc", "--noprofile"]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("FILEIO_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("FILEIO_CREDENTIAL_STORE", "file");
    let bin = Path::new(template.get_program())
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap())
        .current_dir(env.work());
    cmd
}

/// README.md's quick start works as written: the server block in one shell, the client block
/// in another, against the built binary. Only the port (the server binds port 0 here, as
/// FILEIO_BIND allows) and the data directory (a private one) differ.
#[test]
fn readme_quick_start_works_as_written() {
    if !crate::support::have_tool("bash", "readme_quick_start_works_as_written") {
        return;
    }
    let section = readme_section("## Quick start, offline");
    let blocks = sh_blocks(&section);
    assert_eq!(
        blocks.len(),
        2,
        "expected a server and a client block: {section}"
    );
    let env = Env::new();
    std::fs::copy(repo().join("README.md"), env.work().join("README.md")).unwrap();
    let data = env.path("quickstart-data");
    let server_script = blocks[0].replace("/tmp/fileio-data", data.to_str().unwrap());
    assert_ne!(
        server_script, blocks[0],
        "the server block names /tmp/fileio-data"
    );
    // In a process group of its own, so that the server goes when the shell is stopped.
    let mut server = bash_in(&env)
        .args(["-c", &server_script])
        .process_group(0)
        .env("FILEIO_BIND", "127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: signals the process group this test started (its id is the shell's).
            unsafe { libc::kill(-(self.0.id() as i32), libc::SIGTERM) };
            let _ = self.0.wait();
        }
    }
    let mut banner = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stderr.take().unwrap()),
        &mut banner,
    )
    .unwrap();
    let _server = Kill(server);
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {banner:?}"))
        .to_string();
    let client_script = blocks[1].replace("http://127.0.0.1:8080", &url);
    assert_ne!(
        client_script, blocks[1],
        "the client block names the server"
    );
    let out = bash_in(&env)
        .args(["-euo", "pipefail", "-c", &client_script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // list showed the upload, download saved it, me said something useful, delete deleted.
    assert!(stdout.contains("README.md"), "{stdout}");
    assert_eq!(
        std::fs::read(env.work().join("copy.md")).unwrap(),
        std::fs::read(repo().join("README.md")).unwrap()
    );
    assert!(stdout.contains("\ncopy.md\n"), "{stdout}");
    assert!(stdout.contains("upload size limit: unlimited"), "{stdout}");
    assert!(stderr.contains("Deleted "), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// `fileio me` against `fileio serve`, which answers `planId: 0`, prints no plan line.
#[test]
fn me_does_not_print_plan_zero() {
    let env = Env::new();
    let server = crate::support::Server::start(&env, &["--api-key", "me-test-key-0123456789"]);
    env.cmd()
        .env("FILEIO_API_KEY", "me-test-key-0123456789")
        .args(["--server", &server.url, "me"])
        .assert()
        .success()
        .stdout(
            "storage:           0 B used of unlimited\n\
             upload size limit: unlimited\n\
             rate limit:        none\n",
        );
}

/// Each place that tells how to install a completion script creates its directory first:
/// README.md, `fileio completions --help` and fileio.1's examples.
#[test]
fn completion_install_lines_create_their_directory() {
    let help = Env::new()
        .cmd()
        .args(["completions", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let man = String::from_utf8(docs::man_pages().remove(0).1)
        .unwrap()
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fR", "");
    let install = sh_blocks(&readme_section("## Install")).join("\n");
    for (place, text) in [
        ("README.md", install),
        ("completions --help", help),
        ("fileio.1", man),
    ] {
        let mut seen = 0;
        for (at, _) in text.match_indices("fileio completions ") {
            let rest = &text[at..];
            let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
            let Some(target) = line.split(" > ").nth(1) else {
                continue;
            };
            let target = target.split_whitespace().next().unwrap();
            let dir = &target[..target.rfind('/').unwrap()];
            let before = &text[at.saturating_sub(120)..at];
            assert!(
                before.contains(&format!("mkdir -p {dir}\n"))
                    || before.contains(&format!("mkdir -p {dir} && ")),
                "{place}: `{line}` without `mkdir -p {dir}` first"
            );
            seen += 1;
        }
        assert!(seen >= 1, "{place}: no install line found");
    }
}

/// `--json` does what its help and README.md say, command by command: one value per line,
/// an object per file or key, one array for list, history and services, one object for
/// info, me and auth status, and download's saved path as text.
#[test]
fn json_output_is_what_the_help_says() {
    use serde_json::Value;
    let env = Env::new();
    let key = "json-test-key-0123456789";
    let server = crate::support::Server::start(&env, &["--api-key", key]);
    env.write("a.txt", "a\n");
    env.write("b.txt", "b\n");
    let run = |args: &[&str]| -> Vec<Value> {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", key)
            .args(["--server", &server.url, "--json"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {l}: {e}")))
            .collect()
    };
    let uploads = run(&["upload", "a.txt", "b.txt"]);
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    assert!(uploads.iter().all(Value::is_object), "{uploads:?}");
    let keys: Vec<&str> = uploads.iter().map(|u| u["key"].as_str().unwrap()).collect();
    for args in [&["list"][..], &["history"], &["services"]] {
        let out = run(args);
        assert!(out.len() == 1 && out[0].is_array(), "{args:?}: {out:?}");
    }
    for args in [&["info", keys[0]][..], &["me"], &["auth", "status"]] {
        let out = run(args);
        assert!(out.len() == 1 && out[0].is_object(), "{args:?}: {out:?}");
    }
    let updated = run(&["update", keys[0], "--max-downloads", "2"]);
    assert!(
        updated.len() == 1 && updated[0]["max_downloads"] == 2,
        "{updated:?}"
    );
    let deleted = run(&["delete", keys[1], "no-such-key"]);
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted[0]["deleted"], true);
    assert_eq!(deleted[1]["deleted"], false);
    assert!(deleted[1]["error"].is_string(), "{deleted:?}");
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "--json",
            "download",
            keys[0],
            "-o",
            "got.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got.txt\n", "{out:?}");
}
