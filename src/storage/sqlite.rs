//! Studies and trials in an SQLite file: the default store, embedded, no
//! server. Every write is one transaction; WAL mode and a busy timeout let the
//! workers of one machine share the file. Another program's file is refused
//! untouched, and a read-only look writes nothing at all.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde_json::{Map, Value};

use super::{
    goal_from_str, now, params_from_json, Choose, Location, Storage, StudyRecord, TrialCache, TrialRecord, TrialState,
    Worker,
};

pub struct SqliteStorage {
    conn: Connection,
    /// The trials of the study this worker last started a trial in.
    cache: TrialCache,
    /// `Location::Sqlite` of the file.
    location: Location,
    /// The schema version read: a read-only look at an older database reads its columns.
    version: i32,
}

/// How long a worker waits for another's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);
/// SQLite's `application_id` of a bo database: "bodb".
const APPLICATION_ID: i32 = 0x626F_6462;
/// The schema's version (`user_version`); older bo databases are migrated on opening.
const SCHEMA_VERSION: i32 = 2;
/// What takes a database from the version before to each version after 1.
const MIGRATIONS: &[(i32, &str)] = &[(
    2,
    "ALTER TABLE studies ADD COLUMN pruner TEXT;
     ALTER TABLE trials ADD COLUMN resource INTEGER;",
)];
/// The tables bo creates, for recognising a database of an earlier bo that was not marked yet.
const BO_TABLES: &[&str] = &["studies", "trials", "intermediate", "metrics"];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    objective TEXT NOT NULL,
    metric TEXT NOT NULL,
    goal TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    value REAL,
    seed INTEGER NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    heartbeat REAL NOT NULL,
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    git_commit TEXT,
    abandoned INTEGER NOT NULL DEFAULT 0,
    suggest_seconds REAL,
    retest_of INTEGER,
    UNIQUE (study_id, number)
);
CREATE TABLE IF NOT EXISTS intermediate (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (trial_id, step)
);
CREATE TABLE IF NOT EXISTS metrics (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    step INTEGER,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_trial ON metrics (trial_id);
";

/// What a file at a storage path is, from its header and tables alone.
enum Found {
    /// No file, an empty one, or an SQLite database with no tables.
    Nothing,
    /// A bo database at this schema version.
    Bo(i32),
    /// A bo database from before databases were marked.
    UnmarkedBo,
}

/// A read-only connection that writes nothing, not even SQLite's side files.
/// With a write-ahead log beside the file, a connection has it open: read it
/// with locks, through that log. Without one, nobody has it open and its
/// main file holds everything: read it as immutable, without locks or side
/// files. Always through SQLite, never a descriptor of our own: closing one
/// would drop the POSIX locks this process's other connections hold on it.
fn reader(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    match Path::new(&wal).exists() {
        true => Connection::open_with_flags(path, flags),
        false => Connection::open_with_flags(immutable_uri(path), flags),
    }
}

/// Whether there is anything for SQLite to look at: a missing or empty file
/// holds nothing, and what is not a file is no database.
fn has_content(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(meta) if !meta.is_file() => bail!("{} is not a file, so not a bo study database", path.display()),
        Ok(meta) => Ok(meta.len() > 0),
    }
}

/// Tells a bo database from anything else without writing a byte.
fn inspect(path: &Path) -> Result<Found> {
    if !has_content(path)? {
        return Ok(Found::Nothing);
    }
    let conn = reader(path).with_context(|| format!("cannot open {}", path.display()))?;
    classify(&conn, path)
}

