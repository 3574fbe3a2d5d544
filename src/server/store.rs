//! Stored files: the protocol, written once above the two seams — metadata ([`Meta`]) and
//! contents ([`Blobs`]).
//!
//! - An upload is staged in the blob store, committed under a fresh blob name, and only then
//!   given a row; if the row cannot be written the blob is deleted. A crash in between
//!   leaves an orphan blob, which [`Store::cleanup`] removes at the next start.
//! - A replacement (PUT) does the same with a new blob name, and the old blob is deleted
//!   once no row refers to it; a download of the old contents keeps its open reader.
//! - A download is *reserve → stream → complete or release*: [`Store::reserve`] takes a
//!   lease on one download of the file's current contents and opens them; the lease is
//!   renewed while the body streams; a download sent in full completes it (counted only if
//!   the lease is still live and the contents are still current), one that breaks off
//!   releases it. Nothing is held in this process between those steps, so several server
//!   instances can share one database.
//! - A file with plenty of downloads left (more than [`UNLEASED_HEADROOM`] beyond the live
//!   leases and this instance's other unleased downloads) is downloaded without a lease:
//!   nothing is written until the download is counted, just before its last chunk goes
//!   out, in one step that also checks that a download is still left beyond the leased
//!   ones ([`Meta::count`]). A refused count cuts the download off before its end, so no
//!   more downloads are delivered in full than allowed, whatever the instances.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::server::auth::Owner;
use crate::server::blobs::{BlobChunks, Blobs, LocalBlobs, Staged, create_private_dir};
use crate::server::errors::ApiError;
use crate::server::ids::random;
use crate::server::meta::{
    Change, Contents, FileRow, Garbage, Inserted, LeaseId, ListQuery, Meta, NewFile, Page,
    Settings, SettingsFn, Tally, TusLock, TusRow, tus_locked,
};
use crate::server::sqlite::SqliteMeta;

/// The length of generated file keys.
pub const KEY_LEN: usize = 12;

pub use crate::server::config::LEASE;

/// Downloads are read and sent in chunks this large. A download in flight holds about one
/// chunk (hyper stops taking more once it has one queued), so this is its memory: 160 KiB
/// kept a stalled download at 195–209 KiB (192 KiB: 235–255, too near the 256 KiB goal).
/// Each chunk is one read and one write, and loopback TCP rewards fewer, larger writes: a
/// 1 GiB download went from a median 2,870 MiB/s with 128 KiB chunks to 3,520 with 160.
pub const DOWNLOAD_CHUNK: usize = 160 * 1024;

/// A fresh file key from the thread's CSPRNG (ChaCha, seeded from the OS).
fn new_key() -> String {
    random(KEY_LEN)
}

pub use crate::server::meta::{Clock, system_clock};

/// A fresh blob name for a file's new contents: its key and a random suffix.
fn new_blob(key: &str) -> String {
    format!("{key}-{}", random(KEY_LEN))
}

/// An uploaded file, staged in the blob store (discarded if dropped uncommitted).
pub struct Upload {
    pub staged: Box<dyn Staged>,
    pub name: String,
    pub mime: String,
    pub size: u64,
}

/// What [`Store::cleanup`] removed, and what the operator should know.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub tmp_files: usize,
    pub orphan_blobs: usize,
    pub orphan_rows: usize,
    /// Things about the data directory the operator should fix.
    pub warnings: Vec<String>,
}

/// How many downloads beyond the live leases a file must have left for a download to go
/// without a lease. Near the end the lease protocol takes over, so that only more than this
/// many leased downloads under way at once could see an unleased one's count refused and
/// its download cut off; for a one-time or few-download file nothing changes.
pub const UNLEASED_HEADROOM: u32 = 1024;

/// How many downloads of a busy file with plenty left are counted in one write, ahead of
/// their delivery: one write per block instead of one per download (a 10 KiB download's
/// count was a quarter of its CPU time). Should the process die, the unused rest of a
/// block stays counted: a file with more than [`UNLEASED_HEADROOM`] left may lose up to this
/// many downloads, never deliver more than allowed.
pub const PREPAID_BLOCK: u32 = 64;

/// A file is busy when its last count was this recent: the next one counts a block ahead.
/// A block unused this long is taken back ([`Store::refund_idle`]).
pub const PREPAID_IDLE: Duration = Duration::from_secs(1);

/// The most files with downloads counted ahead at once; beyond it each download counts
/// itself, as a quiet file's do.
const PREPAID_FILES: usize = 1024;

/// How long a block being counted keeps others from counting one.
const PREPAID_STUCK: Duration = Duration::from_secs(10);

