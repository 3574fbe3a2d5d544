//! The metadata seam: files, their owners and settings, usage, and download leases.
//!
//! [`Meta`] is what a metadata backend implements: SQLite ([`crate::server::sqlite`]) today,
//! PostgreSQL next, with many server instances sharing one database. So the trait keeps no
//! state in the process: a download is a *lease* row with an expiry that the instance
//! streaming it renews, every time comes from the backend's clock ([`Meta::now`]), and each
//! method is one atomic step of the protocol that [`crate::server::store::Store`] writes once
//! above this trait and [`crate::server::blobs::Blobs`].
//!
//! Methods that may drop rows return the blob names that no row refers to any more
//! ([`Garbage`]): the store deletes those blobs afterwards, so a crash in between leaves only
//! orphans, which the start-up cleanup removes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::server::auth::Owner;
use crate::server::errors::ApiError;

/// Where a backend's time comes from: the system clock, or a test's.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// What a metadata call returns.
pub type MetaResult<'a, T> = BoxFuture<'a, Result<T, ApiError>>;

/// Blob names no row refers to any more, to be deleted.
pub type Garbage = Vec<String>;

/// A step's answer (perhaps a refusal such as 404) and the blobs it freed either way.
pub type Outcome<T> = (Result<T, ApiError>, Garbage);

/// One stored file's metadata.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub key: String,
    /// The name of its contents in the blob store: new for every upload and replacement, so
    /// that a download of old contents can never count against (or delete) new ones.
    pub blob: String,
    pub owner: Owner,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub downloads: u32,
    pub max_downloads: u32,
    pub auto_delete: bool,
    pub expires: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl FileRow {
    /// Expired or downloaded as often as allowed.
    pub fn is_spent(&self, now: DateTime<Utc>) -> bool {
        self.expires <= now || self.downloads >= self.max_downloads
    }
}

/// The fields of a file that uploads and updates set.
#[derive(Debug, Clone)]
pub struct Settings {
    pub expires: DateTime<Utc>,
    pub max_downloads: u32,
    pub auto_delete: bool,
}

/// New contents, already in the blob store under `blob`.
#[derive(Debug, Clone)]
pub struct Contents {
    pub blob: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
}

/// A file to insert under `key` (the caller retries with another key on [`Inserted::Taken`]).
#[derive(Debug, Clone)]
pub struct NewFile {
    pub key: String,
    pub owner: Owner,
    pub contents: Contents,
    pub settings: Settings,
    /// Refuse (413) when the owner's stored bytes would pass this.
    pub max_storage: Option<u64>,
    /// The store's time the settings were resolved at (so a 14-day expiry is 14 days from
    /// `created` to the millisecond).
    pub created: DateTime<Utc>,
}

/// What [`Meta::insert`] did.
#[derive(Debug)]
pub enum Inserted {
    Done(FileRow),
    /// The key is in use: try another.
    Taken,
}

/// Computes the new settings of a file from its current row (PATCH keeps what is not given).
pub type SettingsFn = Box<dyn FnOnce(&FileRow) -> Result<Settings, ApiError> + Send>;

/// A change to an owner's file.
pub struct Change {
    pub key: String,
    pub owner: String,
    /// New contents (PUT), already in the blob store.
    pub contents: Option<Contents>,
    pub settings: SettingsFn,
    /// Start counting downloads again (PUT; new contents always do).
    pub reset_downloads: bool,
    pub max_storage: Option<u64>,
}

/// Sort orders of the list.
#[derive(Debug, Clone, Copy)]
pub enum SortField {
    Name,
    Size,
    Expires,
    Created,
    Modified,
    Downloads,
}

impl SortField {
    pub fn parse(s: &str) -> Option<SortField> {
        Some(match s {
            "name" | "title" => SortField::Name,
            "size" => SortField::Size,
            "expires" | "expiry" => SortField::Expires,
            "created" => SortField::Created,
            "modified" | "updated" => SortField::Modified,
            "downloads" => SortField::Downloads,
            _ => return None,
        })
    }
}

/// What to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub owner: String,
    pub search: Option<String>,
    pub sort: Option<(SortField, bool)>,
    pub offset: u64,
    pub limit: Option<u64>,
}

/// A page of the list of one owner's files.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<FileRow>,
    pub count: u64,
    pub size: u64,
}

/// A download's claim on one of a file's downloads, held while it streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseId(pub String);

/// What [`Meta::complete`] did.
#[derive(Debug, Default)]
pub struct Completed {
    /// The download was counted (false: the lease had run out, or the file has other
    /// contents now or is gone).
    pub counted: bool,
    pub garbage: Garbage,
}

