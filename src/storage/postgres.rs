//! Studies and trials on a PostgreSQL server, shared by workers on many
//! machines (`--storage postgresql://user@host:port/db`).
//!
//! - bo's tables live in their own schema, `bo`, so other programs' tables
//!   (Optuna's `studies` and `trials` among them) are never touched; a `bo`
//!   schema that bo did not create is refused.
//! - Trial numbers are handed out under a row lock on the study, so two
//!   workers never get the same number, and `UNIQUE (study_id, number)` checks it.
//! - A worker that loses its connection (a server restart, a network cut)
//!   reconnects and retries for up to `RECONNECT_WINDOW`; a new trial carries a
//!   random claim, so a retried start whose first commit went through returns
//!   that trial instead of starting a second one.
//! - A worker keeps the study's finished trials between suggestions (see
//!   [`TrialCache`]), so a suggestion's reading under the lock does not grow
//!   with the study.

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use postgres::{Client, Config, GenericClient, IsolationLevel, Row};
use postgres_native_tls::MakeTlsConnector;
use serde_json::Value;

use super::{
    goal_from_str, now, params_from_json, Access, Choose, Location, Storage, StudyRecord, TrialCache, TrialRecord,
    TrialState, Worker,
};

/// The schema's version, kept in `bo.meta`; older schemas are migrated on opening.
const SCHEMA_VERSION: i32 = 1;
/// What takes a schema from the version before to each version after 1.
const MIGRATIONS: &[(i32, &str)] = &[];
/// Serializes creating and migrating the schema among workers that start at once ("bodb").
const SCHEMA_LOCK: i64 = 0x626F_6462;
/// How long a worker that lost the server keeps reconnecting before it gives up.
const RECONNECT_WINDOW: Duration = Duration::from_secs(120);
/// How long opening a connection may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE SCHEMA bo;
CREATE TABLE bo.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bo.studies (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    objective TEXT NOT NULL,
    metric TEXT NOT NULL,
    goal TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    pruner TEXT
);
CREATE TABLE bo.trials (
    id BIGSERIAL PRIMARY KEY,
    study_id BIGINT NOT NULL REFERENCES bo.studies(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    value DOUBLE PRECISION,
    seed BIGINT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    ended DOUBLE PRECISION,
    heartbeat DOUBLE PRECISION NOT NULL,
    error TEXT,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    git_commit TEXT,
    abandoned BOOLEAN NOT NULL DEFAULT FALSE,
    suggest_seconds DOUBLE PRECISION,
    retest_of BIGINT,
    resource BIGINT,
    claim BIGINT UNIQUE,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_running ON bo.trials (study_id) WHERE state = 'running';
CREATE TABLE bo.intermediate (
    trial_id BIGINT NOT NULL REFERENCES bo.trials(id) ON DELETE CASCADE,
    step BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trial_id, step)
);
CREATE TABLE bo.metrics (
    id BIGSERIAL PRIMARY KEY,
    trial_id BIGINT NOT NULL REFERENCES bo.trials(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    step BIGINT,
    value DOUBLE PRECISION NOT NULL
);
CREATE INDEX metrics_by_trial ON bo.metrics (trial_id);
";

const TRIAL_COLUMNS: &str = "t.id, t.number, t.state, t.params, t.value, t.seed, t.started, t.ended, t.heartbeat, \
     t.error, t.host, t.pid, t.git_commit, t.abandoned, t.suggest_seconds, t.retest_of, t.resource";

const STUDY_COLUMNS: &str = "id, name, config, objective, metric, goal, strategy, seed, created, pruner";

pub struct PostgresStorage {
    config: Config,
    verify: Verify,
    location: Location,
    read_only: bool,
    /// None after the connection was lost, until the next call reconnects.
    client: Mutex<Option<Client>>,
    /// The trials of the study this worker last started a trial in.
    cache: TrialCache,
}

/// What TLS checks of the server's certificate, as libpq's `sslmode` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    /// `prefer` (the default) and `require` encrypt without checking, as libpq does.
    Nothing,
    /// `verify-ca`: a certificate the system trusts, for any host name.
    Chain,
    /// `verify-full`: a trusted certificate for the host connected to.
    Full,
}

/// The URL as the client parses it (which knows `sslmode` only up to
/// `require`) and what TLS must verify: `verify-ca` and `verify-full` become
/// `require` with the check.
fn tls_verification(url: &str) -> (String, Verify) {
    for (mode, verify) in [("verify-full", Verify::Full), ("verify-ca", Verify::Chain)] {
        let given = format!("sslmode={mode}");
        if let Some(at) = url.find(&given) {
            let end = at + given.len();
            if url[end..].is_empty() || url[end..].starts_with('&') {
                return (format!("{}sslmode=require{}", &url[..at], &url[end..]), verify);
            }
        }
    }
    (url.to_owned(), Verify::Nothing)
}

/// The URL with its password left out, to be shown.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => format!("{}@{host}", user_info.split(':').next().unwrap_or("")),
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .map(|pair| {
                    if pair.starts_with("password=") {
                        "password=***"
                    } else {
                        pair
                    }
                })
                .collect();
            format!("{path}?{}", kept.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Whether an error means the connection is gone or the server is restarting:
/// worth reconnecting and trying again.
fn connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            let code = code.code();
            // Class 08: connection exceptions; 57P01-57P03: the server shutting
            // down or starting up; 40001/40P01: a transaction to run again.
            code.starts_with("08") || code.starts_with("57P0") || code == "40001" || code == "40P01"
        }
        // No SQL state: lost only if the socket failed (not, say, a column
        // that did not convert).
        None => std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>()),
    }
}

