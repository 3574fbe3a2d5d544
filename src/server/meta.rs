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
//!
//! A file dropped for good — expired, downloaded as often as allowed, or deleted by its
//! owner — leaves a *tombstone*: its key, why, and when, kept for [`TOMBSTONE_DAYS`] and then
//! swept. Lookups of a key with no row answer [`ApiError::gone`] while its tombstone lives
//! (so a browser is told 410 and why), plain 404 otherwise. A row always wins over a
//! tombstone, and a tombstoned key is never given to a new file.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::server::auth::Owner;
use crate::server::errors::{ApiError, Gone, GoneWhy};

/// How long a gone file's tombstone is kept. Fixed rather than tied to `--max-expiry`: it
/// must outlive the link's sharing (messages are read days later), not the file; a
/// tombstone is a key, a reason and a time, and there are no more of them than files
/// dropped in this span.
pub const TOMBSTONE_DAYS: i64 = 30;

/// Tombstones from before this are ignored (and swept).
pub fn tombstone_horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(TOMBSTONE_DAYS)
}

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

    /// Why a spent file is gone, and since when as far as the row tells: expiry wins when
    /// both apply.
    pub fn gone(&self, now: DateTime<Utc>) -> Gone {
        if self.expires <= now {
            Gone {
                why: GoneWhy::Expired,
                at: Some(self.expires),
            }
        } else {
            Gone {
                why: GoneWhy::UsedUp,
                at: None,
            }
        }
    }

    /// The answer for a lookup of this spent file: gone, since now if it is being dropped
    /// now (autoDelete) and the row does not tell.
    pub fn spent_error(&self, now: DateTime<Utc>) -> ApiError {
        let mut gone = self.gone(now);
        if self.auto_delete {
            gone.at.get_or_insert(now);
        }
        ApiError::gone(gone)
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

/// What [`Meta::count`] did with a download sent without a lease.
#[derive(Debug, PartialEq, Eq)]
pub enum Tally {
    /// Counted; with the blobs it freed (the file spent and dropped).
    Counted(Garbage),
    /// No download was left beyond the leased ones: this one must not be delivered.
    Refused,
    /// The file has other contents now, or is gone: nothing to count against; the old
    /// contents, opened while current, may be delivered (as a lease's are).
    Stale,
}

/// A resumable (tus) upload: in progress, or finished and remembered until it expires (so
/// that its client still learns the link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusRow {
    /// Its id in the upload URL: long and random, a capability for anonymous uploads.
    pub id: String,
    pub owner: Owner,
    /// `Upload-Length`; `None` while it is deferred (creation-defer-length) and not yet
    /// declared. Stored as -1 in the `length` column of both backends (no new column: the
    /// column stays NOT NULL in databases made before deferred lengths).
    pub length: Option<u64>,
    /// The bytes durably stored so far.
    pub offset: u64,
    /// The file's name and type, from `Upload-Metadata`.
    pub name: String,
    pub mime: String,
    /// The settings fields from `Upload-Metadata` (expires, maxDownloads, autoDelete), as a
    /// JSON list of name/value pairs: resolved when the upload completes.
    pub fields: String,
    /// What the blob store needs to go on appending (see [`crate::server::blobs::Blobs::partial_create`]).
    pub state: String,
    /// When the upload (finished or not) is forgotten and its bytes swept.
    pub expires: DateTime<Utc>,
    pub created: DateTime<Utc>,
    /// Once complete: the JSON answer of `POST /` for the file it became.
    pub done: Option<String>,
}

/// A PATCH's hold on an upload: one at a time per upload, across instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusLock(pub String);

/// The answer when another request holds an upload.
pub fn tus_locked() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::LOCKED,
        "Another request is writing to this upload right now: wait for it to end (or its hold to run out, within a minute), then ask for the offset with HEAD and go on.",
    )
}

/// The answer for an upload that is not there (or not the caller's).
pub fn tus_not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "No upload with this URL: it may have expired, been terminated, or never existed. Start a new upload.",
    )
}

