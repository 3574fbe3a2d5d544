//! The HTML of the pages, rendered here from the server's own data. Every value from a
//! client or a stored file goes through [`esc`]; nothing is inline script or style (the CSP
//! forbids both): behaviour is in `/_/app.js`, looks in `/_/app.css`.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{base_url, closed, page};
use crate::expires::{Expires, Unit, describe};
use crate::server::App;
use crate::server::errors::{Gone, GoneWhy};
use crate::server::meta::FileRow;
use crate::size::ByteSize;

/// Text for HTML, in content and in quoted attributes; control characters become U+FFFD so a
/// stored name cannot smuggle anything odd into the page.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The frame of every page: `head` goes into `<head>` after the title (meta tags only).
fn layout(title: &str, head: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
{head}<link rel="icon" href="/_/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/_/app.css">
<script src="/_/app.js" defer></script>
</head>
<body>
<main>
{body}
</main>
<footer><p>Served by <code>fileio serve</code>. From a terminal: <code>fileio upload FILE</code>, <code>fileio download LINK</code>.</p></footer>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// A page that says what went wrong, as a sentence, with its status.
pub fn problem(status: StatusCode, title: &str, sentence: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"lead\">{}</p>\n<p><a href=\"/\">Share a file</a></p>",
        esc(title),
        esc(sentence)
    );
    page(status, layout(title, "", &body))
}

/// A bare 404 for an unknown asset.
pub fn not_found_plain() -> Response {
    super::answer(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "no-store",
        axum::body::Body::from("Not found.\n"),
    )
}

/// The expiries the upload page offers: common periods within the server's maximum, and the
/// server's default (selected).
fn expiry_choices(app: &App, now: DateTime<Utc>) -> Vec<(String, String, bool)> {
    let p = |count, unit| Expires::Period { count, unit };
    let common = [
        (p(1, Unit::Hours), "1 hour"),
        (p(1, Unit::Days), "1 day"),
        (p(7, Unit::Days), "7 days"),
        (p(14, Unit::Days), "14 days"),
        (p(30, Unit::Days), "30 days"),
        (p(3, Unit::Months), "3 months"),
        (p(1, Unit::Years), "1 year"),
    ];
    let max = app.config.max_expiry.and_then(|m| m.resolve(now));
    let default = app.config.default_expires(now);
    let mut out: Vec<(DateTime<Utc>, String, String, bool)> = common
        .iter()
        .filter_map(|(e, label)| {
            let at = e.resolve(now)?;
            max.is_none_or(|m| at <= m)
                .then(|| (at, e.to_string(), label.to_string(), *e == default))
        })
        .collect();
    if !out.iter().any(|c| c.3) {
        if let Some(at) = default.resolve(now) {
            out.push((at, default.to_string(), describe(at - now), true));
            out.sort_by_key(|c| c.0);
        }
    }
    out.into_iter().map(|(_, v, l, s)| (v, l, s)).collect()
}

/// `GET /` in a browser: pick or drop files, choose expiry and downloads, get links.
pub async fn upload(app: &App, headers: &HeaderMap, uri: &Uri) -> Response {
    let base = base_url(app, headers, uri).unwrap_or_default();
    let now = match app.store.now().await {
        Ok(n) => n,
        Err(e) => return problem(e.status, "Something went wrong", &e.message),
    };
    let options: String = expiry_choices(app, now)
        .iter()
        .map(|(v, l, s)| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(v),
                if *s { " selected" } else { "" },
                esc(l)
            )
        })
        .collect();
    let key_field = if app.config.require_auth != crate::server::config::RequireAuth::Off {
        r#"<p class="field"><label for="key">API key</label>
<input id="key" type="password" autocomplete="off" spellcheck="false" required aria-describedby="key-hint">
<span id="key-hint" class="hint">This server takes uploads only with an API key. It is kept in this tab only and sent as a header, never in a link.</span></p>
"#
    } else {
        ""
    };
    let mut limits = Vec::new();
    if let Some(max) = app.config.max_size {
        limits.push(format!("Files up to {}.", ByteSize(max)));
    }
    if let Some(at) = app.config.max_expiry.and_then(|m| m.resolve(now)) {
        limits.push(format!("Links live at most {}.", describe(at - now)));
    }
    let body = format!(
        r#"<h1>Share a file</h1>
<form id="upload" class="card" data-max-size="{max_size}" novalidate>
{key_field}<div class="row">
<p class="field"><label for="expires">Expires after</label>
<select id="expires" name="expires">{options}</select></p>
<p class="field"><label for="downloads">Downloads allowed</label>
<input id="downloads" name="maxDownloads" type="number" min="1" step="1" value="1" inputmode="numeric" required></p>
</div>
<div id="drop" class="drop">
<input id="files" class="visually-hidden" type="file" multiple aria-describedby="limits">
<label for="files"><span class="big">Drop files here</span> or <span class="button">choose files</span></label>
</div>
<p id="limits" class="hint">Each file gets its own link; it is deleted after its last download or when it expires. {limits}</p>
</form>
<noscript><p class="lead">Uploading from this page needs JavaScript (downloading does not). From a terminal: <code>fileio upload FILE</code> or <code>curl -F file=@FILE {base}/</code>.</p></noscript>
<ol id="results" class="results" aria-live="polite"></ol>"#,
        max_size = app
            .config
            .max_size
            .map(|m| m.to_string())
            .unwrap_or_default(),
        limits = esc(&limits.join(" ")),
        base = esc(&base),
    );
    page(StatusCode::OK, layout("Share a file", "", &body))
}

