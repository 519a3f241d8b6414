//! The study loop: ask the strategy, record the trial, evaluate, record the result.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Result};
use bo_surrogates::pruners::{PeerValue, Peers, Progress, Pruner};
use bo_surrogates::{CurveObservation, History, Observation, Sampler};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::objective::{interrupted, Decision, Objective, Outcome, Report, TrialContext};
use crate::space::{Goal, Space, Sweep};
use crate::storage::{self, Access, Location, NewTrial, Storage, StudyRecord, TrialRecord, TrialState, Worker};

/// A study as stored, with its sweep parsed.
pub struct Study {
    pub record: StudyRecord,
    pub sweep: Sweep,
}

impl Study {
    pub fn goal(&self) -> Goal {
        self.record.goal
    }
}

/// The seed of trial `number`: distinct per trial, fixed by the study's seed.
pub fn trial_seed(study_seed: u64, number: u64) -> u64 {
    // splitmix64 of the pair.
    let mut z = study_seed ^ number.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

/// The observations model-based strategies need at a fidelity before it is
/// the one they learn from: about two per searched parameter.
fn enough_at_level(dims: usize) -> usize {
    (2 * dims).max(10)
}

/// Where a trial's value is read for the strategies under a pruner.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Level {
    /// The final value of complete trials.
    Final,
    /// The value at the first step at or after this one.
    Step(i64),
}

/// A trial's value (as reported) at the first step at or after `step`.
fn value_at(trial: &TrialRecord, step: i64) -> Option<f64> {
    report_at(trial, step).map(|p| p.1)
}

/// A trial's first report (step, value) at or after `step`.
fn report_at(trial: &TrialRecord, step: i64) -> Option<(i64, f64)> {
    trial.intermediate.iter().find(|(s, _)| *s >= step).copied()
}

/// BOHB's choice: the highest fidelity with enough observations, else the
/// best-populated one. Fidelities are the pruner's rungs (every reported step
/// for pruners without rungs) and the final value.
fn fidelity_level(dims: usize, trials: &[&TrialRecord], pruner: &dyn Pruner) -> Level {
    let count = |level: Level| {
        trials
            .iter()
            .filter(|t| match level {
                Level::Final => t.state == TrialState::Complete,
                Level::Step(s) => {
                    matches!(t.state, TrialState::Complete | TrialState::Pruned) && value_at(t, s).is_some()
                }
            })
            .count()
    };
    let mut steps: Vec<i64> = trials
        .iter()
        .flat_map(|t| {
            pruner
                .rungs(t.number)
                .unwrap_or_else(|| t.intermediate.iter().map(|p| p.0).collect())
        })
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let levels = std::iter::once(Level::Final).chain(steps.into_iter().rev().map(Level::Step));
    let counted: Vec<(Level, usize)> = levels.map(|l| (l, count(l))).collect();
    counted
        .iter()
        .find(|(_, n)| *n >= enough_at_level(dims))
        .or_else(|| counted.iter().max_by_key(|(_, n)| *n))
        .map_or(Level::Final, |(l, _)| *l)
}

/// A finished or pruned trial's reports where the pruner compares trials
/// (the first at or after each rung; for pruners without rungs, after steps
/// 1, 2, 4, 8, …), each at the step it was reported, and its last step, where
/// a complete trial has its final value.
fn curve_observations(trial: &TrialRecord, point: &[f64], pruner: &dyn Pruner, goal: Goal) -> Vec<CurveObservation> {
    let final_value = match trial.state {
        TrialState::Complete => trial.value,
        TrialState::Pruned => trial.intermediate.last().map(|p| p.1),
        TrialState::Running | TrialState::Failed => return Vec::new(),
    };
    let last = resource_used(trial);
    let marks: Vec<i64> = pruner
        .rungs(trial.number)
        .unwrap_or_else(|| (0..63).map(|k| 1i64 << k).take_while(|&s| s < last).collect());
    let mut reports: Vec<(i64, f64)> = marks
        .into_iter()
        .filter_map(|mark| report_at(trial, mark))
        .filter(|&(step, _)| step < last)
        .collect();
    reports.dedup_by_key(|r| r.0);
    let at_last = final_value.filter(|_| last > 0).map(|v| (last, v));
    reports
        .into_iter()
        .chain(at_last)
        .filter(|(_, v)| v.is_finite())
        .map(|(step, v)| CurveObservation {
            point: point.to_vec(),
            step,
            value: goal.to_loss(v),
        })
        .collect()
}

