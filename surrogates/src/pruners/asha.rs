//! Asynchronous successive halving (ASHA; Optuna's `SuccessiveHalvingPruner`).
//!
//! Rungs sit at `min_resource · η^(s + k)` steps. A trial reaching a rung
//! goes on only if its loss there is among the best 1/η of every trial that
//! has reached that rung so far (at least the best one); trials are never
//! held back waiting for others, so several workers never wait.

use super::{crossed, Peers, Progress, Pruner};

#[derive(Clone, Debug, PartialEq)]
pub struct Asha {
    /// The first rung (with `min_early_stopping_rate` 0).
    pub min_resource: i64,
    /// η: one trial in η goes on at each rung.
    pub reduction_factor: f64,
    /// s: the first rung is `min_resource · η^s`.
    pub min_early_stopping_rate: u32,
    /// Rungs stop below this step, where trials complete.
    pub max_resource: Option<i64>,
}

impl Default for Asha {
    fn default() -> Self {
        Asha {
            min_resource: 1,
            reduction_factor: 3.0,
            min_early_stopping_rate: 0,
            max_resource: None,
        }
    }
}

/// Rungs beyond this many are never reached in practice (η^40 steps).
const MAX_RUNGS: i32 = 40;

impl Asha {
    /// The rung steps, in order.
    pub fn rung_steps(&self) -> Vec<i64> {
        let mut rungs: Vec<i64> = Vec::new();
        for k in self.min_early_stopping_rate as i32..MAX_RUNGS {
            let step = (self.min_resource as f64 * self.reduction_factor.powi(k)).round();
            if step >= i64::MAX as f64 || self.max_resource.is_some_and(|max| step >= max as f64) {
                break;
            }
            if rungs.last() != Some(&(step as i64)) {
                rungs.push(step as i64);
            }
        }
        rungs
    }

    /// ASHA's rule at one rung: whether `loss` is among the best 1/η of the
    /// rung's losses (the trial's own included), or the best one when fewer
    /// than η trials got there.
    pub(crate) fn promotable(&self, loss: f64, mut rung: Vec<f64>) -> bool {
        if loss.is_nan() {
            return false;
        }
        rung.retain(|v| !v.is_nan());
        rung.sort_by(f64::total_cmp);
        let keep = ((rung.len() as f64 / self.reduction_factor).floor() as usize).max(1);
        rung.get(keep - 1).is_none_or(|&cut| loss <= cut)
    }

    /// The decision with the rung's competitors narrowed to those `mine` accepts.
    pub(crate) fn decide(&self, trial: &Progress, peers: &mut dyn Peers, mine: &dyn Fn(u64) -> bool) -> bool {
        let Some((step, loss)) = trial.latest() else {
            return false;
        };
        let rungs = self.rung_steps();
        let Some(rung) = crossed(&rungs, trial.previous_step(), step).last() else {
            return false;
        };
        let competitors = peers
            .at(rung)
            .into_iter()
            .filter(|p| p.number != trial.number && mine(p.number))
            .map(|p| p.loss)
            .chain([loss])
            .collect();
        !self.promotable(loss, competitors)
    }
}

impl Pruner for Asha {
    fn should_prune(&self, trial: &Progress, peers: &mut dyn Peers) -> bool {
        self.decide(trial, peers, &|_| true)
    }

    fn rungs(&self, _trial_number: u64) -> Option<Vec<i64>> {
        Some(self.rung_steps())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Table;
    use super::*;

    #[test]
    fn rungs_grow_by_eta_and_stop_below_the_maximum() {
        let asha = Asha {
            min_resource: 1,
            reduction_factor: 3.0,
            min_early_stopping_rate: 0,
            max_resource: Some(52),
        };
        assert_eq!(asha.rung_steps(), vec![1, 3, 9, 27]);
        let later = Asha {
            min_early_stopping_rate: 2,
            ..asha
        };
        assert_eq!(later.rung_steps(), vec![9, 27]);
    }

    #[test]
    fn only_the_best_third_goes_on_at_each_rung() {
        let asha = Asha::default();
        // Eight trials already at rung 1 (step 1) with losses 1..8.
        let peers: Vec<_> = (0..8).map(|i| (i, false, vec![(1, 1.0 + i as f64)])).collect();
        let decide = |loss: f64| {
            asha.should_prune(
                &Progress {
                    number: 100,
                    curve: &[(1, loss)],
                },
                &mut Table(peers.clone()),
            )
        };
        // With nine at the rung, the best three go on: losses 1, 2 and this one if ≤ 3.
        assert!(!decide(2.5));
        assert!(!decide(3.0));
        assert!(decide(3.5));
        assert!(decide(f64::NAN));
        // Between rungs nothing is decided; the first trial at a rung always goes on.
        let between = Progress {
            number: 100,
            curve: &[(1, 0.5), (2, 50.0)],
        };
        assert!(!asha.should_prune(&between, &mut Table(peers.clone())));
        let alone = Progress {
            number: 0,
            curve: &[(1, 99.0)],
        };
        assert!(!asha.should_prune(&alone, &mut Table(Vec::new())));
    }
}
