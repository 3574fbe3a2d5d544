//! Printing results for people and for scripts: aligned tables on a terminal, tab-separated
//! lines when piped.

use std::io::{IsTerminal, Write};

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
