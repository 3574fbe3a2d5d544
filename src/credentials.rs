//! Where the API key in use comes from. A key is never taken from a flag's value: argv is
//! visible to every user of the machine.

use crate::secret::Secret;

/// The key from `FILEIO_API_KEY`, if set and not empty.
pub fn lookup() -> Option<Secret> {
    std::env::var("FILEIO_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .map(Secret::new)
}