impl Prepaid {
    fn counting(&self, now: std::time::Instant) -> bool {
        self.counting
            .is_some_and(|since| now.duration_since(since) < PREPAID_STUCK)
    }
}

pub struct Store {
    meta: Arc<dyn Meta>,
    blobs: Arc<dyn Blobs>,
    lease: Duration,
    headroom: u32,
    /// Unleased downloads of this instance under way, added to the headroom asked for.
    unleased: AtomicU32,
    /// Downloads counted ahead, by file key ([`PREPAID_BLOCK`]).
    prepaid: std::sync::Mutex<std::collections::HashMap<String, Prepaid>>,
}

/// A file's downloads counted ahead and not delivered yet.
struct Prepaid {
    /// The contents they were counted against.
    blob: String,
    left: u32,
    /// When the file was last counted.
    counted: std::time::Instant,
    /// Since when a block is being counted: the others count themselves meanwhile. Only
    /// for [`PREPAID_STUCK`]: a count whose download went away mid-write never reports.
    counting: Option<std::time::Instant>,
}

impl Store {
    pub fn new(meta: Arc<dyn Meta>, blobs: Arc<dyn Blobs>, lease: Duration) -> Store {
        Store {
            meta,
            blobs,
            lease,
            headroom: UNLEASED_HEADROOM,
            unleased: AtomicU32::new(0),
            prepaid: Default::default(),
        }
    }

    /// The same store with downloads going without a lease only when more than `headroom`
    /// are left (tests use small ones, to reach the end of the unleased ones).
    pub fn with_unleased_headroom(mut self, headroom: u32) -> Store {
        self.headroom = headroom;
        self
    }

    /// The same store with downloads leased for `lease` (tests use short ones).
    pub fn with_lease(mut self, lease: Duration) -> Store {
        self.lease = lease;
        self
    }

    /// The store under `dir`: SQLite in `dir/fileio.db`, blobs under `dir/blobs`, all
    /// private to the owner; then removes what an unclean stop left.
    pub async fn open_local(dir: &Path, clock: Clock) -> anyhow::Result<(Store, Cleanup)> {
        Store::open_with(dir, None, clock).await
    }

