//! Mixed, HPO-shaped problems: search spaces as people write them for
//! training runs (log-scaled rates, integer sizes, categorical choices,
//! conditional parameters), with an error surface of the shapes training
//! shows: interactions (the best rate depends on the optimizer; width
//! trades against depth), flat regions (dropout that does not matter below
//! a point, a diverged plateau), and optional evaluation noise. Each has a
//! known optimum, so regret is exact. `benchmarks/peers/run_peers.py`
//! mirrors them with Optuna's native distributions.

use serde_json::{json, Map, Value};

#[derive(Clone, Debug)]
pub struct HpoProblem {
    pub name: &'static str,
    pub noise_sd: f64,
}

/// The error a diverged run plateaus at.
const DIVERGED: f64 = 0.9;

/// Names `HpoProblem::by_name` accepts.
pub const HPO_NAMES: &[&str] = &["hpo_mlp", "hpo_conditional", "hpo_categorical"];

impl HpoProblem {
    pub fn by_name(name: &str, noise_sd: f64) -> Result<HpoProblem, String> {
        HPO_NAMES
            .iter()
            .find(|n| **n == name)
            .map(|name| HpoProblem { name, noise_sd })
            .ok_or_else(|| format!("unknown HPO problem `{name}` (known: {})", HPO_NAMES.join(", ")))
    }

    /// `hpo_mlp`, or `hpo_mlp+noise0.01`: the key runs are matched by.
    pub fn key(&self) -> String {
        if self.noise_sd > 0.0 {
            format!("{}+noise{}", self.name, self.noise_sd)
        } else {
            self.name.to_string()
        }
    }

    /// The search space, as a W&B sweep (with bo's `when` where conditional).
    pub fn sweep(&self) -> Value {
        let parameters = match self.name {
            "hpo_mlp" => json!({
                "optimizer": {"values": ["sgd", "adam", "rmsprop"]},
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-6, "max": 0.1},
                "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
                "units": {"distribution": "q_log_uniform_values", "min": 16, "max": 1024, "q": 1},
                "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.8},
                "activation": {"values": ["relu", "tanh", "gelu", "sigmoid"]},
            }),
            "hpo_conditional" => json!({
                "optimizer": {"values": ["sgd", "adam"]},
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
                "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.99, "when": {"optimizer": "sgd"}},
                "nesterov": {"values": [true, false], "when": {"optimizer": "sgd"}},
                "beta1": {"distribution": "uniform", "min": 0.8, "max": 0.999, "when": {"optimizer": "adam"}},
                "schedule": {"values": ["constant", "cosine", "step"]},
                "gamma": {"distribution": "uniform", "min": 0.1, "max": 0.9, "when": {"schedule": "step"}},
                "batch_size": {"distribution": "q_log_uniform_values", "min": 16, "max": 512, "q": 1},
            }),
            _ => {
                let mut p: Map<String, Value> = (1..=6)
                    .map(|i| (format!("c{i}"), json!({"values": ["a", "b", "c", "d"]})))
                    .collect();
                p.insert("k1".into(), json!({"distribution": "int_uniform", "min": 1, "max": 10}));
                p.insert("k2".into(), json!({"distribution": "int_uniform", "min": 1, "max": 10}));
                Value::Object(p)
            }
        };
        json!({"method": "bayes", "metric": {"name": "value", "goal": "minimize"}, "parameters": parameters})
    }

    /// The noise-free error of a configuration.
    pub fn value(&self, params: &Map<String, Value>) -> Result<f64, String> {
        let config = Config(params);
        match self.name {
            "hpo_mlp" => mlp(&config),
            "hpo_conditional" => conditional(&config),
            _ => categorical(&config),
        }
    }

    /// The lowest error of the problem.
    pub fn optimum(&self) -> f64 {
        match self.name {
            "hpo_mlp" => 0.045,
            "hpo_conditional" => 0.054,
            _ => categorical_optimum(),
        }
    }
}

/// Typed reads of a configuration, naming what is missing.
struct Config<'a>(&'a Map<String, Value>);

impl Config<'_> {
    fn number(&self, name: &str) -> Result<f64, String> {
        self.0
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("parameter `{name}` is missing or not a number"))
    }

    fn text(&self, name: &str) -> Result<&str, String> {
        self.0
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("parameter `{name}` is missing or not a string"))
    }

    fn flag(&self, name: &str) -> Result<bool, String> {
        self.0
            .get(name)
            .and_then(Value::as_bool)
            .ok_or_else(|| format!("parameter `{name}` is missing or not a boolean"))
    }
}

/// A multilayer perceptron's validation error. The best rate depends on the
/// optimizer; width and depth trade against each other (log2 units + depth/2
/// = 9.5 is best); dropout is free up to 0.5; a rate past the optimizer's
/// limit diverges to a flat plateau.
fn mlp(c: &Config) -> Result<f64, String> {
    let (base, best_log_lr, limit) = match c.text("optimizer")? {
        "sgd" => (0.045, -1.3, -0.3),
        "adam" => (0.05, -3.0, -1.5),
        _ => (0.055, -3.3, -1.7),
    };
    let log_lr = c.number("lr")?.log10();
    if log_lr > limit {
        return Ok(DIVERGED);
    }
    let capacity = c.number("units")?.log2() + 0.5 * c.number("layers")? - 9.5;
    let activation = match c.text("activation")? {
        "relu" => 0.0,
        "gelu" => 0.004,
        "tanh" => 0.03,
        _ => 0.08,
    };
    let error = base
        + 0.03 * (log_lr - best_log_lr).powi(2)
        + 0.01 * (c.number("weight_decay")?.log10() + 4.0).powi(2)
        + 0.01 * capacity * capacity
        + 0.4 * (c.number("dropout")? - 0.5).max(0.0)
        + activation;
    Ok(error.min(DIVERGED))
}

