//! The median pruner (Optuna's `MedianPruner`): the percentile pruner at 50.

use super::Percentile;

pub fn median(startup_trials: usize, min_resource: i64, interval: i64) -> Percentile {
    Percentile {
        percentile: 50.0,
        startup_trials,
        min_resource,
        interval,
    }
}
