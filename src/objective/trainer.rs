//! The training objective: each trial trains a network in a `bo-train` worker
//! process (the `trainer/` crate), so that bo itself never loads libtorch.
//!
//! One worker serves many trials: it loads the data onto the device once and
//! then answers each trial request with the JSON lines of `bo-train serve`.
//! A trial stopped early (Ctrl-C, a timeout) kills the worker's process group;
//! the next trial starts a fresh worker.

use std::io::Write;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::process::Group;
use super::training::{TrainingData, METRIC};
use super::{interrupted, Decision, Objective, Outcome, Report, TrialContext};

/// Where `bo-train` is: BO_TRAINER, else beside the running `bo`.
pub fn trainer_program() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("BO_TRAINER") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe().context("cannot find the running bo")?;
    let path = exe.with_file_name("bo-train");
    if !path.is_file() {
        bail!(
            "training needs the worker `bo-train` (it links libtorch), and there is none at {}: \
             build it with scripts/setup.sh, or set BO_TRAINER to its path",
            path.display()
        );
    }
    Ok(path)
}

/// A running `bo-train serve`.
struct Worker {
    group: Group,
    stdin: ChildStdin,
}

impl Worker {
    /// Starts the worker (on `gpu`, if given) and waits until its data is loaded.
    fn start(data: &TrainingData, gpu: Option<&str>) -> Result<Worker> {
        let program = trainer_program()?;
        let mut command = Command::new(&program);
        command.arg("serve").args(data.worker_args()).stdin(Stdio::piped());
        if let Some(gpu) = gpu {
            command.env("CUDA_VISIBLE_DEVICES", gpu);
        }
        // Standard error goes straight to the user: download progress, libtorch's warnings.
        let mut group =
            Group::spawn(&mut command, None).with_context(|| format!("cannot start {}", program.display()))?;
        let stdin = group.child.stdin.take().expect("piped");
        loop {
            if interrupted() {
                group.finish().ok();
                bail!("interrupted while the training worker loaded the data");
            }
            match group.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let Ok(message) = serde_json::from_str::<Map<String, Value>>(&line) else {
                        continue;
                    };
                    if let Some(error) = message.get("error").and_then(Value::as_str) {
                        let error = error.to_owned();
                        group.finish().ok();
                        bail!("{error}");
                    }
                    if message.get("ready").is_some() {
                        return Ok(Worker { group, stdin });
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let status = group.finish();
                    bail!(
                        "the training worker {} exited before it was ready ({})",
                        program.display(),
                        status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
                    );
                }
            }
        }
    }
}

pub struct TrainerObjective {
    data: TrainingData,
    timeout: Option<Duration>,
    gpu: Option<String>,
    /// Shared by the studies of a benchmark: one worker, one trial at a time.
    worker: Arc<Mutex<Option<Worker>>>,
}

impl TrainerObjective {
    /// Starts the worker now, so that missing data fails before any trial.
    pub fn start(data: TrainingData, timeout: Option<Duration>, gpu: Option<String>) -> Result<Self> {
        let worker = Worker::start(&data, gpu.as_deref())?;
        Ok(TrainerObjective {
            data,
            timeout,
            gpu,
            worker: Arc::new(Mutex::new(Some(worker))),
        })
    }

    /// Another objective on the same worker.
    pub fn sharing(&self) -> TrainerObjective {
        TrainerObjective {
            data: self.data.clone(),
            timeout: self.timeout,
            gpu: self.gpu.clone(),
            worker: Arc::clone(&self.worker),
        }
    }
}

/// Records every number of a worker line but `skip` as a metric.
fn report_metrics(
    line: &Map<String, Value>,
    step: Option<i64>,
    skip: &[&str],
    report: &mut dyn FnMut(Report) -> Decision,
) {
    for (name, value) in line {
        if let Some(value) = value.as_f64().filter(|_| !skip.contains(&name.as_str())) {
            report(Report::Metric { name, step, value });
        }
    }
}

impl Objective for TrainerObjective {
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report) -> Decision) -> Outcome {
        let mut slot = self.worker.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            match Worker::start(&self.data, self.gpu.as_deref()) {
                Ok(w) => *slot = Some(w),
                Err(e) => return Outcome::Failed(format!("cannot start the training worker: {e:#}")),
            }
        }
        let worker = slot.as_mut().expect("started");
        let request = json!({"trial": trial.number, "seed": trial.seed, "params": trial.params});
        if writeln!(worker.stdin, "{request}")
            .and_then(|_| worker.stdin.flush())
            .is_err()
        {
            let status = worker.group.finish();
            *slot = None;
            return Outcome::Failed(format!("the training worker had died ({status:?})"));
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        // Anything but a finished trial leaves the worker mid-trial: it is killed.
        let outcome = loop {
            if interrupted() {
                break Outcome::Interrupted;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Outcome::Failed(format!(
                    "timed out after {} s",
                    self.timeout.unwrap_or_default().as_secs_f64()
                ));
            }
            let line = match worker.group.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    let status = worker.group.finish();
                    break Outcome::Failed(format!(
                        "the training worker died ({})",
                        status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
                    ));
                }
            };
            let Ok(message) = serde_json::from_str::<Map<String, Value>>(&line) else {
                continue;
            };
            if message.contains_key("done") {
                if let Some(error) = message.get("error").and_then(Value::as_str) {
                    return Outcome::Failed(error.to_owned());
                }
                if message.contains_key("pruned") {
                    return Outcome::Pruned;
                }
                report_metrics(&message, None, &["done", METRIC], report);
                return match message.get(METRIC).and_then(Value::as_f64) {
                    Some(value) => Outcome::Complete(value),
                    None => Outcome::Failed(format!("the training worker reported no `{METRIC}`")),
                };
            }
            if let Some(step) = message.get("step").and_then(Value::as_i64) {
                // JSON has no NaN: a value that is not a number comes as null.
                let Some(value) = message.get(METRIC).and_then(Value::as_f64) else {
                    break Outcome::Failed(format!(
                        "the training worker reported no finite `{METRIC}` at step {step}"
                    ));
                };
                let prune = report(Report::Intermediate { step, value }) == Decision::Prune;
                report_metrics(&message, Some(step), &["step", METRIC], report);
                // The worker waits for the answer after every epoch.
                let answer = json!({ "prune": prune });
                if writeln!(worker.stdin, "{answer}")
                    .and_then(|_| worker.stdin.flush())
                    .is_err()
                {
                    break Outcome::Failed("the training worker stopped listening".into());
                }
            }
        };
        if let Some(mut stopped) = slot.take() {
            stopped.group.finish().ok();
        }
        outcome
    }
}
