//! Where studies and trials live: one [`Storage`] interface with two back
//! ends. [`sqlite`] is the default, a file beside the study and no server;
//! [`postgres`] is a PostgreSQL server that workers on many machines share.
//! Both keep every write in one transaction, so a worker killed at any moment
//! loses at most the trial it was running, and both hand out each trial
//! number once, however many workers ask at the same moment.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
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

    /// A trial that started now as `worker`'s, before anything was reported.
    fn started(id: i64, number: u64, new: NewTrial, worker: &Worker, started: f64) -> TrialRecord {
        TrialRecord {
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
        }
    }
}

/// How a study's trials stand: its search trials by state (abandoned ones
/// in none) and its re-tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrialCounts {
    pub search: usize,
    pub complete: usize,
    pub pruned: usize,
    pub failed: usize,
    pub running: usize,
    pub retests: usize,
}

impl TrialCounts {
    pub fn of(trials: &[TrialRecord]) -> TrialCounts {
        let mut counts = TrialCounts::default();
        for t in trials {
            if !t.is_search() {
                counts.retests += 1;
                continue;
            }
            counts.search += 1;
            if t.abandoned {
                continue;
            }
            match t.state {
                TrialState::Complete => counts.complete += 1,
                TrialState::Pruned => counts.pruned += 1,
                TrialState::Failed => counts.failed += 1,
                TrialState::Running => counts.running += 1,
            }
        }
        counts
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

/// Picks the next trial from the study's trials and the next trial number;
/// `None` starts nothing.
pub type Choose<'a> = dyn FnMut(&[TrialRecord], u64) -> Result<Option<NewTrial>> + 'a;

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

    /// Why a running trial of `host`/`pid` last heard of at `heartbeat` is
    /// abandoned, if it is: its process on this host is gone, or, on any host,
    /// its heartbeat is older than the timeout. This worker's own trials never are.
    fn abandons(&self, host: &str, pid: u32, heartbeat: f64, now: f64) -> Option<String> {
        let same_host = host == self.host;
        if same_host && pid == self.pid {
            return None;
        }
        if same_host && !process_alive(pid) {
            return Some(format!(
                "abandoned: its worker (pid {pid} on {host}) is no longer running"
            ));
        }
        (now - heartbeat > self.heartbeat_timeout.as_secs_f64()).then(|| {
            format!(
                "abandoned: no heartbeat from {host} (pid {pid}) for {:.0} s",
                now - heartbeat
            )
        })
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

/// The store of studies and their trials. Both back ends behave the same;
/// `tests/storage.rs` runs one suite against each.
pub trait Storage: Send {
    /// Names the store in messages (a PostgreSQL URL without its password).
    fn location(&self) -> &Location;

    /// Creates the study, or returns the one of that name if another worker
    /// created it first (the caller checks that they match).
    fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord>;
    /// Records the strategy a resumed study continues with.
    fn set_strategy(&self, study_id: i64, strategy: &str) -> Result<()>;
    /// Records the pruner a resumed study continues with.
    fn set_pruner(&self, study_id: i64, pruner: Option<&Value>) -> Result<()>;
    fn study(&self, name: &str) -> Result<Option<StudyRecord>>;
    /// All studies, oldest first.
    fn studies(&self) -> Result<Vec<StudyRecord>>;
    /// All trials of a study, in order of number, with their intermediate values and metrics.
    fn trials(&self, study_id: i64) -> Result<Vec<TrialRecord>>;

    /// Under the study's lock: marks trials of dead workers as failed and
    /// abandoned, lets `choose` pick the next trial from the trials and the next
    /// number, and records it as running. Two workers never get the same number.
    fn begin_trial(&mut self, study_id: i64, worker: &Worker, choose: &mut Choose) -> Result<Option<TrialRecord>>;
    /// Fails a trial that was stopped before it finished; it does not count.
    fn abandon(&self, trial_id: i64, reason: &str) -> Result<()>;
    /// An intermediate value; a repeated step replaces the earlier one.
    fn report(&self, trial_id: i64, step: i64, value: f64) -> Result<()>;
    fn record_metric(&self, trial_id: i64, name: &str, step: Option<i64>, value: f64) -> Result<()>;
    fn heartbeat(&self, trial_id: i64) -> Result<()>;
    /// Records a running trial's end, with the resource it used (its last
    /// step, if it reported any). Returns false, recording nothing, when the
    /// trial is no longer running: another worker took it as abandoned, and an
    /// abandoned trial is never overwritten.
    fn finish(&self, trial_id: i64, state: TrialState, value: Option<f64>, error: Option<&str>) -> Result<bool>;
    /// The loss-free view pruners compare with: for every search trial of the
    /// study that reported a step at or after `step`, its number, state and
    /// value at the first such step.
    fn values_at(&self, study_id: i64, step: i64) -> Result<Vec<(u64, TrialState, f64)>>;

    /// Creates `study` with `trials` exactly as they are (numbers, states,
    /// values, curves), in one transaction: `bo copy`. Refuses a name already taken.
    fn import(&mut self, study: &StudyRecord, trials: &[TrialRecord]) -> Result<StudyRecord>;
}

/// A study's trials as a worker last read them, in order of number. A trial
/// that ended never changes again, so a refresh reads only the trials added
/// since and those that were running: what a worker reads under the study's
/// lock does not grow with the study.
#[derive(Default)]
struct TrialCache {
    study_id: i64,
    trials: Vec<TrialRecord>,
    /// The highest trial id read.
    newest: i64,
}

impl TrialCache {
    /// An empty cache of `study_id`.
    fn new(study_id: i64) -> TrialCache {
        TrialCache {
            study_id,
            ..TrialCache::default()
        }
    }

    /// The cache for `study_id`, taken out of `slot`: empty if it held another study.
    fn take_for(slot: &mut TrialCache, study_id: i64) -> TrialCache {
        match std::mem::take(slot) {
            cache if cache.study_id == study_id => cache,
            _ => TrialCache::new(study_id),
        }
    }

    fn is_empty(&self) -> bool {
        self.trials.is_empty()
    }

    fn trials(&self) -> &[TrialRecord] {
        &self.trials
    }

    fn next_number(&self) -> u64 {
        self.trials.last().map_or(0, |t| t.number + 1)
    }

    /// Brings the cache up to date: `load(newer_than, also)` reads the
    /// study's trials with an id above `newer_than` or in `also`.
    fn refresh(&mut self, load: impl FnOnce(i64, &[i64]) -> Result<Vec<TrialRecord>>) -> Result<()> {
        let running: Vec<i64> = self
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Running)
            .map(|t| t.id)
            .collect();
        let changed = load(self.newest, &running)?;
        // Replace the trials read before while the list is still in order, then add the new ones.
        let mut fresh = Vec::new();
        for trial in changed {
            self.newest = self.newest.max(trial.id);
            match self.trials.binary_search_by_key(&trial.number, |t| t.number) {
                Ok(i) if self.trials[i].id == trial.id => self.trials[i] = trial,
                _ => fresh.push(trial),
            }
        }
        let in_order = match (self.trials.last(), fresh.first()) {
            (Some(last), Some(first)) => last.number < first.number,
            _ => true,
        };
        self.trials.extend(fresh);
        if !in_order {
            self.trials.sort_by_key(|t| t.number);
        }
        Ok(())
    }
}

/// How a command opens the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write, creating the store if there is none (`bo run`).
    Create,
    /// Read and write a store that must exist already (`bo retest`).
    Existing,
    /// Only read: nothing is written, not even a journal mode (`show`, `export`, `studies`).
    ReadOnly,
}

/// A store's address: a PostgreSQL URL (`postgresql://` or `postgres://`)
/// or else an SQLite file's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a storage location cannot be empty".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgresql://") || lower.starts_with("postgres://") {
            return Ok(Location::Postgres(text.to_owned()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "unknown storage scheme `{scheme}://`: give an SQLite file's path or a postgresql:// URL"
            ));
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }
}

