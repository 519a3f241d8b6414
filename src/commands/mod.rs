//! One file per `bo` command; what several of them share is here.

pub mod bench;
pub mod copy;
pub mod dashboard;
pub mod export;
pub mod plot;
pub mod report;
pub mod retest;
pub mod run;
pub mod show;
pub mod studies;
pub mod train;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bo::objective::training::TrainingData;
use bo::objective::{FunctionObjective, HpoObjective, Objective, ProgramObjective, TrainerObjective, INTERRUPTED};
use bo::space::Sweep;
use bo::storage::{Storage, StudyRecord};
use bo_benchmarks::hpo::HpoProblem;
use bo_benchmarks::TestFunction;
use serde_json::Value;

/// The longest duration a flag takes, in seconds (about 31 years): longer
/// ones overflow the clock's arithmetic.
const MAX_SECONDS: f64 = 1e9;

/// A flag's duration in seconds: finite, positive, at most `MAX_SECONDS`.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(s > 0.0 && s <= MAX_SECONDS) {
        return Err(format!(
            "must be more than 0 and at most {MAX_SECONDS:e} seconds, got {text}"
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

/// A study's name: not empty, no control characters.
pub fn study_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("a study name cannot be empty".into());
    }
    if text.chars().any(char::is_control) {
        return Err(format!("a study name cannot hold control characters, got {text:?}"));
    }
    Ok(text.to_owned())
}

pub fn load_study(storage: &dyn Storage, name: &str) -> Result<StudyRecord> {
    storage.study(name)?.with_context(|| {
        let known: Vec<String> = storage
            .studies()
            .map(|s| s.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        format!(
            "no study named `{name}` (studies here: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )
    })
}

/// Makes Ctrl-C, SIGTERM and SIGHUP stop the running trial (its program's
/// whole process group) and leave the study resumable; a second one leaves at once.
pub fn handle_signals() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A resume marks the running trial failed.
            std::process::exit(130);
        }
    })
    .context("cannot install the signal handler")
}

/// What building an objective needs beyond the stored study.
#[derive(Clone)]
pub struct ObjectiveOptions {
    pub trial_timeout: Option<Duration>,
    pub data_dir: PathBuf,
    /// The GPU its programs or training worker see (CUDA_VISIBLE_DEVICES).
    pub gpu: Option<String>,
}

/// The objective a study evaluates. A program is checked before anything
/// runs: it must exist and be executable. `origin` (the sweep file or the
/// study) names where a fault comes from.
pub fn build_objective(
    record: &StudyRecord,
    sweep: &Sweep,
    options: &ObjectiveOptions,
    origin: &str,
) -> Result<Box<dyn Objective>> {
    if let Some(data) = TrainingData::from_study(&record.objective, options.data_dir.clone())
        .with_context(|| format!("study `{}`", record.name))?
    {
        return Ok(Box::new(TrainerObjective::start(
            data,
            options.trial_timeout,
            options.gpu.clone(),
        )?));
    }
    if let Some(name) = record.objective.get("function").and_then(Value::as_str) {
        let function = TestFunction::by_name(name).map_err(anyhow::Error::msg)?;
        let noise_sd = record.objective.get("noise").and_then(Value::as_f64).unwrap_or(0.0);
        return Ok(Box::new(FunctionObjective { function, noise_sd }));
    }
    if let Some(name) = record.objective.get("hpo").and_then(Value::as_str) {
        let noise_sd = record.objective.get("noise").and_then(Value::as_f64).unwrap_or(0.0);
        let problem = HpoProblem::by_name(name, noise_sd).map_err(anyhow::Error::msg)?;
        return Ok(Box::new(HpoObjective { problem }));
    }
    let command = sweep
        .command
        .clone()
        .unwrap_or_else(|| bo::objective::DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect());
    let objective = ProgramObjective {
        program: sweep.program.clone(),
        command,
        metric: record.metric.clone(),
        timeout: options.trial_timeout,
        gpu: options.gpu.clone(),
        nested: sweep.space.nested_paths(),
    };
    if let Err(e) = objective.check() {
        bail!("{origin}: {e}");
    }
    Ok(Box::new(objective))
}
