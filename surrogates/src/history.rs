use std::collections::HashSet;

use crate::Domain;

/// One finished trial: where it was evaluated and the value to minimize.
#[derive(Clone, Debug)]
pub struct Observation {
    pub point: Vec<f64>,
    pub value: f64,
}

/// A trial's value at one step of its learning curve (under a pruner).
#[derive(Clone, Debug)]
pub struct CurveObservation {
    pub point: Vec<f64>,
    /// The resource spent when the value was reported (an epoch, say).
    pub step: i64,
    pub value: f64,
}

/// Everything a strategy may learn from: finished, pending and failed trials.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub complete: Vec<Observation>,
    /// Points other workers are evaluating now.
    pub pending: Vec<Vec<f64>>,
    /// Points whose evaluation failed; never proposed again.
    pub failed: Vec<Vec<f64>>,
    /// Points evaluated only at a lower fidelity than the one `complete` holds
    /// (pruned early); never proposed again.
    pub seen: Vec<Vec<f64>>,
    /// Under a pruner, every finished or pruned trial's values at the steps
    /// where it could have been stopped and at its last one, for strategies
    /// that take the fidelity as an input; empty without a pruner.
    pub curves: Vec<CurveObservation>,
}

impl History {
    pub fn n_trials(&self) -> usize {
        self.complete.len() + self.pending.len() + self.failed.len() + self.seen.len()
    }

    /// The keys of every point already taken, for duplicate checks.
    pub fn taken(&self, domain: &Domain) -> HashSet<Vec<i64>> {
        self.complete
            .iter()
            .map(|o| &o.point)
            .chain(&self.pending)
            .chain(&self.failed)
            .chain(&self.seen)
            .map(|p| domain.key(p))
            .collect()
    }

    /// The best finished observation (lowest value).
    pub fn best(&self) -> Option<&Observation> {
        self.complete
            .iter()
            .filter(|o| o.value.is_finite())
            .min_by(|a, b| a.value.total_cmp(&b.value))
    }
}
