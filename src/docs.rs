//! Shell completions and man pages, generated from the clap definition of the command line.
//!
//! Everything here is a pure function of [`crate::cli::Cli`]: a fixed binary name (`fileio`,
//! whatever argv[0] is), no date, and nothing read from the config, the keyring or the network,
//! so the copies committed in `completions/` and `man/` are byte-for-byte reproducible.
//! `tests/cli/generated.rs` compares them with a fresh rendering; regenerate them with
//! `FILEIO_REGENERATE=1 cargo test --test cli generated`.

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{Roff, bold, roman};

use crate::cli::Cli;

/// The name every generated file uses for the program.
pub const BIN_NAME: &str = "fileio";

/// The command that rewrites `completions/` and `man/` from the current source.
pub const REGENERATE: &str = "FILEIO_REGENERATE=1 cargo test --test cli generated";

/// The shells `fileio completions` knows, with the file each one's script is committed as.
pub const SHELLS: &[(Shell, &str)] = &[
    (Shell::Bash, "fileio.bash"),
    (Shell::Zsh, "_fileio"),
    (Shell::Fish, "fileio.fish"),
    (Shell::PowerShell, "_fileio.ps1"),
    (Shell::Elvish, "fileio.elv"),
];

/// The command tree, named `fileio` whatever the binary is called, with no `help` subcommand
/// (`--help` is everywhere), built so that global options appear on every subcommand.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command()
        .name(BIN_NAME)
        .bin_name(BIN_NAME)
        .disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut out);
    if shell == Shell::Fish {
        let script = String::from_utf8(out).expect("completion scripts are UTF-8");
        return repair_fish(&cmd, script).into_bytes();
    }
    out
}

/// clap_complete's fish script misses two things, repaired here from the same command tree
/// (`tests/cli/generated.rs` drives a real fish to check both):
/// - every root-level candidate is guarded by a function that parses the line typed so far,
///   and fails while an option still waits for its value, so `fileio --service <TAB>`
///   offered files; a line that cannot be parsed yet has no command yet;
/// - positional arguments get no candidates, so `fileio completions <TAB>` offered files
///   instead of the shells.
fn repair_fish(cmd: &clap::Command, script: String) -> String {
    let guard = format!(
        "    argparse -s (__fish_{BIN_NAME}_global_optspecs) -- $cmd 2>/dev/null\n    or return\n"
    );
    let relaxed = format!(
        "    # An option still waiting for its value: no command yet.\n    argparse -s (__fish_{BIN_NAME}_global_optspecs) -- $cmd 2>/dev/null\n    or return 0\n"
    );
    let mut script = script.replacen(&guard, &relaxed, 1);
    let mut lines = Vec::new();
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let cond = format!("__fish_{BIN_NAME}_using_subcommand {}", sub.get_name());
        fish_positionals(sub, &cond, &mut lines);
        for nested in sub.get_subcommands().filter(|c| !c.is_hide_set()) {
            let cond = format!(
                "{cond}; and __fish_seen_subcommand_from {}",
                nested.get_name()
            );
            fish_positionals(nested, &cond, &mut lines);
        }
    }
    for line in lines {
        script.push_str(&line);
        script.push('\n');
    }
    script
}

/// `complete` lines offering the values of `cmd`'s positional arguments that have a closed
/// set, until one of them is on the line.
fn fish_positionals(cmd: &clap::Command, cond: &str, out: &mut Vec<String>) {
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if values.is_empty() {
            continue;
        }
        let values = values.join(" ");
        out.push(format!(
            "complete -c {BIN_NAME} -n \"{cond}; and not __fish_seen_subcommand_from {values}\" -f -a \"{values}\""
        ));
    }
}

/// Every completion script, as (file name in `completions/`, contents).
pub fn completion_files() -> Vec<(String, Vec<u8>)> {
    SHELLS
        .iter()
        .map(|(shell, file)| (file.to_string(), completions(*shell)))
        .collect()
}

/// Every man page, as (file name in `man/`, contents): `fileio.1`, then `fileio-<command>.1`
/// for each visible command, nested ones included (`fileio-auth-login.1`).
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let root = command();
    let mut pages = vec![(format!("{BIN_NAME}.1"), main_page(&root))];
    let mut stack = visible_subcommands(&root);
    stack.reverse();
    while let Some(cmd) = stack.pop() {
        stack.extend(visible_subcommands(&cmd).into_iter().rev());
        let man = page(cmd);
        let name = man.get_filename();
        let mut out = Vec::new();
        man.render(&mut out)
            .expect("rendering to memory cannot fail");
        pages.push((name, out));
    }
    pages
}

