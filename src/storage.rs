//! Studies and trials in SQLite. Every write is one transaction, so a process
//! killed at any moment loses at most the trial it was running; WAL mode and a
//! busy timeout let several workers share one file.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde_json::{Map, Value};

use crate::space::Goal;

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialState {
    Running,
    Complete,
    Failed,
    Pruned,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Failed => "failed",
            TrialState::Pruned => "pruned",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "failed" => TrialState::Failed,
            "pruned" => TrialState::Pruned,
            other => bail!("unknown trial state `{other}` in the store"),
        })
    }
}

#[derive(Clone, Debug)]
pub struct StudyRecord {
    pub id: i64,
    pub name: String,
    /// The sweep as JSON: space, metric, program and command.
    pub config: Value,
    /// What evaluates trials, as JSON (`{"function": "branin", "noise": 0}` or `{"program": ...}`).
    pub objective: Value,
    pub metric: String,
    pub goal: Goal,
    pub strategy: String,
    pub seed: u64,
    pub created: f64,
    /// The pruner trials are stopped early by, as JSON (see `pruning`); none if absent.
    pub pruner: Option<Value>,
}

#[derive(Clone, Debug)]
pub struct TrialRecord {
    pub id: i64,
    pub number: u64,
    pub state: TrialState,
    pub params: Map<String, Value>,
    pub value: Option<f64>,
    pub seed: u64,
    pub started: f64,
    pub ended: Option<f64>,
    pub heartbeat: f64,
    pub error: Option<String>,
    pub host: String,
    pub pid: u32,
    pub git_commit: Option<String>,
    /// Left running by a worker that died; not counted towards the budget.
    pub abandoned: bool,
    /// Seconds the strategy took to propose this trial.
    pub suggest_seconds: Option<f64>,
    /// For a re-test: the number of the search trial whose configuration it repeats.
    pub retest_of: Option<u64>,
    /// The resource the trial used: its last step, once it ended with steps.
    pub resource: Option<i64>,
    pub intermediate: Vec<(i64, f64)>,
    /// Other measurements: name, step (none for a final one), value.
    pub metrics: Vec<(String, Option<i64>, f64)>,
}

impl TrialRecord {
    /// Whether the trial uses up one of the study's requested trials.
    pub fn counts(&self) -> bool {
        !self.abandoned && self.retest_of.is_none()
    }

    /// Whether a re-test counts towards its configuration's re-test seeds:
    /// finished or running, not abandoned.
    pub fn counts_as_retest(&self) -> bool {
        self.retest_of.is_some() && !self.abandoned
    }

    /// Whether the trial belongs to the search (not a re-test).
    pub fn is_search(&self) -> bool {
        self.retest_of.is_none()
    }
}

#[cfg(test)]
impl TrialRecord {
    /// A search trial in `state` with `params`, `value` and the curve it reported, for tests.
    pub(crate) fn for_test(
        number: u64,
        state: TrialState,
        params: Value,
        value: Option<f64>,
        curve: &[(i64, f64)],
        resource: Option<i64>,
    ) -> TrialRecord {
        TrialRecord {
            id: number as i64,
            number,
            state,
            params: params.as_object().expect("parameters are a mapping").clone(),
            value,
            seed: 0,
            started: 0.0,
            ended: None,
            heartbeat: 0.0,
            error: None,
            host: "h".into(),
            pid: 1,
            git_commit: None,
            abandoned: false,
            suggest_seconds: None,
            retest_of: None,
            resource,
            intermediate: curve.to_vec(),
            metrics: Vec::new(),
        }
    }
}

/// Where a new trial runs and what it evaluates.
pub struct NewTrial {
    pub params: Map<String, Value>,
    pub seed: u64,
    pub suggest_seconds: Option<f64>,
    pub retest_of: Option<u64>,
}

/// Who runs trials: recorded with each one so a dead worker's trials can be found.
#[derive(Clone, Debug)]
pub struct Worker {
    pub host: String,
    pub pid: u32,
    pub git_commit: Option<String>,
    /// A running trial whose heartbeat is older than this is taken as abandoned.
    pub heartbeat_timeout: Duration,
}

impl Worker {
    pub fn this_process(heartbeat_timeout: Duration) -> Self {
        Worker {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            git_commit: git_commit(),
            heartbeat_timeout,
        }
    }
}

/// The commit checked out in the working directory, `-dirty` when it has changes.
fn git_commit() -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = run(&["rev-parse", "HEAD"])?;
    let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

fn process_alive(pid: u32) -> bool {
    // Signal 0 checks existence; EPERM still means the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub struct Storage {
    conn: Connection,
    path: PathBuf,
    /// The schema version read: a read-only look at an older database reads its columns.
    version: i32,
}

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

