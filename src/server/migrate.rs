//! `fileio serve migrate`: moves a single-machine server (SQLite and files under one data
//! directory) to PostgreSQL, to an S3-compatible object store, or to both.
//!
//! - Every blob keeps its name. A blob is streamed from the directory to the bucket and
//!   committed under that name, and only then is its row inserted, as it was (key, owner,
//!   counts, expiry, times). So a migration cut off anywhere is finished by running it again:
//!   a row already in the database is skipped, an object already in the bucket is not sent
//!   twice, and an object sent without its row (cut off in between) is sent again under the
//!   same name, with the same bytes. An upload cut off mid-object is aborted, or left to the
//!   sweep of a server on the bucket once its lease runs out.
//! - The source is only read: nothing in the data directory is changed or deleted.
//! - A target that holds files of another server is refused unless `--merge` is given; a
//!   file whose key is taken there by another file is never moved (and reported).
//! - Files that are gone for good (expired or used up, and to be deleted automatically)
//!   stay behind: a server would sweep them at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Failure, Kind};
use crate::secret::Secret;
use crate::server::blobs::{Blobs, LocalBlobs};
use crate::server::meta::{FileRow, system_clock};
use crate::server::pg::PgMeta;
use crate::server::s3::{S3Blobs, S3Location};
use crate::server::sqlite::SqliteMeta;

/// Rows read from the source at a time.
const PAGE: u32 = 500;

/// The size of the reads from the source: one buffer per migration.
const COPY_BUFFER: usize = 128 * 1024;

/// What to move, and where.
#[derive(Debug)]
pub struct Migration {
    /// The source server's data directory (`fileio.db` and `blobs/`).
    pub from: PathBuf,
    /// The metadata's new home; `None` keeps SQLite in `from`.
    pub database: Option<Secret>,
    /// The files' new home; `None` keeps them in `from/blobs`.
    pub storage: Option<S3Location>,
    /// Add to a target that already holds other files.
    pub merge: bool,
}

/// What a migration did.
#[derive(Debug, Default)]
pub struct Report {
    /// Files whose contents or row were copied by this run.
    pub moved: usize,
    /// Bytes of contents sent to the object store.
    pub bytes: u64,
    /// Files the target already had (from an earlier run).
    pub present: usize,
    /// Files gone for good (expired or used up), left behind.
    pub spent: usize,
    /// Keys whose contents are missing or short in the source: not moved.
    pub missing: Vec<String>,
    /// Keys taken in the target by another file: not moved.
    pub taken: Vec<String>,
}

/// Runs a migration on its own runtime.
pub fn run(m: Migration) -> Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(migrate(m))
}

fn failure(message: String, hint: &str) -> anyhow::Error {
    Failure::new(Kind::Other, message).hint(hint).into()
}

/// Opens the source without creating anything in it.
async fn open_source(dir: &Path) -> Result<(SqliteMeta, LocalBlobs)> {
    let db = dir.join("fileio.db");
    if !db.is_file() || !dir.join("blobs").is_dir() {
        return Err(Failure::new(
            Kind::Usage,
            format!(
                "{} holds no fileio server: no fileio.db and blobs/ in it",
                dir.display()
            ),
        )
        .hint("give --from the --data directory of the server to move (stop that server first)")
        .into());
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let meta = SqliteMeta::open(&dir.join("fileio.db"), system_clock())?;
        let blobs = LocalBlobs::open(&dir)?;
        anyhow::Ok((meta, blobs))
    })
    .await?
}