/// A training run whose optimizer's own settings exist only for it, and a
/// step schedule's decay only for that schedule.
fn conditional(c: &Config) -> Result<f64, String> {
    let log_lr = c.number("lr")?.log10();
    let optimizer = match c.text("optimizer")? {
        "sgd" => {
            let nesterov = if c.flag("nesterov")? { 0.0 } else { 0.004 };
            0.05 + 0.03 * (log_lr + 1.5).powi(2) + 0.3 * (c.number("momentum")? - 0.9).powi(2) + nesterov
        }
        _ => 0.056 + 0.03 * (log_lr + 3.0).powi(2) + 2.0 * (c.number("beta1")? - 0.9).powi(2),
    };
    let schedule = match c.text("schedule")? {
        "cosine" => 0.0,
        "constant" => 0.012,
        _ => 0.002 + 0.05 * (c.number("gamma")? - 0.3).powi(2),
    };
    let batch = 0.004 * (c.number("batch_size")?.log2() - 7.0).powi(2);
    Ok((optimizer + schedule + batch + 0.004).min(DIVERGED))
}

/// A deterministic pseudo-random number in [0, 1) for a table entry.
fn table(i: usize) -> f64 {
    let x = ((i as f64) * 12.9898).sin() * 43_758.545_3;
    x - x.floor()
}

/// Six four-way choices with effects of their own and between neighbours,
/// and two integers that interact: a tabular space with little structure.
fn categorical_at(choices: &[usize; 6], k1: f64, k2: f64) -> f64 {
    let own: f64 = (0..6).map(|i| 0.1 * table(1 + 4 * i + choices[i])).sum();
    let pairs: f64 = (0..5)
        .map(|i| 0.05 * table(100 + 16 * i + 4 * choices[i] + choices[i + 1]))
        .sum();
    own + pairs + 0.005 * (k1 - 7.0).powi(2) + 0.01 * (k1 - k2).abs()
}

fn categorical(c: &Config) -> Result<f64, String> {
    let mut choices = [0usize; 6];
    for (i, choice) in choices.iter_mut().enumerate() {
        let name = format!("c{}", i + 1);
        *choice = match c.text(&name)? {
            "a" => 0,
            "b" => 1,
            "c" => 2,
            "d" => 3,
            other => return Err(format!("parameter `{name}` is `{other}`, not a to d")),
        };
    }
    Ok(categorical_at(&choices, c.number("k1")?, c.number("k2")?))
}

/// The minimum over every configuration (4⁶ choices; the integers at their best, 7 and 7).
fn categorical_optimum() -> f64 {
    (0..4usize.pow(6))
        .map(|n| {
            let choices: [usize; 6] = std::array::from_fn(|i| (n >> (2 * i)) & 3);
            categorical_at(&choices, 7.0, 7.0)
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_optima_are_reached_where_the_problems_say() {
        let mlp = HpoProblem::by_name("hpo_mlp", 0.0).unwrap();
        let best = config(json!({"optimizer": "sgd", "lr": 10f64.powf(-1.3), "weight_decay": 1e-4,
            "layers": 3, "units": 256, "dropout": 0.2, "activation": "relu"}));
        assert!((mlp.value(&best).unwrap() - mlp.optimum()).abs() < 1e-12);
        let conditional = HpoProblem::by_name("hpo_conditional", 0.0).unwrap();
        let best = config(json!({"optimizer": "sgd", "lr": 10f64.powf(-1.5), "momentum": 0.9,
            "nesterov": true, "schedule": "cosine", "batch_size": 128}));
        assert!((conditional.value(&best).unwrap() - conditional.optimum()).abs() < 1e-12);
        // A parameter of the other branch is not needed.
        let adam = config(
            json!({"optimizer": "adam", "lr": 1e-3, "beta1": 0.9, "schedule": "step",
            "gamma": 0.3, "batch_size": 128}),
        );
        assert!((conditional.value(&adam).unwrap() - (0.056 + 0.002 + 0.004)).abs() < 1e-12);
        let categorical = HpoProblem::by_name("hpo_categorical", 0.0).unwrap();
        assert!(categorical.optimum() > 0.0 && categorical.optimum() < 0.3);
    }

    #[test]
    fn no_configuration_beats_the_optimum_and_diverged_runs_plateau() {
        let mlp = HpoProblem::by_name("hpo_mlp", 0.0).unwrap();
        let diverged = config(json!({"optimizer": "adam", "lr": 0.5, "weight_decay": 1e-4,
            "layers": 3, "units": 256, "dropout": 0.2, "activation": "relu"}));
        assert_eq!(mlp.value(&diverged).unwrap(), DIVERGED);
        let optimum = HpoProblem::by_name("hpo_categorical", 0.0).unwrap().optimum();
        for k1 in 1..=10 {
            for k2 in 1..=10 {
                for n in (0..4096).step_by(7) {
                    let choices: [usize; 6] = std::array::from_fn(|i| (n >> (2 * i)) & 3);
                    assert!(categorical_at(&choices, k1 as f64, k2 as f64) >= optimum);
                }
            }
        }
        let missing = config(json!({"optimizer": "sgd"}));
        assert!(mlp.value(&missing).unwrap_err().contains("`lr`"));
    }
}
