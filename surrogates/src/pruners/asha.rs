//! Asynchronous successive halving (ASHA; Optuna's `SuccessiveHalvingPruner`).
//!
//! Rungs sit at `min_resource · η^(s + k)` steps. A trial reaching a rung
//! goes on only if its loss there is among the best 1/η of every trial that
//! has reached that rung so far (at least the best one); trials are never
//! held back waiting for others, so several workers never wait.
//!
//! A trial cannot be paused and promoted later, so the first trial at a rung
//! goes on alone. `bootstrap_count` (Optuna's name) stops the first that many
//! trials to reach each rung (by trial number) unjudged: with η − 1, a rung
//! promotes only once it holds η trials, as in the ASHA paper, and early
//! random trials no longer run to the end for want of competitors. Unlike
//! Optuna's, those trials compete no further: a stopped trial that was the
//! best at its rung would otherwise stop every later trial worse than it, and
//! a study could end with no trial complete.

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
    /// The first this many trials (by number) to reach a rung stop there,
    /// unjudged, and compete no further.
    pub bootstrap_count: usize,
}

impl Default for Asha {
    fn default() -> Self {
        Asha {
            min_resource: 1,
            reduction_factor: 3.0,
            min_early_stopping_rate: 0,
            max_resource: None,
            bootstrap_count: 0,
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

    /// ASHA's rule at one rung, given every trial there as (number, loss),
    /// this one's included: the first `bootstrap_count` of them by number stop
    /// and compete no further; any other goes on if its loss is among the best
    /// ⌊n/η⌋ (at least one) of the rest, n counting every trial at the rung.
    pub(crate) fn promotable(&self, number: u64, loss: f64, mut rung: Vec<(u64, f64)>) -> bool {
        if loss.is_nan() {
            return false;
        }
        rung.retain(|(_, v)| !v.is_nan());
        rung.sort_by_key(|(n, _)| *n);
        let keep = ((rung.len() as f64 / self.reduction_factor).floor() as usize).max(1);
        let (unjudged, judged) = rung.split_at(self.bootstrap_count.min(rung.len()));
        if unjudged.iter().any(|(n, _)| *n == number) {
            return false;
        }
        let mut losses: Vec<f64> = judged.iter().map(|(_, v)| *v).collect();
        losses.sort_by(f64::total_cmp);
        losses.get(keep - 1).is_none_or(|&cut| loss <= cut)
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
            .map(|p| (p.number, p.loss))
            .chain([(trial.number, loss)])
            .collect();
        !self.promotable(trial.number, loss, competitors)
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
            bootstrap_count: 0,
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

    #[test]
    fn the_first_trials_at_a_rung_stop_unjudged_and_compete_no_further() {
        let with = |bootstrap_count: usize| Asha {
            reduction_factor: 2.0,
            bootstrap_count,
            ..Asha::default()
        };
        // A trial reporting `loss` at the first rung, after a trial that reported 1.0 there if `after_one`.
        let prunes = |asha: Asha, loss: f64, after_one: bool| {
            let earlier = if after_one {
                vec![(0, true, vec![(1, 1.0)])]
            } else {
                Vec::new()
            };
            asha.should_prune(
                &Progress {
                    number: 1,
                    curve: &[(1, loss)],
                },
                &mut Table(earlier),
            )
        };
        // Alone at the rung, even a perfect trial stops; without a bootstrap it goes on.
        assert!(prunes(with(1), 0.0, false));
        assert!(!prunes(with(0), 0.0, false));
        // The trial stopped unjudged competes no further: the next one goes on
        // even though worse (Optuna's bootstrap would stop every trial worse
        // than it, for good).
        assert!(!prunes(with(1), 1.5, true));
        // The third is judged against the second alone, and one of three goes on.
        let rung = |losses: &[f64]| {
            losses
                .iter()
                .enumerate()
                .map(|(n, &l)| (n as u64, l))
                .collect::<Vec<_>>()
        };
        assert!(with(1).promotable(2, 1.2, rung(&[1.0, 1.5, 1.2])));
        assert!(!with(1).promotable(2, 1.6, rung(&[1.0, 1.5, 1.6])));
        // With four there, two go on: the two best of the three judged.
        assert!(with(1).promotable(3, 1.7, rung(&[1.0, 1.5, 2.0, 1.7])));
        assert!(!with(1).promotable(3, 2.5, rung(&[1.0, 1.5, 2.0, 2.5])));
    }
}
