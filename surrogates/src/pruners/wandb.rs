//! W&B's `early_terminate: {type: hyperband}`, with the semantics W&B's
//! sweeps engine gives it.
//!
//! Bands are iteration counts: `min_iter · η^k`, or `max_iter / η^k` for k =
//! 1..s. At each report past a band, the threshold is the loss at index
//! ⌊n/η⌋ of the sorted losses that the n trials reaching the closest band
//! passed had there. A trial stops when its best loss so far is worse (W&B's
//! default); `strict` compares its loss at that band instead, which stops more
//! trials.

use super::{Peers, Progress, Pruner};

#[derive(Clone, Debug, PartialEq)]
pub struct WandbHyperband {
    /// Band steps, ascending.
    pub bands: Vec<i64>,
    pub eta: f64,
    pub strict: bool,
}

/// Bands past this step are never reached in practice.
const LAST_BAND: f64 = 1e9;

impl WandbHyperband {
    /// `min_iter`: bands at min_iter, min_iter·η, … .
    pub fn from_min_iter(min_iter: i64, eta: f64, strict: bool) -> Self {
        let mut bands = Vec::new();
        let mut band = min_iter as f64;
        while band <= LAST_BAND {
            if bands.last() != Some(&(band as i64)) {
                bands.push(band as i64);
            }
            band *= eta;
        }
        WandbHyperband { bands, eta, strict }
    }

    /// `max_iter` and `s`: bands at max_iter/η, …, max_iter/η^s (those ≥ 1).
    pub fn from_max_iter(max_iter: i64, s: u32, eta: f64, strict: bool) -> Self {
        let mut bands = Vec::new();
        let mut band = max_iter as f64;
        for _ in 0..s {
            band /= eta;
            if band < 1.0 {
                break;
            }
            bands.push(band as i64);
        }
        bands.sort_unstable();
        bands.dedup();
        WandbHyperband { bands, eta, strict }
    }
}

impl Pruner for WandbHyperband {
    fn should_prune(&self, trial: &Progress, peers: &mut dyn Peers) -> bool {
        let Some((step, _)) = trial.latest() else {
            return false;
        };
        let Some(&band) = self.bands.iter().rev().find(|&&b| b <= step) else {
            return false;
        };
        let mut at_band: Vec<f64> = peers
            .at(band)
            .into_iter()
            .map(|p| p.loss)
            .filter(|v| !v.is_nan())
            .collect();
        let mine = trial.curve.iter().find(|(s, _)| *s >= band).map(|p| p.1);
        let Some(mine) = mine else {
            return false;
        };
        if at_band.is_empty() {
            return false;
        }
        at_band.sort_by(f64::total_cmp);
        let threshold = at_band[((at_band.len() as f64 / self.eta) as usize).min(at_band.len() - 1)];
        let judged = if self.strict {
            mine
        } else {
            trial.best().unwrap_or(f64::NAN)
        };
        judged.is_nan() || judged > threshold
    }

    fn rungs(&self, _trial_number: u64) -> Option<Vec<i64>> {
        Some(self.bands.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Table;
    use super::*;

    #[test]
    fn bands_follow_min_iter_or_max_iter() {
        assert_eq!(WandbHyperband::from_min_iter(3, 3.0, false).bands[..4], [3, 9, 27, 81]);
        assert_eq!(WandbHyperband::from_max_iter(27, 2, 3.0, false).bands, vec![3, 9]);
        assert_eq!(WandbHyperband::from_max_iter(5, 2, 2.0, false).bands, vec![1, 2]);
        assert!(WandbHyperband::from_max_iter(2, 3, 3.0, false).bands.is_empty());
    }

    #[test]
    fn the_threshold_is_at_n_over_eta_and_strict_judges_the_band_value() {
        // W&B's own example: max_iter 5, eta 2, s 2 gives bands 1 and 2.
        let pruner = WandbHyperband::from_max_iter(5, 2, 2.0, false);
        let runs = vec![
            (0, true, vec![(1, 10.0), (2, 9.0)]),
            (1, false, vec![(1, 10.0), (2, 10.0)]),
            (2, false, vec![(1, 10.0), (2, 8.0), (3, 8.0)]),
            (3, false, vec![(1, 10.0), (2, 7.0), (3, 7.0)]),
            (4, true, vec![(1, 10.0), (2, 6.0), (3, 6.0)]),
        ];
        let decide = |number: u64, strict: bool| {
            let curve = &runs[number as usize].2;
            WandbHyperband {
                strict,
                ..pruner.clone()
            }
            .should_prune(&Progress { number, curve }, &mut Table(runs.clone()))
        };
        // Band 2's losses are 6, 7, 8, 9, 10: the threshold is the third, 8.
        assert!(decide(1, false), "10 at band 2 stops");
        assert!(!decide(2, false) && !decide(3, false));
        // Strict mode judges the loss at the band rather than the best so far.
        let improving = vec![(1, 10.0), (2, 9.5), (3, 1.0)];
        let mut table = runs.clone();
        table.push((5, false, improving.clone()));
        let progress = Progress {
            number: 5,
            curve: &improving,
        };
        assert!(!pruner.should_prune(&progress, &mut Table(table.clone())));
        let strict = WandbHyperband { strict: true, ..pruner };
        assert!(strict.should_prune(&progress, &mut Table(table)));
    }
}