/// What the database behind `conn` is, from its header fields and tables.
fn classify(conn: &Connection, path: &Path) -> Result<Found> {
    let not_ours = |e: rusqlite::Error| {
        match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => anyhow!(
            "{} is not an SQLite database, so not a bo study database: bo leaves other files alone (pick another --storage)",
            path.display()
        ),
        _ => anyhow!(e).context(format!("cannot read {}", path.display())),
    }
    };
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_ours)?;
    let user_version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_ours)?;
    if application_id == APPLICATION_ID {
        return Ok(Found::Bo(user_version));
    }
    if application_id != 0 {
        bail!(
            "{} is another program's SQLite database (application_id {application_id:#x}): bo leaves it alone (pick another --storage)",
            path.display()
        );
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
        .map_err(not_ours)?;
    if tables.is_empty() {
        return Ok(Found::Nothing);
    }
    let ours = tables.iter().all(|t| BO_TABLES.contains(&t.as_str()))
        && conn
            .prepare("SELECT id, name, config, objective, metric, goal, strategy, seed, created FROM studies LIMIT 0")
            .is_ok()
        && conn
            .prepare("SELECT study_id, number, state, params, abandoned, retest_of FROM trials LIMIT 0")
            .is_ok();
    if !ours {
        bail!(
            "{} is another program's SQLite database (tables: {}): bo leaves it alone (pick another --storage)",
            path.display(),
            tables.join(", ")
        );
    }
    Ok(Found::UnmarkedBo)
}

/// `file:PATH?immutable=1`: read without locks or side files, so nothing is written.
fn immutable_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for b in absolute.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => uri.push_str(&format!("%{b:02X}")),
            _ => uri.push(*b as char),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

impl SqliteStorage {
    /// Opens the study database at `path` for writing, creating it if there is
    /// none. Any other file, another program's database included, is refused
    /// untouched.
    pub fn open(path: &Path) -> Result<Self> {
        let found = inspect(path)?;
        let conn =
            Connection::open(path).with_context(|| format!("cannot open the study database {}", path.display()))?;
        let storage = SqliteStorage {
            conn,
            location: Location::Sqlite(path.to_path_buf()),
            cache: TrialCache::default(),
            version: SCHEMA_VERSION,
        };
        storage.conn.busy_timeout(BUSY_TIMEOUT).context(storage.origin())?;
        storage.prepare(found)?;
        storage.use_wal()?;
        // In WAL mode a commit survives the death of the process at NORMAL; only
        // an OS crash or power loss could take the last commits. FULL would
        // fsync every trial, which benchmarks of thousands of trials feel.
        storage
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .context(storage.origin())?;
        storage
            .conn
            .pragma_update(None, "foreign_keys", "ON")
            .context(storage.origin())?;
        Ok(storage)
    }