impl fmt::Display for Location {
    /// The path, or the URL with its password masked.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&self::postgres::without_password(url)),
        }
    }
}

/// Opens the store at `location`.
pub fn open(location: &Location, access: Access) -> Result<Box<dyn Storage>> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(match access {
            Access::Create => sqlite::SqliteStorage::open(path)?,
            Access::Existing => sqlite::SqliteStorage::open_existing(path)?,
            Access::ReadOnly => sqlite::SqliteStorage::open_read_only(path)?,
        }),
        Location::Postgres(url) => Box::new(postgres::PostgresStorage::open(url, access)?),
    })
}

/// The goal as stored.
fn goal_from_str(goal: &str) -> Goal {
    if goal == "maximize" {
        Goal::Maximize
    } else {
        Goal::Minimize
    }
}

/// A trial's parameters from their stored JSON.
fn params_from_json(number: u64, json: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(json).map_err(|e| anyhow::anyhow!("corrupt parameters of trial {number}: {e}"))? {
        Value::Object(map) => Ok(map),
        _ => bail!("trial {number} has non-object parameters"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_tell_urls_from_paths_and_refuse_unknown_schemes() {
        assert_eq!(
            "bo.db".parse::<Location>().unwrap(),
            Location::Sqlite(PathBuf::from("bo.db"))
        );
        assert!(matches!(
            "PostgreSQL://u@h/db".parse::<Location>().unwrap(),
            Location::Postgres(_)
        ));
        assert!(matches!(
            "postgres://h/db".parse::<Location>().unwrap(),
            Location::Postgres(_)
        ));
        let err = "mysql://h/db".parse::<Location>().unwrap_err();
        assert!(err.contains("mysql://"), "{err}");
        assert!("".parse::<Location>().is_err());
    }

    #[test]
    fn a_location_never_shows_its_password() {
        let shown = "postgresql://bo:s3cret@db.example:5432/studies"
            .parse::<Location>()
            .unwrap()
            .to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("bo@db.example:5432/studies"), "{shown}");
    }

    #[test]
    fn a_worker_never_abandons_its_own_trials_but_does_stale_ones() {
        let worker = Worker {
            host: "here".into(),
            pid: std::process::id(),
            git_commit: None,
            heartbeat_timeout: Duration::from_secs(60),
        };
        let now = 1000.0;
        assert_eq!(worker.abandons("here", worker.pid, 0.0, now), None);
        assert_eq!(worker.abandons("there", 1, now - 10.0, now), None);
        let stale = worker.abandons("there", 1, now - 100.0, now).unwrap();
        assert!(stale.contains("no heartbeat from there"), "{stale}");
        // A pid no process holds on this host: gone, whatever its heartbeat.
        let gone = worker.abandons("here", u32::MAX / 2, now, now).unwrap();
        assert!(gone.contains("no longer running"), "{gone}");
    }
}