/// What strategies learn from stored trials. Configurations outside the
/// space (a study resumed with a changed sweep) are left out. Under a
/// pruner, values come from one fidelity (BOHB's rule, see
/// [`fidelity_level`]): pruned trials there are low-fidelity evidence, never
/// failures and never final values; those stopped below it are only kept from
/// being proposed again. Under a pruner, `curves` also holds every such
/// trial's values at its rungs and its last step, for the GP, which takes
/// the fidelity as an input.
pub fn history(space: &Space, goal: Goal, trials: &[TrialRecord], pruner: Option<&dyn Pruner>) -> History {
    let searched: Vec<&TrialRecord> = trials.iter().filter(|t| t.is_search() && !t.abandoned).collect();
    let level = match pruner {
        Some(p) => fidelity_level(space.searched().count(), &searched, p),
        None => Level::Final,
    };
    let domain = space.domain();
    let mut history = History::default();
    for trial in searched {
        let Some(mut point) = space.encode(&trial.params) else {
            continue;
        };
        // Inactive parameters at their canonical coordinate, as suggestions have them.
        domain.snap(&mut point);
        if let Some(pruner) = pruner {
            history.curves.extend(curve_observations(trial, &point, pruner, goal));
        }
        let observed = match (trial.state, level) {
            (TrialState::Complete, Level::Final) => trial.value,
            (TrialState::Complete | TrialState::Pruned, Level::Step(step)) => value_at(trial, step),
            _ => None,
        };
        match (trial.state, observed) {
            (TrialState::Running, _) => history.pending.push(point),
            (TrialState::Complete | TrialState::Pruned, Some(v)) if v.is_finite() => {
                history.complete.push(Observation {
                    point,
                    value: goal.to_loss(v),
                })
            }
            (TrialState::Complete | TrialState::Pruned, _) => history.seen.push(point),
            (TrialState::Failed, _) => history.failed.push(point),
        }
    }
    history
}

/// The best complete search trial (re-tests excluded).
pub fn best_trial(goal: Goal, trials: &[TrialRecord]) -> Option<&TrialRecord> {
    trials
        .iter()
        .filter(|t| t.is_search() && t.state == TrialState::Complete && t.value.is_some_and(f64::is_finite))
        .min_by(|a, b| {
            goal.to_loss(a.value.unwrap())
                .total_cmp(&goal.to_loss(b.value.unwrap()))
        })
}

/// Whether two failures have the same cause: they may differ in the numbers
/// they quote (a trial's parameters, a line number, a process id).
fn same_failure(a: &str, b: &str) -> bool {
    let shape = |s: &str| -> String { s.chars().filter(|c| !c.is_ascii_digit() && *c != '.').collect() };
    shape(a) == shape(b)
}

#[derive(Clone)]
pub struct RunSettings {
    /// The study's total number of trials, earlier ones included.
    pub trials: usize,
    pub quiet: bool,
    /// Stop once this many trials in a row failed for the same reason (0: never).
    pub max_failures: usize,
    /// Start no trial once the study's trials used this many steps in all.
    pub resource_budget: Option<i64>,
}

pub struct RunReport {
    pub interrupted: bool,
    /// The reason shared by the `max_failures` trials in a row that stopped the study.
    pub failing: Option<String>,
    /// Whether a finite space ran out before the requested total.
    pub exhausted: bool,
}

/// Keeps a running trial's heartbeat fresh from a thread of its own; dropping
/// it stops the thread at once.
struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

/// How often a running trial's heartbeat is written.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(5);
/// The shortest heartbeat timeout a worker may use: three missed beats, so
/// that workers never take each other's live trials as abandoned.
pub const MIN_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3 * HEARTBEAT_PERIOD.as_secs());

impl Heartbeat {
    fn start(location: Location, trial_id: i64) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            // Connect only once a beat is due: most trials of cheap objectives end first.
            let mut storage = None;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT_PERIOD) {
                if storage.is_none() {
                    storage = storage::open(&location, Access::Existing).ok();
                }
                if let Some(s) = &storage {
                    let _ = s.heartbeat(trial_id);
                }
            }
        });
        Heartbeat {
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Closing the channel wakes the thread.
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The other trials' values at a step, read from the store for a pruner.
struct StoredPeers<'a> {
    storage: &'a dyn Storage,
    study_id: i64,
    goal: Goal,
    error: Option<anyhow::Error>,
}