    /// Puts the database in WAL mode, which lets readers and one writer work at
    /// once. Switching takes an exclusive lock, so workers opening a WAL file
    /// at once look before they ask. Workers that open a new file at once may
    /// each hold a read lock while they ask for the exclusive one: SQLite then
    /// answers one of them "locked" at once rather than let both wait forever.
    /// The other one switches; this one looks again.
    fn use_wal(&self) -> Result<()> {
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            let mode: String = self
                .conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .context(self.origin())?;
            if mode.eq_ignore_ascii_case("wal") {
                return Ok(());
            }
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => {}
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e).context(self.origin()),
            }
        }
    }

    /// Creates the schema in a new database, or marks and migrates an older
    /// bo database, in one transaction that re-checks what another worker
    /// may have done meanwhile.
    fn prepare(&self, found: Found) -> Result<()> {
        let newer = |version: i32| {
            anyhow!(
                "{} was written by a newer bo (schema version {version}; this bo knows up to {SCHEMA_VERSION})",
                self.path().display()
            )
        };
        match found {
            Found::Bo(version) if version > SCHEMA_VERSION => return Err(newer(version)),
            Found::Bo(SCHEMA_VERSION) => return Ok(()),
            _ => {}
        }
        // The look before took no lock: decide again inside the write lock.
        let tx =
            rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).context(self.origin())?;
        let version = match classify(&tx, self.path())? {
            Found::Bo(version) if version > SCHEMA_VERSION => return Err(newer(version)),
            Found::Bo(SCHEMA_VERSION) => return Ok(()),
            Found::Bo(version) => version,
            Found::Nothing | Found::UnmarkedBo => 0,
        };
        // Version 0 (new, or unmarked from an earlier bo) to 1: the tables as
        // above; then each migration past the version found.
        if version < 1 {
            tx.execute_batch(SCHEMA).context(self.origin())?;
        }
        for (target, sql) in MIGRATIONS.iter().filter(|(target, _)| *target > version) {
            tx.execute_batch(sql)
                .with_context(|| format!("migrating {} to schema version {target}", self.path().display()))?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .context(self.origin())?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .context(self.origin())?;
        tx.commit().context(self.origin())
    }

    /// Opens an existing database for writing (re-tests); never creates one.
    pub fn open_existing(path: &Path) -> Result<Self> {
        Self::must_exist(path)?;
        SqliteStorage::open(path)
    }

    /// Opens an existing database only to read it: nothing is written to it,
    /// not even its journal mode.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        Self::must_exist(path)?;
        let empty = || anyhow!("{} holds no studies (it is not a bo study database)", path.display());
        if !has_content(path)? {
            return Err(empty());
        }
        let conn = reader(path).with_context(|| format!("cannot open the study database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // An unmarked database has the columns of schema 1, perhaps fewer tables.
        let version = match classify(&conn, path)? {
            Found::Nothing => return Err(empty()),
            Found::Bo(version) if version > SCHEMA_VERSION => bail!(
                "{} was written by a newer bo (schema version {version}; this bo knows up to {SCHEMA_VERSION})",
                path.display()
            ),
            Found::Bo(version) => version,
            Found::UnmarkedBo => 0,
        };
        Ok(SqliteStorage {
            conn,
            location: Location::Sqlite(path.to_path_buf()),
            cache: TrialCache::default(),
            version,
        })
    }

    fn must_exist(path: &Path) -> Result<()> {
        if !path.exists() {
            bail!("no study database at {} (pass --storage PATH)", path.display());
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        match &self.location {
            Location::Sqlite(path) => path,
            Location::Postgres(_) => unreachable!("an SQLite store has a file's path"),
        }
    }

    /// Names the database in an error.
    fn origin(&self) -> String {
        format!("study database {}", self.path().display())
    }

    /// The studies' columns, `pruner` only where the schema has it.
    fn select_studies(&self) -> String {
        let pruner = if self.version >= 2 { "pruner" } else { "NULL" };
        format!("SELECT id, name, config, objective, metric, goal, strategy, seed, created, {pruner} FROM studies")
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.conn.execute(sql, params).context(self.origin())
    }
}

impl Storage for SqliteStorage {
    fn location(&self) -> &Location {
        &self.location
    }

    fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord> {
        insert_study(&self.conn, study)
            .with_context(|| format!("cannot create study `{}` in {}", study.name, self.origin()))?;
        self.study(&study.name)?
            .with_context(|| format!("study `{}` vanished after its creation", study.name))
    }

    fn set_strategy(&self, study_id: i64, strategy: &str) -> Result<()> {
        self.execute(
            "UPDATE studies SET strategy = ?1 WHERE id = ?2",
            params![strategy, study_id],
        )
        .map(drop)
    }

    fn set_pruner(&self, study_id: i64, pruner: Option<&Value>) -> Result<()> {
        self.execute(
            "UPDATE studies SET pruner = ?1 WHERE id = ?2",
            params![pruner.map(Value::to_string), study_id],
        )
        .map(drop)
    }

    fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
        self.conn
            .query_row(
                &format!("{} WHERE name = ?1", self.select_studies()),
                [name],
                study_from_row,
            )
            .optional()
            .context(self.origin())?
            .transpose()
    }

    fn studies(&self) -> Result<Vec<StudyRecord>> {
        let read = || -> Result<Vec<StudyRecord>> {
            let mut stmt = self
                .conn
                .prepare(&format!("{} ORDER BY created", self.select_studies()))?;
            let rows = stmt.query_map([], study_from_row)?;
            rows.map(|r| r?).collect()
        };
        read().context(self.origin())
    }

    fn trials(&self, study_id: i64) -> Result<Vec<TrialRecord>> {
        load_trials(&self.conn, study_id, self.version, 0, &[]).context(self.origin())
    }

    fn begin_trial(&mut self, study_id: i64, worker: &Worker, choose: &mut Choose) -> Result<Option<TrialRecord>> {
        let origin = format!("cannot start a trial in {}", self.origin());
        let mut cache = TrialCache::take_for(&mut self.cache, study_id);
        if cache.is_empty() {
            // Most of a study is read once, outside the write lock; under it only what changed since.
            let snapshot = self.conn.transaction().context(origin.clone())?;
            cache
                .refresh(|newer_than, also| load_trials(&snapshot, study_id, SCHEMA_VERSION, newer_than, also))
                .context(origin.clone())?;
            snapshot.commit().context(origin.clone())?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(origin.clone())?;
        reap_abandoned(&tx, study_id, worker).context(origin.clone())?;
        cache
            .refresh(|newer_than, also| load_trials(&tx, study_id, SCHEMA_VERSION, newer_than, also))
            .context(origin.clone())?;
        let number = cache.next_number();
        let Some(new) = choose(cache.trials(), number)? else {
            tx.commit().context(origin)?;
            self.cache = cache;
            return Ok(None);
        };
        let started = now();
        tx.execute(
            "INSERT INTO trials (study_id, number, state, params, seed, started, heartbeat, host, pid, git_commit, suggest_seconds, retest_of) \
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                study_id,
                number as i64,
                Value::Object(new.params.clone()).to_string(),
                new.seed as i64,
                started,
                worker.host,
                worker.pid,
                worker.git_commit,
                new.suggest_seconds,
                new.retest_of.map(|n| n as i64)
            ],
        )
        .context(origin.clone())?;
        let id = tx.last_insert_rowid();
        tx.commit().context(origin)?;
        self.cache = cache;
        Ok(Some(TrialRecord::started(id, number, new, worker, started)))
    }

    fn abandon(&self, trial_id: i64, reason: &str) -> Result<()> {
        self.execute(
            "UPDATE trials SET state = 'failed', abandoned = 1, error = ?1, ended = ?2 WHERE id = ?3 AND state = 'running'",
            params![reason, now(), trial_id],
        )
        .map(drop)
    }

    fn report(&self, trial_id: i64, step: i64, value: f64) -> Result<()> {
        self.execute(
            "INSERT OR REPLACE INTO intermediate (trial_id, step, value) VALUES (?1, ?2, ?3)",
            params![trial_id, step, value],
        )
        .map(drop)
    }

    fn record_metric(&self, trial_id: i64, name: &str, step: Option<i64>, value: f64) -> Result<()> {
        self.execute(
            "INSERT INTO metrics (trial_id, name, step, value) VALUES (?1, ?2, ?3, ?4)",
            params![trial_id, name, step, value],
        )
        .map(drop)
    }

    fn heartbeat(&self, trial_id: i64) -> Result<()> {
        self.execute(
            "UPDATE trials SET heartbeat = ?1 WHERE id = ?2 AND state = 'running'",
            params![now(), trial_id],
        )
        .map(drop)
    }

    fn finish(&self, trial_id: i64, state: TrialState, value: Option<f64>, error: Option<&str>) -> Result<bool> {
        let changed = self.execute(
            "UPDATE trials SET state = ?1, value = ?2, error = ?3, ended = ?4, \
             resource = (SELECT MAX(step) FROM intermediate WHERE trial_id = ?5) \
             WHERE id = ?5 AND state = 'running'",
            params![state.as_str(), value, error, now(), trial_id],
        )?;
        Ok(changed == 1)
    }

    fn values_at(&self, study_id: i64, step: i64) -> Result<Vec<(u64, TrialState, f64)>> {
        let read = || -> Result<Vec<(u64, TrialState, f64)>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT t.number, t.state, i.value FROM trials t JOIN intermediate i ON i.trial_id = t.id \
                 WHERE t.study_id = ?1 AND t.retest_of IS NULL AND t.abandoned = 0 \
                 AND i.step = (SELECT MIN(step) FROM intermediate WHERE trial_id = t.id AND step >= ?2)",
            )?;
            let rows = stmt.query_map(params![study_id, step], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?, r.get::<_, f64>(2)?))
            })?;
            rows.map(|r| {
                let (number, state, value) = r?;
                Ok((number, TrialState::parse(&state)?, value))
            })
            .collect()
        };
        read().context(self.origin())
    }

    fn import(&mut self, study: &StudyRecord, trials: &[TrialRecord]) -> Result<StudyRecord> {
        let origin = self.origin();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(origin.clone())?;
        if !insert_study(&tx, study).context(origin.clone())? {
            bail!("{origin} already holds a study named `{}`", study.name);
        }
        let study_id = tx.last_insert_rowid();
        for t in trials {
            tx.execute(
                "INSERT INTO trials (study_id, number, state, params, value, seed, started, ended, heartbeat, error, \
                 host, pid, git_commit, abandoned, suggest_seconds, retest_of, resource) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    study_id,
                    t.number as i64,
                    t.state.as_str(),
                    Value::Object(t.params.clone()).to_string(),
                    t.value,
                    t.seed as i64,
                    t.started,
                    t.ended,
                    t.heartbeat,
                    t.error,
                    t.host,
                    t.pid,
                    t.git_commit,
                    t.abandoned,
                    t.suggest_seconds,
                    t.retest_of.map(|n| n as i64),
                    t.resource
                ],
            )
            .context(origin.clone())?;
            let trial_id = tx.last_insert_rowid();
            for (step, value) in &t.intermediate {
                tx.execute(
                    "INSERT INTO intermediate (trial_id, step, value) VALUES (?1, ?2, ?3)",
                    params![trial_id, step, value],
                )
                .context(origin.clone())?;
            }
            for (name, step, value) in &t.metrics {
                tx.execute(
                    "INSERT INTO metrics (trial_id, name, step, value) VALUES (?1, ?2, ?3, ?4)",
                    params![trial_id, name, step, value],
                )
                .context(origin.clone())?;
            }
        }
        tx.commit().context(origin)?;
        self.study(&study.name)?
            .with_context(|| format!("study `{}` vanished after its copy", study.name))
    }
}