async fn migrate(m: Migration) -> Result<Report> {
    if m.database.is_none() && m.storage.is_none() {
        return Err(Failure::new(
            Kind::Usage,
            "nothing to migrate to: give --database, --storage, or both".to_string(),
        )
        .hint("e.g. fileio serve migrate --from /var/lib/fileio --database postgres://fileio@db/fileio --storage s3://fileio/files")
        .into());
    }
    let (db, local) = open_source(&m.from).await?;
    let target_meta = match &m.database {
        Some(url) => Some(PgMeta::open(url.expose(), None).await?),
        None => None,
    };
    let target_blobs: Option<Arc<dyn Blobs>> = match &m.storage {
        Some(location) => {
            let aws = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
            Some(Arc::new(S3Blobs::connect(location, aws).await?))
        }
        None => None,
    };
    let target_name = match (&m.database, &m.storage) {
        (Some(_), Some(s)) => format!("the database and the bucket {s}"),
        (Some(_), None) => "the database".to_string(),
        (None, Some(s)) => format!("the bucket {s}"),
        (None, None) => unreachable!("checked above"),
    };

    // What the source holds: key → blob. Held whole (a few dozen bytes a file) to tell the
    // target's own files from this server's.
    let mut source: HashMap<String, String> = HashMap::new();
    let mut after = String::new();
    loop {
        let page = db
            .rows_after(after.clone(), PAGE)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read {}: {}", m.from.display(), e.message))?;
        let Some(last) = page.last() else { break };
        after = last.key.clone();
        source.extend(page.into_iter().map(|r| (r.key, r.blob)));
    }
    let source_blobs: HashSet<&String> = source.values().collect();

    let in_target = match &target_meta {
        Some(pg) => pg
            .keys()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the database: {}", e.message))?,
        None => HashMap::new(),
    };
    let mut objects = match &target_blobs {
        Some(b) => b.names().await.with_context(|| {
            format!(
                "cannot list {}",
                m.storage.as_ref().expect("with target blobs")
            )
        })?,
        None => HashSet::new(),
    };
    // Files of another server: rows that are not this one's, and objects that are neither
    // this server's nor those rows'.
    let foreign_rows: HashSet<&String> = in_target
        .iter()
        .filter(|(k, b)| source.get(*k) != Some(b))
        .map(|(_, b)| b)
        .collect();
    let foreign = foreign_rows.len()
        + objects
            .iter()
            .filter(|o| !source_blobs.contains(o) && !foreign_rows.contains(o))
            .count();
    if foreign > 0 && !m.merge {
        return Err(failure(
            format!(
                "{target_name} already hold {foreign} files that are not from {}",
                m.from.display()
            ),
            "to add this server's files to them, give --merge; to start afresh, give an empty database and an unused bucket prefix",
        ));
    }

    let mut report = Report::default();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut after = String::new();
    loop {
        let page = db
            .rows_after(after.clone(), PAGE)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read {}: {}", m.from.display(), e.message))?;
        let Some(last) = page.last() else { break };
        after = last.key.clone();
        for row in page {
            if row.auto_delete && row.is_spent(chrono::Utc::now()) {
                report.spent += 1;
                continue;
            }
            let row_there = match in_target.get(&row.key) {
                Some(b) if *b == row.blob => true,
                Some(_) => {
                    report.taken.push(row.key);
                    continue;
                }
                None => target_meta.is_none(),
            };
            let object_there = match &target_blobs {
                Some(_) => objects.contains(&row.blob),
                None => local_has(&m.from, &row.blob).await,
            };
            if row_there && object_there {
                report.present += 1;
                continue;
            }
            if !object_there {
                let Some(target) = &target_blobs else {
                    report.missing.push(row.key);
                    continue;
                };
                match copy(&local, target.as_ref(), &row, &mut buf).await {
                    Ok(true) => {
                        report.bytes += row.size;
                        objects.insert(row.blob.clone());
                    }
                    Ok(false) => {
                        report.missing.push(row.key);
                        continue;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "cannot copy the file {} to {target_name} (run the same command again to carry on)",
                            row.key
                        )));
                    }
                }
            }
            if let (Some(pg), false) = (&target_meta, row_there) {
                let inserted = pg.import(&row).await.map_err(|e| {
                    anyhow::anyhow!(
                        "cannot record the file {} in the database: {} (run the same command again to carry on)",
                        row.key,
                        e.message
                    )
                })?;
                if !inserted {
                    // Taken since the target was read: by another file, as the blob names
                    // differ or it would have been found above.
                    report.taken.push(row.key);
                    continue;
                }
            }
            report.moved += 1;
        }
    }
    Ok(report)
}

async fn local_has(dir: &Path, blob: &str) -> bool {
    tokio::fs::metadata(dir.join("blobs").join(blob))
        .await
        .is_ok_and(|m| m.is_file())
}

/// Streams the blob of `row` from the directory to the object store under the same name;
/// false (nothing committed) when the source's file is missing or not the row's size.
async fn copy(
    from: &LocalBlobs,
    to: &dyn Blobs,
    row: &FileRow,
    buf: &mut [u8],
) -> std::io::Result<bool> {
    let mut reader = match from.open(row.blob.clone()).await {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut staged = to.stage_named(row.blob.clone()).await?;
    let mut sent = 0u64;
    loop {
        let n = reader.read(buf).await?;
        if n == 0 {
            break;
        }
        sent += n as u64;
        if sent > row.size {
            // Dropped uncommitted: the upload is aborted.
            return Ok(false);
        }
        staged.write_all(&buf[..n]).await?;
    }
    if sent != row.size {
        return Ok(false);
    }
    staged.commit(row.blob.clone()).await?;
    Ok(true)
}
