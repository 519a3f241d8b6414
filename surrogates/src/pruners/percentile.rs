//! The percentile pruner (Optuna's `PercentilePruner`): stop a trial whose
//! best loss so far is worse than the given percentile of the completed
//! trials' losses at the same step.

use super::{Peers, Progress, Pruner};

#[derive(Clone, Debug, PartialEq)]
pub struct Percentile {
    /// 0 to 100: the lower, the more trials are stopped (50 is the median).
    pub percentile: f64,
    /// Completed trials needed before any trial is stopped.
    pub startup_trials: usize,
    /// No trial is stopped before this step.
    pub min_resource: i64,
    /// Decide every this many steps after `min_resource`.
    pub interval: i64,
}

impl Default for Percentile {
    fn default() -> Self {
        Percentile {
            percentile: 50.0,
            startup_trials: 5,
            min_resource: 1,
            interval: 1,
        }
    }
}

/// The `p`-th percentile of `values` with linear interpolation (NumPy's default).
pub(crate) fn percentile_of(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    values[lo] + (rank - lo as f64) * (values[hi] - values[lo])
}

impl Pruner for Percentile {
    fn should_prune(&self, trial: &Progress, peers: &mut dyn Peers) -> bool {
        let Some((step, _)) = trial.latest() else {
            return false;
        };
        if step < self.min_resource || (step - self.min_resource) % self.interval.max(1) != 0 {
            return false;
        }
        let Some(best) = trial.best() else {
            return true;
        };
        let mut completed: Vec<f64> = peers
            .at(step)
            .into_iter()
            .filter(|p| p.complete && p.number != trial.number && !p.loss.is_nan())
            .map(|p| p.loss)
            .collect();
        if completed.len() < self.startup_trials.max(1) {
            return false;
        }
        best > percentile_of(&mut completed, self.percentile)
    }

    fn rungs(&self, _trial_number: u64) -> Option<Vec<i64>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Table;
    use super::*;

    fn curve(values: &[f64]) -> Vec<(i64, f64)> {
        values.iter().enumerate().map(|(i, v)| (i as i64 + 1, *v)).collect()
    }

    #[test]
    fn stops_only_below_the_percentile_after_warm_up_and_startup() {
        // Five completed trials with losses 1..5 at every step.
        let done: Vec<_> = (0..5).map(|i| (i, true, curve(&[1.0 + i as f64; 4]))).collect();
        let pruner = Percentile {
            min_resource: 2,
            ..Percentile::default()
        };
        let bad = curve(&[9.0, 9.0]);
        let progress = |c| Progress { number: 9, curve: c };
        assert!(pruner.should_prune(&progress(&bad), &mut Table(done.clone())));
        // Not before the minimum resource.
        assert!(!pruner.should_prune(&progress(&bad[..1]), &mut Table(done.clone())));
        // The best so far counts: an earlier good step saves it (the median is 3).
        let recovered = curve(&[2.5, 9.0]);
        assert!(!pruner.should_prune(&progress(&recovered), &mut Table(done.clone())));
        // Too few completed trials yet.
        assert!(!pruner.should_prune(&progress(&bad), &mut Table(done[..4].to_vec())));
        assert_eq!(percentile_of(&mut [4.0, 1.0, 2.0, 3.0], 50.0), 2.5);
        assert_eq!(percentile_of(&mut [4.0, 1.0, 2.0, 3.0], 25.0), 1.75);
    }
}