/// A command's subcommands, in definition order, without hidden ones.
fn visible_subcommands(cmd: &clap::Command) -> Vec<clap::Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect()
}

/// A page with the common header: upper-case title, `fileio VERSION` as source, no date.
fn page(cmd: clap::Command) -> clap_mangen::Man {
    let title = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_uppercase();
    clap_mangen::Man::new(cmd)
        .title(title)
        .date("\"\"")
        .source(format!("{BIN_NAME} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands")
}

/// `fileio.1`: clap's sections, then EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES. The exit
/// codes replace the short table `--help` prints after the options.
fn main_page(root: &clap::Command) -> Vec<u8> {
    let cmd = root.clone().after_help(None::<&str>);
    let mut rendered = Vec::new();
    page(cmd)
        .render(&mut rendered)
        .expect("rendering to memory cannot fail");
    let rendered = String::from_utf8(rendered).expect("man pages are UTF-8");

    let mut extra = Roff::new();
    exit_status(&mut extra);
    environment(&mut extra, root);
    files(&mut extra);
    examples(&mut extra);
    see_also(&mut extra, root);
    let extra = extra.render();
    // Drop the preamble `render` repeats; the page already has one.
    let extra = &extra[extra.find(".SH").unwrap_or(0)..];

    // Before the VERSION section, which ends the page.
    let at = rendered.find(".SH VERSION").unwrap_or(rendered.len());
    let mut out = String::with_capacity(rendered.len() + extra.len());
    out.push_str(&rendered[..at]);
    out.push_str(extra);
    out.push_str(&rendered[at..]);
    out.into_bytes()
}

/// A tagged paragraph: a bold tag, then its description.
fn item(r: &mut Roff, tag: &str, text: &str) {
    r.control("TP", []).text([bold(tag)]).text([roman(text)]);
}

fn exit_status(r: &mut Roff) {
    r.control("SH", ["EXIT STATUS"]);
    r.text([roman(
        "A run that fails for several files exits with the code of the first failure, after \
         the others were tried. A broken pipe on standard output (fileio list | head) exits 0.",
    )]);
    for (code, meaning) in crate::error::EXIT_CODES {
        item(r, &code.to_string(), meaning);
    }
}

/// Variables read directly with `std::env`, not through a clap `env =` attribute.
const OTHER_VARIABLES: &[(&str, &str)] = &[
    (
        "FILEIO_API_KEY",
        "The API key to use (in CI, from the secret store). Read after --api-key-file and \
         before the OS keyring and the credentials file. Never pass a key as a flag value.",
    ),
    (
        "FILEIO_CREDENTIAL_STORE",
        "Where auth login stores a key and where keys are looked up: auto (the OS keyring, \
         falling back to the 0600 credentials file with a warning), keyring or file. Beats \
         the config file's credential-store.",
    ),
    (
        "FILEIO_KEYRING_TIMEOUT",
        "Seconds to wait for the OS keyring before giving up on it (default 10); a locked \
         keyring can otherwise hang.",
    ),
    (
        "FILEIO_MAX_PAGES",
        "The most pages list --all (and a lookup that pages) follows before stopping with an \
         error (default 1000, 100 files a page); a server that repeats a page is stopped at \
         once.",
    ),
    (
        "FILEIO_TEST_NOW",
        "For tests only: an RFC 3339 time the client takes as now when it judges expiry \
         (history hides expired uploads; --expires must be in the future).",
    ),
    (
        "FILEIO_TEST_SAVE_FALLBACK",
        "For tests only: link or placeholder makes download save a file the way it does on \
         file systems without renameat2(RENAME_NOREPLACE), or without hard links either.",
    ),
    (
        "FILEIO_TEST_STREAM_WINDOW",
        "For tests only: how many bytes of a stream (standard input, a folder, an encrypted \
         upload) are kept to resend after a cut, instead of 32 MiB.",
    ),
    (
        "FILEIO_SERVE_API_KEYS",
        "serve: API keys to accept, comma-separated; keeps them out of the process list, \
         unlike --api-key.",
    ),
    (
        "NO_COLOR",
        "When set, no colour in help and progress output.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "Proxy to use for https and http URLs, for both, and hosts to reach directly \
         (lower-case names work too).",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "Trust the CA certificates in this file or directory instead of the system's.",
    ),
    (
        "XDG_CONFIG_HOME, XDG_DATA_HOME, HOME",
        "Where the config, credentials, history and server data directories are (see FILES).",
    ),
];

/// Every variable an option reads (`env = "…"` in clap), with the option and its command.
fn option_variables(root: &clap::Command) -> Vec<(String, String)> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_string_lossy().into_owned();
            if out.iter().any(|(e, _)| *e == env) {
                continue;
            }
            let flag = match arg.get_long() {
                Some(l) => format!("--{l}"),
                None => arg.get_id().to_string(),
            };
            let scope = if arg.is_global_set() || path.is_empty() {
                String::new()
            } else {
                format!("{path}: ")
            };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            out.push((env, format!("{scope}{flag}. {help}")));
        }
        for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
            let sub_path = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            walk(sub, &sub_path, out);
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out
}

