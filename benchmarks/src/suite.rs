//! Benchmark problems and the reference that normalizes their regret.

use bo_surrogates::{Dim, Domain};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::hpo::HpoProblem;
use crate::TestFunction;

/// One problem of the synthetic suite.
#[derive(Clone, Debug)]
pub struct SyntheticProblem {
    pub function: TestFunction,
    pub noise_sd: f64,
}

impl SyntheticProblem {
    /// `branin`, or `hartmann6+noise0.1` with noise: the key runs are matched by.
    pub fn key(&self) -> String {
        if self.noise_sd > 0.0 {
            format!("{}+noise{}", self.function.name, self.noise_sd)
        } else {
            self.function.name.clone()
        }
    }

    /// The unit cube strategies search, one continuous coordinate per input.
    pub fn domain(&self) -> Domain {
        Domain::new(
            (1..=self.function.dim())
                .map(|i| Dim::continuous(format!("x{i}")))
                .collect(),
        )
    }
}

/// The synthetic suite: the test functions, noise-free, and two of them noisy.
pub fn synthetic_suite() -> Vec<SyntheticProblem> {
    let named = |name: &str, noise_sd: f64| SyntheticProblem {
        function: TestFunction::by_name(name).expect("known function"),
        noise_sd,
    };
    vec![
        named("branin", 0.0),
        named("six_hump_camel", 0.0),
        named("hartmann3", 0.0),
        named("hartmann6", 0.0),
        named("ackley5", 0.0),
        named("levy8", 0.0),
        named("rosenbrock4", 0.0),
        named("styblinski_tang4", 0.0),
        named("holder_table", 0.0),
        named("branin", 1.0),
        named("hartmann6", 0.1),
    ]
}

/// The broad suite: the synthetic one and problems no strategy was tuned on:
/// Shekel, Michalewicz, Rastrigin, Griewank and Schwefel, dimensions 10 and
/// 20, and more noise.
pub fn broad_suite() -> Vec<SyntheticProblem> {
    let named = |name: &str, noise_sd: f64| SyntheticProblem {
        function: TestFunction::by_name(name).expect("known function"),
        noise_sd,
    };
    let mut suite = synthetic_suite();
    suite.extend([
        named("shekel", 0.0),
        named("michalewicz5", 0.0),
        named("michalewicz10", 0.0),
        named("rastrigin10", 0.0),
        named("griewank10", 0.0),
        named("schwefel5", 0.0),
        named("ackley10", 0.0),
        named("ackley20", 0.0),
        named("levy20", 0.0),
        named("rosenbrock10", 0.0),
        named("styblinski_tang10", 0.0),
        named("ackley5", 0.5),
        named("michalewicz5", 0.1),
        named("shekel", 0.5),
    ]);
    suite
}

/// The mixed HPO-shaped problems of the broad suite, one of them noisy.
pub fn hpo_suite() -> Vec<HpoProblem> {
    let named = |name: &str, noise_sd: f64| HpoProblem::by_name(name, noise_sd).expect("known problem");
    vec![
        named("hpo_mlp", 0.0),
        named("hpo_mlp", 0.01),
        named("hpo_conditional", 0.0),
        named("hpo_categorical", 0.0),
    ]
}

/// What normalized regret is measured against, per problem.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reference {
    pub problem: String,
    pub optimum: f64,
    /// Random search's expected best (noise-free) value after `budget` trials.
    pub random_best: f64,
    /// In full-training equivalents: trials at full fidelity.
    pub budget: usize,
    /// Steps (epochs) in one full training; 1 for problems without learning curves.
    #[serde(default = "one_step")]
    pub steps_per_unit: u32,
}

fn one_step() -> u32 {
    1
}

impl Reference {
    /// 0 at the optimum, 1 at random search's expected best.
    pub fn normalize(&self, regret: f64) -> f64 {
        regret / (self.random_best - self.optimum).max(1e-300)
    }
}

/// What random search achieves on a problem, from a large uniform sample.
pub struct RandomStats {
    /// E[min of `budget` draws].
    pub expected_best: f64,
    /// The sample's minimum: an estimate of the optimum where none is known.
    pub sample_min: f64,
}

/// Draws `sample` uniform points of the unit cube, evaluates `f` at each, and
/// computes E[min of `budget` draws] by the order statistics of drawing
/// without replacement.
pub fn random_stats(f: impl Fn(&[f64]) -> f64, dim: usize, budget: usize, sample: usize, seed: u64) -> RandomStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values: Vec<f64> = (0..sample)
        .map(|_| f(&(0..dim).map(|_| rng.gen()).collect::<Vec<f64>>()))
        .collect();
    values.sort_by(f64::total_cmp);
    // P(the minimum of B draws is the i-th smallest) = C(N−1−i, B−1) / C(N, B).
    let ln_choose = |n: usize, k: usize| -> f64 { (0..k).map(|j| ((n - j) as f64).ln() - ((j + 1) as f64).ln()).sum() };
    let total = ln_choose(sample, budget);
    let expected_best = values
        .iter()
        .enumerate()
        .take_while(|(i, _)| sample - 1 - i >= budget - 1)
        .map(|(i, v)| v * (ln_choose(sample - 1 - i, budget - 1) - total).exp())
        .sum();
    RandomStats {
        expected_best,
        sample_min: values[0],
    }
}

/// One study of a benchmark, as `bo bench` and the peers' script write it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub problem: String,
    pub strategy: String,
    pub seed: u64,
    /// After each full-training equivalent of the budget (a trial at full
    /// fidelity): the noise-free regret of the pick (the best completed trial).
    pub regret: Vec<f64>,
    /// At the same points: the observed (possibly noisy) value of the pick minus the optimum.
    #[serde(default)]
    pub believed_regret: Vec<f64>,
    /// Mean seconds the strategy took per suggestion.
    pub suggest_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_reference_matches_a_direct_simulation() {
        // f(x) = x on [0, 1]: E[min of B uniforms] = 1 / (B + 1).
        let stats = random_stats(|x| x[0], 1, 9, 20_000, 0);
        assert!((stats.expected_best - 0.1).abs() < 0.005, "{}", stats.expected_best);
        assert!(stats.sample_min < 1e-3);
        let e = random_stats(|x| x[0], 1, 1, 20_000, 0).expected_best;
        assert!((e - 0.5).abs() < 0.01, "{e}");
        let r = Reference {
            problem: "p".into(),
            optimum: 0.0,
            random_best: 0.1,
            budget: 9,
            steps_per_unit: 1,
        };
        assert!((r.normalize(0.05) - 0.5).abs() < 1e-12);
    }
}
