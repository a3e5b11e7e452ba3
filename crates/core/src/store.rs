//! SQLite through sqlx: runs, the append-only event log, the durable counters and settings.
//!
//! The schema comes only from `migrations/` (`sqlx::migrate!`). The scheduler actor writes the
//! runs and the event log, one transaction for each group of requests that arrived together,
//! before any of them is answered (DESIGN rule 10); settings are written by whoever changes
//! them, and a start marks what a crash left active as interrupted. Readers
//! (history, event backlog) use the same pool concurrently, which WAL allows.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::lease::{Batch, Resume};
use crate::model::{Caller, Run, RunBrief, RunId, RunState, Timestamp};
use crate::resource::ResourceName;
use crate::schedule::{Entry, EntrySpec};

/// How hard a commit tries to reach the disk.
///
/// Both survive a kill -9 of Baton: in WAL mode a committed transaction is in the operating
/// system's hands either way. `Full` also survives a power cut, at about ten times the cost of
/// a commit (measured in `bench/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: durable across process crashes.
    #[default]
    Normal,
    /// `synchronous=FULL`: durable across power loss too.
    Full,
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Durability::Normal),
            "full" => Ok(Durability::Full),
            other => Err(format!(
                "unknown durability '{other}': use 'normal' or 'full'"
            )),
        }
    }
}

/// A filter over the history, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this client.
    pub client: Option<String>,
    /// Only runs with an id below this one (paging).
    pub before: Option<RunId>,
    /// At most this many (capped at 1000).
    pub limit: u32,
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    /// Runs that had ended before the cutoff.
    pub runs: u64,
    /// Events recorded before it.
    pub events: u64,
}

/// What opening the store found.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: Store,
    /// Counters the scheduler continues from.
    pub resume: Resume,
    /// Runs that were active when Baton last stopped, now marked `interrupted`.
    pub interrupted: Vec<RunId>,
}