    /// The same, with the blobs in `blobs` (an object store) instead of `dir/blobs` when
    /// given: the database stays in `dir`.
    pub async fn open_with(
        dir: &Path,
        blobs: Option<Arc<dyn Blobs>>,
        clock: Clock,
    ) -> anyhow::Result<(Store, Cleanup)> {
        let dir = dir.to_path_buf();
        let remote = blobs.is_some();
        // Creating directories and opening the database block: off the async threads.
        let (meta, local, warnings) = tokio::task::spawn_blocking(move || {
            create_private_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut warnings = Vec::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&dir)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    warnings.push(format!(
                        "the data directory {} can be read by other users (mode {mode:04o}): restrict it with chmod 700 {}",
                        dir.display(),
                        dir.display()
                    ));
                }
            }
            let local = if remote {
                None
            } else {
                Some(LocalBlobs::open(&dir).with_context(|| {
                    format!("cannot create the blob directories in {}", dir.display())
                })?)
            };
            let meta = SqliteMeta::open(&dir.join("fileio.db"), clock)?;
            anyhow::Ok((meta, local, warnings))
        })
        .await??;
        let blobs = match (blobs, local) {
            (Some(b), _) => b,
            (None, Some(l)) => Arc::new(l),
            (None, None) => unreachable!("local blobs are opened when none are given"),
        };
        let store = Store::new(Arc::new(meta), blobs, LEASE);
        let mut cleanup = store.cleanup().await?;
        cleanup.warnings = warnings;
        Ok((store, cleanup))
    }

    /// Metadata in the PostgreSQL database at `database`, shared with other instances, and
    /// blobs under `dir/blobs` (a directory they share too). `clock` pins the time for
    /// tests; `None` takes the database's.
    ///
    /// Nothing is cleaned up at start: other instances may be uploading into the same
    /// directory and database right now, and a staged or just-committed upload of theirs
    /// is indistinguishable from one a crash left behind. Instead every sweep removes the
    /// staging files unchanged for `staging_abandoned` (a killed instance's uploads).
    pub async fn open_shared(
        dir: &Path,
        database: &str,
        blobs: Option<Arc<dyn Blobs>>,
        clock: Option<Clock>,
        staging_abandoned: Duration,
    ) -> anyhow::Result<(Store, Cleanup)> {
        let blobs = match blobs {
            Some(remote) => remote,
            None => {
                let d = dir.to_path_buf();
                let local = tokio::task::spawn_blocking(move || {
                    create_private_dir(&d)
                        .with_context(|| format!("cannot create {}", d.display()))?;
                    LocalBlobs::open(&d).with_context(|| {
                        format!("cannot create the blob directories in {}", d.display())
                    })
                })
                .await??;
                Arc::new(local.shared(staging_abandoned)) as Arc<dyn Blobs>
            }
        };
        let meta = crate::server::pg::PgMeta::open(database, clock).await?;
        let store = Store::new(Arc::new(meta), blobs, LEASE);
        Ok((store, Cleanup::default()))
    }

    /// Removes partial uploads, blobs no row refers to, and rows whose blob is gone.
    pub async fn cleanup(&self) -> anyhow::Result<Cleanup> {
        let tmp_files = self.blobs.clean_staging().await?;
        let known = self.meta.blob_names().await.map_err(api)?;
        let present = self.blobs.names().await?;
        let mut orphan_blobs = 0;
        for name in present.difference(&known) {
            if self.blobs.delete(name.clone()).await.is_ok() {
                orphan_blobs += 1;
            }
        }
        let present: HashSet<String> = present.intersection(&known).cloned().collect();
        let orphan_rows = self.meta.drop_rows_without(present).await.map_err(api)?;
        Ok(Cleanup {
            tmp_files,
            orphan_blobs,
            orphan_rows,
            warnings: vec![],
        })
    }

    /// The store's time.
    pub async fn now(&self) -> Result<DateTime<Utc>, ApiError> {
        self.meta.now().await
    }

    /// A staging place for an upload's contents.
    pub async fn stage(&self) -> Result<Box<dyn Staged>, ApiError> {
        Ok(self.blobs.stage().await?)
    }

    /// Deletes blobs no row refers to any more; a failure leaves an orphan for the next
    /// start-up cleanup.
    async fn collect(&self, garbage: Garbage) {
        for name in garbage {
            if let Err(e) = self.blobs.delete(name).await {
                crate::server::log!("fileio serve: cannot delete stored contents: {e}");
            }
        }
    }

    /// Commits an upload under a fresh blob name for `key`.
    async fn commit(&self, key: &str, upload: Upload) -> Result<Contents, ApiError> {
        // Fresh either way: an object store names the upload when it starts.
        let blob = upload.staged.name().unwrap_or_else(|| new_blob(key));
        upload.staged.commit(blob.clone()).await?;
        Ok(Contents {
            blob,
            name: upload.name,
            mime: upload.mime,
            size: upload.size,
        })
    }

    /// Stores a new file. On failure nothing stays behind.
    pub async fn insert(
        &self,
        owner: &Owner,
        upload: Upload,
        settings: &Settings,
        max_storage: Option<u64>,
        created: DateTime<Utc>,
    ) -> Result<FileRow, ApiError> {
        let mut key = new_key();
        let contents = self.commit(&key, upload).await?;
        for _ in 0..10 {
            let new = NewFile {
                key: key.clone(),
                owner: owner.clone(),
                contents: contents.clone(),
                settings: settings.clone(),
                max_storage,
                created,
            };
            match self.meta.insert(new).await {
                Ok(Inserted::Done(row)) => return Ok(row),
                Ok(Inserted::Taken) => key = new_key(),
                Err(e) => {
                    self.collect(vec![contents.blob]).await;
                    return Err(e);
                }
            }
        }
        self.collect(vec![contents.blob]).await;
        Err(ApiError::internal("could not find a free file key"))
    }

    /// Updates an owner's file: new settings, and perhaps new contents.
    pub async fn update(
        &self,
        key: &str,
        owner: &str,
        upload: Option<Upload>,
        settings: SettingsFn,
        reset_downloads: bool,
        max_storage: Option<u64>,
    ) -> Result<FileRow, ApiError> {
        let contents = match upload {
            Some(u) => Some(self.commit(key, u).await?),
            None => None,
        };
        let new_blob = contents.as_ref().map(|c| c.blob.clone());
        // Downloads counted ahead go back first: a reset count or a new limit must not
        // meet them.
        self.refund(key).await;
        let change = Change {
            key: key.to_string(),
            owner: owner.to_string(),
            contents,
            settings,
            reset_downloads,
            max_storage,
        };
        let (row, garbage) = match self.meta.update(change).await {
            Ok(r) => r,
            Err(e) => (Err(e), vec![]),
        };
        self.collect(garbage).await;
        if row.is_err() {
            if let Some(b) = new_blob {
                self.collect(vec![b]).await;
            }
        }
        row
    }

    /// Deletes an owner's file; 404 when it is not theirs or not there.
    pub async fn delete(&self, key: &str, owner: &str) -> Result<(), ApiError> {
        let (done, garbage) = self.meta.delete(key.to_string(), owner.to_string()).await?;
        self.collect(garbage).await;
        if done.is_ok() {
            self.lock_prepaid().remove(key);
        }
        done
    }

    pub async fn list(&self, query: ListQuery) -> Result<Page, ApiError> {
        let mut page = self.meta.list(query).await?;
        for row in &mut page.rows {
            self.as_delivered(row);
        }
        Ok(page)
    }

    fn lock_prepaid(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Prepaid>> {
        self.prepaid.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row's count of downloads delivered: without this instance's counted ahead.
    fn as_delivered(&self, row: &mut FileRow) {
        if let Some(p) = self.lock_prepaid().get(&row.key) {
            if p.blob == row.blob {
                row.downloads = row.downloads.saturating_sub(p.left);
            }
        }
    }

    /// Takes one download counted ahead of `blob`, if there is one.
    fn take_prepaid(&self, key: &str, blob: &str) -> bool {
        let mut prepaid = self.lock_prepaid();
        match prepaid.get_mut(key) {
            Some(p) if p.blob == blob && p.left > 0 => {
                p.left -= 1;
                true
            }
            _ => false,
        }
    }

    /// How many downloads of `blob` to count now: a block when the file is busy and no
    /// other block is being counted, else one; [`Store::counted`] reports back.
    fn to_count(&self, key: &str, blob: &str) -> u32 {
        let mut prepaid = self.lock_prepaid();
        let now = std::time::Instant::now();
        match prepaid.get_mut(key) {
            Some(p) if p.blob == blob => {
                if p.counting(now) || now.duration_since(p.counted) > PREPAID_IDLE {
                    p.counted = now;
                    return 1;
                }
                p.counting = Some(now);
                PREPAID_BLOCK
            }
            Some(p) => {
                // New contents: what was counted against the old ones is past taking back.
                *p = Prepaid {
                    blob: blob.to_string(),
                    left: 0,
                    counted: now,
                    counting: None,
                };
                1
            }
            None => {
                if prepaid.len() < PREPAID_FILES {
                    prepaid.insert(
                        key.to_string(),
                        Prepaid {
                            blob: blob.to_string(),
                            left: 0,
                            counted: now,
                            counting: None,
                        },
                    );
                }
                1
            }
        }
    }

    /// `n` downloads of `blob` were counted (or not), one of them for the download asking.
    /// What is to be given back: the rest of a block whose file changed meanwhile (an
    /// update takes back what it finds, and this block was not there yet).
    fn counted(&self, key: &str, blob: &str, n: u32, ok: bool) -> u32 {
        if n <= 1 {
            return 0;
        }
        let mut prepaid = self.lock_prepaid();
        match prepaid.get_mut(key) {
            Some(p) if p.blob == blob => {
                p.counting = None;
                if ok {
                    p.left += n - 1;
                    p.counted = std::time::Instant::now();
                }
                0
            }
            _ if ok => n - 1,
            _ => 0,
        }
    }

    /// Gives back the downloads of `key` counted ahead and not delivered.
    async fn refund(&self, key: &str) {
        let taken = self.lock_prepaid().remove(key);
        if let Some(p) = taken.filter(|p| p.left > 0) {
            self.uncount(key.to_string(), p.blob, p.left).await;
        }
    }

    async fn uncount(&self, key: String, blob: String, n: u32) {
        if let Err(e) = self.meta.uncount(key, blob, n).await {
            crate::server::log!(
                "fileio serve: cannot take back {n} downloads counted ahead: {}",
                e.message
            );
        }
    }

    /// Gives back the downloads counted ahead of files not downloaded for
    /// [`PREPAID_IDLE`], and forgets those files; with `all`, of every file (at shutdown).
    pub async fn refund_idle(&self, all: bool) {
        let now = std::time::Instant::now();
        let idle: Vec<(String, Prepaid)> = {
            let mut prepaid = self.lock_prepaid();
            let keys: Vec<String> = prepaid
                .iter()
                .filter(|(_, p)| {
                    all || (!p.counting(now) && now.duration_since(p.counted) > PREPAID_IDLE)
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| prepaid.remove(&k).map(|p| (k, p)))
                .collect()
        };
        for (key, p) in idle {
            if p.left > 0 {
                self.uncount(key, p.blob, p.left).await;
            }
        }
    }

    /// Bytes stored for an owner.
    pub async fn used(&self, owner: &Owner) -> Result<u64, ApiError> {
        self.meta.used(owner.clone()).await
    }

    /// A downloadable file, for HEAD: not spent. Reserves nothing.
    pub async fn peek(&self, key: &str) -> Result<FileRow, ApiError> {
        let (row, garbage) = self.meta.peek(key.to_string()).await?;
        self.collect(garbage).await;
        let mut row = row?;
        self.as_delivered(&mut row);
        Ok(row)
    }

    /// Reserves one download of a file, or 404 when none is left. Its contents are opened
    /// with [`Store::open`], for the whole file or the range that ends at its last byte.
    pub async fn reserve(self: &Arc<Self>, key: &str) -> Result<(FileRow, Reservation), ApiError> {
        let flying = self.unleased.load(Ordering::Relaxed);
        let headroom = self.headroom.saturating_add(flying);
        if let Some(row) = self.meta.reserve_plenty(key.to_string(), headroom).await? {
            let reservation = Reservation::unleased(self.clone(), &row);
            return Ok((row, reservation));
        }
        let (reserved, garbage) = self.meta.reserve(key.to_string(), self.lease).await?;
        self.collect(garbage).await;
        let (row, lease) = reserved?;
        Ok((row, Reservation::new(self.clone(), lease)))
    }

    /// A file with a download free, without reserving it (a range that stops short of the
    /// last byte); 404 when none is free, exactly as [`Store::reserve`] would answer.
    pub async fn available(&self, key: &str) -> Result<FileRow, ApiError> {
        let (row, garbage) = self.meta.available(key.to_string()).await?;
        self.collect(garbage).await;
        row
    }

    /// Opens `len` bytes of a file's contents from byte `from` on, as the chunks to send.
    pub async fn open(&self, row: &FileRow, from: u64, len: u64) -> Result<BlobChunks, ApiError> {
        self.blobs
            .open_chunks(row.blob.clone(), from, len, DOWNLOAD_CHUNK)
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ApiError::not_found()
                } else {
                    e.into()
                }
            })
    }

    /// Drops the files that expired and are to be deleted automatically; returns how many.
    /// Removes what uploads abandoned by stopped instances left (see
    /// [`Blobs::sweep_abandoned`]); returns how many.
    pub async fn sweep_abandoned(&self) -> std::io::Result<usize> {
        self.blobs.sweep_abandoned().await
    }

    pub async fn sweep(&self) -> Result<usize, ApiError> {
        let garbage = self.meta.sweep().await?;
        let n = garbage.len();
        self.collect(garbage).await;
        Ok(n)
    }
}

