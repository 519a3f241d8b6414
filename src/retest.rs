//! The optimizer's curse: the best search score is partly luck. Re-testing the
//! top configurations with fresh seeds shows how much, and recommends the
//! configuration that is best on re-test, not the luckiest one.

use anyhow::Result;
use bo_benchmarks::stats;
use serde_json::{Map, Value};

use crate::objective::{Objective, Outcome};
use crate::space::Goal;
use crate::storage::{NewTrial, Storage, TrialRecord, TrialState, Worker};
use crate::study::{execute, trial_seed, Study};

/// Mixed into the study seed so re-test seeds come from a stream of their own.
const RETEST_STREAM: u64 = 0x5245_5445_5354_0001;

/// One re-tested configuration.
#[derive(Clone, Debug)]
pub struct RetestRow {
    pub trial: u64,
    pub params: Map<String, Value>,
    pub search_value: f64,
    /// Values of the completed re-tests.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Half-width of the 95% interval of the mean (Student t); NaN below two values.
    pub half_width: f64,
    /// How much worse the re-test mean is than the search score, in the goal's
    /// direction: the part of the search score that was luck.
    pub drop: f64,
    pub failed: usize,
}

impl RetestRow {
    /// The table cells every view of re-tests shows, in order: trial, search
    /// score, re-test mean ± half-width (the mean alone below two re-tests),
    /// drop and the number of re-tests.
    pub fn cells(&self) -> [String; 5] {
        use crate::format::format_value;
        let interval = if self.half_width.is_finite() {
            format!("{} ± {}", format_value(self.mean), format_value(self.half_width))
        } else {
            format_value(self.mean)
        };
        [
            self.trial.to_string(),
            format_value(self.search_value),
            interval,
            format_value(self.drop),
            self.values.len().to_string(),
        ]
    }
}

/// The two-sided 95% Student t quantile for `df` degrees of freedom.
fn t_quantile(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// The top `k` complete search trials, best first.
fn top_trials(goal: Goal, trials: &[TrialRecord], k: usize) -> Vec<&TrialRecord> {
    let mut complete: Vec<&TrialRecord> = trials
        .iter()
        .filter(|t| t.is_search() && t.state == TrialState::Complete && t.value.is_some_and(f64::is_finite))
        .collect();
    complete.sort_by(|a, b| {
        goal.to_loss(a.value.unwrap())
            .total_cmp(&goal.to_loss(b.value.unwrap()))
    });
    complete.truncate(k);
    complete
}

/// The re-test summary of every re-tested configuration, best re-test mean first.
pub fn rows(goal: Goal, trials: &[TrialRecord]) -> Vec<RetestRow> {
    let mut rows: Vec<RetestRow> = trials
        .iter()
        .filter(|t| t.is_search() && trials.iter().any(|r| r.retest_of == Some(t.number)))
        .filter_map(|t| {
            let retests: Vec<&TrialRecord> = trials.iter().filter(|r| r.retest_of == Some(t.number)).collect();
            let values: Vec<f64> = retests
                .iter()
                .filter(|r| r.state == TrialState::Complete)
                .filter_map(|r| r.value.filter(|v| v.is_finite()))
                .collect();
            let failed = retests
                .iter()
                .filter(|r| r.state == TrialState::Failed && !r.abandoned)
                .count();
            let search_value = t.value?;
            let mean = stats::mean(&values);
            let half_width =
                t_quantile(values.len().saturating_sub(1)) * stats::sample_sd(&values) / (values.len() as f64).sqrt();
            let drop = goal.to_loss(mean) - goal.to_loss(search_value);
            Some(RetestRow {
                trial: t.number,
                params: t.params.clone(),
                search_value,
                values,
                mean,
                half_width,
                drop,
                failed,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &RetestRow| {
            if r.values.is_empty() {
                f64::INFINITY
            } else {
                goal.to_loss(r.mean)
            }
        };
        key(a).total_cmp(&key(b))
    });
    rows
}

/// Re-runs the `top_k` best configurations until each has `seeds` re-tests
/// (earlier re-tests count, so an interrupted re-test resumes). Seeds come
/// from a stream of their own and skip every seed the study has used.
/// Returns false if Ctrl-C stopped it.
pub fn run(
    storage: &mut dyn Storage,
    study: &Study,
    objective: &mut dyn Objective,
    worker: &Worker,
    top_k: usize,
    seeds: usize,
) -> Result<bool> {
    let goal = study.goal();
    let trials = storage.trials(study.record.id)?;
    let targets: Vec<(u64, Map<String, Value>)> = top_trials(goal, &trials, top_k)
        .into_iter()
        .map(|t| (t.number, t.params.clone()))
        .collect();
    let mut stream = 0u64;
    for (number, params) in targets {
        loop {
            let started = storage.begin_trial(study.record.id, worker, &mut |trials, _| {
                let done = trials
                    .iter()
                    .filter(|t| t.retest_of == Some(number) && t.counts_as_retest())
                    .count();
                if done >= seeds {
                    return Ok(None);
                }
                let used: std::collections::HashSet<u64> = trials.iter().map(|t| t.seed).collect();
                let seed = loop {
                    let candidate = trial_seed(study.record.seed ^ RETEST_STREAM, stream);
                    stream += 1;
                    if !used.contains(&candidate) {
                        break candidate;
                    }
                };
                Ok(Some(NewTrial {
                    params: params.clone(),
                    seed,
                    suggest_seconds: None,
                    retest_of: Some(number),
                }))
            })?;
            let Some(trial) = started else { break };
            // Re-tests run to the end: no pruner.
            if execute(storage, study, objective, &trial, None)? == Outcome::Interrupted {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The re-test table for people.
pub fn render(goal: Goal, metric: &str, rows: &[RetestRow]) -> String {
    use crate::format::format_value;
    let mut out = format!(
        "re-test of the top {} by search score ({} {metric}); drop > 0: the search score was luckier than the configuration\n",
        rows.len(),
        goal.as_str()
    );
    out += &format!(
        "{:>4}  {:>6}  {:>12}  {:>24}  {:>10}  {:>5}  parameters\n",
        "rank", "trial", "search", "re-test mean ± 95%", "drop", "n"
    );
    for (rank, r) in rows.iter().enumerate() {
        let failed = if r.failed > 0 {
            format!(" ({} failed)", r.failed)
        } else {
            String::new()
        };
        let [trial, search, interval, drop, n] = r.cells();
        out += &format!(
            "{:>4}  {trial:>6}  {search:>12}  {interval:>24}  {drop:>10}  {n:>5}  {}{failed}\n",
            rank + 1,
            Value::Object(r.params.clone())
        );
    }
    if let Some(best) = rows.first().filter(|r| !r.values.is_empty()) {
        out += &format!(
            "recommended: trial {} (best re-test mean {})\n",
            best.trial,
            format_value(best.mean)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_shrink_towards_the_normal() {
        assert_eq!(t_quantile(4), 2.776);
        assert!(t_quantile(30) > t_quantile(31) && t_quantile(31) > 1.96 && t_quantile(1000) < 1.97);
        assert!(t_quantile(0).is_nan());
    }
}