/// Makes the database file readable by its owner only, creating it so if it is missing. SQLite
/// gives its `-wal` and `-shm` files the database's mode; those a crash left are mended too.
fn owner_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e| Error::io(format!("cannot make {} owner-only", path.display()), e);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The history database. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Batches committed since the store was opened: set against the requests answered, it
    /// tells how many of them shared a transaction (tests and benchmarks read it).
    commits: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, migrates it, and marks runs left
    /// active by a crash as `interrupted`, with an event each.
    pub async fn open(path: &Path, durability: Durability, now: Timestamp) -> Result<Opened> {
        owner_only(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../../migrations").run(&pool).await?;
        let store = Store {
            pool,
            commits: Arc::new(AtomicU64::new(0)),
        };
        let interrupted = store.interrupt_leftovers(now).await?;
        let resume = store.resume().await?;
        Ok(Opened {
            store,
            resume,
            interrupted,
        })
    }

    /// Commits one batch of changes in one transaction: one statement per table, because
    /// every statement is a round trip to sqlx's SQLite thread and those, not SQLite, are
    /// most of a commit's cost (measured in `bench/`).
    pub async fn commit(&self, batch: &Batch) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for runs in batch.runs.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO runs (id, title, client, needs_desktop, state, lease_token, ttl_ms,
                                   created_at, started_at, finished_at, outcome, exit_code,
                                   cancelled_by, reason, resources, leases, fire) ",
            );
            let named = runs.iter().map(named_json).collect::<Result<Vec<_>>>()?;
            insert.push_values(
                runs.iter().zip(named),
                |mut row, (run, (resources, leases, fire))| {
                    row.push_bind(run.id.0)
                        .push_bind(&run.title)
                        .push_bind(&run.client)
                        .push_bind(run.needs_desktop)
                        .push_bind(run.state.as_str())
                        .push_bind(run.lease_token.map(to_i64))
                        .push_bind(to_i64(run.ttl_ms))
                        .push_bind(run.created_at.0)
                        .push_bind(run.started_at.map(|t| t.0))
                        .push_bind(run.finished_at.map(|t| t.0))
                        .push_bind(&run.outcome)
                        .push_bind(run.exit_code)
                        .push_bind(run.cancelled_by.as_ref().map(Caller::to_string))
                        .push_bind(&run.reason)
                        .push_bind(resources)
                        .push_bind(leases)
                        .push_bind(fire);
                },
            );
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET
                    needs_desktop = excluded.needs_desktop, state = excluded.state,
                    lease_token = excluded.lease_token, started_at = excluded.started_at,
                    finished_at = excluded.finished_at, outcome = excluded.outcome,
                    exit_code = excluded.exit_code, cancelled_by = excluded.cancelled_by,
                    reason = excluded.reason, resources = excluded.resources,
                    leases = excluded.leases",
            );
            insert.build().execute(&mut *tx).await?;
        }
        insert_events(&mut tx, &batch.events).await?;
        let counters: Vec<(String, i64)> = batch
            .tokens
            .iter()
            .map(|(resource, token)| (token_counter(resource), to_i64(*token)))
            .chain(
                batch
                    .paused
                    .map(|p| ("handoffs_paused".to_string(), i64::from(p))),
            )
            .collect();
        if !counters.is_empty() {
            let mut update = QueryBuilder::<Sqlite>::new("INSERT INTO counters (name, value) ");
            update.push_values(&counters, |mut row, (name, value)| {
                row.push_bind(name).push_bind(*value);
            });
            update.push(" ON CONFLICT (name) DO UPDATE SET value = excluded.value");
            update.build().execute(&mut *tx).await?;
        }
        for (resource, capacity) in &batch.declared {
            match capacity {
                Some(capacity) => {
                    sqlx::query(
                        "INSERT INTO resources (name, capacity) VALUES (?1, ?2)
                         ON CONFLICT (name) DO UPDATE SET capacity = excluded.capacity",
                    )
                    .bind(resource.as_str())
                    .bind(i64::from(*capacity))
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM resources WHERE name = ?1")
                        .bind(resource.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        for (name, entry) in &batch.schedules {
            match entry {
                Some(entry) => write_entry(&mut tx, entry).await?,
                None => {
                    sqlx::query("DELETE FROM schedules WHERE name = ?1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Prunes the history from before `cutoff`: runs that ended before it and events recorded
    /// before it. Active runs are kept whatever their age, and so are the newest run and the
    /// newest event, from which ids and sequence numbers continue (they are never reused).
    /// Returns how many runs and events went.
    pub async fn prune(&self, cutoff: Timestamp) -> Result<Pruned> {
        let mut tx = self.pool.begin().await?;
        let runs = sqlx::query(
            "DELETE FROM runs
             WHERE finished_at IS NOT NULL AND finished_at < ?1
               AND state NOT IN ('queued', 'running')
               AND id < (SELECT MAX(id) FROM runs)",
        )
        .bind(cutoff.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The mark first: the log's trigger lets only events at or below it go.
        sqlx::query(
            "UPDATE counters SET value = MAX(value, COALESCE(
                 (SELECT MAX(seq) FROM events
                  WHERE at < ?1 AND seq < (SELECT MAX(seq) FROM events)), 0))
             WHERE name = 'pruned_through'",
        )
        .bind(cutoff.0)
        .execute(&mut *tx)
        .await?;
        let events = sqlx::query(
            "DELETE FROM events
             WHERE seq <= (SELECT value FROM counters WHERE name = 'pruned_through')",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Pruned { runs, events })
    }

    /// How many batches [`Store::commit`] has committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// One run, from the history.
    pub async fn run(&self, id: RunId) -> Result<Option<Run>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The history, newest first.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<Run>> {
        let rows = sqlx::query(
            "SELECT * FROM runs
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR client = ?2)
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(query.state.map(RunState::as_str))
        .bind(&query.client)
        .bind(query.before.map(|id| id.0))
        .bind(i64::from(query.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// Events after `after`, oldest first, at most `limit` of them.
    pub async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, at, run_id, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(to_i64(after))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Events recorded at or after `since`, oldest first, at most `limit` of them (the
    /// dashboard's picture of the last hour).
    pub async fn events_since(&self, since: Timestamp, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, at, run_id, data FROM events WHERE at >= ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(since.0)
        .bind(i64::from(limit.clamp(1, 100_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The title and client of each of `ids` the history still has.
    pub async fn briefs(&self, ids: &[RunId]) -> Result<Vec<RunBrief>> {
        let mut briefs = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::<Sqlite>::new("SELECT id, title, client FROM runs WHERE id IN (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id.0);
            }
            query.push(")");
            for row in query.build().fetch_all(&self.pool).await? {
                briefs.push(RunBrief {
                    id: RunId(row.try_get("id")?),
                    title: row.try_get("title")?,
                    client: row.try_get("client")?,
                });
            }
        }
        Ok(briefs)
    }

    /// A stored setting, as JSON.
    pub async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        value
            .map(|v| {
                // What the history holds and cannot read is the store's failure (500), not
                // the request's (400).
                serde_json::from_str(&v).map_err(|e| {
                    Error::Store(sqlx::Error::Decode(
                        format!("the stored setting '{key}' is not valid JSON: {e}").into(),
                    ))
                })
            })
            .transpose()
    }

    /// Stores a setting.
    pub async fn set_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value.to_string())
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `"ok"` when the file is sound.
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.join("; "))
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn interrupt_leftovers(&self, now: Timestamp) -> Result<Vec<RunId>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM runs WHERE state IN ('queued', 'running') ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let mut events = Vec::with_capacity(ids.len());
        for id in &ids {
            sqlx::query(
                "UPDATE runs SET state = 'interrupted', finished_at = ?2,
                        reason = COALESCE(reason, 'Baton stopped while the run was active')
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            seq += 1;
            events.push(Event {
                seq: u64::try_from(seq).unwrap_or_default(),
                at: now,
                run_id: Some(RunId(*id)),
                kind: EventKind::Interrupted,
            });
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(RunId).collect())
    }

    async fn resume(&self) -> Result<Resume> {
        let row = sqlx::query(
            "SELECT (SELECT value FROM counters WHERE name = 'lease_token') AS last_token,
                    (SELECT value FROM counters WHERE name = 'handoffs_paused') AS paused,
                    (SELECT COALESCE(MAX(id), 0) FROM runs) AS last_run,
                    (SELECT COALESCE(MAX(seq), 0) FROM events) AS last_seq",
        )
        .fetch_one(&self.pool)
        .await?;
        let declared = sqlx::query("SELECT name, capacity FROM resources ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let capacity: i64 = row.try_get("capacity")?;
                Ok((
                    stored_name(&name)?,
                    u32::try_from(capacity).map_err(|e| decode(Box::new(e)))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let tokens = sqlx::query(
            "SELECT substr(name, 13) AS resource, value FROM counters
             WHERE name LIKE 'lease_token:%'",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let name: String = row.try_get("resource")?;
            Ok((stored_name(&name)?, to_u64(row.try_get("value")?)))
        })
        .collect::<Result<_>>()?;
        let schedules = sqlx::query("SELECT * FROM schedules ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from_row)
            .collect::<Result<_>>()?;
        Ok(Resume {
            last_token: to_u64(row.try_get("last_token")?),
            declared,
            tokens,
            schedules,
            next_run_id: row.try_get::<i64, _>("last_run")? + 1,
            next_seq: to_u64(row.try_get("last_seq")?) + 1,
            paused: row.try_get::<i64, _>("paused")? != 0,
        })
    }
}

/// Inserts or replaces a schedule entry's row.
async fn write_entry(tx: &mut sqlx::SqliteConnection, entry: &Entry) -> Result<()> {
    let spec = &entry.spec;
    sqlx::query(
        "INSERT OR REPLACE INTO schedules (name, cron, command, title, needs_desktop, resources,
                                           missed, paused, created_at, handled, last_run, problem)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(&spec.name)
    .bind(&spec.cron)
    .bind(serde_json::to_string(&spec.command).map_err(Error::unstorable)?)
    .bind(&spec.title)
    .bind(spec.needs_desktop)
    .bind(serde_json::to_string(&spec.resources).map_err(Error::unstorable)?)
    .bind(spec.missed.as_str())
    .bind(entry.paused)
    .bind(entry.created_at.0)
    .bind(entry.handled.0)
    .bind(entry.last_run.map(|id| id.0))
    .bind(&entry.problem)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn entry_from_row(row: &SqliteRow) -> Result<Entry> {
    let json = |column: &str| -> Result<String> { Ok(row.try_get(column)?) };
    let missed: String = row.try_get("missed")?;
    Ok(Entry {
        spec: EntrySpec {
            name: row.try_get("name")?,
            cron: row.try_get("cron")?,
            command: serde_json::from_str(&json("command")?).map_err(|e| decode(Box::new(e)))?,
            title: row.try_get("title")?,
            needs_desktop: row.try_get("needs_desktop")?,
            resources: serde_json::from_str(&json("resources")?)
                .map_err(|e| decode(Box::new(e)))?,
            missed: missed
                .parse()
                .map_err(|e: Error| decode(e.to_string().into()))?,
        },
        paused: row.try_get("paused")?,
        created_at: Timestamp(row.try_get("created_at")?),
        handled: Timestamp(row.try_get("handled")?),
        last_run: row.try_get::<Option<i64>, _>("last_run")?.map(RunId),
        problem: row.try_get("problem")?,
    })
}

/// Rows a multi-row statement may carry: SQLite takes at most 32 766 parameters.
const ROWS_PER_STATEMENT: usize = 1000;

/// Appends `events` to the log, a statement per thousand.
async fn insert_events(tx: &mut sqlx::SqliteConnection, events: &[Event]) -> Result<()> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let data = chunk
            .iter()
            .map(|event| serde_json::to_string(&event.kind).map_err(Error::unstorable))
            .collect::<Result<Vec<_>>>()?;
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO events (seq, at, run_id, kind, data) ");
        insert.push_values(chunk.iter().zip(&data), |mut row, (event, data)| {
            row.push_bind(to_i64(event.seq))
                .push_bind(event.at.0)
                .push_bind(event.run_id.map(|id| id.0))
                .push_bind(event.kind.name())
                .push_bind(data);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// The counter of a resource's fencing tokens: the desktop's keeps its name from before there
/// were others.
fn token_counter(resource: &ResourceName) -> String {
    if resource.is_desktop() {
        "lease_token".into()
    } else {
        format!("lease_token:{resource}")
    }
}

/// A resource name the store holds: written by Baton, so one that does not parse is the store's
/// failure.
fn stored_name(name: &str) -> Result<ResourceName> {
    name.parse()
        .map_err(|e: Error| decode(e.to_string().into()))
}

fn decode(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
    Error::Store(sqlx::Error::Decode(e))
}

/// A run's resources and tokens besides the desktop's, and its schedule's fire, as the
/// `resources`, `leases` and `fire` columns hold them.
fn named_json(run: &Run) -> Result<(String, String, Option<String>)> {
    let resources: Vec<&ResourceName> = run.resources.iter().filter(|r| !r.is_desktop()).collect();
    let leases: std::collections::BTreeMap<&ResourceName, u64> = run
        .leases
        .iter()
        .filter(|(r, _)| !r.is_desktop())
        .map(|(r, t)| (r, *t))
        .collect();
    Ok((
        serde_json::to_string(&resources).map_err(Error::unstorable)?,
        serde_json::to_string(&leases).map_err(Error::unstorable)?,
        run.fire
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(Error::unstorable)?,
    ))
}

fn run_from_row(row: &SqliteRow) -> Result<Run> {
    let state: String = row.try_get("state")?;
    let needs_desktop: bool = row.try_get("needs_desktop")?;
    let lease_token = row.try_get::<Option<i64>, _>("lease_token")?.map(to_u64);
    let named: String = row.try_get("resources")?;
    let mut resources: Vec<ResourceName> =
        serde_json::from_str(&named).map_err(|e| decode(Box::new(e)))?;
    if needs_desktop {
        resources.push(ResourceName::desktop());
        resources.sort();
    }
    let leases: String = row.try_get("leases")?;
    let mut leases: std::collections::BTreeMap<ResourceName, u64> =
        serde_json::from_str(&leases).map_err(|e| decode(Box::new(e)))?;
    if let Some(token) = lease_token {
        leases.insert(ResourceName::desktop(), token);
    }
    Ok(Run {
        id: RunId(row.try_get("id")?),
        title: row.try_get("title")?,
        client: row.try_get("client")?,
        needs_desktop,
        resources,
        state: state
            .parse()
            .map_err(|e: String| Error::Store(sqlx::Error::Decode(e.into())))?,
        holds_desktop: false,
        holds: Vec::new(),
        lease_token,
        leases,
        position: None,
        ttl_ms: to_u64(row.try_get("ttl_ms")?),
        created_at: Timestamp(row.try_get("created_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(Timestamp),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(Timestamp),
        outcome: row.try_get("outcome")?,
        exit_code: row.try_get("exit_code")?,
        cancelled_by: row
            .try_get::<Option<String>, _>("cancelled_by")?
            .map(|by| by.parse::<Caller>())
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        reason: row.try_get("reason")?,
        fire: row
            .try_get::<Option<String>, _>("fire")?
            .map(|fire| serde_json::from_str(&fire))
            .transpose()
            .map_err(|e| decode(Box::new(e)))?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<Event> {
    let data: String = row.try_get("data")?;
    let kind: EventKind =
        serde_json::from_str(&data).map_err(|e| Error::Store(sqlx::Error::Decode(Box::new(e))))?;
    Ok(Event {
        seq: to_u64(row.try_get("seq")?),
        at: Timestamp(row.try_get("at")?),
        run_id: row.try_get::<Option<i64>, _>("run_id")?.map(RunId),
        kind,
    })
}

/// SQLite integers are signed; Baton's counters never get near 2^63.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}
