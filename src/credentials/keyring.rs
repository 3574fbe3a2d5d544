//! The OS keyring: Secret Service on Linux, Keychain on macOS, Credential Manager on Windows.
//!
//! Every call runs on its own thread with a time limit: a locked Secret Service can hang
//! forever, and the D-Bus client must stay off the async runtime's threads.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use keyring_core::Entry;

use crate::secret::Secret;

/// The keyring's name, for messages.
#[cfg(target_os = "linux")]
pub const NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
pub const NAME: &str = "Keychain";
#[cfg(target_os = "windows")]
pub const NAME: &str = "Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const NAME: &str = "none on this platform";

/// The keyring service name all entries are filed under.
const SERVICE: &str = "fileio";

/// Why the keyring could not be used.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the OS keyring ({NAME}) is unavailable: {}", self.0)
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("FILEIO_KEYRING_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

fn init_store() -> Result<(), String> {
    static STORE: OnceLock<Result<(), String>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            #[cfg(target_os = "linux")]
            let store = zbus_secret_service_keyring_store::Store::new();
            #[cfg(target_os = "macos")]
            let store = apple_native_keyring_store::keychain::Store::new();
            #[cfg(target_os = "windows")]
            let store = windows_native_keyring_store::Store::new();
            #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
            {
                let store = store.map_err(|e| e.to_string())?;
                keyring_core::set_default_store(store);
                Ok(())
            }
            #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
            Err("no OS keyring is supported on this platform".to_string())
        })
        .clone()
}

/// Runs `op` against the keyring on a helper thread, giving up after the time limit.
fn call<T: Send + 'static>(
    op: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
) -> Result<keyring_core::Result<T>, Unavailable> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = init_store().map(|()| op());
        let _ = tx.send(result);
    });
    let limit = timeout();
    match rx.recv_timeout(limit) {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(why)) => Err(Unavailable(first_line(&why))),
        Err(_) => Err(Unavailable(format!(
            "no answer within {}s (is it locked?)",
            limit.as_secs()
        ))),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

fn platform_error(e: keyring_core::Error) -> Unavailable {
    Unavailable(first_line(&e.to_string()))
}

/// The key stored for `account`, if any.
pub fn get(account: &str) -> Result<Option<Secret>, Unavailable> {
    let account = account.to_string();
    match call(move || Entry::new(SERVICE, &account)?.get_password())? {
        Ok(k) => Ok(Some(Secret::new(k))),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(platform_error(e)),
    }
}

/// Stores `key` for `account`, replacing any earlier one.
pub fn set(account: &str, key: &Secret) -> Result<(), Unavailable> {
    let (account, key) = (account.to_string(), key.clone());
    call(move || Entry::new(SERVICE, &account)?.set_password(key.expose()))?.map_err(platform_error)
}

/// Removes the key for `account`; `Ok(false)` when there was none.
pub fn delete(account: &str) -> Result<bool, Unavailable> {
    let account = account.to_string();
    match call(move || Entry::new(SERVICE, &account)?.delete_credential())? {
        Ok(()) => Ok(true),
        Err(keyring_core::Error::NoEntry) => Ok(false),
        Err(e) => Err(platform_error(e)),
    }
}

/// The accounts this machine has put in the keyring, one per line, in the config directory.
/// Not secret: it lets a command skip the keyring (a D-Bus round trip, or a locked
/// keyring's prompt) when no key was ever stored there, as for anonymous uploads.
fn index_path() -> Option<std::path::PathBuf> {
    crate::dirs::project().map(|d| d.config_dir().join("keyring-accounts"))
}

fn index() -> Vec<String> {
    index_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether login stored a key for `account` in the keyring.
pub fn has_entry(account: &str) -> bool {
    index().iter().any(|a| a == account)
}

/// Notes (or forgets) that the keyring holds a key for `account`.
pub fn set_indexed(account: &str, present: bool) {
    let Some(path) = index_path() else { return };
    let mut accounts: Vec<String> = index().into_iter().filter(|a| a != account).collect();
    if present {
        accounts.push(account.to_string());
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(
        &path,
        accounts
            .iter()
            .map(|a| format!("{a}\n"))
            .collect::<String>(),
    );
}
