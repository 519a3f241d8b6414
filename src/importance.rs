//! Parameter importance by PED-ANOVA (Watanabe et al., 2023; Optuna 5's
//! default): a parameter matters as much as the distribution of its values
//! among the best trials differs from their distribution among all trials,
//! measured by the Pearson divergence of the two densities on the parameter's
//! unit axis (log-scaled parameters on their log axis).

use anyhow::{bail, Result};

use crate::space::{Goal, Param, ParamKind, Space};
use crate::storage::{TrialRecord, TrialState};

/// The share of complete trials that count as the best (PED-ANOVA's γ').
const TOP_QUANTILE: f64 = 0.1;
/// At least this many trials form the best set, however few trials there are.
const MIN_TOP: usize = 2;
/// Fewer complete trials than this say nothing about importance.
pub const MIN_TRIALS: usize = 5;
/// Points on which a numeric parameter's densities are compared.
const GRID: usize = 64;

/// Each searched parameter's share of the importance, largest first; the
/// shares sum to 1 (all 0 when no parameter makes any difference).
pub fn ped_anova(space: &Space, goal: Goal, trials: &[TrialRecord]) -> Result<Vec<(String, f64)>> {
    let mut complete: Vec<(&TrialRecord, f64)> = trials
        .iter()
        .filter(|t| t.is_search() && t.state == TrialState::Complete)
        .filter_map(|t| t.value.filter(|v| v.is_finite()).map(|v| (t, goal.to_loss(v))))
        .filter(|(t, _)| space.encode(&t.params).is_some())
        .collect();
    if complete.len() < MIN_TRIALS {
        bail!(
            "parameter importance needs at least {MIN_TRIALS} complete trials, the study has {}",
            complete.len()
        );
    }
    complete.sort_by(|a, b| a.1.total_cmp(&b.1));
    let top = ((complete.len() as f64 * TOP_QUANTILE).round() as usize).max(MIN_TOP);
    let mut divergences: Vec<(String, f64)> = space
        .searched()
        .map(|param| {
            // A conditional parameter is judged on the trials where it was active.
            let coordinate = |(t, _): &(&TrialRecord, f64)| t.params.get(&param.name).and_then(|v| param.unit(v));
            let all: Vec<f64> = complete.iter().filter_map(coordinate).collect();
            let best: Vec<f64> = complete[..top].iter().filter_map(coordinate).collect();
            (
                param.name.clone(),
                pearson_divergence(&density(param, &best), &density(param, &all)),
            )
        })
        .collect();
    let total: f64 = divergences.iter().map(|(_, d)| d).sum();
    for (_, d) in &mut divergences {
        *d = if total > 0.0 { *d / total } else { 0.0 };
    }
    divergences.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(divergences)
}

/// The parameter's density, as probabilities over a grid of its unit axis
/// (a categorical one: over its categories). A uniform prior worth one
/// observation keeps every point possible, as in TPE's Parzen estimator.
fn density(param: &Param, coordinates: &[f64]) -> Vec<f64> {
    let n = coordinates.len() as f64;
    let mass: Vec<f64> = match &param.kind {
        ParamKind::Categorical { values, .. } => {
            let k = values.len();
            let mut counts = vec![1.0 / k as f64; k];
            for u in coordinates {
                counts[bo_surrogates::category_index(*u, k)] += 1.0;
            }
            counts
        }
        _ => {
            // Scott's rule, kept from collapsing on repeated values.
            let mean = coordinates.iter().sum::<f64>() / n;
            let sd = (coordinates.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / n).sqrt();
            let bandwidth = (1.06 * sd * n.powf(-0.2)).clamp(0.5 / GRID as f64, 0.5);
            (0..GRID)
                .map(|k| {
                    let x = (k as f64 + 0.5) / GRID as f64;
                    let kernels: f64 = coordinates
                        .iter()
                        .map(|u| (-0.5 * ((x - u) / bandwidth).powi(2)).exp() / bandwidth)
                        .sum::<f64>()
                        / (2.0 * std::f64::consts::PI).sqrt();
                    kernels + 1.0
                })
                .collect()
        }
    };
    let total: f64 = mass.iter().sum();
    mass.into_iter().map(|m| m / total).collect()
}