impl Peers for StoredPeers<'_> {
    fn at(&mut self, step: i64) -> Vec<PeerValue> {
        match self.storage.values_at(self.study_id, step) {
            Ok(values) => values
                .into_iter()
                .map(|(number, state, value)| PeerValue {
                    number,
                    complete: state == TrialState::Complete,
                    loss: self.goal.to_loss(value),
                })
                .collect(),
            Err(e) => {
                self.error.get_or_insert(e);
                Vec::new()
            }
        }
    }
}

/// Evaluates a started trial and records its outcome: the value, the
/// failure and its reason, a trial the pruner stopped (with its last value
/// and step), or (on Ctrl-C) an abandoned trial.
pub fn execute(
    storage: &dyn Storage,
    study: &Study,
    objective: &mut dyn Objective,
    trial: &TrialRecord,
    pruner: Option<&dyn Pruner>,
) -> Result<Outcome> {
    let heartbeat = Heartbeat::start(storage.location().clone(), trial.id);
    let context = TrialContext {
        study: &study.record.name,
        number: trial.number,
        seed: trial.seed,
        params: &trial.params,
    };
    let goal = study.goal();
    let mut report_error = None;
    // The trial's curve as losses, for the pruner, and its last reported value.
    let mut curve: Vec<(i64, f64)> = Vec::new();
    let mut last = None;
    let mut not_finite = None;
    let outcome = objective.evaluate(&context, &mut |report| {
        let (step, value) = match report {
            Report::Metric { name, step, value } => {
                if let Err(e) = storage.record_metric(trial.id, name, step, value) {
                    report_error.get_or_insert(e);
                }
                return Decision::Continue;
            }
            Report::Intermediate { value, step } if !value.is_finite() => {
                not_finite.get_or_insert(format!("the intermediate value at step {step} is {value}"));
                return Decision::Prune;
            }
            Report::Intermediate { step, value } => (step, value),
        };
        if let Err(e) = storage.report(trial.id, step, value) {
            report_error.get_or_insert(e);
            return Decision::Continue;
        }
        curve.push((step, goal.to_loss(value)));
        last = Some(value);
        let Some(pruner) = pruner else {
            return Decision::Continue;
        };
        let mut peers = StoredPeers {
            storage,
            study_id: study.record.id,
            goal,
            error: None,
        };
        let prune = pruner.should_prune(
            &Progress {
                number: trial.number,
                curve: &curve,
            },
            &mut peers,
        );
        if let Some(e) = peers.error {
            report_error.get_or_insert(e);
        }
        if prune {
            Decision::Prune
        } else {
            Decision::Continue
        }
    });
    drop(heartbeat);
    if let Some(e) = report_error {
        return Err(e.context(format!("cannot record an intermediate value of trial {}", trial.number)));
    }
    // No objective may hand a NaN to the strategies.
    let outcome = match (outcome, not_finite) {
        (_, Some(reason)) => Outcome::Failed(reason),
        (Outcome::Complete(value), None) if !value.is_finite() => {
            Outcome::Failed(format!("the objective returned {value}"))
        }
        (other, None) => other,
    };
    let recorded = match &outcome {
        Outcome::Complete(value) => storage.finish(trial.id, TrialState::Complete, Some(*value), None)?,
        Outcome::Failed(reason) => storage.finish(trial.id, TrialState::Failed, None, Some(reason))?,
        Outcome::Pruned => storage.finish(trial.id, TrialState::Pruned, last, None)?,
        Outcome::Interrupted => {
            storage.abandon(trial.id, "interrupted (Ctrl-C, SIGTERM or SIGHUP) before it finished")?;
            true
        }
    };
    if !recorded {
        eprintln!(
            "warning: trial {} was taken as abandoned by another worker before it finished (is a worker's \
             --heartbeat-timeout too short?); its result is not recorded",
            trial.number
        );
    }
    Ok(outcome)
}