/// The metadata backend. Every method is one atomic step; none holds anything in the
/// process between calls.
pub trait Meta: Send + Sync + 'static {
    /// The backend's time: every expiry and lease is judged by it.
    fn now(&self) -> MetaResult<'_, DateTime<Utc>>;

    /// Inserts a file, refusing with 413 when the owner's quota would be passed.
    fn insert(&self, new: NewFile) -> MetaResult<'_, Inserted>;

    /// A file the caller may download or see: not spent (a spent auto-delete file is
    /// dropped, its blob returned as garbage). 404 when there is none.
    fn peek(&self, key: String) -> MetaResult<'_, Outcome<FileRow>>;

    /// A file with a download free right now — not spent, and fewer live leases than
    /// downloads left — without taking it: what a ranged read that stops short of the last
    /// byte needs, so that a file whose last download is spent or under way is gone for
    /// such reads too. 404 otherwise.
    fn available(&self, key: String) -> MetaResult<'_, Outcome<FileRow>>;

    /// Applies a change to an owner's file; 404 when it is not theirs or not there. Returns
    /// the new row and the blobs to delete (the replaced contents).
    fn update(&self, change: Change) -> MetaResult<'_, Outcome<FileRow>>;

    /// Deletes an owner's file; 404 when it is not theirs or not there.
    fn delete(&self, key: String, owner: String) -> MetaResult<'_, Outcome<()>>;

    /// One page of an owner's files, with the count and total size of all that match.
    fn list(&self, query: ListQuery) -> MetaResult<'_, Page>;

    /// Bytes stored for an owner.
    fn used(&self, owner: Owner) -> MetaResult<'_, u64>;

    /// Takes a lease on one download of a file's current contents, for `lease` from now,
    /// or 404 when none is left (counting live leases).
    fn reserve(&self, key: String, lease: Duration) -> MetaResult<'_, Outcome<(FileRow, LeaseId)>>;

    /// Extends a live lease to `lease` from now; false when it had already run out.
    fn renew(&self, id: LeaseId, lease: Duration) -> MetaResult<'_, bool>;

    /// A leased download was sent in full: counts it if the lease is still live and the
    /// file still has the contents it was taken on; drops the file when spent.
    fn complete(&self, id: LeaseId) -> MetaResult<'_, Completed>;

    /// Gives a lease back (the download broke off).
    fn release(&self, id: LeaseId) -> MetaResult<'_, ()>;

    /// Drops the files that are spent and to be deleted automatically, and leases that ran out.
    fn sweep(&self) -> MetaResult<'_, Garbage>;

    /// Every blob name a row refers to (for the start-up cleanup).
    fn blob_names(&self) -> MetaResult<'_, HashSet<String>>;

    /// Drops the rows whose blob is not in `present` (lost contents); returns how many.
    fn drop_rows_without(&self, present: HashSet<String>) -> MetaResult<'_, usize>;
}

/// What every [`Meta`] backend must do, run against two instances sharing one database
/// (as several servers would) and a clock the test moves. A new backend's tests call
/// [`conformance::run`] with its own two instances.
#[cfg(test)]
pub(crate) mod conformance {
    use std::sync::Mutex;

    use chrono::TimeZone;

    use super::*;

    /// A clock the test moves, and the [`Clock`] that reads it.
    pub struct ManualClock(pub Arc<Mutex<DateTime<Utc>>>);

    impl ManualClock {
        pub fn new() -> ManualClock {
            ManualClock(Arc::new(Mutex::new(
                Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
            )))
        }
        pub fn clock(&self) -> Clock {
            let c = self.0.clone();
            Arc::new(move || *c.lock().unwrap())
        }
        pub fn advance(&self, d: chrono::Duration) {
            *self.0.lock().unwrap() += d;
        }
        pub fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    const LEASE: Duration = Duration::from_secs(60);

    pub fn file(
        key: &str,
        blob: &str,
        owner: Option<&str>,
        max: u32,
        clock: &ManualClock,
    ) -> NewFile {
        NewFile {
            key: key.into(),
            owner: owner.map(str::to_string),
            contents: Contents {
                blob: blob.into(),
                name: format!("{key}.txt"),
                mime: "text/plain".into(),
                size: 10,
            },
            settings: Settings {
                expires: clock.now() + chrono::Duration::days(1),
                max_downloads: max,
                auto_delete: true,
            },
            max_storage: None,
            created: clock.now(),
        }
    }

    async fn insert(m: &dyn Meta, f: NewFile) -> FileRow {
        match m.insert(f).await.unwrap() {
            Inserted::Done(row) => row,
            Inserted::Taken => panic!("key taken"),
        }
    }

    async fn lease(m: &dyn Meta, key: &str) -> Result<LeaseId, u16> {
        let (r, garbage) = m.reserve(key.into(), LEASE).await.unwrap();
        assert!(garbage.is_empty());
        r.map(|(_, l)| l).map_err(|e| e.status.as_u16())
    }

