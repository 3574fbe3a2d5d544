//! [`Meta`] on PostgreSQL, shared by any number of server instances (`--database`).
//!
//! - Every time is the database's (`now()`), so instances with skewed clocks agree on expiry
//!   and leases. (Tests may pin it: see [`PgMeta::open`].)
//! - One-time downloads: a reservation locks the file's row (`SELECT … FOR UPDATE`), then
//!   inserts its lease with one statement that re-counts the live leases under that lock.
//!   Every step that adds a lease or a download holds the row lock, and in READ COMMITTED
//!   each statement sees what committed before it started, so the count is never stale: N
//!   and only N downloads however the requests are spread. (A `count(*)` in the same
//!   statement as the lock would read a snapshot from before the wait, and let extra
//!   winners through.)
//! - Leases expire by the database's clock and are renewed while a download streams; a
//!   killed instance's lease stops counting when it runs out, and its late completion is
//!   refused.
//! - Sweeps take their rows with `FOR UPDATE SKIP LOCKED` and delete with `RETURNING`, so
//!   with many sweepers each file is removed, and its blob returned as garbage, once. A
//!   spent file whose contents a live lease still streams is left for a later sweep.
//! - Quotas are checked under a per-owner transaction lock, so two instances cannot both
//!   fit an upload into the same remaining space.
//! - The schema is versioned ([`MIGRATIONS`]) and migrated at start under a session
//!   advisory lock, so instances starting together migrate once.
//! - When the database is unreachable, calls answer 503 with `Retry-After`; the pool
//!   reconnects by itself when it returns.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::error::{Failure, Kind};
use crate::server::auth::Owner;
use crate::server::errors::{ApiError, Gone, GoneWhy};
use crate::server::ids::random;
use crate::server::meta::{
    Change, Completed, FileRow, Garbage, Inserted, LeaseId, ListQuery, Meta, MetaResult, NewFile,
    Outcome, Page, SortField, TusLock, TusRow, tus_locked, tus_not_found,
};
use crate::server::meta::{Clock, TOMBSTONE_DAYS};
use crate::size::ByteSize;

/// The schema, one step per version, applied in order and recorded in `fileio_migrations`.
/// Never edit a released step: add one.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE files (
        key text PRIMARY KEY,
        blob text NOT NULL,
        owner text,
        name text NOT NULL,
        mime text NOT NULL,
        size bigint NOT NULL,
        downloads bigint NOT NULL DEFAULT 0,
        max_downloads bigint NOT NULL,
        auto_delete boolean NOT NULL,
        expires timestamptz NOT NULL,
        created timestamptz NOT NULL,
        modified timestamptz NOT NULL
    );
    CREATE INDEX files_owner ON files (owner);
    CREATE INDEX files_expires ON files (expires);
    CREATE TABLE leases (
        id text PRIMARY KEY,
        key text NOT NULL REFERENCES files (key) ON DELETE CASCADE,
        blob text NOT NULL,
        expires timestamptz NOT NULL
    );
    CREATE INDEX leases_key ON leases (key);
    CREATE INDEX leases_blob ON leases (blob, expires);
    CREATE INDEX leases_expires ON leases (expires);",
    ),
    (
        2,
        "CREATE TABLE tus_uploads (
        id text PRIMARY KEY,
        owner text,
        length bigint NOT NULL,
        received bigint NOT NULL,
        name text NOT NULL,
        mime text NOT NULL,
        fields text NOT NULL,
        state text NOT NULL,
        expires timestamptz NOT NULL,
        created timestamptz NOT NULL,
        done text,
        lock_id text,
        lock_until timestamptz
    );
    CREATE INDEX tus_uploads_owner ON tus_uploads (owner);
    CREATE INDEX tus_uploads_expires ON tus_uploads (expires);",
    ),
    (
        3,
        "CREATE TABLE gone (
            key text PRIMARY KEY,
            why text NOT NULL,
            at timestamptz NOT NULL
        );
        CREATE INDEX gone_at ON gone (at);",
    ),
];

/// The session advisory lock held while migrating ("fileio" in ASCII).
const MIGRATION_LOCK: i64 = 0x6669_6c65_696f;

/// The class of the per-owner quota locks (the two-key advisory lock space, apart from
/// [`MIGRATION_LOCK`]'s).
const QUOTA_LOCK: i32 = 0x6669;

/// The backend's time: the test's pinned clock (`$1`) or the transaction's `now()`.
const NOW: &str = "COALESCE($1::timestamptz, now())";

const COLUMNS: &str = "key, blob, owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified";

/// How long a caller waits for a pooled connection, and a new connection for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest one metadata step may take, waiting for a connection included, before it is
/// answered 503: a database that stops answering must not hold requests forever.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections idle this long are probed, so that one whose peer vanished is noticed and
/// dropped from the pool.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Connections per instance.
const POOL_SIZE: usize = 16;

/// Sweeps delete in batches this large, each its own statement, so no sweep holds many
/// row locks for long.
const SWEEP_BATCH: i64 = 500;

/// Seconds a client is told to wait while the database is unreachable.
const RETRY_AFTER: u64 = 5;

fn gone() -> String {
    format!("auto_delete AND (expires <= {NOW} OR downloads >= max_downloads)")
}

