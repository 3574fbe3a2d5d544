//! Printing results for people and for scripts: aligned tables on a terminal, tab-separated
//! lines when piped.

use std::io::{IsTerminal, Write};

use crate::record::FileRecord;
use crate::size::ByteSize;
use crate::terminal_text::{inert, inert_json};

/// Prints rows under headers: aligned columns when stdout is a terminal, else one
/// tab-separated line per row with no header (easy to `cut` and `awk`).
///
/// Every cell is made inert ([`inert`]): rows show what servers sent.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| inert(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut out = std::io::stdout().lock();
    if !std::io::stdout().is_terminal() {
        for row in rows {
            writeln!(out, "{}", row.join("\t"))?;
        }
        return out.flush();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    out.flush()
}

/// A size for a table cell; `-` when unknown.
pub fn size(n: Option<u64>) -> String {
    n.map_or("-".into(), |n| ByteSize(n).to_string())
}

/// A timestamp for a table cell: `2026-12-06 10:00`, UTC; `-` when unknown.
pub fn time(t: Option<&str>) -> String {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or("-".into(), |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
}

/// Prints one JSON value on its own line, with invisible and control characters escaped
/// ([`inert_json`]).
pub fn json_line(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", inert_json(&serde_json::to_string(v)?))?;
    out.flush()?;
    Ok(())
}

/// Prints one result: its link, or with `json` its record (plus `file`, the argument it
/// came from, when there is one); with `chatty`, a summary for people on a terminal.
/// Everything printed came from the server: made inert.
pub fn print_record(
    record: &FileRecord,
    file: Option<&str>,
    json: bool,
    chatty: bool,
) -> anyhow::Result<()> {
    // Bars of uploads still running are hidden meanwhile: on a terminal, stdout and the bars
    // on stderr share the screen.
    crate::progress::suspend(|| {
        let mut out = std::io::stdout().lock();
        if json {
            #[derive(serde::Serialize)]
            struct WithFile<'a> {
                #[serde(flatten)]
                record: &'a FileRecord,
                #[serde(skip_serializing_if = "Option::is_none")]
                file: Option<&'a str>,
            }
            let json = serde_json::to_string(&WithFile { record, file })?;
            writeln!(out, "{}", inert_json(&json))?;
        } else {
            writeln!(out, "{}", inert(&record.link))?;
        }
        out.flush()?;
        if chatty && std::io::stderr().is_terminal() {
            eprintln!("{}", inert(&summary(record)));
        }
        Ok(())
    })
}

/// A short line for people: what was uploaded and how long the link lives.
fn summary(r: &FileRecord) -> String {
    let mut parts = Vec::new();
    if let Some(e) = r
        .expires
        .as_deref()
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
    {
        let left = e.with_timezone(&chrono::Utc) - crate::clock::now();
        parts.push(format!(
            "expires {} (in {})",
            e.format("%Y-%m-%d %H:%M UTC"),
            crate::expires::describe(left)
        ));
    }
    match (r.max_downloads, r.auto_delete) {
        (Some(1), _) => parts.push("1 download allowed".into()),
        (Some(n), _) => parts.push(format!("{n} downloads allowed")),
        _ => {}
    }
    if r.auto_delete == Some(false) {
        parts.push("kept after that (--no-auto-delete)".into());
    }
    let name = r.name.as_deref().unwrap_or(&r.key);
    if parts.is_empty() {
        format!("{name}: uploaded")
    } else {
        format!("{name}: {}", parts.join(", "))
    }
}
