//! File names that come from a server: read from `Content-Disposition`, then made safe to
//! create in a directory of the user's.

/// The file name a `Content-Disposition` header carries: `filename*=UTF-8''…` when present
/// (it is the exact one), else `filename=…`.
pub fn from_content_disposition(header: &str) -> Option<String> {
    let mut plain = None;
    for param in split_params(header).into_iter().skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim();
        if k == "filename*" {
            let (charset, rest) = v.split_once('\'')?;
            let (_lang, encoded) = rest.split_once('\'')?;
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
            if charset.eq_ignore_ascii_case("utf-8") {
                if let Ok(s) = String::from_utf8(bytes) {
                    return Some(s);
                }
            } else {
                return Some(bytes.iter().map(|&b| b as char).collect());
            }
        } else if k == "filename" {
            plain = Some(unquote(v));
        }
    }
    plain
}

/// Splits on `;` outside quoted strings.
fn split_params(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The longest name we create, in bytes (most file systems allow 255).
const MAX_NAME_BYTES: usize = 200;

/// Makes a server's file name safe to create: its last path segment only, no control or
/// invisible formatting characters (see [`is_hidden_char`]), no leading dot or dash (no
/// hidden files, nothing read as an option), no `..`, bounded length keeping the extension.
/// `None` when nothing usable is left.
pub fn sanitize(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|&c| !is_hidden_char(c)).collect();
    let cleaned = cleaned
        .trim()
        .trim_start_matches(['.', '-', ' '])
        .trim_end_matches(['.', ' ']);
    if cleaned.is_empty() || cleaned.contains("..") && cleaned.chars().all(|c| c == '.') {
        return None;
    }
    let cleaned = cleaned.replace("..", "_");
    Some(truncate_keeping_extension(&cleaned, MAX_NAME_BYTES))
}

/// Characters that change how a name looks without being seen: C0 and C1 controls, bidi
/// embeddings, overrides, isolates and marks (a name like `invoice\u{202E}fdp.exe` shows as
/// `invoiceexe.pdf`), zero-width spaces and joiners, word joiners and invisible operators,
/// the byte-order mark, soft hyphens, line and paragraph separators, interlinear annotation
/// and tag characters. Hand-listed: no crate in the tree knows Unicode's format category,
/// and these ranges are the ones that matter for spoofing.
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                      // soft hyphen
            | '\u{061C}'                    // Arabic letter mark
            | '\u{115F}' | '\u{1160}'       // Hangul fillers
            | '\u{180E}'                    // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'       // zero-width space, joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'       // line/paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, isolates
            | '\u{3164}'                    // Hangul filler
            | '\u{FEFF}'                    // byte-order mark, zero-width no-break space
            | '\u{FFA0}'                    // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
            | '\u{E0000}'..='\u{E007F}'     // tags
        )
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 && i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_parameters() {
        assert_eq!(
            from_content_disposition(r#"attachment; filename="report.pdf""#).as_deref(),
            Some("report.pdf")
        );
        assert_eq!(
            from_content_disposition(
                r#"attachment; filename="r_sum_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"#
            )
            .as_deref(),
            Some("résumé.txt")
        );
        assert_eq!(
            from_content_disposition(r#"attachment; filename="a;b \"c\".txt""#).as_deref(),
            Some(r#"a;b "c".txt"#)
        );
        assert_eq!(
            from_content_disposition("attachment; filename=plain.bin").as_deref(),
            Some("plain.bin")
        );
        assert_eq!(from_content_disposition("inline"), None);
    }

    #[test]
    fn sanitizes_hostile_names() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitize("..\\..\\win.ini").as_deref(), Some("win.ini"));
        assert_eq!(sanitize(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(sanitize("-rf").as_deref(), Some("rf"));
        assert_eq!(sanitize("a\u{0}b\nc.txt").as_deref(), Some("abc.txt"));
        assert_eq!(sanitize("x..y").as_deref(), Some("x_y"));
        // Bidi overrides would show this as "invoiceexe.pdf"; the name is what it really is.
        assert_eq!(
            sanitize("invoice\u{202E}fdp.exe").as_deref(),
            Some("invoicefdp.exe")
        );
        assert_eq!(
            sanitize("\u{FEFF}a\u{200B}b\u{200D}c\u{2066}d\u{2069}\u{200F}\u{85}\u{9B}.txt")
                .as_deref(),
            Some("abcd.txt")
        );
        assert_eq!(sanitize("\u{202A}\u{202C}\u{2060}"), None);
        // Visible letters of every script stay.
        assert_eq!(
            sanitize("résumé Ωμέγα 日本.txt").as_deref(),
            Some("résumé Ωμέγα 日本.txt")
        );
        assert_eq!(sanitize(".."), None);
        assert_eq!(sanitize("dir/"), None);
        assert_eq!(sanitize(""), None);
        let long = format!("{}.tar.gz", "é".repeat(300));
        let s = sanitize(&long).unwrap();
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".gz"), "{s}");
    }
}