/// Leaves a tombstone for each row the data-modifying CTE `del` returned (its `key` and
/// `expires`; `spent`, when given, says whether it went by being spent rather than by
/// `why_else`). Spent rows went by expiry if it passed (at their expiry), else used up (now).
fn bury(spent: &str, why_else: &str) -> String {
    format!(
        "INSERT INTO gone (key, why, at)
            SELECT key,
                CASE WHEN NOT {spent} THEN '{why_else}' WHEN expires <= {NOW} THEN 'expired' ELSE 'used_up' END,
                CASE WHEN {spent} AND expires <= {NOW} THEN expires ELSE {NOW} END
            FROM del
            ON CONFLICT (key) DO UPDATE SET why = excluded.why, at = excluded.at"
    )
}

/// What a lookup of a key with no row answers: gone while its tombstone lives, else 404.
async fn missing(
    c: &impl deadpool_postgres::GenericClient,
    now: &Option<DateTime<Utc>>,
    key: &str,
) -> Result<ApiError, ApiError> {
    let row = c
        .query_opt(
            &format!(
                "SELECT why, at FROM gone WHERE key = $2 AND at > {NOW} - interval '{TOMBSTONE_DAYS} days'"
            ),
            &[now, &key],
        )
        .await?;
    let gone = row.and_then(|r| {
        Some(Gone {
            why: GoneWhy::parse(r.get(0))?,
            at: Some(r.get(1)),
        })
    });
    Ok(gone.map_or_else(ApiError::not_found, ApiError::gone))
}

/// No live lease still reads the blob of the row `f`.
fn unleased() -> String {
    format!("NOT EXISTS (SELECT 1 FROM leases l WHERE l.blob = f.blob AND l.expires > {NOW})")
}

pub struct PgMeta {
    pool: Pool,
    clock: Option<Clock>,
}

/// A database URL as it may be shown: user, hosts, ports and database, never the password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!(
        "postgres://{user}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// The database is unreachable (or refusing connections): 503, try again soon.
fn unavailable(e: impl std::error::Error + 'static) -> ApiError {
    let e = with_causes(&e);
    crate::server::log!("fileio serve: the database is unavailable: {e}");
    let mut err = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("The server cannot reach its database: try again in {RETRY_AFTER} seconds."),
    );
    err.retry_after = Some(RETRY_AFTER);
    err
}

/// An error and its causes on one line (tokio-postgres's own text stops at the first).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        cause = c.source();
    }
    text
}

/// Whether an error means the connection or the database is gone rather than a bug.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            // 08: connection exceptions; 57P01-3: shutting down, cannot connect now; 53300:
            // too many connections.
            c.starts_with("08") || c.starts_with("57P") || c == "53300"
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_unavailable(&e) {
            unavailable(e)
        } else {
            ApiError::internal(with_causes(&e))
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        unavailable(e)
    }
}

/// A metadata step, bounded by [`STEP_TIMEOUT`].
fn bounded<'a, T: Send + 'a>(
    step: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'a,
) -> MetaResult<'a, T> {
    Box::pin(async move {
        match tokio::time::timeout(STEP_TIMEOUT, step).await {
            Ok(r) => r,
            Err(elapsed) => Err(unavailable(elapsed)),
        }
    })
}