/// The resource a trial used so far: its last step (0 before any).
pub fn resource_used(trial: &TrialRecord) -> i64 {
    trial
        .resource
        .or_else(|| trial.intermediate.last().map(|p| p.0))
        .unwrap_or(0)
}

pub fn run(
    storage: &mut dyn Storage,
    study: &Study,
    sampler: &mut dyn Sampler,
    objective: &mut dyn Objective,
    worker: &Worker,
    settings: &RunSettings,
    pruner: Option<&dyn Pruner>,
) -> Result<RunReport> {
    let space = &study.sweep.space;
    let domain = space.domain();
    let goal = study.goal();
    let progress = ProgressBar::with_draw_target(
        Some(settings.trials as u64),
        if settings.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    progress.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} trials · best {msg} · {elapsed_precise} elapsed, ETA {eta_precise}",
        )
        .expect("valid template"),
    );
    let finished = |trials: &[TrialRecord]| {
        trials
            .iter()
            .filter(|t| t.counts() && t.state != TrialState::Running)
            .count()
    };
    let show_best = |trials: &[TrialRecord]| {
        let best = best_trial(goal, trials)
            .and_then(|t| t.value)
            .map(crate::format::format_value)
            .unwrap_or_else(|| "–".into());
        match trials.iter().filter(|t| t.state == TrialState::Pruned).count() {
            0 => best,
            pruned => format!("{best} · {pruned} pruned"),
        }
    };

    let mut exhausted = false;
    let mut first = true;
    // The reason the latest trials failed for, and how many in a row.
    let mut streak: Option<(String, usize)> = None;
    loop {
        if interrupted() {
            progress.abandon();
            return Ok(RunReport {
                interrupted: true,
                failing: None,
                exhausted,
            });
        }
        let started = storage.begin_trial(study.record.id, worker, &mut |trials, number| {
            // The store's latest trials, read for the strategy anyway, also drive the bar.
            progress.set_position(finished(trials) as u64);
            progress.set_message(show_best(trials));
            if std::mem::take(&mut first) {
                progress.reset_eta();
            }
            if trials.iter().filter(|t| t.counts()).count() >= settings.trials {
                return Ok(None);
            }
            if let Some(budget) = settings.resource_budget {
                let used: i64 = trials.iter().filter(|t| t.counts()).map(resource_used).sum();
                if used >= budget {
                    return Ok(None);
                }
            }
            // What the strategy takes to propose, reading the history included.
            let clock = std::time::Instant::now();
            let history = history(space, goal, trials, pruner);
            match sampler
                .suggest(&domain, &history)
                .map_err(|e| anyhow!("strategy `{}`: {e}", study.record.strategy))?
            {
                Some(point) => Ok(Some(NewTrial {
                    params: space.decode(&point),
                    seed: trial_seed(study.record.seed, number),
                    suggest_seconds: Some(clock.elapsed().as_secs_f64()),
                    retest_of: None,
                })),
                None => {
                    exhausted = true;
                    Ok(None)
                }
            }
        })?;
        let Some(trial) = started else { break };

        let outcome = execute(storage, study, objective, &trial, pruner)?;
        match &outcome {
            Outcome::Failed(reason) => {
                progress.suspend(|| eprintln!("trial {} failed: {reason}", trial.number));
                streak = match streak.take() {
                    Some((last, n)) if same_failure(&last, reason) => Some((last, n + 1)),
                    _ => Some((reason.clone(), 1)),
                };
                if streak.as_ref().is_some_and(|(_, n)| *n == settings.max_failures) {
                    progress.abandon();
                    return Ok(RunReport {
                        interrupted: false,
                        failing: Some(reason.clone()),
                        exhausted,
                    });
                }
            }
            _ => streak = None,
        }
        if outcome == Outcome::Interrupted {
            progress.abandon();
            return Ok(RunReport {
                interrupted: true,
                failing: None,
                exhausted,
            });
        }
    }
    progress.finish();
    Ok(RunReport {
        interrupted: false,
        failing: None,
        exhausted,
    })
}

#[cfg(test)]
mod tests {
    use bo_surrogates::pruners::Asha;
    use serde_json::json;

    use super::*;

    /// Trial `number` at x, with its curve (step, value) and its state.
    fn trial(number: u64, x: f64, state: TrialState, curve: &[(i64, f64)]) -> TrialRecord {
        let last = curve.last().copied();
        TrialRecord::for_test(
            number,
            state,
            json!({ "x": x }),
            last.map(|p| p.1),
            curve,
            last.map(|p| p.0),
        )
    }