/// How long a PATCH's hold on a resumable upload lasts unless renewed (it is renewed three
/// times as often): how soon an upload a killed instance was receiving can be resumed.
pub const TUS_HOLD: Duration = Duration::from_secs(60);

/// How long a request on a resumable upload waits for another request's hold on it to end.
pub const TUS_SETTLE: Duration = Duration::from_secs(10);

/// Resumable (tus) uploads: the bytes go through [`Blobs::partial_append`], the state
/// through [`Meta`]'s `tus_*` steps, and a complete upload becomes a file by [`Store::insert`],
/// as any upload does.
impl Store {
    /// Records a new resumable upload (its `state` is filled in here).
    pub async fn tus_create(&self, mut row: TusRow) -> Result<TusRow, ApiError> {
        // A deferred length is bounded by every PATCH instead (`tus_max`).
        if let Some(max) = self
            .blobs
            .partial_max()
            .filter(|max| row.length.is_some_and(|l| l > *max))
        {
            // Refused now rather than when the storage fills up, hours of sending later.
            return Err(ApiError::too_large(format!(
                "A resumable upload on this server holds at most {max} bytes ({}): upload a smaller file.",
                crate::size::ByteSize(max)
            )));
        }
        row.state = self.blobs.partial_create().await?;
        if let Err(e) = self.meta.tus_create(row.clone()).await {
            let _ = self.blobs.partial_delete(row.state).await;
            return Err(e);
        }
        Ok(row)
    }