fn read_row(r: &Row) -> FileRow {
    let count = |i: usize| r.get::<_, i64>(i).clamp(0, u32::MAX as i64) as u32;
    FileRow {
        key: r.get(0),
        blob: r.get(1),
        owner: r.get(2),
        name: r.get(3),
        mime: r.get(4),
        size: r.get::<_, i64>(5).max(0) as u64,
        downloads: count(6),
        max_downloads: count(7),
        auto_delete: r.get(8),
        expires: r.get(9),
        created: r.get(10),
        modified: r.get(11),
    }
}

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Name => "lower(name)",
        SortField::Size => "size",
        SortField::Expires => "expires",
        SortField::Created => "created",
        SortField::Modified => "modified",
        SortField::Downloads => "downloads",
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn big(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// Connects once, outside the pool: the start-up check and the migrations' session.
async fn connect_once(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| with_causes(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Brings the schema up to date under [`MIGRATION_LOCK`]; returns the steps applied. The
/// lock is a session lock: it goes with the connection if this process dies.
async fn migrate(client: &mut tokio_postgres::Client) -> anyhow::Result<usize> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS fileio_migrations (
                version integer PRIMARY KEY,
                applied timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .context("cannot create the migrations table")?;
    let current: i32 = client
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM fileio_migrations",
            &[],
        )
        .await?
        .get(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        anyhow::bail!(
            "the database's schema is version {current}, newer than this fileio knows ({latest}): run a newer fileio"
        );
    }
    let mut applied = 0;
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("schema migration {version} failed"))?;
        tx.execute(
            "INSERT INTO fileio_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        applied += 1;
    }
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    Ok(applied)
}

impl PgMeta {
    /// Connects to the database at `url`, migrating its schema; an unreachable database is
    /// a one-line error naming it (without its password) and what to check. `clock` pins
    /// the time for tests; `None` uses the database's.
    pub async fn open(url: &str, clock: Option<Clock>) -> anyhow::Result<PgMeta> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            Failure::new(
                Kind::Usage,
                format!("invalid database URL for --database: {e}"),
            )
            .hint("give a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DB, in FILEIO_DATABASE_URL if it holds a password")
        })?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(Failure::new(
                Kind::Usage,
                format!(
                    "sslmode=require is not supported for the database {}: fileio serve connects without TLS",
                    describe(&config)
                ),
            )
            .hint("reach PostgreSQL over a private network, a Unix socket or an SSH/stunnel tunnel, and drop sslmode=require from the URL")
            .into());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // tokio-postgres bounds only the TCP connect with it; the handshake too, here.
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        if config.get_application_name().is_none() {
            config.application_name("fileio serve");
        }
        let name = describe(&config);
        let connected = tokio::time::timeout(connect_timeout, connect_once(&config))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} s",
                    connect_timeout.as_secs_f64()
                ))
            });
        let mut client = connected.map_err(|e| {
            Failure::new(
                Kind::Other,
                format!("cannot connect to the database {name}: {e}"),
            )
            .hint("check that PostgreSQL is running and reachable there, and that --database (or FILEIO_DATABASE_URL) names the right host, port, user, password and database")
        })?;
        migrate(&mut client)
            .await
            .with_context(|| format!("cannot prepare the database {name}"))?;
        drop(client);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(connect_timeout * 2))
            .create_timeout(Some(connect_timeout))
            .recycle_timeout(Some(connect_timeout))
            .build()
            .context("cannot build the database connection pool")?;
        Ok(PgMeta { pool, clock })
    }

    /// Every file's key and blob name (for `fileio serve migrate`, which must know what
    /// the database already holds).
    pub async fn keys(&self) -> Result<std::collections::HashMap<String, String>, ApiError> {
        let c = self.client().await?;
        let rows = c.query("SELECT key, blob FROM files", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Inserts a file's row as it is, its counts and times included (for `fileio serve
    /// migrate`); false when the key is taken.
    pub async fn import(&self, row: &FileRow) -> Result<bool, ApiError> {
        let c = self.client().await?;
        let n = c
            .execute(
                &format!(
                    "INSERT INTO files ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                        ON CONFLICT (key) DO NOTHING"
                ),
                &[
                    &row.key,
                    &row.blob,
                    &row.owner,
                    &row.name,
                    &row.mime,
                    &big(row.size),
                    &i64::from(row.downloads),
                    &i64::from(row.max_downloads),
                    &row.auto_delete,
                    &row.expires,
                    &row.created,
                    &row.modified,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// The pinned time, if any (`$1` of every statement that reads the time).
    fn pinned(&self) -> Option<DateTime<Utc>> {
        self.clock.as_ref().map(|c| c())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ApiError> {
        Ok(self.pool.get().await?)
    }
}

async fn used(
    c: &impl deadpool_postgres::GenericClient,
    now: &Option<DateTime<Utc>>,
    owner: &Owner,
) -> Result<u64, ApiError> {
    let n: i64 = c
        .query_one(
            &format!(
                "SELECT COALESCE(SUM(size), 0)::bigint FROM files WHERE owner IS NOT DISTINCT FROM $2 AND NOT ({})",
                gone()
            ),
            &[now, owner],
        )
        .await?
        .get(0);
    Ok(n.max(0) as u64)
}

/// Refuses with 413 when `owner` would store more than `max_storage`; takes the owner's
/// quota lock for the rest of the transaction first.
async fn check_quota(
    tx: &deadpool_postgres::Transaction<'_>,
    now: &Option<DateTime<Utc>>,
    owner: &Owner,
    freed: u64,
    added: u64,
    max_storage: Option<u64>,
) -> Result<(), ApiError> {
    let Some(max) = max_storage else {
        return Ok(());
    };
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(COALESCE($2, '')))",
        &[&QUOTA_LOCK, owner],
    )
    .await?;
    let used = used(tx, now, owner).await?.saturating_sub(freed);
    if used.saturating_add(added) > max {
        return Err(ApiError::too_large(format!(
            "This upload would exceed your storage of {} ({} in use): delete files or upload a smaller one.",
            ByteSize(max),
            ByteSize(used)
        )));
    }
    Ok(())
}

/// Deletes the spent row of `key` with the contents `blob` if no live lease reads them,
/// leaving its tombstone; returns the blob when this call deleted it.
async fn remove_unleased(
    c: &impl deadpool_postgres::GenericClient,
    now: &Option<DateTime<Utc>>,
    key: &str,
    blob: &str,
) -> Result<Garbage, ApiError> {
    let rows = c
        .query(
            &format!(
                "WITH del AS (
                    DELETE FROM files f WHERE key = $2 AND blob = $3 AND {} RETURNING key, blob, expires
                ), buried AS ({})
                SELECT blob FROM del",
                unleased(),
                bury("true", "used_up"),
            ),
            &[now, &key, &blob],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

const TUS_COLUMNS: &str =
    "id, owner, length, received, name, mime, fields, state, expires, created, done";

fn read_tus(r: &Row) -> TusRow {
    TusRow {
        id: r.get(0),
        owner: r.get(1),
        // -1 while the length is deferred.
        length: u64::try_from(r.get::<_, i64>(2)).ok(),
        offset: r.get::<_, i64>(3).max(0) as u64,
        name: r.get(4),
        mime: r.get(5),
        fields: r.get(6),
        state: r.get(7),
        expires: r.get(8),
        created: r.get(9),
        done: r.get(10),
    }
}

/// `$n` milliseconds from the backend's time.
fn later(n: usize) -> String {
    format!("{NOW} + ${n}::float8 * interval '1 millisecond'")
}

impl Meta for PgMeta {
    fn now(&self) -> MetaResult<'_, DateTime<Utc>> {
        bounded(async move {
            if let Some(now) = self.pinned() {
                return Ok(now);
            }
            let c = self.client().await?;
            Ok(c.query_one("SELECT now()", &[]).await?.get(0))
        })
    }

    fn insert(&self, new: NewFile) -> MetaResult<'_, Inserted> {
        bounded(async move {
            let now = self.pinned();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let buried = tx
                .query_opt("SELECT 1 FROM gone WHERE key = $1", &[&new.key])
                .await?;
            if buried.is_some() {
                return Ok(Inserted::Taken);
            }
            check_quota(&tx, &now, &new.owner, 0, new.contents.size, new.max_storage).await?;
            let n = tx
                .execute(
                    "INSERT INTO files (key, blob, owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified)
                        VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $10)
                        ON CONFLICT (key) DO NOTHING",
                    &[
                        &new.key,
                        &new.contents.blob,
                        &new.owner,
                        &new.contents.name,
                        &new.contents.mime,
                        &big(new.contents.size),
                        &i64::from(new.settings.max_downloads),
                        &new.settings.auto_delete,
                        &new.settings.expires,
                        &new.created,
                    ],
                )
                .await?;
            if n == 0 {
                return Ok(Inserted::Taken);
            }
            tx.commit().await?;
            Ok(Inserted::Done(FileRow {
                key: new.key,
                blob: new.contents.blob,
                owner: new.owner,
                name: new.contents.name,
                mime: new.contents.mime,
                size: new.contents.size,
                downloads: 0,
                max_downloads: new.settings.max_downloads,
                auto_delete: new.settings.auto_delete,
                expires: new.settings.expires,
                created: new.created,
                modified: new.created,
            }))
        })
    }

    fn peek(&self, key: String) -> MetaResult<'_, Outcome<FileRow>> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {COLUMNS}, {NOW} FROM files WHERE key = $2"),
                    &[&now, &key],
                )
                .await?;
            let Some(row) = row else {
                return Ok((Err(missing(&c, &now, &key).await?), vec![]));
            };
            let time: DateTime<Utc> = row.get(12);
            let row = read_row(&row);
            if row.is_spent(time) {
                let garbage = if row.auto_delete {
                    remove_unleased(&c, &now, &key, &row.blob).await?
                } else {
                    vec![]
                };
                return Ok((Err(row.spent_error(time)), garbage));
            }
            Ok((Ok(row), vec![]))
        })
    }

    fn available(&self, key: String) -> MetaResult<'_, Outcome<FileRow>> {
        bounded(async move {
            let now = self.pinned();
            let (row, garbage) = self.peek(key).await?;
            let row = match row {
                Ok(row) => row,
                Err(e) => return Ok((Err(e), garbage)),
            };
            let c = self.client().await?;
            let flying: i64 = c
                .query_one(
                    &format!("SELECT count(*) FROM leases WHERE blob = $2 AND expires > {NOW}"),
                    &[&now, &row.blob],
                )
                .await?
                .get(0);
            if i64::from(row.downloads) + flying >= i64::from(row.max_downloads) {
                return Ok((Err(ApiError::not_found()), garbage));
            }
            Ok((Ok(row), garbage))
        })
    }

    fn update(&self, change: Change) -> MetaResult<'_, Outcome<FileRow>> {
        bounded(async move {
            let now = self.pinned();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    &format!("SELECT {COLUMNS}, {NOW} FROM files WHERE key = $2 FOR UPDATE"),
                    &[&now, &change.key],
                )
                .await?;
            let Some(row) = row else {
                return Ok((Err(ApiError::not_found()), vec![]));
            };
            let time: DateTime<Utc> = row.get(12);
            let mut row = read_row(&row);
            if row.owner.as_deref() != Some(change.owner.as_str()) {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            if row.auto_delete && row.is_spent(time) {
                let garbage = remove_unleased(&tx, &now, &change.key, &row.blob).await?;
                tx.commit().await?;
                return Ok((Err(row.spent_error(time)), garbage));
            }
            let s = match (change.settings)(&row) {
                Ok(s) => s,
                Err(e) => return Ok((Err(e), vec![])),
            };
            let mut garbage = vec![];
            if let Some(new) = &change.contents {
                let owner = Some(change.owner.clone());
                if let Err(e) =
                    check_quota(&tx, &now, &owner, row.size, new.size, change.max_storage).await
                {
                    return Ok((Err(e), vec![]));
                }
                garbage.push(std::mem::replace(&mut row.blob, new.blob.clone()));
                row.name = new.name.clone();
                row.mime = new.mime.clone();
                row.size = new.size;
            }
            if change.reset_downloads || change.contents.is_some() {
                row.downloads = 0;
            }
            row.expires = s.expires;
            row.max_downloads = s.max_downloads;
            row.auto_delete = s.auto_delete;
            row.modified = time;
            tx.execute(
                "UPDATE files SET name = $2, mime = $3, size = $4, downloads = $5, max_downloads = $6,
                    auto_delete = $7, expires = $8, modified = $9, blob = $10 WHERE key = $1",
                &[
                    &change.key,
                    &row.name,
                    &row.mime,
                    &big(row.size),
                    &i64::from(row.downloads),
                    &i64::from(row.max_downloads),
                    &row.auto_delete,
                    &row.expires,
                    &row.modified,
                    &row.blob,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok((Ok(row), garbage))
        })
    }

    fn delete(&self, key: String, owner: String) -> MetaResult<'_, Outcome<()>> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!(
                        "WITH del AS (
                            DELETE FROM files WHERE key = $2 AND owner = $3
                            RETURNING key, blob, expires, {} AS spent, {NOW} AS time
                        ), buried AS ({})
                        SELECT blob, spent, expires, time FROM del",
                        gone(),
                        bury("spent", "deleted"),
                    ),
                    &[&now, &key, &owner],
                )
                .await?;
            let Some(row) = row else {
                return Ok((Err(ApiError::not_found()), vec![]));
            };
            let garbage = vec![row.get(0)];
            if row.get::<_, bool>(1) {
                // Gone already as far as the owner can tell.
                let (expires, time): (DateTime<Utc>, DateTime<Utc>) = (row.get(2), row.get(3));
                let gone = if expires <= time {
                    Gone {
                        why: GoneWhy::Expired,
                        at: Some(expires),
                    }
                } else {
                    Gone {
                        why: GoneWhy::UsedUp,
                        at: Some(time),
                    }
                };
                return Ok((Err(ApiError::gone(gone)), garbage));
            }
            Ok((Ok(()), garbage))
        })
    }

    fn list(&self, q: ListQuery) -> MetaResult<'_, Page> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let search = q.search.unwrap_or_default().to_lowercase();
            let filter = format!(
                "owner = $2 AND NOT ({}) AND strpos(lower(name), $3) > 0",
                gone()
            );
            let totals = c
                .query_one(
                    &format!(
                        "SELECT COUNT(*), COALESCE(SUM(size), 0)::bigint FROM files WHERE {filter}"
                    ),
                    &[&now, &q.owner, &search],
                )
                .await?;
            let (count, size): (i64, i64) = (totals.get(0), totals.get(1));
            let order = match q.sort {
                Some((field, desc)) => format!(
                    "{} {}, key",
                    sort_column(field),
                    if desc { "DESC" } else { "ASC" }
                ),
                None => "created DESC, key".to_string(),
            };
            let limit: Option<i64> = q.limit.map(big);
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM files WHERE {filter} ORDER BY {order} LIMIT $4 OFFSET $5"
                    ),
                    &[&now, &q.owner, &search, &limit, &big(q.offset)],
                )
                .await?;
            Ok(Page {
                rows: rows.iter().map(read_row).collect(),
                count: count.max(0) as u64,
                size: size.max(0) as u64,
            })
        })
    }

    fn used(&self, owner: Owner) -> MetaResult<'_, u64> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            used(&c, &now, &owner).await
        })
    }

    fn reserve(&self, key: String, lease: Duration) -> MetaResult<'_, Outcome<(FileRow, LeaseId)>> {
        bounded(async move {
            let now = self.pinned();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The row lock every reservation and completion of this file queues on.
            let row = tx
                .query_opt(
                    &format!("SELECT {COLUMNS}, {NOW} FROM files WHERE key = $2 FOR UPDATE"),
                    &[&now, &key],
                )
                .await?;
            let Some(row) = row else {
                return Ok((Err(missing(&tx, &now, &key).await?), vec![]));
            };
            let time: DateTime<Utc> = row.get(12);
            let row = read_row(&row);
            if row.is_spent(time) {
                let garbage = if row.auto_delete {
                    remove_unleased(&tx, &now, &key, &row.blob).await?
                } else {
                    vec![]
                };
                tx.commit().await?;
                return Ok((Err(row.spent_error(time)), garbage));
            }
            // A new statement, so it sees every lease committed before the lock was ours.
            let id = random(16);
            let n = tx
                .execute(
                    &format!(
                        "INSERT INTO leases (id, key, blob, expires)
                            SELECT $2, $3, $4, {NOW} + $5::float8 * interval '1 millisecond'
                            WHERE (SELECT count(*) FROM leases WHERE blob = $4 AND expires > {NOW}) + $6 < $7"
                    ),
                    &[
                        &now,
                        &id,
                        &row.key,
                        &row.blob,
                        &(millis(lease) as f64),
                        &i64::from(row.downloads),
                        &i64::from(row.max_downloads),
                    ],
                )
                .await?;
            tx.commit().await?;
            if n == 0 {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            Ok((Ok((row, LeaseId(id))), vec![]))
        })
    }

    fn renew(&self, id: LeaseId, lease: Duration) -> MetaResult<'_, bool> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let n = c
                .execute(
                    &format!(
                        "UPDATE leases SET expires = {NOW} + $3::float8 * interval '1 millisecond'
                            WHERE id = $2 AND expires > {NOW}"
                    ),
                    &[&now, &id.0, &(millis(lease) as f64)],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn complete(&self, id: LeaseId) -> MetaResult<'_, Completed> {
        bounded(async move {
            let now = self.pinned();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let lease = tx
                .query_opt(
                    &format!(
                        "DELETE FROM leases WHERE id = $2 RETURNING key, blob, expires > {NOW}"
                    ),
                    &[&now, &id.0],
                )
                .await?;
            let Some(lease) = lease else {
                tx.commit().await?;
                return Ok(Completed::default());
            };
            let (key, blob, live): (String, String, bool) =
                (lease.get(0), lease.get(1), lease.get(2));
            if !live {
                // Run out: another download may have been given this one since.
                tx.commit().await?;
                return Ok(Completed::default());
            }
            let counted = tx
                .query_opt(
                    "UPDATE files SET downloads = downloads + 1 WHERE key = $1 AND blob = $2
                        RETURNING auto_delete AND downloads >= max_downloads",
                    &[&key, &blob],
                )
                .await?;
            let mut garbage = vec![];
            if let Some(spent) = &counted {
                if spent.get::<_, bool>(0) {
                    garbage = remove_unleased(&tx, &now, &key, &blob).await?;
                }
            }
            tx.commit().await?;
            Ok(Completed {
                counted: counted.is_some(),
                garbage,
            })
        })
    }

    fn release(&self, id: LeaseId) -> MetaResult<'_, ()> {
        bounded(async move {
            let c = self.client().await?;
            c.execute("DELETE FROM leases WHERE id = $1", &[&id.0])
                .await?;
            Ok(())
        })
    }

    fn sweep(&self) -> MetaResult<'_, Garbage> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let batch = format!(
                "WITH spent AS (
                    SELECT key FROM files f WHERE {} AND {}
                    LIMIT $2 FOR UPDATE SKIP LOCKED
                ), del AS (
                    DELETE FROM files f USING spent WHERE f.key = spent.key
                    RETURNING f.key, f.blob, f.expires
                ), buried AS ({})
                SELECT blob FROM del",
                gone(),
                unleased(),
                bury("true", "used_up"),
            );
            let mut garbage = vec![];
            loop {
                let rows = c.query(&batch, &[&now, &SWEEP_BATCH]).await?;
                garbage.extend(rows.iter().map(|r| r.get::<_, String>(0)));
                if (rows.len() as i64) < SWEEP_BATCH {
                    break;
                }
            }
            c.execute(
                &format!("DELETE FROM leases WHERE expires <= {NOW}"),
                &[&now],
            )
            .await?;
            c.execute(
                &format!("DELETE FROM gone WHERE at <= {NOW} - interval '{TOMBSTONE_DAYS} days'"),
                &[&now],
            )
            .await?;
            Ok(garbage)
        })
    }

    fn blob_names(&self) -> MetaResult<'_, HashSet<String>> {
        bounded(async move {
            let c = self.client().await?;
            let rows = c.query("SELECT blob FROM files", &[]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn tus_create(&self, row: TusRow) -> MetaResult<'_, ()> {
        bounded(async move {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO tus_uploads (id, owner, length, received, name, mime, fields, state, expires, created, done)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &row.id,
                    &row.owner,
                    &row.length.map_or(-1, big),
                    &big(row.offset),
                    &row.name,
                    &row.mime,
                    &row.fields,
                    &row.state,
                    &row.expires,
                    &row.created,
                    &row.done,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn tus_get(&self, id: String) -> MetaResult<'_, TusRow> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {TUS_COLUMNS} FROM tus_uploads WHERE id = $2 AND expires > {NOW}"
                    ),
                    &[&now, &id],
                )
                .await?;
            row.as_ref().map(read_tus).ok_or_else(tus_not_found)
        })
    }

    fn tus_pending(&self, owner: Owner) -> MetaResult<'_, u64> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let n: i64 = c
                .query_one(
                    &format!(
                        "SELECT COALESCE(SUM(CASE WHEN length < 0 THEN received ELSE length END), 0)::bigint FROM tus_uploads
                            WHERE owner IS NOT DISTINCT FROM $2 AND done IS NULL AND expires > {NOW}"
                    ),
                    &[&now, &owner],
                )
                .await?
                .get(0);
            Ok(n.max(0) as u64)
        })
    }

    fn tus_lock(&self, id: String, lease: Duration) -> MetaResult<'_, (TusRow, TusLock)> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let lock = random(16);
            // One statement: the row lock it takes makes two instances' attempts queue, and
            // the second sees the first's hold.
            let row = c
                .query_opt(
                    &format!(
                        "UPDATE tus_uploads SET lock_id = $3, lock_until = {}
                            WHERE id = $2 AND expires > {NOW} AND done IS NULL
                                AND (lock_until IS NULL OR lock_until <= {NOW})
                            RETURNING {TUS_COLUMNS}",
                        later(4)
                    ),
                    &[&now, &id, &lock, &(millis(lease) as f64)],
                )
                .await?;
            if let Some(row) = row {
                return Ok((read_tus(&row), TusLock(lock)));
            }
            let there = c
                .query_opt(
                    &format!(
                        "SELECT 1 FROM tus_uploads WHERE id = $2 AND expires > {NOW} AND done IS NULL"
                    ),
                    &[&now, &id],
                )
                .await?;
            Err(if there.is_some() {
                tus_locked()
            } else {
                tus_not_found()
            })
        })
    }

    fn tus_renew(&self, id: String, lock: TusLock, lease: Duration) -> MetaResult<'_, bool> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let n = c
                .execute(
                    &format!(
                        "UPDATE tus_uploads SET lock_until = {} WHERE id = $2 AND lock_id = $3",
                        later(4)
                    ),
                    &[&now, &id, &lock.0, &(millis(lease) as f64)],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn tus_advance(
        &self,
        id: String,
        lock: TusLock,
        offset: u64,
        state: String,
    ) -> MetaResult<'_, bool> {
        bounded(async move {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE tus_uploads SET received = $3, state = $4 WHERE id = $1 AND lock_id = $2",
                    &[&id, &lock.0, &big(offset), &state],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn tus_declare(&self, id: String, lock: TusLock, length: u64) -> MetaResult<'_, bool> {
        bounded(async move {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE tus_uploads SET length = $3 WHERE id = $1 AND lock_id = $2 AND length < 0",
                    &[&id, &lock.0, &big(length)],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn tus_finish(&self, id: String, lock: TusLock, done: String) -> MetaResult<'_, bool> {
        bounded(async move {
            let c = self.client().await?;
            let n = c
                .execute(
                    "UPDATE tus_uploads SET done = $3, lock_id = NULL, lock_until = NULL
                        WHERE id = $1 AND lock_id = $2",
                    &[&id, &lock.0, &done],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn tus_unlock(&self, id: String, lock: TusLock) -> MetaResult<'_, ()> {
        bounded(async move {
            let c = self.client().await?;
            c.execute(
                "UPDATE tus_uploads SET lock_id = NULL, lock_until = NULL WHERE id = $1 AND lock_id = $2",
                &[&id, &lock.0],
            )
            .await?;
            Ok(())
        })
    }

    fn tus_delete(&self, id: String) -> MetaResult<'_, Option<String>> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!(
                        "DELETE FROM tus_uploads WHERE id = $2 AND expires > {NOW}
                            AND (lock_until IS NULL OR lock_until <= {NOW})
                            RETURNING state, done IS NULL"
                    ),
                    &[&now, &id],
                )
                .await?;
            if let Some(row) = row {
                let unfinished: bool = row.get(1);
                return Ok(unfinished.then(|| row.get(0)));
            }
            let there = c
                .query_opt(
                    &format!("SELECT 1 FROM tus_uploads WHERE id = $2 AND expires > {NOW}"),
                    &[&now, &id],
                )
                .await?;
            Err(if there.is_some() {
                tus_locked()
            } else {
                tus_not_found()
            })
        })
    }

    fn tus_sweep(&self) -> MetaResult<'_, Vec<String>> {
        bounded(async move {
            let now = self.pinned();
            let c = self.client().await?;
            let batch = format!(
                "WITH gone AS (
                    SELECT id FROM tus_uploads
                        WHERE expires <= {NOW} AND (lock_until IS NULL OR lock_until <= {NOW})
                        LIMIT $2 FOR UPDATE SKIP LOCKED
                )
                DELETE FROM tus_uploads t USING gone WHERE t.id = gone.id
                    RETURNING t.state, t.done IS NULL"
            );
            let mut states = vec![];
            loop {
                let rows = c.query(&batch, &[&now, &SWEEP_BATCH]).await?;
                for r in &rows {
                    if r.get::<_, bool>(1) {
                        states.push(r.get::<_, String>(0));
                    }
                }
                if (rows.len() as i64) < SWEEP_BATCH {
                    break;
                }
            }
            Ok(states)
        })
    }

    fn drop_rows_without(&self, present: HashSet<String>) -> MetaResult<'_, usize> {
        bounded(async move {
            let c = self.client().await?;
            let present: Vec<String> = present.into_iter().collect();
            let n = c
                .execute("DELETE FROM files WHERE NOT (blob = ANY($1))", &[&present])
                .await?;
            Ok(n as usize)
        })
    }
}