    pub async fn run(a: Arc<dyn Meta>, b: Arc<dyn Meta>, clock: &ManualClock) {
        let (a, b) = (a.as_ref(), b.as_ref());
        assert_eq!(a.now().await.unwrap(), clock.now());

        // Keys are unique across instances; quotas are checked in the same step.
        let row = insert(a, file("one", "one-1", None, 1, clock)).await;
        assert_eq!((row.downloads, row.created), (0, clock.now()));
        assert!(matches!(
            b.insert(file("one", "one-2", None, 1, clock))
                .await
                .unwrap(),
            Inserted::Taken
        ));
        let mut f = file("q1", "q1-1", Some("o"), 1, clock);
        f.max_storage = Some(15);
        insert(a, f).await;
        let mut f = file("q2", "q2-1", Some("o"), 1, clock);
        f.max_storage = Some(15);
        assert_eq!(b.insert(f).await.err().unwrap().status.as_u16(), 413);
        assert_eq!(b.used(Some("o".into())).await.unwrap(), 10);

        // A lease taken on one instance counts on the other; renewing keeps it.
        assert!(b.available("one".into()).await.unwrap().0.is_ok());
        let l1 = lease(a, "one").await.unwrap();
        assert_eq!(lease(b, "one").await, Err(404));
        // Taken, the last download is not available to ranged reads either; peek still sees it.
        let (r, _) = b.available("one".into()).await.unwrap();
        assert_eq!(r.unwrap_err().status.as_u16(), 404);
        assert!(b.peek("one".into()).await.unwrap().0.is_ok());
        assert!(a.renew(l1.clone(), LEASE).await.unwrap());
        // A lease that ran out is not renewed, frees the download, and is refused late.
        clock.advance(chrono::Duration::seconds(61));
        assert!(!a.renew(l1.clone(), LEASE).await.unwrap());
        let l2 = lease(b, "one").await.unwrap();
        let late = a.complete(l1).await.unwrap();
        assert!(!late.counted && late.garbage.is_empty());
        let done = b.complete(l2).await.unwrap();
        assert!(done.counted);
        assert_eq!(done.garbage, ["one-1"]);
        assert_eq!(
            a.peek("one".into()).await.unwrap().0.unwrap_err().status,
            404
        );
        assert_eq!(
            a.available("one".into())
                .await
                .unwrap()
                .0
                .unwrap_err()
                .status,
            404
        );

        // A release gives the download back.
        insert(a, file("rel", "rel-1", None, 1, clock)).await;
        let l = lease(a, "rel").await.unwrap();
        assert_eq!(lease(b, "rel").await, Err(404));
        a.release(l).await.unwrap();
        let l = lease(b, "rel").await.unwrap();
        b.release(l).await.unwrap();

        // A lease belongs to the contents it was taken on.
        insert(a, file("rep", "rep-1", Some("o2"), 2, clock)).await;
        let old = lease(a, "rep").await.unwrap();
        let change = Change {
            key: "rep".into(),
            owner: "o2".into(),
            contents: Some(Contents {
                blob: "rep-2".into(),
                name: "new.txt".into(),
                mime: "text/plain".into(),
                size: 3,
            }),
            settings: Box::new(|row| {
                Ok(Settings {
                    expires: row.expires,
                    max_downloads: row.max_downloads,
                    auto_delete: row.auto_delete,
                })
            }),
            reset_downloads: true,
            max_storage: None,
        };
        let (row, garbage) = b.update(change).await.unwrap();
        assert_eq!(row.unwrap().blob, "rep-2");
        assert_eq!(garbage, ["rep-1"]);
        let late = a.complete(old).await.unwrap();
        assert!(!late.counted);
        let (x, y) = (
            lease(a, "rep").await.unwrap(),
            lease(b, "rep").await.unwrap(),
        );
        assert_eq!(lease(a, "rep").await, Err(404));
        assert!(a.complete(x).await.unwrap().counted);
        assert_eq!(b.complete(y).await.unwrap().garbage, ["rep-2"]);

        // Only the owner deletes.
        insert(a, file("del", "del-1", Some("o3"), 1, clock)).await;
        let (r, g) = b.delete("del".into(), "someone".into()).await.unwrap();
        assert_eq!((r.unwrap_err().status.as_u16(), g.len()), (404, 0));
        let (r, g) = b.delete("del".into(), "o3".into()).await.unwrap();
        assert!(r.is_ok());
        assert_eq!(g, ["del-1"]);

        // Expiry is judged by the store's clock; the sweep returns what it freed.
        let mut f = file("exp", "exp-1", None, 1, clock);
        f.settings.expires = clock.now() + chrono::Duration::seconds(1);
        insert(a, f).await;
        assert!(b.sweep().await.unwrap().is_empty());
        clock.advance(chrono::Duration::seconds(2));
        assert_eq!(b.sweep().await.unwrap(), ["exp-1"]);

        // What the start-up cleanup needs.
        let names = a.blob_names().await.unwrap();
        assert_eq!(names, ["q1-1", "rel-1"].map(String::from).into());
        let dropped = b
            .drop_rows_without(["rel-1".to_string()].into())
            .await
            .unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(a.blob_names().await.unwrap(), ["rel-1".to_string()].into());
    }
}