fn environment(r: &mut Roff, root: &clap::Command) {
    r.control("SH", ["ENVIRONMENT"]);
    r.text([roman(
        "An option's variable is read when the option is not given, and beats the config \
         file. Switches such as FILEIO_QUIET are off when set to 0, false, no or off, and on \
         when set to anything else.",
    )]);
    for (env, text) in option_variables(root) {
        item(r, &env, &format!("Same as {text}"));
    }
    for (env, text) in OTHER_VARIABLES {
        item(r, env, text);
    }
}

fn files(r: &mut Roff) {
    r.control("SH", ["FILES"]);
    r.text([roman(
        "Paths are for Linux, where XDG_CONFIG_HOME and XDG_DATA_HOME move them. macOS keeps \
         all of them in ~/Library/Application Support/fileio; Windows keeps the config in \
         %APPDATA%\\fileio\\config and the data in %APPDATA%\\fileio\\data.",
    )]);
    item(
        r,
        "~/.config/fileio/config.toml",
        "Settings (--config PATH reads another file). Keys: service, server, expires, \
         max-downloads, timeout, retries, jobs, credential-store, history. A flag beats its \
         environment variable, which beats this file. Unknown keys are refused.",
    );
    item(
        r,
        "~/.config/fileio/credentials.toml",
        "API keys, mode 0600, written only when the OS keyring is unavailable (with a \
         warning) or by auth login --insecure-storage. Keys live in the OS keyring \
         otherwise.",
    );
    item(
        r,
        "~/.local/share/fileio/history.db",
        "The local history of uploads (SQLite, mode 0600); see fileio history and \
         --no-history.",
    );
    item(
        r,
        "~/.local/share/fileio/resume.db",
        "The state of unfinished resumable uploads (SQLite, mode 0600): what a rerun of the \
         same upload needs to go on where it stopped. See --resumable-above.",
    );
    item(
        r,
        "~/.local/share/fileio/server/",
        "fileio serve's default data directory (--data DIR): its SQLite database and the \
         stored files.",
    );
}

fn examples(r: &mut Roff) {
    r.control("SH", ["EXAMPLES"]);
    let examples: &[(&str, &str)] = &[
        (
            "Upload a file; the link is printed on standard output:",
            "fileio upload report.pdf",
        ),
        (
            "Let it expire after a week or its first download, whichever comes first:",
            "fileio upload --expires 7d --max-downloads 1 report.pdf",
        ),
        (
            "Upload a directory as a tarball from a pipe:",
            "tar cz dir | fileio upload - --name dir.tgz",
        ),
        (
            "Download a link and unpack it without a temporary file:",
            "fileio download KEY -o - | tar xz",
        ),
        (
            "Print only the link, for scripts:",
            "fileio --json upload f | jq -r .link",
        ),
        (
            "Try it offline: run a server, then upload to it from another shell:",
            "fileio serve --data /tmp/fileio-data\n\
             FILEIO_SERVER=http://127.0.0.1:8080 fileio upload notes.txt",
        ),
        (
            "Log in with a key read from standard input:",
            "fileio auth login --with-token < key.txt",
        ),
        (
            "Install bash completions:",
            "mkdir -p ~/.local/share/bash-completion/completions\n\
             fileio completions bash > ~/.local/share/bash-completion/completions/fileio",
        ),
    ];
    for (what, how) in examples {
        r.control("PP", []).text([roman(*what)]);
        r.control("RS", ["4"]).control("nf", []);
        for line in how.lines() {
            r.text([bold(line)]);
        }
        r.control("fi", []).control("RE", []);
    }
}

fn see_also(r: &mut Roff, root: &clap::Command) {
    r.control("SH", ["SEE ALSO"]);
    let pages: Vec<String> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .flat_map(|c| {
            let nested = c
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| format!("{BIN_NAME}-{}-{}", c.get_name(), s.get_name()));
            std::iter::once(format!("{BIN_NAME}-{}", c.get_name())).chain(nested)
        })
        .collect();
    let mut inlines = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        inlines.push(bold(p.as_str()));
        inlines.push(roman("(1)"));
    }
    r.text(inlines);
}
