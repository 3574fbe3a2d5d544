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
/// quiet zone, drawn black on white in explicit colours: readers need dark on light, and the
/// terminal's own colours may be either way round.
pub fn unicode(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let (width, quiet) = (code.width(), 4);
    let side = width + 2 * quiet;
    let dark = |x: usize, y: usize| {
        let inside = |v: usize| (quiet..quiet + width).contains(&v);
        inside(x) && inside(y) && code[(x - quiet, y - quiet)] == qrcode::Color::Dark
    };
    let mut out = String::new();
    for y in (0..side).step_by(2) {
        // Black foreground on bright white; reset before the line ends so nothing bleeds.
        out.push_str("\x1b[30;107m");
        for x in 0..side {
            out.push(match (dark(x, y), dark(x, y + 1)) {
                (false, false) => ' ',
                (true, false) => '▀',
                (false, true) => '▄',
                (true, true) => '█',
            });
        }
        out.push_str("\x1b[0m\n");
    }
    out.pop();
    Some(out)
}

/// The same without colours (`NO_COLOR`): blocks are light modules, which reads right on a
/// dark terminal only.
pub fn unicode_uncoloured(text: &str) -> Option<String> {
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
    let code = if console::colors_enabled_stderr() {
        unicode(link)
    } else {
        unicode_uncoloured(link)
    };
    match code {
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
        for u in [unicode(link).unwrap(), unicode_uncoloured(link).unwrap()] {
            // Quiet zone of 4 modules on each side; two modules per line.
            assert_eq!(u.lines().count(), (width + 8).div_ceil(2));
            let plain = |l: &str| l.replace("\x1b[30;107m", "").replace("\x1b[0m", "");
            assert!(u.lines().all(|l| plain(l).chars().count() == width + 8));
        }
    }

    /// Read back by an independent decoder, as a phone would see it: black on white.
    #[test]
    fn the_terminal_code_reads_back_as_the_link() {
        let link = "http://127.0.0.1:8080/AbCdEf123456";
        let drawn = unicode(link).unwrap();
        assert!(
            drawn
                .lines()
                .all(|l| l.starts_with("\x1b[30;107m") && l.ends_with("\x1b[0m"))
        );
        assert_eq!(decode_terminal(&drawn, true), link);
        assert_eq!(
            decode_terminal(&unicode_uncoloured(link).unwrap(), false),
            link
        );
    }

    /// Decodes half-block text: with `blocks_dark`, a block is a dark module (black
    /// foreground), else a light one (a light foreground on a dark terminal).
    pub fn decode_terminal(drawn: &str, blocks_dark: bool) -> String {
        let rows: Vec<Vec<char>> = drawn
            .lines()
            .map(|l| l.replace("\x1b[30;107m", "").replace("\x1b[0m", ""))
            .filter(|l| !l.is_empty() && l.chars().all(|c| " █▀▄".contains(c)))
            .map(|l| l.chars().collect())
            .collect();
        let (w, h, scale) = (rows[0].len(), rows.len() * 2, 4);
        let dark = |x: usize, y: usize| {
            let c = rows[y / 2][x];
            let block = c == '█' || (y % 2 == 0 && c == '▀') || (y % 2 == 1 && c == '▄');
            block == blocks_dark
        };
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
            if dark(x / scale, y / scale) { 0 } else { 255 }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "{drawn}");
        grids[0].decode().unwrap().1
    }
}