impl PostgresStorage {
    /// Connects to the server at `url` and checks (or, with `Access::Create`,
    /// creates or migrates) bo's schema. Any fault here is reported at once,
    /// with nothing written: a bad URL, a refused connection, a wrong password.
    pub fn open(url: &str, access: Access) -> Result<Self> {
        let location = Location::Postgres(url.to_owned());
        let (url, verify) = tls_verification(url);
        let mut config: Config = url
            .parse()
            .map_err(|e| anyhow!("{location} is not a valid PostgreSQL URL: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("bo");
        }
        let mut storage = PostgresStorage {
            config,
            verify,
            location,
            read_only: access == Access::ReadOnly,
            client: Mutex::new(None),
            cache: TrialCache::default(),
        };
        let mut client = storage.connect_first()?;
        storage.prepare(&mut client, access)?;
        storage.client = Mutex::new(Some(client));
        Ok(storage)
    }

    fn connect(&self) -> Result<Client> {
        let tls = native_tls::TlsConnector::builder()
            .danger_accept_invalid_certs(self.verify == Verify::Nothing)
            .danger_accept_invalid_hostnames(self.verify != Verify::Full)
            .build()
            .context("cannot set up TLS")?;
        let mut client = self.config.connect(MakeTlsConnector::new(tls)).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot connect to the PostgreSQL store {}", self.location))
        })?;
        if self.read_only {
            client.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")?;
        }
        Ok(client)
    }

    /// The first connection. A server that says it is starting up or shutting
    /// down (a restart) is waited for; anything else (a refused connection, a
    /// wrong password) is reported at once.
    fn connect_first(&self) -> Result<Client> {
        let deadline = Instant::now() + RECONNECT_WINDOW;
        loop {
            let error = match self.connect() {
                Ok(client) => return Ok(client),
                Err(e) => e,
            };
            let restarting = error
                .downcast_ref::<postgres::Error>()
                .and_then(postgres::Error::code)
                .is_some_and(|code| code.code().starts_with("57P0"));
            if !restarting || Instant::now() > deadline {
                return Err(match error.downcast_ref::<postgres::Error>() {
                    Some(e) => anyhow!(
                        "cannot connect to the PostgreSQL store {}: {}",
                        self.location,
                        describe(e)
                    ),
                    None => error,
                });
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Checks the schema's version; unless only reading, creates or migrates
    /// it first.
    fn prepare(&self, client: &mut Client, access: Access) -> Result<()> {
        match (schema_version(client, &self.location)?, access) {
            (Some(v), _) if v > SCHEMA_VERSION => bail!(
                "{} was written by a newer bo (schema version {v}; this bo knows up to {SCHEMA_VERSION})",
                self.location
            ),
            (Some(SCHEMA_VERSION), _) => Ok(()),
            (None, Access::Existing | Access::ReadOnly) => bail!(
                "{} holds no bo studies (its database has no `bo` schema)",
                self.location
            ),
            (Some(v), Access::ReadOnly) => bail!(
                "{} has bo's schema version {v}, older than this bo's {SCHEMA_VERSION}: run `bo run` on it once to migrate",
                self.location
            ),
            _ => self.create_or_migrate(client),
        }
    }

    /// Creates the schema, or migrates it to this bo's version, in one
    /// transaction under a lock that workers starting at once share.
    fn create_or_migrate(&self, client: &mut Client) -> Result<()> {
        let mut tx = client.transaction().map_err(|e| self.error(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(|e| self.error(&e))?;
        let version = match schema_version(&mut tx, &self.location)? {
            Some(v) => v,
            None => {
                tx.batch_execute(SCHEMA).map_err(|e| self.error(&e))?;
                tx.execute(
                    "INSERT INTO bo.meta (key, value) VALUES ('schema_version', $1)",
                    &[&SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| self.error(&e))?;
                SCHEMA_VERSION
            }
        };
        for (target, sql) in MIGRATIONS.iter().filter(|(target, _)| *target > version) {
            tx.batch_execute(sql)
                .with_context(|| format!("migrating {} to schema version {target}", self.location))?;
            tx.execute(
                "UPDATE bo.meta SET value = $1 WHERE key = 'schema_version'",
                &[&target.to_string()],
            )
            .map_err(|e| self.error(&e))?;
        }
        tx.commit().map_err(|e| self.error(&e))
    }

    /// Runs `op` on the connection. If the connection is lost, reconnects and
    /// runs it again, for up to `RECONNECT_WINDOW`; `op` must be safe to repeat.
    fn with_client<T>(&self, mut op: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + RECONNECT_WINDOW;
        let mut pause = Duration::from_millis(100);
        let mut warned = false;
        loop {
            let lost = match slot.as_mut().filter(|c| !c.is_closed()) {
                None => match self.connect() {
                    Ok(client) => {
                        *slot = Some(client);
                        continue;
                    }
                    Err(e) => e,
                },
                Some(client) => match op(client) {
                    Ok(value) => return Ok(value),
                    Err(e) if e.downcast_ref::<postgres::Error>().is_some_and(connection_lost) => e,
                    Err(e) => {
                        return Err(match e.downcast_ref::<postgres::Error>() {
                            Some(db) => self.error(db),
                            None => e,
                        })
                    }
                },
            };
            *slot = None;
            if Instant::now() + pause > deadline {
                return Err(lost.context(format!(
                    "lost the PostgreSQL store {} for {} s",
                    self.location,
                    RECONNECT_WINDOW.as_secs()
                )));
            }
            if !warned {
                eprintln!(
                    "warning: lost the PostgreSQL store {}; reconnecting: {lost:#}",
                    self.location
                );
                warned = true;
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    fn error(&self, e: &postgres::Error) -> anyhow::Error {
        located(&self.location, e)
    }

    fn execute(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<u64> {
        self.with_client(|c| Ok(c.execute(sql, params)?))
    }
}

/// A server or client error, naming the store.
fn located(location: &Location, e: &postgres::Error) -> anyhow::Error {
    anyhow!("{location}: {}", describe(e))
}

/// A server error's message and detail, or the client's own error.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// The version of bo's schema in the database, none if it has no `bo` schema;
/// a `bo` schema without bo's version table belongs to someone else.
fn schema_version(client: &mut impl GenericClient, location: &Location) -> Result<Option<i32>> {
    let describe_err = |e: postgres::Error| located(location, &e);
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'bo'), to_regclass('bo.meta') IS NOT NULL",
            &[],
        )
        .map_err(describe_err)?;
    let (schema, meta): (bool, bool) = (row.get(0), row.get(1));
    match (schema, meta) {
        (false, _) => Ok(None),
        (true, false) => {
            bail!("{location} has a schema `bo` that bo did not create: bo leaves it alone (pick another database)")
        }
        (true, true) => {
            let value: Option<String> = client
                .query_opt("SELECT value FROM bo.meta WHERE key = 'schema_version'", &[])
                .map_err(describe_err)?
                .map(|r| r.get(0));
            let value = value.with_context(|| format!("{location}: bo.meta holds no schema version"))?;
            Ok(Some(value.parse().with_context(|| {
                format!("{location}: bo.meta holds a schema version that is no number: {value:?}")
            })?))
        }
    }
}

/// Adds the study unless one of its name exists; its id if it was added.
fn insert_study(client: &mut impl GenericClient, study: &StudyRecord) -> Result<Option<i64>> {
    let added = client.query_opt(
        "INSERT INTO bo.studies (name, config, objective, metric, goal, strategy, seed, created, pruner) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING RETURNING id",
        &[
            &study.name,
            &study.config.to_string(),
            &study.objective.to_string(),
            &study.metric,
            &study.goal.as_str(),
            &study.strategy,
            &(study.seed as i64),
            &study.created,
            &study.pruner.as_ref().map(Value::to_string),
        ],
    )?;
    Ok(added.map(|row| row.get(0)))
}

fn study_from_row(row: &Row) -> Result<StudyRecord> {
    let config: String = row.get(2);
    let objective: String = row.get(3);
    let pruner: Option<String> = row.get(9);
    Ok(StudyRecord {
        id: row.get(0),
        name: row.get(1),
        config: serde_json::from_str(&config).context("corrupt study config")?,
        objective: serde_json::from_str(&objective).context("corrupt study objective")?,
        metric: row.get(4),
        goal: goal_from_str(row.get(5)),
        strategy: row.get(6),
        seed: row.get::<_, i64>(7) as u64,
        created: row.get(8),
        pruner: pruner
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .context("corrupt study pruner")?,
    })
}

fn trial_from_row(row: &Row) -> Result<TrialRecord> {
    let number = row.get::<_, i64>(1) as u64;
    Ok(TrialRecord {
        id: row.get(0),
        number,
        state: TrialState::parse(row.get(2))?,
        params: params_from_json(number, row.get(3))?,
        value: row.get(4),
        seed: row.get::<_, i64>(5) as u64,
        started: row.get(6),
        ended: row.get(7),
        heartbeat: row.get(8),
        error: row.get(9),
        host: row.get(10),
        pid: row.get::<_, i64>(11) as u32,
        git_commit: row.get(12),
        abandoned: row.get(13),
        suggest_seconds: row.get(14),
        retest_of: row.get::<_, Option<i64>>(15).map(|n| n as u64),
        resource: row.get(16),
        intermediate: Vec::new(),
        metrics: Vec::new(),
    })
}

/// The study's trials with id above `newer_than` or in `also`, in order of
/// number, with their intermediate values and metrics.
fn load_trials(
    client: &mut impl GenericClient,
    study_id: i64,
    newer_than: i64,
    also: &[i64],
) -> Result<Vec<TrialRecord>> {
    let filter = "t.study_id = $1 AND (t.id > $2 OR t.id = ANY($3))";
    let mut trials = client
        .query(
            &format!("SELECT {TRIAL_COLUMNS} FROM bo.trials t WHERE {filter} ORDER BY t.number"),
            &[&study_id, &newer_than, &also],
        )?
        .iter()
        .map(trial_from_row)
        .collect::<Result<Vec<_>>>()?;
    let index: HashMap<i64, usize> = trials.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let rows = client.query(
        &format!(
            "SELECT i.trial_id, i.step, i.value FROM bo.intermediate i JOIN bo.trials t ON t.id = i.trial_id \
             WHERE {filter} ORDER BY i.trial_id, i.step"
        ),
        &[&study_id, &newer_than, &also],
    )?;
    for row in rows {
        if let Some(&i) = index.get(&row.get::<_, i64>(0)) {
            trials[i].intermediate.push((row.get(1), row.get(2)));
        }
    }
    let rows = client.query(
        &format!(
            "SELECT m.trial_id, m.name, m.step, m.value FROM bo.metrics m JOIN bo.trials t ON t.id = m.trial_id \
             WHERE {filter} ORDER BY m.id"
        ),
        &[&study_id, &newer_than, &also],
    )?;
    for row in rows {
        if let Some(&i) = index.get(&row.get::<_, i64>(0)) {
            trials[i].metrics.push((row.get(1), row.get(2), row.get(3)));
        }
    }
    Ok(trials)
}

/// Marks running trials whose worker is gone as failed and abandoned.
fn reap_abandoned(client: &mut impl GenericClient, study_id: i64, worker: &Worker) -> Result<()> {
    let running = client.query(
        "SELECT id, host, pid, heartbeat FROM bo.trials WHERE study_id = $1 AND state = 'running'",
        &[&study_id],
    )?;
    let now = now();
    for row in running {
        let (id, host, pid, heartbeat): (i64, String, i64, f64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        if let Some(reason) = worker.abandons(&host, pid as u32, heartbeat, now) {
            // Its worker may have finished it since the look above: a finished
            // trial is never taken as abandoned.
            client.execute(
                "UPDATE bo.trials SET state = 'failed', abandoned = TRUE, error = $1, ended = $2 \
                 WHERE id = $3 AND state = 'running'",
                &[&reason, &now, &id],
            )?;
        }
    }
    Ok(())
}

impl Storage for PostgresStorage {
    fn location(&self) -> &Location {
        &self.location
    }

    fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord> {
        self.with_client(|c| insert_study(c, study))
            .with_context(|| format!("cannot create study `{}`", study.name))?;
        self.study(&study.name)?
            .with_context(|| format!("study `{}` vanished after its creation", study.name))
    }

    fn set_strategy(&self, study_id: i64, strategy: &str) -> Result<()> {
        self.execute(
            "UPDATE bo.studies SET strategy = $1 WHERE id = $2",
            &[&strategy, &study_id],
        )
        .map(drop)
    }

    fn set_pruner(&self, study_id: i64, pruner: Option<&Value>) -> Result<()> {
        self.execute(
            "UPDATE bo.studies SET pruner = $1 WHERE id = $2",
            &[&pruner.map(Value::to_string), &study_id],
        )
        .map(drop)
    }

    fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
        let row = self.with_client(|c| {
            Ok(c.query_opt(
                &format!("SELECT {STUDY_COLUMNS} FROM bo.studies WHERE name = $1"),
                &[&name],
            )?)
        })?;
        row.as_ref().map(study_from_row).transpose()
    }

    fn studies(&self) -> Result<Vec<StudyRecord>> {
        let rows = self.with_client(|c| {
            Ok(c.query(
                &format!("SELECT {STUDY_COLUMNS} FROM bo.studies ORDER BY created, id"),
                &[],
            )?)
        })?;
        rows.iter().map(study_from_row).collect()
    }

    fn trials(&self, study_id: i64) -> Result<Vec<TrialRecord>> {
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let trials = load_trials(&mut tx, study_id, 0, &[])?;
            tx.commit()?;
            Ok(trials)
        })
    }

    fn begin_trial(&mut self, study_id: i64, worker: &Worker, choose: &mut Choose) -> Result<Option<TrialRecord>> {
        let claim: i64 = rand::random();
        let mut cache = TrialCache::take_for(&mut self.cache, study_id);
        if cache.is_empty() {
            // Most of a study is read once, outside the lock; under it only what changed since.
            self.with_client(|c| {
                let mut snapshot = c
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?;
                cache.refresh(|newer_than, also| load_trials(&mut snapshot, study_id, newer_than, also))?;
                Ok(snapshot.commit()?)
            })?;
        }
        let mut tries = 0;
        let started = self.with_client(|c| {
            // A try cut off may have left rows of its rolled-back transaction
            // in the cache: the next reads the study afresh.
            tries += 1;
            if tries > 1 {
                cache = TrialCache::new(study_id);
            }
            let mut tx = c.transaction()?;
            // A retry after a lost commit finds its trial by the claim.
            if let Some(row) = tx.query_opt(
                &format!("SELECT {TRIAL_COLUMNS} FROM bo.trials t WHERE t.claim = $1"),
                &[&claim],
            )? {
                return Ok(Some(trial_from_row(&row)?));
            }
            // The study's row lock: one worker at a time chooses and numbers a trial.
            tx.query_one("SELECT id FROM bo.studies WHERE id = $1 FOR UPDATE", &[&study_id])?;
            reap_abandoned(&mut tx, study_id, worker)?;
            cache.refresh(|newer_than, also| load_trials(&mut tx, study_id, newer_than, also))?;
            let number = cache.next_number();
            let Some(new) = choose(cache.trials(), number)? else {
                tx.commit()?;
                return Ok(None);
            };
            let started = now();
            let id: i64 = tx
                .query_one(
                    "INSERT INTO bo.trials (study_id, number, state, params, seed, started, heartbeat, host, pid, \
                     git_commit, suggest_seconds, retest_of, claim) \
                     VALUES ($1, $2, 'running', $3, $4, $5, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    &[
                        &study_id,
                        &(number as i64),
                        &Value::Object(new.params.clone()).to_string(),
                        &(new.seed as i64),
                        &started,
                        &worker.host,
                        &(worker.pid as i64),
                        &worker.git_commit,
                        &new.suggest_seconds,
                        &new.retest_of.map(|n| n as i64),
                        &claim,
                    ],
                )?
                .get(0);
            tx.commit()?;
            Ok(Some(TrialRecord::started(id, number, new, worker, started)))
        });
        // The cache stays only when it matches the store: after a failure it
        // may hold rows of a transaction that was rolled back.
        if started.is_ok() {
            self.cache = cache;
        }
        started
    }

    fn abandon(&self, trial_id: i64, reason: &str) -> Result<()> {
        self.execute(
            "UPDATE bo.trials SET state = 'failed', abandoned = TRUE, error = $1, ended = $2 \
             WHERE id = $3 AND state = 'running'",
            &[&reason, &now(), &trial_id],
        )
        .map(drop)
    }

    fn report(&self, trial_id: i64, step: i64, value: f64) -> Result<()> {
        self.execute(
            "INSERT INTO bo.intermediate (trial_id, step, value) VALUES ($1, $2, $3) \
             ON CONFLICT (trial_id, step) DO UPDATE SET value = EXCLUDED.value",
            &[&trial_id, &step, &value],
        )
        .map(drop)
    }

    fn record_metric(&self, trial_id: i64, name: &str, step: Option<i64>, value: f64) -> Result<()> {
        self.execute(
            "INSERT INTO bo.metrics (trial_id, name, step, value) VALUES ($1, $2, $3, $4)",
            &[&trial_id, &name, &step, &value],
        )
        .map(drop)
    }

    fn heartbeat(&self, trial_id: i64) -> Result<()> {
        self.execute(
            "UPDATE bo.trials SET heartbeat = $1 WHERE id = $2 AND state = 'running'",
            &[&now(), &trial_id],
        )
        .map(drop)
    }

    fn finish(&self, trial_id: i64, state: TrialState, value: Option<f64>, error: Option<&str>) -> Result<bool> {
        self.with_client(|c| {
            let changed = c.execute(
                "UPDATE bo.trials SET state = $1, value = $2, error = $3, ended = $4, \
                 resource = (SELECT MAX(step) FROM bo.intermediate WHERE trial_id = $5) \
                 WHERE id = $5 AND state = 'running'",
                &[&state.as_str(), &value, &error, &now(), &trial_id],
            )?;
            if changed == 1 {
                return Ok(true);
            }
            // A retry whose first commit went through finds the trial ended as
            // asked and not abandoned: only this worker ends its own trial so.
            let row = c.query_one("SELECT state, abandoned FROM bo.trials WHERE id = $1", &[&trial_id])?;
            Ok(row.get::<_, &str>(0) == state.as_str() && !row.get::<_, bool>(1))
        })
    }

    fn values_at(&self, study_id: i64, step: i64) -> Result<Vec<(u64, TrialState, f64)>> {
        let rows = self.with_client(|c| {
            Ok(c.query(
                "SELECT t.number, t.state, i.value FROM bo.trials t JOIN bo.intermediate i ON i.trial_id = t.id \
                 WHERE t.study_id = $1 AND t.retest_of IS NULL AND NOT t.abandoned \
                 AND i.step = (SELECT MIN(step) FROM bo.intermediate WHERE trial_id = t.id AND step >= $2)",
                &[&study_id, &step],
            )?)
        })?;
        rows.iter()
            .map(|r| Ok((r.get::<_, i64>(0) as u64, TrialState::parse(r.get(1))?, r.get(2))))
            .collect()
    }

    fn import(&mut self, study: &StudyRecord, trials: &[TrialRecord]) -> Result<StudyRecord> {
        let location = self.location.clone();
        self.with_client(|c| {
            let mut tx = c.transaction()?;
            let Some(study_id) = insert_study(&mut tx, study)? else {
                bail!("{location} already holds a study named `{}`", study.name);
            };
            let insert_trial = tx.prepare(
                "INSERT INTO bo.trials (study_id, number, state, params, value, seed, started, ended, heartbeat, \
                 error, host, pid, git_commit, abandoned, suggest_seconds, retest_of, resource) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
            )?;
            let insert_step = tx.prepare("INSERT INTO bo.intermediate (trial_id, step, value) VALUES ($1, $2, $3)")?;
            let insert_metric =
                tx.prepare("INSERT INTO bo.metrics (trial_id, name, step, value) VALUES ($1, $2, $3, $4)")?;
            for t in trials {
                let trial_id: i64 = tx
                    .query_one(
                        &insert_trial,
                        &[
                            &study_id,
                            &(t.number as i64),
                            &t.state.as_str(),
                            &Value::Object(t.params.clone()).to_string(),
                            &t.value,
                            &(t.seed as i64),
                            &t.started,
                            &t.ended,
                            &t.heartbeat,
                            &t.error,
                            &t.host,
                            &(t.pid as i64),
                            &t.git_commit,
                            &t.abandoned,
                            &t.suggest_seconds,
                            &t.retest_of.map(|n| n as i64),
                            &t.resource,
                        ],
                    )?
                    .get(0);
                for (step, value) in &t.intermediate {
                    tx.execute(&insert_step, &[&trial_id, step, value])?;
                }
                for (name, step, value) in &t.metrics {
                    tx.execute(&insert_metric, &[&trial_id, name, step, value])?;
                }
            }
            tx.commit()?;
            Ok(())
        })?;
        self.study(&study.name)?
            .with_context(|| format!("study `{}` vanished after its copy", study.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_ssl_modes_become_require_with_the_check() {
        assert_eq!(
            tls_verification("postgresql://h/db?sslmode=verify-full&x=1"),
            ("postgresql://h/db?sslmode=require&x=1".to_string(), Verify::Full)
        );
        assert_eq!(
            tls_verification("postgresql://h/db?sslmode=verify-ca"),
            ("postgresql://h/db?sslmode=require".to_string(), Verify::Chain)
        );
        assert_eq!(
            tls_verification("postgresql://h/db?sslmode=require"),
            ("postgresql://h/db?sslmode=require".to_string(), Verify::Nothing)
        );
    }

    #[test]
    fn passwords_are_left_out_of_shown_urls() {
        assert_eq!(
            without_password("postgresql://bo:pw@host:5432/db?sslmode=require"),
            "postgresql://bo@host:5432/db?sslmode=require"
        );
        assert_eq!(
            without_password("postgresql://host/db?user=bo&password=pw"),
            "postgresql://host/db?user=bo&password=***"
        );
        assert_eq!(without_password("postgres://host"), "postgres://host");
        // A password holding '@' is still left out.
        assert_eq!(
            without_password("postgresql://bo:p@w@host/db"),
            "postgresql://bo@host/db"
        );
    }
}
