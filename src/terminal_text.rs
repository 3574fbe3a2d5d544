//! Making text that came from a server inert before it reaches a terminal or stdout.
//!
//! A server controls names, links, error messages and list rows. Printed raw, an ESC could
//! move the cursor, retitle the window or rewrite earlier lines; a bidi override could make
//! `evil.exe` read as `exe.live`; a newline could forge a second result line for a script.
//! Every printer passes such text through [`inert`] (for people and tab-separated output) or
//! [`inert_json`] (for `--json`), which show those characters as visible escapes instead.
//!
//! Hand-written rather than a crate: the set is small and fixed (the Unicode general category
//! Cf plus C0/C1 controls), and none of the crates in Cargo.lock classify characters by it.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is: C0 controls (tab and newline included,
/// as they break lines and columns), DEL, C1 controls, and the invisible formatting
/// characters (bidi embeddings, overrides and isolates, marks, zero-width characters, line
/// and paragraph separators, the byte order mark, interlinear annotations).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{ad}'              // soft hyphen
        | '\u{61c}'             // Arabic letter mark
        | '\u{180e}'            // Mongolian vowel separator
        | '\u{200b}'..='\u{200f}' // zero-width space/joiners, LRM, RLM
        | '\u{2028}'..='\u{202e}' // line/paragraph separators, bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{206f}' // bidi isolates, deprecated format characters
        | '\u{feff}'            // zero-width no-break space (BOM)
        | '\u{fff9}'..='\u{fffb}' // interlinear annotation
        | '\u{e0000}'..='\u{e007f}' // tag characters
    )
}

/// `s` with every [`is_unsafe`] character shown as an escape (`\x1b`, `\u{202e}`), so it
/// reads as what it is and does nothing. Borrowed when there is nothing to escape.
pub fn inert(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON with every [`is_unsafe`] character written as a `\uXXXX` escape: the
/// same JSON value for a parser, but nothing a terminal would act on. serde_json escapes C0
/// itself; DEL, C1 and the formatting characters it writes raw. Outside strings serde_json
/// writes only ASCII structure, so every character replaced here is inside a string.
pub fn inert_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A JSON value with every string in it (keys too) made [`inert`], for values a printer
/// shows as they are.
pub fn inert_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(inert(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(inert_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (inert(k).into_owned(), inert_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_invisible_formatting() {
        assert_eq!(inert("plain name.txt"), "plain name.txt");
        assert_eq!(inert("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(inert("x\u{9b}31m"), "x\\x9b31m");
        assert_eq!(inert("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(
            inert("a\u{2066}b\u{200b}c\u{feff}"),
            "a\\u{2066}b\\u{200b}c\\u{feff}"
        );
        assert_eq!(inert("two\nlines\tand tab"), "two\\x0alines\\x09and tab");
        assert_eq!(inert("naïve 日本 ok"), "naïve 日本 ok");
    }

    #[test]
    fn json_keeps_its_value_and_loses_its_effect() {
        let v = serde_json::json!({"name": "a\u{202e}b\u{85}c\u{7f}\u{e0041}"});
        let s = serde_json::to_string(&v).unwrap();
        let safe = inert_json(&s);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
