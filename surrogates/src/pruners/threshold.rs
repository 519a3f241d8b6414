//! The threshold pruner: stop a trial once its loss is worse than a fixed
//! value, or not a number.

use super::{Peers, Progress, Pruner};

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The loss above which a trial stops.
    pub worst: f64,
    /// No trial is stopped before this step.
    pub min_resource: i64,
}

impl Pruner for Threshold {
    fn should_prune(&self, trial: &Progress, _peers: &mut dyn Peers) -> bool {
        match trial.latest() {
            Some((step, loss)) if step >= self.min_resource => loss.is_nan() || loss > self.worst,
            _ => false,
        }
    }

    fn rungs(&self, _trial_number: u64) -> Option<Vec<i64>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Table;
    use super::*;

    #[test]
    fn stops_past_the_threshold_from_the_minimum_resource_on() {
        let pruner = Threshold {
            worst: 1.0,
            min_resource: 2,
        };
        let mut none = Table(Vec::new());
        let at = |step, loss| vec![(step, loss)];
        let decide =
            |c: Vec<(i64, f64)>, peers: &mut Table| pruner.should_prune(&Progress { number: 0, curve: &c }, peers);
        assert!(!decide(at(1, 5.0), &mut none));
        assert!(decide(at(2, 5.0), &mut none));
        assert!(decide(at(3, f64::NAN), &mut none));
        assert!(!decide(at(3, 1.0), &mut none));
    }
}