impl Storage {
    /// Opens the study database at `path` for writing, creating it if there is
    /// none. Any other file, another program's database included, is refused
    /// untouched.
    pub fn open(path: &Path) -> Result<Self> {
        let found = inspect(path)?;
        let conn =
            Connection::open(path).with_context(|| format!("cannot open the study database {}", path.display()))?;
        let storage = Storage {
            conn,
            path: path.to_path_buf(),
            version: SCHEMA_VERSION,
        };
        storage
            .conn
            .busy_timeout(Duration::from_secs(60))
            .context(storage.origin())?;
        storage.prepare(found)?;
        // Switching to WAL takes an exclusive lock; workers opening a WAL file
        // at once must not all ask for it.
        let mode: String = storage
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .context(storage.origin())?;
        if !mode.eq_ignore_ascii_case("wal") {
            storage
                .conn
                .pragma_update(None, "journal_mode", "WAL")
                .context(storage.origin())?;
        }
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

    /// Creates the schema in a new database, or marks and migrates an older
    /// bo database, in one transaction that re-checks what another worker
    /// may have done meanwhile.
    fn prepare(&self, found: Found) -> Result<()> {
        let newer = |version: i32| {
            anyhow!(
                "{} was written by a newer bo (schema version {version}; this bo knows up to {SCHEMA_VERSION})",
                self.path.display()
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
        let version = match classify(&tx, &self.path)? {
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
                .with_context(|| format!("migrating {} to schema version {target}", self.path.display()))?;
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
        Storage::open(path)
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
        conn.busy_timeout(Duration::from_secs(60))?;
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
        Ok(Storage {
            conn,
            path: path.to_path_buf(),
            version,
        })
    }

    fn must_exist(path: &Path) -> Result<()> {
        if !path.exists() {
            bail!("no study database at {} (pass --storage PATH)", path.display());
        }
        Ok(())
    }

    /// Names the database in an error.
    fn origin(&self) -> String {
        format!("study database {}", self.path.display())
    }

    /// Creates the study, or returns the one of that name if another worker
    /// created it first (the caller checks that they match).
    pub fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord> {
        self.conn
            .execute(
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
            )
            .with_context(|| format!("cannot create study `{}` in {}", study.name, self.origin()))?;
        self.study(&study.name)?
            .with_context(|| format!("study `{}` vanished after its creation", study.name))
    }

    /// Records the strategy a resumed study continues with.
    pub fn set_strategy(&self, study_id: i64, strategy: &str) -> Result<()> {
        self.execute(
            "UPDATE studies SET strategy = ?1 WHERE id = ?2",
            params![strategy, study_id],
        )
        .map(drop)
    }

    /// Records the pruner a resumed study continues with.
    pub fn set_pruner(&self, study_id: i64, pruner: Option<&Value>) -> Result<()> {
        self.execute(
            "UPDATE studies SET pruner = ?1 WHERE id = ?2",
            params![pruner.map(Value::to_string), study_id],
        )
        .map(drop)
    }

    pub fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
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

    pub fn studies(&self) -> Result<Vec<StudyRecord>> {
        let read = || -> Result<Vec<StudyRecord>> {
            let mut stmt = self
                .conn
                .prepare(&format!("{} ORDER BY created", self.select_studies()))?;
            let rows = stmt.query_map([], study_from_row)?;
            rows.map(|r| r?).collect()
        };
        read().context(self.origin())
    }

    /// All trials of a study, in order, with their intermediate values.
    pub fn trials(&self, study_id: i64) -> Result<Vec<TrialRecord>> {
        load_trials(&self.conn, study_id, self.version).context(self.origin())
    }

    /// In one exclusive transaction: marks trials of dead workers as failed,
    /// lets `choose` pick the next trial (given the trials and the next trial
    /// number), and records it as running. `choose` returning `None` starts nothing.
    pub fn begin_trial(
        &mut self,
        study_id: i64,
        worker: &Worker,
        choose: impl FnOnce(&[TrialRecord], u64) -> Result<Option<NewTrial>>,
    ) -> Result<Option<TrialRecord>> {
        let origin = self.origin();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(origin.clone())?;
        reap_abandoned(&tx, study_id, worker).context(origin.clone())?;
        let trials = load_trials(&tx, study_id, SCHEMA_VERSION).context(origin.clone())?;
        let number = trials.iter().map(|t| t.number + 1).max().unwrap_or(0);
        let Some(new) = choose(&trials, number)? else {
            tx.commit().context(origin)?;
            return Ok(None);
        };
        let started = now();
        let params_json = Value::Object(new.params.clone()).to_string();
        tx.execute(
            "INSERT INTO trials (study_id, number, state, params, seed, started, heartbeat, host, pid, git_commit, suggest_seconds, retest_of) \
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                study_id,
                number as i64,
                params_json,
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
        Ok(Some(TrialRecord {
            id,
            number,
            state: TrialState::Running,
            params: new.params,
            value: None,
            seed: new.seed,
            started,
            ended: None,
            heartbeat: started,
            error: None,
            host: worker.host.clone(),
            pid: worker.pid,
            git_commit: worker.git_commit.clone(),
            abandoned: false,
            suggest_seconds: new.suggest_seconds,
            retest_of: new.retest_of,
            resource: None,
            intermediate: Vec::new(),
            metrics: Vec::new(),
        }))
    }

    /// Fails a trial that was stopped before it finished; it does not count.
    pub fn abandon(&self, trial_id: i64, reason: &str) -> Result<()> {
        self.execute(
            "UPDATE trials SET state = 'failed', abandoned = 1, error = ?1, ended = ?2 WHERE id = ?3 AND state = 'running'",
            params![reason, now(), trial_id],
        )
        .map(drop)
    }

    pub fn report(&self, trial_id: i64, step: i64, value: f64) -> Result<()> {
        self.execute(
            "INSERT OR REPLACE INTO intermediate (trial_id, step, value) VALUES (?1, ?2, ?3)",
            params![trial_id, step, value],
        )
        .map(drop)
    }

    pub fn record_metric(&self, trial_id: i64, name: &str, step: Option<i64>, value: f64) -> Result<()> {
        self.execute(
            "INSERT INTO metrics (trial_id, name, step, value) VALUES (?1, ?2, ?3, ?4)",
            params![trial_id, name, step, value],
        )
        .map(drop)
    }

    pub fn heartbeat(&self, trial_id: i64) -> Result<()> {
        self.execute(
            "UPDATE trials SET heartbeat = ?1 WHERE id = ?2 AND state = 'running'",
            params![now(), trial_id],
        )
        .map(drop)
    }

    /// Records a running trial's end. Returns false, recording nothing, when
    /// the trial is no longer running: another worker took it as abandoned,
    /// and an abandoned trial is never overwritten.
    /// Records a running trial's end, with the resource it used (its last
    /// step, if it reported any). Returns false, recording nothing, when the
    /// trial is no longer running: another worker took it as abandoned, and an
    /// abandoned trial is never overwritten.
    pub fn finish(&self, trial_id: i64, state: TrialState, value: Option<f64>, error: Option<&str>) -> Result<bool> {
        let changed = self.execute(
            "UPDATE trials SET state = ?1, value = ?2, error = ?3, ended = ?4, \
             resource = (SELECT MAX(step) FROM intermediate WHERE trial_id = ?5) \
             WHERE id = ?5 AND state = 'running'",
            params![state.as_str(), value, error, now(), trial_id],
        )?;
        Ok(changed == 1)
    }

    /// The loss-free view pruners compare with: for every search trial of the
    /// study that reported a step at or after `step`, its number, state and
    /// value at the first such step.
    pub fn values_at(&self, study_id: i64, step: i64) -> Result<Vec<(u64, TrialState, f64)>> {
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

    /// The studies' columns, `pruner` only where the schema has it.
    fn select_studies(&self) -> String {
        let pruner = if self.version >= 2 { "pruner" } else { "NULL" };
        format!("SELECT id, name, config, objective, metric, goal, strategy, seed, created, {pruner} FROM studies")
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.conn.execute(sql, params).context(self.origin())
    }
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
            goal: if goal == "maximize" {
                Goal::Maximize
            } else {
                Goal::Minimize
            },
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

fn load_trials(conn: &Connection, study_id: i64, version: i32) -> Result<Vec<TrialRecord>> {
    let resource = if version >= 2 { "resource" } else { "NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, number, state, params, value, seed, started, ended, heartbeat, error, host, pid, git_commit, \
         abandoned, suggest_seconds, retest_of, {resource} FROM trials WHERE study_id = ?1 ORDER BY number"
    ))?;
    let rows = stmt.query_map([study_id], |row| {
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
            record.params = match serde_json::from_str(&params).context("corrupt trial parameters")? {
                Value::Object(map) => map,
                _ => bail!("trial {} has non-object parameters", record.number),
            };
            Ok(record)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stmt = conn.prepare(
        "SELECT i.trial_id, i.step, i.value FROM intermediate i JOIN trials t ON t.id = i.trial_id WHERE t.study_id = ?1 ORDER BY i.trial_id, i.step",
    )?;
    let rows = stmt.query_map([study_id], |row| {
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
    let mut stmt = conn.prepare(
        "SELECT m.trial_id, m.name, m.step, m.value FROM metrics m JOIN trials t ON t.id = m.trial_id WHERE t.study_id = ?1 ORDER BY m.rowid",
    )?;
    let rows = stmt.query_map([study_id], |row| {
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
        let same_host = host == worker.host;
        let reason = if same_host && pid != worker.pid && !process_alive(pid) {
            Some(format!(
                "abandoned: its worker (pid {pid} on {host}) is no longer running"
            ))
        } else if !(same_host && pid == worker.pid) && now - heartbeat > worker.heartbeat_timeout.as_secs_f64() {
            Some(format!(
                "abandoned: no heartbeat from {host} (pid {pid}) for {:.0} s",
                now - heartbeat
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            conn.execute(
                "UPDATE trials SET state = 'failed', abandoned = 1, error = ?1, ended = ?2 WHERE id = ?3",
                params![reason, now, id],
            )?;
        }
    }
    Ok(())
}
