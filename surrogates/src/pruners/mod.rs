//! Pruners: stop unpromising trials early from their intermediate values,
//! beside any sampler (Optuna's sampler + pruner, Ray's searcher + scheduler).
//!
//! A pruner is asked after each intermediate value a trial reports. It sees
//! that trial's curve and, through [`Peers`], what the other trials of the
//! study reported; it keeps no state of its own, so several workers and a
//! resumed study decide alike from what the store holds. Values are losses
//! (lower is better) and steps are the resource (epochs, say).

mod asha;
mod hyperband;
mod median;
mod percentile;
mod threshold;
mod wandb;

pub use asha::Asha;
pub use hyperband::Hyperband;
pub use median::median;
pub use percentile::Percentile;
pub use threshold::Threshold;
pub use wandb::WandbHyperband;

/// One trial's progress when it reports.
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    pub number: u64,
    /// Every (step, loss) reported so far, in order; the last is the newest.
    pub curve: &'a [(i64, f64)],
}

impl Progress<'_> {
    /// The newest step and loss.
    pub fn latest(&self) -> Option<(i64, f64)> {
        self.curve.last().copied()
    }

    /// The step reported before the newest, if any.
    pub fn previous_step(&self) -> Option<i64> {
        self.curve.len().checked_sub(2).map(|i| self.curve[i].0)
    }

    /// The lowest loss so far.
    pub fn best(&self) -> Option<f64> {
        self.curve
            .iter()
            .map(|p| p.1)
            .filter(|v| !v.is_nan())
            .min_by(f64::total_cmp)
    }
}

/// Another trial's loss at a step.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerValue {
    pub number: u64,
    /// Whether that trial ran to completion.
    pub complete: bool,
    pub loss: f64,
}

/// What the other trials reported: for every search trial that reached
/// `step`, its loss at the first step at or after it.
pub trait Peers {
    fn at(&mut self, step: i64) -> Vec<PeerValue>;
}

pub trait Pruner: Send + Sync {
    /// Whether the trial should stop now, after its newest report.
    fn should_prune(&self, trial: &Progress, peers: &mut dyn Peers) -> bool;

    /// The steps at which it compares trials (its rungs), for the model-based
    /// strategies to learn from; `None` when any step may decide.
    fn rungs(&self, trial_number: u64) -> Option<Vec<i64>>;
}

/// The rung steps a report crossed: those in `(previous, step]`.
fn crossed(rungs: &[i64], previous: Option<i64>, step: i64) -> impl Iterator<Item = i64> + '_ {
    rungs
        .iter()
        .copied()
        .filter(move |&r| r <= step && previous.is_none_or(|p| r > p))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// One trial of a table: its number, whether it completed, its curve.
    pub type Row = (u64, bool, Vec<(i64, f64)>);

    /// Peers from a fixed table of trials.
    pub struct Table(pub Vec<Row>);

    impl Peers for Table {
        fn at(&mut self, step: i64) -> Vec<PeerValue> {
            self.0
                .iter()
                .filter_map(|(number, complete, curve)| {
                    curve.iter().find(|(s, _)| *s >= step).map(|&(_, loss)| PeerValue {
                        number: *number,
                        complete: *complete,
                        loss,
                    })
                })
                .collect()
        }
    }
}