/// Adds the study unless one of its name exists; whether it was added.
fn insert_study(conn: &Connection, study: &StudyRecord) -> rusqlite::Result<bool> {
    let added = conn.execute(
        "INSERT OR IGNORE INTO studies (name, config, objective, metric, goal, strategy, seed, created, pruner) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            study.name,
            study.config.to_string(),
            study.objective.to_string(),
            study.metric,
            study.goal.as_str(),
            study.strategy,
            study.seed as i64,
            study.created,
            study.pruner.as_ref().map(Value::to_string)
        ],
    )?;
    Ok(added == 1)
}

fn study_from_row(row: &rusqlite::Row) -> rusqlite::Result<Result<StudyRecord>> {
    let config: String = row.get(2)?;
    let objective: String = row.get(3)?;
    let goal: String = row.get(5)?;
    let seed: i64 = row.get(7)?;
    let pruner: Option<String> = row.get(9)?;
    let build = || -> Result<StudyRecord> {
        Ok(StudyRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            config: serde_json::from_str(&config).context("corrupt study config")?,
            objective: serde_json::from_str(&objective).context("corrupt study objective")?,
            metric: row.get(4)?,
            goal: goal_from_str(&goal),
            strategy: row.get(6)?,
            seed: seed as u64,
            created: row.get(8)?,
            pruner: pruner
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("corrupt study pruner")?,
        })
    };
    Ok(build())
}

