use bo_benchmarks::hpo::HpoProblem;
use bo_benchmarks::TestFunction;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Map, Value};

use super::{Decision, Objective, Outcome, Report, TrialContext};

/// A test function of `bo-benchmarks`, optionally with additive Gaussian noise.
pub struct FunctionObjective {
    pub function: TestFunction,
    pub noise_sd: f64,
}

impl FunctionObjective {
    /// The sweep (as JSON) searching the function's domain: parameters x1..xd.
    pub fn sweep(&self) -> Value {
        let parameters: Map<String, Value> = self
            .function
            .bounds
            .iter()
            .enumerate()
            .map(|(i, (lo, hi))| {
                (
                    format!("x{}", i + 1),
                    json!({"distribution": "uniform", "min": lo, "max": hi}),
                )
            })
            .collect();
        json!({"method": "bayes", "metric": {"name": "value", "goal": "minimize"}, "parameters": parameters})
    }

    /// The noise-free value at a configuration.
    pub fn true_value(&self, params: &Map<String, Value>) -> Result<f64, String> {
        let x: Vec<f64> = (1..=self.function.dim())
            .map(|i| {
                params
                    .get(&format!("x{i}"))
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("parameter x{i} is missing or not a number"))
            })
            .collect::<Result<_, _>>()?;
        Ok(self.function.evaluate(&x))
    }
}

/// A mixed HPO-shaped benchmark problem (`bo_benchmarks::hpo`), with its noise.
pub struct HpoObjective {
    pub problem: HpoProblem,
}

/// The value with Gaussian noise of sd `noise_sd` drawn from the trial's seed.
fn observe(value: Result<f64, String>, noise_sd: f64, seed: u64) -> Outcome {
    match value {
        Ok(value) if noise_sd > 0.0 => {
            let mut rng = StdRng::seed_from_u64(seed);
            let noise = Normal::new(0.0, noise_sd)
                .expect("sd checked positive")
                .sample(&mut rng);
            Outcome::Complete(value + noise)
        }
        Ok(value) => Outcome::Complete(value),
        Err(e) => Outcome::Failed(e),
    }
}

impl Objective for FunctionObjective {
    fn evaluate(&mut self, trial: &TrialContext, _report: &mut dyn FnMut(Report) -> Decision) -> Outcome {
        observe(self.true_value(trial.params), self.noise_sd, trial.seed)
    }
}

impl Objective for HpoObjective {
    fn evaluate(&mut self, trial: &TrialContext, _report: &mut dyn FnMut(Report) -> Decision) -> Outcome {
        observe(self.problem.value(trial.params), self.problem.noise_sd, trial.seed)
    }
}
