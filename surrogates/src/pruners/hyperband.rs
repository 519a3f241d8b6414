//! Hyperband (Optuna's `HyperbandPruner`): several ASHA brackets, from the
//! most aggressive (first rung at the minimum resource) to one that runs every
//! trial to the end. A trial's bracket follows from its number alone, so a
//! resumed study or another worker carries each bracket on; trials compete
//! only within their bracket.

use super::{Asha, Peers, Progress, Pruner};

#[derive(Clone, Debug, PartialEq)]
pub struct Hyperband {
    pub min_resource: i64,
    pub max_resource: i64,
    pub reduction_factor: f64,
    /// Each bracket's ASHA `bootstrap_count`.
    pub bootstrap_count: usize,
}

impl Hyperband {
    pub fn brackets(&self) -> usize {
        let ratio = self.max_resource as f64 / self.min_resource as f64;
        (ratio.ln() / self.reduction_factor.ln() + 1e-9).floor() as usize + 1
    }

    /// Bracket `b`'s share of trials, as in Hyperband: ⌈B·η^s / (s+1)⌉ with
    /// s = B − 1 − b, so the aggressive brackets see the most trials.
    fn allocation(&self, bracket: usize) -> u64 {
        let n = self.brackets();
        let s = (n - 1 - bracket) as i32;
        (n as f64 * self.reduction_factor.powi(s) / (s + 1) as f64).ceil() as u64
    }

    /// The bracket of trial `number`: a hash of the number spread over the
    /// brackets in proportion to their allocations.
    pub fn bracket_of(&self, number: u64) -> usize {
        let total: u64 = (0..self.brackets()).map(|b| self.allocation(b)).sum();
        // splitmix64: consecutive trials land in different brackets.
        let mut z = number.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let mut ticket = (z ^ (z >> 31)) % total;
        for b in 0..self.brackets() {
            if ticket < self.allocation(b) {
                return b;
            }
            ticket -= self.allocation(b);
        }
        unreachable!("the tickets cover every bracket")
    }

    fn asha(&self, bracket: usize) -> Asha {
        Asha {
            min_resource: self.min_resource,
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: bracket as u32,
            max_resource: Some(self.max_resource),
            bootstrap_count: self.bootstrap_count,
        }
    }
}

impl Pruner for Hyperband {
    fn should_prune(&self, trial: &Progress, peers: &mut dyn Peers) -> bool {
        let bracket = self.bracket_of(trial.number);
        self.asha(bracket)
            .decide(trial, peers, &|number| self.bracket_of(number) == bracket)
    }

    fn rungs(&self, trial_number: u64) -> Option<Vec<i64>> {
        Some(self.asha(self.bracket_of(trial_number)).rung_steps())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Table;
    use super::*;

    fn hyperband() -> Hyperband {
        Hyperband {
            min_resource: 1,
            max_resource: 27,
            reduction_factor: 3.0,
            bootstrap_count: 0,
        }
    }

    #[test]
    fn brackets_get_trials_in_proportion_to_their_allocation() {
        let hb = hyperband();
        assert_eq!(hb.brackets(), 4);
        let mut counts = [0usize; 4];
        for n in 0..40_000 {
            counts[hb.bracket_of(n)] += 1;
        }
        // Allocations ⌈4·27/4⌉, ⌈4·9/3⌉, ⌈4·3/2⌉, ⌈4/1⌉ = 27, 12, 6, 4 of 49.
        for (b, expected) in [27.0, 12.0, 6.0, 4.0].iter().enumerate() {
            let share = counts[b] as f64 / 40_000.0;
            assert!((share - expected / 49.0).abs() < 0.01, "bracket {b}: {share}");
        }
        assert_eq!(hb.rungs(0), hb.rungs(0), "a trial's bracket is fixed");
    }

    #[test]
    fn trials_compete_only_within_their_bracket() {
        let hb = hyperband();
        let first = (0..).find(|&n| hb.bracket_of(n) == 0).unwrap();
        let others: Vec<u64> = (0..200)
            .filter(|&n| n != first && hb.bracket_of(n) == 0)
            .take(5)
            .collect();
        let strangers: Vec<u64> = (0..200).filter(|&n| hb.bracket_of(n) == 1).take(5).collect();
        let progress = Progress {
            number: first,
            curve: &[(1, 5.0)],
        };
        // Much better trials in another bracket do not stop it.
        let table = strangers.iter().map(|&n| (n, false, vec![(1, 0.1)])).collect();
        assert!(!hb.should_prune(&progress, &mut Table(table)));
        // The same in its own bracket do.
        let table = others.iter().map(|&n| (n, false, vec![(1, 0.1)])).collect();
        assert!(hb.should_prune(&progress, &mut Table(table)));
    }
}
