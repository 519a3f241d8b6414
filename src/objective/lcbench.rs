use std::sync::Arc;

use bo_benchmarks::lcbench::{Config, Lcbench, MAX_EPOCH};
use serde_json::{json, Map, Value};

use super::{Decision, Objective, Outcome, Report, TrialContext};

/// One LCBench task as an objective: the validation error (percent) after the
/// last epoch, with every epoch's error as an intermediate value (the fidelity).
pub struct LcbenchObjective {
    pub bench: Arc<Lcbench>,
    pub task: String,
}

impl LcbenchObjective {
    /// The sweep of LCBench's seven hyperparameters (YAHPO's config space).
    pub fn sweep() -> Value {
        json!({
            "method": "bayes",
            "metric": {"name": "val_error", "goal": "minimize"},
            "parameters": {
                "batch_size": {"distribution": "q_log_uniform_values", "min": 16, "max": 512, "q": 1},
                "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
                "momentum": {"distribution": "uniform", "min": 0.1, "max": 0.99},
                "weight_decay": {"distribution": "uniform", "min": 1e-5, "max": 0.1},
                "num_layers": {"distribution": "int_uniform", "min": 1, "max": 5},
                "max_units": {"distribution": "q_log_uniform_values", "min": 64, "max": 1024, "q": 1},
                "max_dropout": {"distribution": "uniform", "min": 0.0, "max": 1.0}
            }
        })
    }

    fn config(params: &Map<String, Value>, epoch: u32) -> Result<Config, String> {
        let get = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("parameter `{k}` is missing or not a number"))
        };
        Ok(Config {
            epoch: epoch as f64,
            batch_size: get("batch_size")?,
            learning_rate: get("learning_rate")?,
            momentum: get("momentum")?,
            weight_decay: get("weight_decay")?,
            num_layers: get("num_layers")?,
            max_units: get("max_units")?,
            max_dropout: get("max_dropout")?,
        })
    }

    /// Validation error after `epoch` epochs.
    pub fn error_at(&self, params: &Map<String, Value>, epoch: u32) -> Result<f64, String> {
        let config = Self::config(params, epoch)?;
        self.bench
            .predict(&self.task, &config)
            .map(|p| 100.0 - p.val_accuracy)
            .map_err(|e| format!("{e:#}"))
    }
}

impl Objective for LcbenchObjective {
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report) -> Decision) -> Outcome {
        let mut last = f64::NAN;
        for epoch in 1..=MAX_EPOCH {
            match self.error_at(trial.params, epoch) {
                Ok(error) => {
                    let step = epoch as i64;
                    if report(Report::Intermediate { step, value: error }) == Decision::Prune {
                        return Outcome::Pruned;
                    }
                    last = error;
                }
                Err(e) => return Outcome::Failed(e),
            }
        }
        Outcome::Complete(last)
    }
}
