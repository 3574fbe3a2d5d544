//! QR codes of links: drawn in the terminal by `fileio upload --qr`, and as SVG by the
//! server's upload page. One crate (`qrcode`) for both, so a phone reads the same code
//! from either.

use std::io::{IsTerminal, Write};

use qrcode::QrCode;
use qrcode::render::{svg, unicode};

/// The QR code of `text` as an SVG document, `size` pixels at least, black on white.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(160, 160)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build(),
    )
}

/// The QR code of `text` in Unicode half blocks (two modules per character cell), with the
/// quiet zone; dark on light whatever the terminal's colours, as readers need.
pub fn unicode(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .build(),
    )
}

/// `fileio upload --qr`: draws `link` on stderr when that is a terminal, else says why not
/// (a QR code in a log or a pipe helps no one).
pub fn draw_on_stderr(link: &str) {
    let mut err = std::io::stderr().lock();
    if !err.is_terminal() {
        let _ = writeln!(
            err,
            "fileio: note: --qr draws the QR code only when standard error is a terminal"
        );
        return;
    }
    match unicode(link) {
        Some(code) => {
            let _ = writeln!(err, "{code}");
        }
        None => {
            let _ = writeln!(err, "fileio: note: the link is too long for a QR code");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_terminal_codes_come_from_the_same_matrix() {
        let link = "http://127.0.0.1:8080/AbCdEf123456";
        let code = QrCode::new(link.as_bytes()).unwrap();
        let width = code.width();
        let s = svg(link).unwrap();
        assert!(s.contains("<svg") && s.ends_with("</svg>"), "{s}");
        let u = unicode(link).unwrap();
        // Quiet zone of 4 modules on each side; two modules per line.
        assert_eq!(u.lines().count(), (width + 8).div_ceil(2));
        assert!(u.lines().all(|l| l.chars().count() == width + 8));
    }
}