    /// One parameter x in [0, 1], and ASHA with rungs at steps 1 and 3.
    fn space_and_asha() -> (Space, Asha) {
        let space = Sweep::from_value(json!({"parameters": {"x": {"min": 0.0, "max": 1.0}}}), "test")
            .unwrap()
            .space;
        let asha = Asha {
            max_resource: Some(9),
            ..Asha::default()
        };
        (space, asha)
    }

    #[test]
    fn under_a_pruner_strategies_learn_at_the_highest_rung_with_enough_trials() {
        let (space, asha) = space_and_asha();
        // Ten trials pruned at step 1, three more at step 3, two complete at 9.
        let mut trials: Vec<TrialRecord> = (0..10)
            .map(|i| trial(i, i as f64 / 20.0, TrialState::Pruned, &[(1, 5.0 + i as f64)]))
            .collect();
        trials.extend((10..13).map(|i| trial(i, i as f64 / 20.0, TrialState::Pruned, &[(1, 1.0), (3, 2.0)])));
        trials.extend((13..15).map(|i| {
            trial(
                i,
                i as f64 / 20.0,
                TrialState::Complete,
                &[(1, 0.5), (3, 0.4), (9, 0.1)],
            )
        }));
        trials.push(trial(15, 0.9, TrialState::Running, &[(1, 0.3)]));
        let h = history(&space, Goal::Minimize, &trials, Some(&asha));
        // Only step 1 has ten trials (1D: at least 10): every finished trial is
        // an observation there, at its step-1 value; none is a failure.
        assert_eq!(h.complete.len(), 15);
        assert!(h.complete.iter().all(|o| o.value != 0.1 && o.value != 2.0));
        assert!(h.failed.is_empty() && h.seen.is_empty());
        assert_eq!(h.pending.len(), 1);
        // Without a pruner only the complete trials count, at their final values;
        // the pruned ones are not failures either.
        let plain = history(&space, Goal::Minimize, &trials, None);
        assert_eq!(
            plain.complete.iter().map(|o| o.value).collect::<Vec<_>>(),
            vec![0.1, 0.1]
        );
        assert_eq!((plain.failed.len(), plain.seen.len()), (0, 13));
        assert!(plain.curves.is_empty());
    }

    #[test]
    fn under_a_pruner_curves_hold_each_trials_values_at_its_rungs_and_its_last_step() {
        let (space, asha) = space_and_asha();
        let complete = TrialRecord::for_test(
            0,
            TrialState::Complete,
            json!({"x": 0.5}),
            Some(0.05),
            &[(1, 0.9), (2, 0.8), (4, 0.3), (9, 0.1)],
            Some(9),
        );
        let trials = [
            complete,
            trial(1, 0.2, TrialState::Pruned, &[(1, 0.7), (2, 0.6)]),
            trial(2, 0.4, TrialState::Failed, &[(1, 0.2)]),
            trial(3, 0.6, TrialState::Running, &[(1, 0.2)]),
            trial(4, 0.8, TrialState::Pruned, &[(1, f64::NAN)]),
        ];
        let h = history(&space, Goal::Maximize, &trials, Some(&asha));
        let curves: Vec<(f64, i64, f64)> = h.curves.iter().map(|o| (o.point[0], o.step, o.value)).collect();
        // Rung 3 is read at the first report after it, step 4; the complete
        // trial's last step holds its final value, not its last report; values
        // are losses (maximized, so negated); running, failed and NaN give none.
        assert_eq!(
            curves,
            vec![
                (0.5, 1, -0.9),
                (0.5, 4, -0.3),
                (0.5, 9, -0.05),
                (0.2, 1, -0.7),
                (0.2, 2, -0.6)
            ]
        );
        // Without rungs (the median pruner): the reports after steps 1, 2, 4
        // and 8 (that one is step 9, the last).
        let median = bo_surrogates::pruners::median(5, 1, 1);
        let steps: Vec<i64> = history(&space, Goal::Minimize, &trials[..1], Some(&median))
            .curves
            .iter()
            .map(|o| o.step)
            .collect();
        assert_eq!(steps, vec![1, 2, 4, 9]);
    }
}