/// D(p ‖ q) = Σ q (p/q − 1)²; q is never 0 thanks to the prior.
fn pearson_divergence(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(p, q)| q * (p / q - 1.0).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::space::Sweep;

    fn space(parameters: Value) -> Space {
        Sweep::from_value(json!({ "parameters": parameters }), "test")
            .unwrap()
            .space
    }

    fn trial(number: u64, params: Map<String, Value>, value: f64) -> TrialRecord {
        TrialRecord::for_test(
            number,
            TrialState::Complete,
            Value::Object(params),
            Some(value),
            &[],
            None,
        )
    }

    /// Random configurations of `space` scored by `f`.
    fn random_trials(space: &Space, n: u64, f: impl Fn(&Map<String, Value>) -> f64) -> Vec<TrialRecord> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        (0..n)
            .map(|i| {
                let point: Vec<f64> = space.searched().map(|_| rng.gen::<f64>()).collect();
                let params = space.decode(&point);
                let value = f(&params);
                trial(i, params, value)
            })
            .collect()
    }

    fn share(importances: &[(String, f64)], name: &str) -> f64 {
        importances.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn importance_follows_how_much_each_parameter_moves_the_value() {
        // f = 10 (a − ½)² + (b − ½)²: a matters most, b less, c not at all.
        let space = space(json!({
            "a": {"min": 0.0, "max": 1.0},
            "b": {"min": 0.0, "max": 1.0},
            "c": {"min": 0.0, "max": 1.0},
        }));
        let x = |p: &Map<String, Value>, k: &str| p[k].as_f64().unwrap();
        let trials = random_trials(&space, 400, |p| {
            10.0 * (x(p, "a") - 0.5).powi(2) + (x(p, "b") - 0.5).powi(2)
        });
        let importances = ped_anova(&space, Goal::Minimize, &trials).unwrap();
        let (a, b, c) = (
            share(&importances, "a"),
            share(&importances, "b"),
            share(&importances, "c"),
        );
        assert!(a > b && b > c, "a {a}, b {b}, c {c}");
        assert!(a > 0.6 && c < 0.1, "a {a}, b {b}, c {c}");
        assert!((importances.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(importances[0].0, "a", "largest first");
    }

    #[test]
    fn a_categorical_and_a_log_parameter_are_measured_on_their_own_axes() {
        // Only the optimizer and the learning rate's decade matter; maximizing.
        let space = space(json!({
            "optimizer": {"values": ["sgd", "adam", "lion"]},
            "lr": {"min": 1e-5, "max": 1.0, "distribution": "log_uniform_values"},
            "noise": {"min": 0.0, "max": 1.0},
        }));
        let trials = random_trials(&space, 300, |p| {
            let bonus = if p["optimizer"] == "adam" { 3.0 } else { 0.0 };
            bonus - (p["lr"].as_f64().unwrap().log10() + 3.0).abs()
        });
        let importances = ped_anova(&space, Goal::Maximize, &trials).unwrap();
        let (opt, lr, noise) = (
            share(&importances, "optimizer"),
            share(&importances, "lr"),
            share(&importances, "noise"),
        );
        assert!(
            opt > noise && lr > noise && noise < 0.1,
            "optimizer {opt}, lr {lr}, noise {noise}"
        );
    }

    #[test]
    fn too_few_complete_trials_is_an_error_that_says_so() {
        let space = space(json!({"a": {"min": 0.0, "max": 1.0}}));
        let mut trials = random_trials(&space, 6, |p| p["a"].as_f64().unwrap());
        for t in &mut trials[..3] {
            t.state = TrialState::Failed;
        }
        let err = ped_anova(&space, Goal::Minimize, &trials).unwrap_err().to_string();
        assert!(err.contains("at least 5 complete trials, the study has 3"), "{err}");
    }
}
