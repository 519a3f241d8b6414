//! Runs strategies on test functions over many seeds and summarizes regret.

use std::time::Instant;

use bo_surrogates::{build_sampler, History, Observation, SamplerOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::suite::SyntheticProblem;

/// One study of one strategy on one problem with one seed.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub problem: String,
    pub strategy: String,
    pub seed: u64,
    /// After each evaluation: the true regret of the point with the best observed value.
    pub regret_curve: Vec<f64>,
    /// Seconds each suggestion took.
    pub suggest_seconds: Vec<f64>,
}

impl RunResult {
    pub fn final_regret(&self) -> f64 {
        *self.regret_curve.last().unwrap_or(&f64::NAN)
    }
}

/// Runs `strategy` for `budget` evaluations. With noise, the recommended point
/// is the one with the best noisy observation, scored by its true value: how
/// much a user who trusted the search would lose.
pub fn run_once(
    problem: &SyntheticProblem,
    strategy: &str,
    budget: usize,
    seed: u64,
    options: &SamplerOptions,
) -> anyhow::Result<RunResult> {
    let domain = problem.domain();
    let mut sampler = build_sampler(strategy, seed, options)?;
    let mut history = History::default();
    let mut noise_rng = StdRng::seed_from_u64(seed ^ 0xA5A5_A5A5);
    let noise = (problem.noise_sd > 0.0).then(|| Normal::new(0.0, problem.noise_sd).expect("positive sd"));
    let (mut best_observed, mut best_true) = (f64::INFINITY, f64::INFINITY);
    let mut result = RunResult {
        problem: problem.key(),
        strategy: strategy.into(),
        seed,
        regret_curve: Vec::new(),
        suggest_seconds: Vec::new(),
    };
    for _ in 0..budget {
        let start = Instant::now();
        let point = sampler
            .suggest(&domain, &history)?
            .ok_or_else(|| anyhow::anyhow!("{strategy} stopped suggesting"))?;
        result.suggest_seconds.push(start.elapsed().as_secs_f64());
        let truth = problem.function.evaluate_unit(&point);
        let observed = truth + noise.map(|n| n.sample(&mut noise_rng)).unwrap_or(0.0);
        if observed < best_observed {
            best_observed = observed;
            best_true = truth;
        }
        result.regret_curve.push(best_true - problem.function.optimum);
        history.complete.push(Observation { point, value: observed });
    }
    Ok(result)
}

/// Runs `jobs` closures at a time over `items`, keeping their order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                *slots[i].lock().unwrap() = Some(f(&items[i]));
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap().expect("every item ran"))
        .collect()
}

pub use bo_surrogates::gp::set_blas_threads;