    /// The largest resumable upload the blob backend can hold, if it has a limit of its own.
    pub fn tus_max(&self) -> Option<u64> {
        self.blobs.partial_max()
    }

    /// An upload that has not expired, or 404.
    pub async fn tus_get(&self, id: &str) -> Result<TusRow, ApiError> {
        self.meta.tus_get(id.to_string()).await
    }

    /// The bytes an owner's unfinished uploads will take.
    pub async fn tus_pending(&self, owner: &Owner) -> Result<u64, ApiError> {
        self.meta.tus_pending(owner.clone()).await
    }

    /// Takes the one hold on an unfinished upload (423 while another request has it),
    /// renewed while it lives and let go when dropped.
    pub async fn tus_hold(self: &Arc<Self>, id: &str) -> Result<TusHold, ApiError> {
        let (row, lock) = self.tus_lock_soon(id, TUS_HOLD).await?;
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn({
            let (store, id, lock, lost) =
                (self.clone(), row.id.clone(), lock.clone(), lost.clone());
            async move {
                loop {
                    tokio::time::sleep(TUS_HOLD / 3).await;
                    match store
                        .meta
                        .tus_renew(id.clone(), lock.clone(), TUS_HOLD)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::Relaxed);
                            return;
                        }
                        // A database hiccup: try again next round; the hold has margin.
                        Err(_) => {}
                    }
                }
            }
        });
        Ok(TusHold {
            store: self.clone(),
            lock: Some(lock),
            renewer,
            lost,
            row,
            bound: u64::MAX,
            verify: None,
        })
    }

    /// The hold on an upload, waiting up to [`TUS_SETTLE`] while another request has it: a
    /// PATCH whose connection broke still holds the upload while it makes the bytes it got
    /// durable and records them, and the client's next request usually arrives in that time.
    async fn tus_lock_soon(
        &self,
        id: &str,
        lease: Duration,
    ) -> Result<(TusRow, TusLock), ApiError> {
        let give_up = tokio::time::Instant::now() + TUS_SETTLE;
        loop {
            match self.meta.tus_lock(id.to_string(), lease).await {
                Err(e)
                    if e.status == axum::http::StatusCode::LOCKED
                        && tokio::time::Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    /// An upload as it stands once a request writing to it has recorded what it got (waiting
    /// up to [`TUS_SETTLE`]): the offset `HEAD` gives. Answering at once would give the offset
    /// from before a broken PATCH, and the client would send again what the server has.
    pub async fn tus_settled(&self, id: &str) -> Result<TusRow, ApiError> {
        match self.tus_lock_soon(id, TUS_SETTLE).await {
            Ok((row, lock)) => {
                let _ = self.meta.tus_unlock(id.to_string(), lock).await;
                Ok(row)
            }
            // Finished, expired, or still held after the wait: as recorded.
            Err(_) => self.tus_get(id).await,
        }
    }

    /// Terminates an upload: forgets it and deletes its bytes (423 while a PATCH is under
    /// way, 404 when there is none).
    pub async fn tus_terminate(&self, id: &str) -> Result<(), ApiError> {
        if let Some(state) = self.meta.tus_delete(id.to_string()).await? {
            self.drop_partial(state).await;
        }
        Ok(())
    }

    /// Forgets the uploads that expired, deleting the bytes of unfinished ones; returns how
    /// many of those there were.
    pub async fn tus_sweep(&self) -> Result<usize, ApiError> {
        let states = self.meta.tus_sweep().await?;
        let n = states.len();
        for state in states {
            self.drop_partial(state).await;
        }
        Ok(n)
    }

    async fn drop_partial(&self, state: String) {
        if let Err(e) = self.blobs.partial_delete(state).await {
            crate::server::log!("fileio serve: cannot delete an unfinished upload's bytes: {e}");
        }
    }
}

/// A request's hold on a resumable upload: only its holder appends or completes it.
pub struct TusHold {
    store: Arc<Store>,
    lock: Option<TusLock>,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
    /// The upload as recorded: its offset and state follow every append.
    pub row: TusRow,
    /// While the length is deferred: the most bytes the upload may hold in all (the caller
    /// sets it from `--max-size` and the quota before appending).
    pub bound: u64,
    /// Checks a body once it ended (told whether it arrived whole), before what it brought
    /// is recorded: on an error, none of it is (the checksum extension).
    pub verify: Option<BodyCheck>,
}

/// A check of a body once it ended, told whether it arrived whole (see [`TusHold::verify`]).
pub type BodyCheck = Box<dyn FnOnce(bool) -> Result<(), ApiError> + Send>;

/// What ended a PATCH body before the end of the upload: the client, or the body being
/// longer than what the upload has left (413).
pub enum BodyEnd {
    /// The body ended normally.
    Done,
    /// The body broke off (the client went away or stalled).
    Broken(String),
    /// The body held more than the upload's length: the rest was not read.
    TooLong,
}

impl TusHold {
    /// Appends a PATCH body at the upload's offset, at most up to its length. What arrived
    /// is saved and recorded even when the body breaks off, so that the client resumes from
    /// there; an upload whose bytes cannot be stored records nothing.
    pub async fn append<S, E>(&mut self, mut body: S) -> Result<BodyEnd, ApiError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let room = self
            .row
            .length
            .unwrap_or(self.bound)
            .saturating_sub(self.row.offset);
        let mut out = self
            .store
            .blobs
            .partial_append(self.row.state.clone(), self.row.offset)
            .await?;
        let mut got: u64 = 0;
        let mut end = BodyEnd::Done;
        loop {
            let Some(chunk) = crate::server::blobs::next_or_flush(&mut out, body.next()).await?
            else {
                break;
            };
            let bytes = match chunk {
                Ok(b) => b,
                Err(e) => {
                    end = BodyEnd::Broken(e.to_string());
                    break;
                }
            };
            let fits = (room - got).min(bytes.len() as u64) as usize;
            out.write_bytes(bytes.slice(..fits)).await?;
            got += fits as u64;
            if fits < bytes.len() {
                end = BodyEnd::TooLong;
                break;
            }
            if self.lost.load(Ordering::Relaxed) {
                return Err(tus_locked());
            }
        }
        if let Some(verify) = self.verify.take() {
            // Not saved: the next append starts at the recorded offset again.
            verify(matches!(end, BodyEnd::Done))?;
        }
        let offset = self.row.offset + got;
        let state = out.save(Some(offset) == self.row.length).await?;
        let lock = self.lock.clone().expect("held until completed or dropped");
        let recorded = self
            .store
            .meta
            .tus_advance(self.row.id.clone(), lock, offset, state.clone())
            .await;
        let old = std::mem::replace(&mut self.row.state, state.clone());
        if !matches!(recorded, Ok(true)) {
            // Another request holds the upload now: what this one stored is not its.
            let _ = self.store.blobs.partial_forget(state, old.clone()).await;
            self.row.state = old;
            recorded?;
            return Err(tus_locked());
        }
        self.row.offset = offset;
        if let Err(e) = self.store.blobs.partial_forget(old, state).await {
            crate::server::log!("fileio serve: cannot delete an upload's superseded bytes: {e}");
        }
        Ok(end)
    }

    /// Sets a deferred upload's length (the caller checked it against the limits).
    pub async fn declare(&mut self, length: u64) -> Result<(), ApiError> {
        let lock = self.lock.clone().expect("held until completed or dropped");
        if !self
            .store
            .meta
            .tus_declare(self.row.id.clone(), lock, length)
            .await?
        {
            return Err(tus_locked());
        }
        self.row.length = Some(length);
        Ok(())
    }

    /// Lets the hold go now (dropping it lets it go in the background).
    pub async fn release(mut self) {
        self.renewer.abort();
        if let Some(lock) = self.lock.take() {
            let _ = self.store.meta.tus_unlock(self.row.id.clone(), lock).await;
        }
    }

    /// Turns the complete upload into a file, exactly as `POST /` stores one, and records
    /// `answer(file)` (the JSON of `POST /`) as its outcome. A refusal (such as the quota,
    /// filled since the upload began) drops the upload.
    pub async fn complete(
        mut self,
        settings: &Settings,
        max_storage: Option<u64>,
        now: DateTime<Utc>,
        answer: impl FnOnce(&FileRow) -> String,
    ) -> Result<String, ApiError> {
        let store = self.store.clone();
        let staged = match store.blobs.partial_finish(self.row.state.clone()).await {
            Ok(s) => s,
            Err(e) => return Err(e.into()),
        };
        let upload = Upload {
            staged,
            name: self.row.name.clone(),
            mime: self.row.mime.clone(),
            size: self.row.offset,
        };
        let lock = self.lock.take().expect("held until completed or dropped");
        self.renewer.abort();
        let file = match store
            .insert(&self.row.owner, upload, settings, max_storage, now)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                let id = self.row.id.clone();
                let _ = store.meta.tus_unlock(id.clone(), lock).await;
                let _ = store.tus_terminate(&id).await;
                return Err(e);
            }
        };
        let done = answer(&file);
        if !store
            .meta
            .tus_finish(self.row.id.clone(), lock, done.clone())
            .await?
        {
            crate::server::log!(
                "fileio serve: an upload's hold ran out while it completed; its file is {}",
                file.key
            );
        }
        Ok(done)
    }
}

