//! Progress bars on stderr, drawn only when they help: stderr is a terminal and the user did
//! not ask for quiet, JSON or no progress.
//!
//! A bar must leave nothing behind: it fits the terminal's width (a line that wraps is half
//! left on screen by terminals that reflow), it is cleared when it finishes, fails or is
//! dropped, and anything printed while bars are drawn goes through [`suspend`], so that the
//! line lands above the bars instead of in the middle of them.
//! `tests/cli/terminal.rs` checks all this in a real pseudo-terminal.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// The bars of the running command, if it draws any, for [`suspend`].
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Runs `f`, which prints to the terminal, with the bars hidden, and draws them again after.
/// Without bars on screen it just runs `f`. Everything printed while a transfer may be under
/// way (results, warnings, retries) must go through here.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let active = ACTIVE.lock().map(|a| a.clone()).unwrap_or_default();
    match active {
        Some(multi) => multi.suspend(f),
        None => f(),
    }
}

/// The bars of one command. Dropping it clears whatever is still drawn.
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        let multi = enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        if let (Some(m), Ok(mut active)) = (&multi, ACTIVE.lock()) {
            *active = Some(m.clone());
        }
        Progress { multi }
    }

    /// A bar for `len` bytes (a spinner when the length is unknown), hidden when disabled.
    pub fn bar(&self, label: &str, len: Option<u64>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        // Created hidden and added to the group before anything can draw it: a bar drawn on
        // its own first is drawn again by the group, and the first copy stays on screen.
        let bar = multi.add(
            ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden())
                .with_style(style(len.is_some(), terminal_width()))
                // A control character in a name (a newline, an escape sequence, a bidi override
                // from a server) would break the bar's line or reach the terminal as a command.
                .with_prefix(crate::terminal_text::inert(label).into_owned())
                // A bar dropped by an error or Ctrl-C is cleared, not left frozen.
                .with_finish(ProgressFinish::AndClear),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(multi) = self.multi.take() {
            let _ = multi.clear();
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
    }
}

/// Columns of the terminal on stderr, when it says.
fn terminal_width() -> Option<u16> {
    console::Term::stderr()
        .size_checked()
        .map(|(_rows, cols)| cols)
}

/// A template whose line fits `width` columns: the bar itself takes what the other fields
/// leave (`wide_bar`), and narrower terminals drop the fields that help least.
fn style(known_len: bool, width: Option<u16>) -> ProgressStyle {
    let width = width.unwrap_or(80);
    let template = match (known_len, width) {
        // 61 columns plus the bar.
        (true, 80..) => {
            "{prefix:20!} {wide_bar} {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12} {eta:>3}"
        }
        // 30 columns plus the bar.
        (true, 40..) => "{prefix:12!} {wide_bar} {percent:>3}% {binary_bytes_per_sec:>11}",
        (true, _) => "{wide_bar} {percent:>3}%",
        // 46 columns.
        (false, 60..) => "{prefix:20!} {spinner} {binary_bytes:>10} {binary_bytes_per_sec:>12}",
        // 36 columns.
        (false, 40..) => "{prefix:12!} {spinner} {binary_bytes:>10} {binary_bytes_per_sec:>11}",
        (false, _) => "{spinner} {binary_bytes}",
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("█▌░")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_lose_control_and_bidi_characters() {
        // Enabled, so the label is set (stderr is not a terminal here: nothing is drawn).
        let progress = Progress::new(true);
        let bar = progress.bar("a\nb\x1b[2J\u{202E}c\u{9b}d", Some(1));
        let label = bar.prefix();
        assert_eq!(label, "a\\x0ab\\x1b[2J\\u{202e}c\\x9bd");
        assert!(!label.chars().any(crate::terminal_text::is_unsafe));
    }
}