/// Why a link is gone, as a sentence for the 410 page.
fn why_gone(gone: Gone) -> String {
    let when = |at: Option<DateTime<Utc>>| {
        at.map(|t| format!(" on {}", t.format("%Y-%m-%d at %H:%M UTC")))
            .unwrap_or_default()
    };
    let what = match gone.why {
        GoneWhy::Expired => format!("The file expired{}", when(gone.at)),
        GoneWhy::UsedUp => format!(
            "The file was downloaded as often as its sender allowed{}",
            when(gone.at)
        ),
        GoneWhy::Deleted => format!("The file was deleted by its owner{}", when(gone.at)),
    };
    format!("{what}, and is no longer stored here. Ask the sender for a new link.")
}

/// How a file's remaining downloads read.
fn downloads_left(row: &FileRow) -> String {
    let left = row.max_downloads.saturating_sub(row.downloads);
    match (left, row.max_downloads) {
        (1, 1) => "1 (this link works once)".to_string(),
        (l, m) => format!("{l} of {m}"),
    }
}

/// `GET /{key}` in a browser or a preview fetcher: the file's details and a Download button;
/// never a download, never counted.
pub async fn landing(app: &App, headers: &HeaderMap, uri: &Uri, key: &str) -> Response {
    if closed(app) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "An API key is needed",
            "This server shares files only with an API key: download with `fileio download LINK` and the key in FILEIO_API_KEY.",
        );
    }
    let row = match app.store.peek(key).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return match e.gone {
                Some(gone) => problem(StatusCode::GONE, "This link is gone", &why_gone(gone)),
                None => problem(
                    StatusCode::NOT_FOUND,
                    "No file at this link",
                    "Nothing is shared at this link: check that it was copied whole. (A file that expired or was used up more than a month ago is not remembered either.)",
                ),
            };
        }
        Err(e) => return problem(e.status, "Something went wrong", &e.message),
    };
    let now = match app.store.now().await {
        Ok(n) => n,
        Err(e) => return problem(e.status, "Something went wrong", &e.message),
    };
    let link = base_url(app, headers, uri)
        .map(|b| format!("{b}/{}", row.key))
        .unwrap_or_else(|| format!("/{}", row.key));
    let size = if row.size < 1024 {
        format!("{} bytes", row.size)
    } else {
        format!("{} ({} bytes)", ByteSize(row.size), row.size)
    };
    let expires = format!(
        "{} (in {})",
        row.expires.format("%Y-%m-%d %H:%M UTC"),
        describe(row.expires - now)
    );
    let left = downloads_left(&row);
    let once = if row.max_downloads.saturating_sub(row.downloads) == 1 {
        "<p class=\"warn\">The file is deleted once it has been downloaded: keep it somewhere safe.</p>\n"
    } else {
        ""
    };
    let head = format!(
        "<meta property=\"og:type\" content=\"website\">\n<meta property=\"og:title\" content=\"{name}\">\n<meta property=\"og:description\" content=\"{size}, expires {expires}. Open the link to download.\">\n<meta name=\"twitter:card\" content=\"summary\">\n",
        name = esc(&row.name),
        size = esc(&size),
        expires = esc(&expires),
    );
    let body = format!(
        r#"<h1 class="name">{name}</h1>
<dl class="card facts">
<dt>Size</dt><dd>{size}</dd>
<dt>Expires</dt><dd><time datetime="{iso}">{expires}</time></dd>
<dt>Downloads left</dt><dd>{left}</dd>
</dl>
{once}<p><a id="download" class="button primary" href="/{key}?download=1" rel="nofollow noreferrer">Download</a></p>
<section id="e2e" class="card notice" hidden aria-labelledby="e2e-title">
<h2 id="e2e-title">End-to-end encrypted</h2>
<p>This link carries a key after <code>#</code> that never reaches the server. The file can only be read once decrypted: fetch it with <code>fileio download '<span id="e2e-link"></span>'</code>, or download it and decrypt it with stock <code>age</code>.</p>
</section>
<p class="hint">From a terminal: <code>fileio download '{link}'</code> or <code>curl -OJ '{link}'</code>.</p>"#,
        name = esc(&row.name),
        size = esc(&size),
        iso = esc(&crate::server::response::timestamp(row.expires)),
        expires = esc(&expires),
        left = esc(&left),
        key = esc(&row.key),
        link = esc(&link),
    );
    page(StatusCode::OK, layout(&row.name, &head, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_controls() {
        assert_eq!(
            esc("<a href=\"x\" onclick='y'>&\u{1b}[31m"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\u{FFFD}[31m"
        );
    }
}