/// The metadata backend. Every method is one atomic step; none holds anything in the
/// process between calls.
pub trait Meta: Send + Sync + 'static {
    /// The backend's time: every expiry and lease is judged by it.
    fn now(&self) -> MetaResult<'_, DateTime<Utc>>;

    /// Inserts a file, refusing with 413 when the owner's quota would be passed.
    fn insert(&self, new: NewFile) -> MetaResult<'_, Inserted>;

    /// A file the caller may download or see: not spent (a spent auto-delete file is
    /// dropped, its blob returned as garbage, a tombstone left). 404 when there is none,
    /// [`ApiError::gone`] when it is spent or its tombstone lives.
    fn peek(&self, key: String) -> MetaResult<'_, Outcome<FileRow>>;

    /// A file with a download free right now — not spent, and fewer live leases than
    /// downloads left — without taking it: what a ranged read that stops short of the last
    /// byte needs, so that a file whose last download is spent or under way is gone for
    /// such reads too. 404 otherwise.
    fn available(&self, key: String) -> MetaResult<'_, Outcome<FileRow>>;

    /// Applies a change to an owner's file; 404 when it is not theirs or not there. Returns
    /// the new row and the blobs to delete (the replaced contents).
    fn update(&self, change: Change) -> MetaResult<'_, Outcome<FileRow>>;

    /// Deletes an owner's file, leaving a tombstone; 404 when it is not theirs or not there.
    fn delete(&self, key: String, owner: String) -> MetaResult<'_, Outcome<()>>;

    /// One page of an owner's files, with the count and total size of all that match.
    fn list(&self, query: ListQuery) -> MetaResult<'_, Page>;

    /// Bytes stored for an owner.
    fn used(&self, owner: Owner) -> MetaResult<'_, u64>;

    /// Takes a lease on one download of a file's current contents, for `lease` from now,
    /// or 404 when none is left (counting live leases): [`ApiError::gone`] as in
    /// [`Meta::peek`].
    fn reserve(&self, key: String, lease: Duration) -> MetaResult<'_, Outcome<(FileRow, LeaseId)>>;

    /// A file with more than `headroom` downloads left beyond its live leases, read without
    /// writing anything: a download of it needs no lease, and is counted by [`Meta::count`]
    /// before its last byte goes out. `None` when there are not that many left, when there
    /// is no such row or it needs a write (spent: dropped, a tombstone), or when the backend
    /// cannot tell cheaply: [`Meta::reserve`] answers then. The default always says `None`.
    fn reserve_plenty(&self, key: String, headroom: u32) -> MetaResult<'_, Option<FileRow>> {
        let _ = (key, headroom);
        Box::pin(async { Ok(None) })
    }

    /// Counts `n` downloads of `blob` sent (or, for `n` > 1, about to be sent) without a
    /// lease, in one step that also checks that `n` downloads are left beyond the live
    /// leases with `keep` more to spare (so the leased ones keep theirs, and no more are
    /// counted than allowed); drops the file when spent, as [`Meta::complete`] does. Only
    /// called after [`Meta::reserve_plenty`] said `Some`.
    fn count(&self, key: String, blob: String, n: u32, keep: u32) -> MetaResult<'_, Tally> {
        let _ = (key, blob, n, keep);
        Box::pin(async { Ok(Tally::Refused) })
    }

    /// Takes back `n` downloads of `blob` counted ahead by [`Meta::count`] and not
    /// delivered; nothing when the file has other contents now or is gone.
    fn uncount(&self, key: String, blob: String, n: u32) -> MetaResult<'_, ()> {
        let _ = (key, blob, n);
        Box::pin(async { Ok(()) })
    }

    /// Extends a live lease to `lease` from now; false when it had already run out.
    fn renew(&self, id: LeaseId, lease: Duration) -> MetaResult<'_, bool>;

    /// A leased download was sent in full: counts it if the lease is still live and the
    /// file still has the contents it was taken on; drops the file when spent.
    fn complete(&self, id: LeaseId) -> MetaResult<'_, Completed>;

    /// Gives a lease back (the download broke off).
    fn release(&self, id: LeaseId) -> MetaResult<'_, ()>;

    /// Drops the files that are spent and to be deleted automatically (leaving tombstones),
    /// leases that ran out, and tombstones older than [`TOMBSTONE_DAYS`].
    fn sweep(&self) -> MetaResult<'_, Garbage>;

    /// Every blob name a row refers to (for the start-up cleanup).
    fn blob_names(&self) -> MetaResult<'_, HashSet<String>>;

    /// Drops the rows whose blob is not in `present` (lost contents); returns how many.
    fn drop_rows_without(&self, present: HashSet<String>) -> MetaResult<'_, usize>;

    /// Records a new resumable upload.
    fn tus_create(&self, row: TusRow) -> MetaResult<'_, ()>;

    /// An upload that has not expired; 404 ([`tus_not_found`]) when there is none.
    fn tus_get(&self, id: String) -> MetaResult<'_, TusRow>;

    /// The bytes an owner's unfinished, unexpired uploads will take: their `Upload-Length`s,
    /// or what a deferred one has received so far.
    fn tus_pending(&self, owner: Owner) -> MetaResult<'_, u64>;

    /// Takes the hold on an unfinished, unexpired upload for `lease` from now: 404 when
    /// there is none, 423 ([`tus_locked`]) while another hold is live.
    fn tus_lock(&self, id: String, lease: Duration) -> MetaResult<'_, (TusRow, TusLock)>;

    /// Extends a hold to `lease` from now; false when it is not held by `lock` any more.
    fn tus_renew(&self, id: String, lock: TusLock, lease: Duration) -> MetaResult<'_, bool>;

    /// Records new bytes stored under `lock`; false (nothing recorded) when the hold was
    /// lost to another request.
    fn tus_advance(
        &self,
        id: String,
        lock: TusLock,
        offset: u64,
        state: String,
    ) -> MetaResult<'_, bool>;

    /// Sets a deferred upload's length under `lock`; false (nothing recorded) when the hold
    /// was lost or the length was already set.
    fn tus_declare(&self, id: String, lock: TusLock, length: u64) -> MetaResult<'_, bool>;

    /// Marks the upload complete with the answer for its file, and lets the hold go.
    fn tus_finish(&self, id: String, lock: TusLock, done: String) -> MetaResult<'_, bool>;

    /// Lets a hold go.
    fn tus_unlock(&self, id: String, lock: TusLock) -> MetaResult<'_, ()>;

    /// Deletes an upload (termination) unless a hold on it is live (423); 404 when there is
    /// none. Returns its blob state when its bytes are still to be deleted (unfinished).
    fn tus_delete(&self, id: String) -> MetaResult<'_, Option<String>>;

    /// Drops the uploads that expired and are not held; returns the blob states of the
    /// unfinished ones, whose bytes are to be deleted.
    fn tus_sweep(&self) -> MetaResult<'_, Vec<String>>;
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
        let used_up = clock.now();
        let done = b.complete(l2).await.unwrap();
        assert!(done.counted);
        assert_eq!(done.garbage, ["one-1"]);
        let one_gone = Some(Gone {
            why: GoneWhy::UsedUp,
            at: Some(used_up),
        });
        assert_eq!(gone(a, "one").await, one_gone);
        let refused = b
            .reserve("one".into(), LEASE)
            .await
            .unwrap()
            .0
            .err()
            .unwrap();
        assert_eq!((refused.status.as_u16(), refused.gone), (404, one_gone));
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
        let deleted = clock.now();
        let (r, g) = b.delete("del".into(), "o3".into()).await.unwrap();
        assert!(r.is_ok());
        assert_eq!(g, ["del-1"]);
        let del_gone = Some(Gone {
            why: GoneWhy::Deleted,
            at: Some(deleted),
        });
        assert_eq!(gone(a, "del").await, del_gone);

        // Expiry is judged by the store's clock; the sweep returns what it freed.
        let mut f = file("exp", "exp-1", None, 1, clock);
        f.settings.expires = clock.now() + chrono::Duration::seconds(1);
        insert(a, f).await;
        assert!(b.sweep().await.unwrap().is_empty());
        let expired = clock.now() + chrono::Duration::seconds(1);
        clock.advance(chrono::Duration::seconds(2));
        assert_eq!(b.sweep().await.unwrap(), ["exp-1"]);
        let exp_gone = Some(Gone {
            why: GoneWhy::Expired,
            at: Some(expired),
        });
        assert_eq!(gone(a, "exp").await, exp_gone);
        assert_eq!(gone(a, "never").await, None);

        // What the start-up cleanup needs.
        let names = a.blob_names().await.unwrap();
        assert_eq!(names, ["q1-1", "rel-1"].map(String::from).into());
        let dropped = b
            .drop_rows_without(["rel-1".to_string()].into())
            .await
            .unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(a.blob_names().await.unwrap(), ["rel-1".to_string()].into());

        // A tombstoned key is never given to a new file.
        for key in ["one", "del", "exp"] {
            let f = file(key, &format!("{key}-new"), None, 1, clock);
            assert!(
                matches!(b.insert(f).await.unwrap(), Inserted::Taken),
                "{key}"
            );
        }

        // A spent file kept without autoDelete says why from its row, and once revived it is
        // served: no tombstone shadows it.
        let mut f = file("keep", "keep-1", Some("o4"), 1, clock);
        f.settings.expires = clock.now() + chrono::Duration::seconds(1);
        f.settings.auto_delete = false;
        let kept_until = f.settings.expires;
        insert(a, f).await;
        clock.advance(chrono::Duration::seconds(2));
        assert!(b.sweep().await.unwrap().is_empty());
        let keep_gone = Some(Gone {
            why: GoneWhy::Expired,
            at: Some(kept_until),
        });
        assert_eq!(gone(b, "keep").await, keep_gone);
        let later = clock.now() + chrono::Duration::days(60);
        let revive = Change {
            key: "keep".into(),
            owner: "o4".into(),
            contents: None,
            settings: Box::new(move |row| {
                Ok(Settings {
                    expires: later,
                    max_downloads: row.max_downloads,
                    auto_delete: false,
                })
            }),
            reset_downloads: false,
            max_storage: None,
        };
        assert!(a.update(revive).await.unwrap().0.is_ok());
        assert_eq!(
            b.peek("keep".into()).await.unwrap().0.unwrap().blob,
            "keep-1"
        );

        // Tombstones last TOMBSTONE_DAYS: then lookups say plain 404 and the sweep drops them.
        clock.advance(chrono::Duration::days(TOMBSTONE_DAYS) - chrono::Duration::seconds(10));
        assert_eq!(gone(a, "exp").await, exp_gone);
        clock.advance(chrono::Duration::seconds(20));
        assert_eq!(gone(a, "exp").await, None);
        assert_eq!(gone(b, "one").await, None);
        assert_eq!(b.sweep().await.unwrap(), ["rel-1"]);
        let rel = gone(a, "rel").await.unwrap();
        assert_eq!(rel.why, GoneWhy::Expired);
        insert(b, file("exp", "exp-2", None, 1, clock)).await;
        assert_eq!(a.peek("exp".into()).await.unwrap().0.unwrap().blob, "exp-2");

        tus(a, b, clock).await;
    }

    fn upload(id: &str, owner: Option<&str>, length: u64, clock: &ManualClock) -> TusRow {
        TusRow {
            id: id.into(),
            owner: owner.map(str::to_string),
            length: Some(length),
            offset: 0,
            name: "a.bin".into(),
            mime: "application/octet-stream".into(),
            fields: "[]".into(),
            state: format!("{id}-state"),
            expires: clock.now() + chrono::Duration::hours(1),
            created: clock.now(),
            done: None,
        }
    }

    /// Resumable uploads: one hold at a time across instances, offsets recorded only under
    /// the hold, expiry by the store's clock.
    async fn tus(a: &dyn Meta, b: &dyn Meta, clock: &ManualClock) {
        let status = |e: ApiError| e.status.as_u16();
        a.tus_create(upload("t1", Some("o"), 100, clock))
            .await
            .unwrap();
        a.tus_create(upload("t2", Some("o"), 50, clock))
            .await
            .unwrap();
        assert_eq!(
            b.tus_get("t1".into()).await.unwrap(),
            upload("t1", Some("o"), 100, clock)
        );
        assert_eq!(status(b.tus_get("nope".into()).await.unwrap_err()), 404);
        assert_eq!(b.tus_pending(Some("o".into())).await.unwrap(), 150);
        assert_eq!(b.tus_pending(None).await.unwrap(), 0);

        // One hold at a time, whichever instance asks.
        let (row, l1) = a.tus_lock("t1".into(), LEASE).await.unwrap();
        assert_eq!(row.offset, 0);
        assert_eq!(
            status(b.tus_lock("t1".into(), LEASE).await.unwrap_err()),
            423
        );
        assert_eq!(status(b.tus_delete("t1".into()).await.unwrap_err()), 423);
        assert_eq!(
            status(b.tus_lock("nope".into(), LEASE).await.unwrap_err()),
            404
        );
        assert!(
            a.tus_advance("t1".into(), l1.clone(), 40, "s40".into())
                .await
                .unwrap()
        );
        assert!(a.tus_renew("t1".into(), l1.clone(), LEASE).await.unwrap());
        let got = b.tus_get("t1".into()).await.unwrap();
        assert_eq!((got.offset, got.state.as_str()), (40, "s40"));
        a.tus_unlock("t1".into(), l1.clone()).await.unwrap();
        // A released hold records nothing more.
        assert!(
            !a.tus_advance("t1".into(), l1.clone(), 50, "s50".into())
                .await
                .unwrap()
        );
        assert!(!a.tus_renew("t1".into(), l1, LEASE).await.unwrap());

        // A hold that ran out (a killed instance) is taken over; the old one records nothing.
        let (_, l2) = b.tus_lock("t1".into(), LEASE).await.unwrap();
        clock.advance(chrono::Duration::seconds(61));
        let (row, l3) = a.tus_lock("t1".into(), LEASE).await.unwrap();
        assert_eq!(row.offset, 40);
        assert!(
            !b.tus_advance("t1".into(), l2, 60, "late".into())
                .await
                .unwrap()
        );
        assert!(
            a.tus_advance("t1".into(), l3.clone(), 100, "s100".into())
                .await
                .unwrap()
        );
        assert!(a.tus_finish("t1".into(), l3, "{}".into()).await.unwrap());
        let done = b.tus_get("t1".into()).await.unwrap();
        assert_eq!((done.offset, done.done.as_deref()), (100, Some("{}")));
        // Finished: no more holds, and it no longer counts as pending.
        assert_eq!(
            status(b.tus_lock("t1".into(), LEASE).await.unwrap_err()),
            404
        );
        assert_eq!(b.tus_pending(Some("o".into())).await.unwrap(), 50);

        // Termination returns the bytes to delete.
        assert_eq!(
            b.tus_delete("t2".into()).await.unwrap(),
            Some("t2-state".into())
        );
        assert_eq!(status(a.tus_get("t2".into()).await.unwrap_err()), 404);
        assert_eq!(status(a.tus_delete("t2".into()).await.unwrap_err()), 404);

        // Expiry by the store's clock; a held upload is swept only once its hold runs out.
        a.tus_create(upload("t3", None, 10, clock)).await.unwrap();
        a.tus_create(upload("t4", None, 10, clock)).await.unwrap();
        let (_, held) = a.tus_lock("t4".into(), LEASE).await.unwrap();
        assert!(b.tus_sweep().await.unwrap().is_empty());
        clock.advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
        assert!(a.tus_renew("t4".into(), held, LEASE).await.unwrap());
        assert_eq!(status(b.tus_get("t3".into()).await.unwrap_err()), 404);
        let mut swept = b.tus_sweep().await.unwrap();
        swept.sort();
        // t1 was finished (nothing to delete), t3 was not, t4 is still held.
        assert_eq!(swept, ["t3-state"]);
        clock.advance(chrono::Duration::seconds(61));
        assert_eq!(a.tus_sweep().await.unwrap(), ["t4-state"]);
        assert!(a.tus_sweep().await.unwrap().is_empty());

        // A deferred length: pending counts what it received; declared once, under the hold.
        let mut deferred = upload("t5", Some("d"), 0, clock);
        deferred.length = None;
        a.tus_create(deferred.clone()).await.unwrap();
        assert_eq!(b.tus_get("t5".into()).await.unwrap(), deferred);
        let (_, l5) = a.tus_lock("t5".into(), LEASE).await.unwrap();
        assert!(
            a.tus_advance("t5".into(), l5.clone(), 30, "s30".into())
                .await
                .unwrap()
        );
        assert_eq!(b.tus_pending(Some("d".into())).await.unwrap(), 30);
        assert!(
            !b.tus_declare("t5".into(), TusLock("other".into()), 70)
                .await
                .unwrap()
        );
        assert!(a.tus_declare("t5".into(), l5.clone(), 70).await.unwrap());
        assert!(!a.tus_declare("t5".into(), l5, 80).await.unwrap());
        assert_eq!(b.tus_get("t5".into()).await.unwrap().length, Some(70));
        assert_eq!(b.tus_pending(Some("d".into())).await.unwrap(), 70);
    }

    /// What a lookup of a key with no live file says: `Some` when it is known to be gone.
    async fn gone(m: &dyn Meta, key: &str) -> Option<Gone> {
        let (r, _) = m.peek(key.into()).await.unwrap();
        let e = r.err().unwrap_or_else(|| panic!("{key} is still there"));
        assert_eq!(e.status.as_u16(), 404, "{key}");
        e.gone
    }
}