impl Drop for TusHold {
    fn drop(&mut self) {
        self.renewer.abort();
        if let Some(lock) = self.lock.take() {
            let (store, id) = (self.store.clone(), self.row.id.clone());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = store.meta.tus_unlock(id, lock).await;
                });
            }
        }
    }
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message)
}

/// A download's claim: a lease, renewed while it lives, completed when the whole file has
/// been handed over, given back if dropped before (the client went away); or, for a file
/// with plenty left, no lease, and a count when the whole file is handed over.
pub struct Reservation {
    store: Arc<Store>,
    claim: Claim,
}

enum Claim {
    Leased {
        lease: Option<LeaseId>,
        renewer: tokio::task::JoinHandle<()>,
        lost: Arc<AtomicBool>,
    },
    Unleased {
        key: String,
        blob: String,
        /// Counted, or found stale: nothing more to do.
        settled: bool,
    },
}

impl Reservation {
    fn new(store: Arc<Store>, lease: LeaseId) -> Reservation {
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn({
            let (store, lease, lost) = (store.clone(), lease.clone(), lost.clone());
            async move {
                let every = store.lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    match store.meta.renew(lease.clone(), store.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::Relaxed);
                            return;
                        }
                        // A database hiccup: try again next round; the lease has margin.
                        Err(_) => {}
                    }
                }
            }
        });
        Reservation {
            store,
            claim: Claim::Leased {
                lease: Some(lease),
                renewer,
                lost,
            },
        }
    }

    fn unleased(store: Arc<Store>, row: &FileRow) -> Reservation {
        store.unleased.fetch_add(1, Ordering::Relaxed);
        Reservation {
            store,
            claim: Claim::Unleased {
                key: row.key.clone(),
                blob: row.blob.clone(),
                settled: false,
            },
        }
    }

    /// A download of a file with plenty left, counted only by [`Reservation::complete`].
    pub fn is_unleased(&self) -> bool {
        matches!(self.claim, Claim::Unleased { .. })
    }

    /// The lease ran out before it could be renewed: another download may hold it now.
    pub fn is_lost(&self) -> bool {
        match &self.claim {
            Claim::Leased { lost, .. } => lost.load(Ordering::Relaxed),
            Claim::Unleased { .. } => false,
        }
    }

    /// The whole file is about to be handed over: count it. False when it must not be (no
    /// download was left for an unleased one, or its count could not be written): the
    /// caller cuts the download off instead.
    pub async fn complete(&mut self) -> bool {
        match &mut self.claim {
            Claim::Leased { lease, renewer, .. } => {
                if let Some(lease) = lease.take() {
                    renewer.abort();
                    match self.store.meta.complete(lease).await {
                        Ok(done) => self.store.collect(done.garbage).await,
                        Err(e) => crate::server::log!(
                            "fileio serve: cannot count a download: {}",
                            e.message
                        ),
                    }
                }
                true
            }
            Claim::Unleased { settled: true, .. } => true,
            Claim::Unleased { key, blob, settled } => {
                let store = &self.store;
                if store.take_prepaid(key, blob) {
                    *settled = true;
                    return true;
                }
                let n = store.to_count(key, blob);
                // A block leaves the headroom to spare, so it never spends the file: near
                // the end, one at a time.
                let keep = if n > 1 { store.headroom } else { 0 };
                let mut tally = store.meta.count(key.clone(), blob.clone(), n, keep).await;
                if n > 1 {
                    let ok = matches!(tally, Ok(Tally::Counted(_)));
                    let back = store.counted(key, blob, n, ok);
                    if back > 0 {
                        store.uncount(key.clone(), blob.clone(), back).await;
                    }
                    if !ok {
                        tally = store.meta.count(key.clone(), blob.clone(), 1, 0).await;
                    }
                }
                match tally {
                    Ok(Tally::Counted(garbage)) => {
                        *settled = true;
                        store.collect(garbage).await;
                        true
                    }
                    Ok(Tally::Stale) => {
                        *settled = true;
                        true
                    }
                    Ok(Tally::Refused) => false,
                    Err(e) => {
                        crate::server::log!("fileio serve: cannot count a download: {}", e.message);
                        false
                    }
                }
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        match &mut self.claim {
            Claim::Leased { lease, renewer, .. } => {
                renewer.abort();
                if let Some(lease) = lease.take() {
                    let store = self.store.clone();
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn(async move {
                            let _ = store.meta.release(lease).await;
                        });
                    }
                }
            }
            Claim::Unleased { .. } => {
                self.store.unleased.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files with downloads counted ahead are remembered up to [`PREPAID_FILES`]; past it a
    /// download counts itself, whatever a client downloads.
    #[tokio::test]
    async fn files_counted_ahead_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open_local(dir.path(), system_clock()).await.unwrap();
        for i in 0..PREPAID_FILES + 10 {
            let key = format!("k{i}");
            assert_eq!(store.to_count(&key, &key), 1);
            assert!(store.lock_prepaid().len() <= PREPAID_FILES);
        }
        // A file counted again at once, and remembered, counts a block.
        assert_eq!(store.to_count("k0", "k0"), PREPAID_BLOCK);
        assert_eq!(store.to_count("k0", "k0"), 1, "one block at a time");
        assert_eq!(store.to_count(&format!("k{}", PREPAID_FILES + 5), "x"), 1);
    }
}
