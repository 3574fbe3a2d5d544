//! Where fileio keeps its config and data, per platform conventions.

use directories::ProjectDirs;

/// The project's directories (`~/.config/fileio`, `~/.local/share/fileio` on Linux).
pub fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "fileio")
}