#[cfg(test)]
#[path = "../../tests/cli/pg_cluster.rs"]
pub(crate) mod pg_cluster;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::pg_cluster::Cluster;
    use super::*;
    use crate::server::meta::conformance::{ManualClock, run};

    #[tokio::test]
    async fn postgres_meets_the_meta_contract_with_two_instances_on_one_database() {
        let Some(cluster) = Cluster::shared("postgres_meets_the_meta_contract") else {
            return;
        };
        let url = cluster.database("contract");
        let clock = ManualClock::new();
        let a = PgMeta::open(&url, Some(clock.clock())).await.unwrap();
        let b = PgMeta::open(&url, Some(clock.clock())).await.unwrap();
        run(Arc::new(a), Arc::new(b), &clock).await;
    }

    /// 20 reservations at once, split over two instances, and as many completions as won:
    /// exactly N win, and the file is gone after N completions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_twenty_way_race_over_two_instances_has_exactly_n_winners() {
        let Some(cluster) = Cluster::shared("a_twenty_way_race") else {
            return;
        };
        let url = cluster.database("race");
        let a: Arc<dyn Meta> = Arc::new(PgMeta::open(&url, None).await.unwrap());
        let b: Arc<dyn Meta> = Arc::new(PgMeta::open(&url, None).await.unwrap());
        for (round, n) in [1u32, 3, 1, 3, 1, 3].into_iter().enumerate() {
            let key = format!("race{round}");
            let now = a.now().await.unwrap();
            let new = NewFile {
                key: key.clone(),
                owner: None,
                contents: crate::server::meta::Contents {
                    blob: format!("{key}-blob"),
                    name: "r.txt".into(),
                    mime: "text/plain".into(),
                    size: 1,
                },
                settings: crate::server::meta::Settings {
                    expires: now + chrono::Duration::days(1),
                    max_downloads: n,
                    auto_delete: true,
                },
                max_storage: None,
                created: now,
            };
            assert!(matches!(a.insert(new).await.unwrap(), Inserted::Done(_)));
            let barrier = Arc::new(tokio::sync::Barrier::new(20));
            let tries: Vec<_> = (0..20)
                .map(|i| {
                    let m = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let (key, barrier) = (key.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let (r, _) = m.reserve(key, Duration::from_secs(60)).await.unwrap();
                        match r {
                            Ok((_, lease)) => m.complete(lease).await.unwrap().counted,
                            Err(e) => {
                                assert_eq!(e.status, 404);
                                false
                            }
                        }
                    })
                })
                .collect();
            let mut won = 0;
            for t in tries {
                won += t.await.unwrap() as u32;
            }
            assert_eq!(won, n, "round {round}");
            assert_eq!(a.peek(key).await.unwrap().0.unwrap_err().status, 404);
        }
    }

    fn small(key: &str, owner: Option<&str>, now: DateTime<Utc>, max: u32) -> NewFile {
        NewFile {
            key: key.into(),
            owner: owner.map(str::to_string),
            contents: crate::server::meta::Contents {
                blob: format!("{key}-blob"),
                name: "f.txt".into(),
                mime: "text/plain".into(),
                size: 10,
            },
            settings: crate::server::meta::Settings {
                expires: now + chrono::Duration::days(1),
                max_downloads: max,
                auto_delete: true,
            },
            max_storage: None,
            created: now,
        }
    }

    /// Ten uploads of 10 bytes at once over two instances against a quota of 50: five fit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_quota_holds_when_two_instances_upload_at_once() {
        let Some(cluster) = Cluster::shared("a_quota_holds") else {
            return;
        };
        let url = cluster.database("quota");
        let a: Arc<dyn Meta> = Arc::new(PgMeta::open(&url, None).await.unwrap());
        let b: Arc<dyn Meta> = Arc::new(PgMeta::open(&url, None).await.unwrap());
        let now = a.now().await.unwrap();
        for round in 0..3 {
            let owner = format!("owner{round}");
            let barrier = Arc::new(tokio::sync::Barrier::new(10));
            let tries: Vec<_> = (0..10)
                .map(|i| {
                    let m = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let mut f = small(&format!("q{round}x{i}"), Some(&owner), now, 1);
                    f.max_storage = Some(50);
                    let barrier = barrier.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        match m.insert(f).await {
                            Ok(Inserted::Done(_)) => true,
                            Ok(Inserted::Taken) => panic!("key taken"),
                            Err(e) => {
                                assert_eq!(e.status, 413);
                                false
                            }
                        }
                    })
                })
                .collect();
            let mut fitted = 0;
            for t in tries {
                fitted += t.await.unwrap() as u32;
            }
            assert_eq!(fitted, 5, "round {round}");
            assert_eq!(a.used(Some(owner)).await.unwrap(), 50);
        }
    }

    /// A spent file whose contents a live lease still reads keeps its blob until the lease
    /// is settled or runs out; then one sweep returns it.
    #[tokio::test]
    async fn a_sweep_leaves_the_blob_of_a_download_under_way() {
        let Some(cluster) = Cluster::shared("a_sweep_leaves_the_blob") else {
            return;
        };
        let url = cluster.database("leased");
        let clock = ManualClock::new();
        let a = PgMeta::open(&url, Some(clock.clock())).await.unwrap();
        let b = PgMeta::open(&url, Some(clock.clock())).await.unwrap();
        let mut f = small("exp", None, clock.now(), 1);
        f.settings.expires = clock.now() + chrono::Duration::seconds(30);
        assert!(matches!(a.insert(f).await.unwrap(), Inserted::Done(_)));
        let (r, _) = a
            .reserve("exp".into(), Duration::from_secs(60))
            .await
            .unwrap();
        let (_, lease) = r.unwrap();
        clock.advance(chrono::Duration::seconds(31));
        assert!(b.sweep().await.unwrap().is_empty());
        let (r, g) = b.peek("exp".into()).await.unwrap();
        assert_eq!((r.unwrap_err().status.as_u16(), g.len()), (404, 0));
        a.release(lease).await.unwrap();
        assert_eq!(b.sweep().await.unwrap(), ["exp-blob"]);
        assert!(a.sweep().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sslmode_require_is_refused_saying_so() {
        let e = PgMeta::open("postgres://u:pw@127.0.0.1:1/db?sslmode=require", None)
            .await
            .err()
            .unwrap();
        let text = format!("{e:#}");
        assert!(
            text.starts_with("sslmode=require is not supported"),
            "{text}"
        );
        assert!(!text.contains("pw"));
    }

    #[tokio::test]
    async fn instances_starting_together_migrate_an_empty_database_once() {
        let Some(cluster) = Cluster::shared("instances_starting_together_migrate") else {
            return;
        };
        let url = cluster.database("migrate");
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { PgMeta::open(&url, None).await.map(|_| ()) })
            })
            .collect();
        for o in opens {
            o.await.unwrap().unwrap();
        }
        let db = url.rsplit('/').next().unwrap();
        let versions = cluster.psql(
            db,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM fileio_migrations",
        );
        let all: Vec<String> = MIGRATIONS.iter().map(|m| m.0.to_string()).collect();
        assert_eq!(versions.trim(), all.join(","));
        // A database from a newer fileio is refused, not written to.
        cluster.psql(db, "INSERT INTO fileio_migrations (version) VALUES (9999)");
        let e = PgMeta::open(&url, None).await.err().unwrap();
        assert!(
            format!("{e:#}").contains("newer than this fileio knows"),
            "{e:#}"
        );
    }

    #[tokio::test]
    async fn the_database_time_is_used_when_no_clock_is_pinned() {
        let Some(cluster) = Cluster::shared("the_database_time_is_used") else {
            return;
        };
        let meta = PgMeta::open(&cluster.database("time"), None).await.unwrap();
        let t = meta.now().await.unwrap();
        assert!((t - Utc::now()).num_seconds().abs() < 5);
    }

    #[test]
    fn a_described_url_never_holds_the_password() {
        let c = tokio_postgres::Config::from_str("postgres://app:s3cret@db.example:6543/files")
            .unwrap();
        assert_eq!(describe(&c), "postgres://app@db.example:6543/files");
    }
}