/// The study's trials with an id above `newer_than` or in `also`, in order
/// of number, with their intermediate values and metrics.
fn load_trials(
    conn: &Connection,
    study_id: i64,
    version: i32,
    newer_than: i64,
    also: &[i64],
) -> Result<Vec<TrialRecord>> {
    let filter = "t.study_id = ?1 AND (t.id > ?2 OR t.id IN (SELECT value FROM json_each(?3)))";
    let also = serde_json::to_string(also)?;
    let resource = if version >= 2 { "resource" } else { "NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, number, state, params, value, seed, started, ended, heartbeat, error, host, pid, git_commit, \
         abandoned, suggest_seconds, retest_of, {resource} FROM trials t WHERE {filter} ORDER BY number"
    ))?;
    let rows = stmt.query_map(params![study_id, newer_than, also], |row| {
        let record = TrialRecord {
            id: row.get(0)?,
            number: row.get::<_, i64>(1)? as u64,
            state: TrialState::Running,
            params: Map::new(),
            value: row.get(4)?,
            seed: row.get::<_, i64>(5)? as u64,
            started: row.get(6)?,
            ended: row.get(7)?,
            heartbeat: row.get(8)?,
            error: row.get(9)?,
            host: row.get(10)?,
            pid: row.get(11)?,
            git_commit: row.get(12)?,
            abandoned: row.get(13)?,
            suggest_seconds: row.get(14)?,
            retest_of: row.get::<_, Option<i64>>(15)?.map(|n| n as u64),
            resource: row.get(16)?,
            intermediate: Vec::new(),
            metrics: Vec::new(),
        };
        Ok((record, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
    })?;
    let mut trials = rows
        .map(|r| {
            let (mut record, state, params) = r?;
            record.state = TrialState::parse(&state)?;
            record.params = params_from_json(record.number, &params)?;
            Ok(record)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stmt = conn.prepare(&format!(
        "SELECT i.trial_id, i.step, i.value FROM intermediate i JOIN trials t ON t.id = i.trial_id \
         WHERE {filter} ORDER BY i.trial_id, i.step"
    ))?;
    let rows = stmt.query_map(params![study_id, newer_than, also], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, f64>(2)?))
    })?;
    let index: std::collections::HashMap<i64, usize> = trials.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    for row in rows {
        let (trial_id, step, value) = row?;
        if let Some(&i) = index.get(&trial_id) {
            trials[i].intermediate.push((step, value));
        }
    }
    // An unmarked database of an early bo may predate the metrics table.
    let has_metrics = version >= 1
        || conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metrics'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
    if !has_metrics {
        return Ok(trials);
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT m.trial_id, m.name, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id \
         WHERE {filter} ORDER BY m.rowid"
    ))?;
    let rows = stmt.query_map(params![study_id, newer_than, also], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<i64>>(2)?,
            row.get::<_, f64>(3)?,
        ))
    })?;
    for row in rows {
        let (trial_id, name, step, value) = row?;
        if let Some(&i) = index.get(&trial_id) {
            trials[i].metrics.push((name, step, value));
        }
    }
    Ok(trials)
}

/// Marks running trials whose worker is gone as failed and abandoned: a dead
/// process on this host, or a heartbeat older than the timeout anywhere.
fn reap_abandoned(conn: &Connection, study_id: i64, worker: &Worker) -> Result<()> {
    let mut stmt =
        conn.prepare("SELECT id, host, pid, heartbeat FROM trials WHERE study_id = ?1 AND state = 'running'")?;
    let running: Vec<(i64, String, u32, f64)> = stmt
        .query_map([study_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let now = now();
    for (id, host, pid, heartbeat) in running {
        if let Some(reason) = worker.abandons(&host, pid, heartbeat, now) {
            conn.execute(
                "UPDATE trials SET state = 'failed', abandoned = 1, error = ?1, ended = ?2 WHERE id = ?3 AND state = 'running'",
                params![reason, now, id],
            )?;
        }
    }
    Ok(())
}
