//! Acquisition functions: the utility of evaluating a point, from the
//! posterior mean and standard deviation of the objective (to be minimized).

mod optimizer;

pub use optimizer::{optimize_acquisition, AcquisitionOptimizer, Surface};

use std::str::FromStr;

use crate::normal;

/// A utility (higher is better) and its derivatives in the posterior mean and sd.
#[derive(Clone, Copy, Debug)]
pub struct Score {
    pub value: f64,
    pub d_mean: f64,
    pub d_sd: f64,
}

/// An acquisition function that scores each point from its marginal posterior.
pub trait Acquisition: Send + Sync {
    fn score(&self, mean: f64, sd: f64) -> Score;
}

/// log EI, finite however small the improvement (the default).
pub struct LogExpectedImprovement {
    pub best: f64,
}

impl Acquisition for LogExpectedImprovement {
    fn score(&self, mean: f64, sd: f64) -> Score {
        let z = (self.best - mean) / sd;
        let r = normal::dlog_h(z);
        Score {
            value: sd.ln() + normal::log_h(z),
            d_mean: -r / sd,
            d_sd: (1.0 - z * r) / sd,
        }
    }
}

/// Plain expected improvement; vanishes (and its gradient with it) far from the incumbent.
pub struct ExpectedImprovement {
    pub best: f64,
}

impl Acquisition for ExpectedImprovement {
    fn score(&self, mean: f64, sd: f64) -> Score {
        let z = (self.best - mean) / sd;
        let (pdf, cdf) = (normal::pdf(z), normal::cdf(z));
        Score {
            value: sd * (pdf + z * cdf),
            d_mean: -cdf,
            d_sd: pdf,
        }
    }
}

/// Probability of improvement, in log space.
pub struct LogProbabilityOfImprovement {
    pub best: f64,
}

impl Acquisition for LogProbabilityOfImprovement {
    fn score(&self, mean: f64, sd: f64) -> Score {
        let z = (self.best - mean) / sd;
        let ratio = (normal::log_pdf(z) - normal::log_cdf(z)).exp();
        Score {
            value: normal::log_cdf(z),
            d_mean: -ratio / sd,
            d_sd: -ratio * z / sd,
        }
    }
}

/// Lower confidence bound for minimization, negated: −(μ − √β·σ).
pub struct ConfidenceBound {
    pub beta: f64,
}

impl Acquisition for ConfidenceBound {
    fn score(&self, mean: f64, sd: f64) -> Score {
        let k = self.beta.sqrt();
        Score {
            value: -mean + k * sd,
            d_mean: -1.0,
            d_sd: k,
        }
    }
}

/// Which acquisition a GP strategy uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AcquisitionKind {
    LogEi,
    Ei,
    Pi,
    Ucb {
        beta: f64,
    },
    /// A draw from the joint posterior over the candidate pool, minimized.
    Thompson,
}

impl AcquisitionKind {
    /// The pointwise acquisition for an incumbent `best`; `None` for Thompson sampling.
    pub fn pointwise(self, best: f64) -> Option<Box<dyn Acquisition>> {
        match self {
            AcquisitionKind::LogEi => Some(Box::new(LogExpectedImprovement { best })),
            AcquisitionKind::Ei => Some(Box::new(ExpectedImprovement { best })),
            AcquisitionKind::Pi => Some(Box::new(LogProbabilityOfImprovement { best })),
            AcquisitionKind::Ucb { beta } => Some(Box::new(ConfidenceBound { beta })),
            AcquisitionKind::Thompson => None,
        }
    }
}

impl FromStr for AcquisitionKind {
    type Err = String;

    /// `logei`, `ei`, `pi`, `ucb` or `ucb:BETA`, `thompson`.
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        match lower.split_once(':') {
            Some(("ucb", beta)) => match beta.parse::<f64>() {
                Ok(beta) if beta > 0.0 && beta.is_finite() => Ok(AcquisitionKind::Ucb { beta }),
                _ => Err(format!("ucb needs a positive beta, got `{beta}`")),
            },
            None => match lower.as_str() {
                "logei" => Ok(AcquisitionKind::LogEi),
                "ei" => Ok(AcquisitionKind::Ei),
                "pi" => Ok(AcquisitionKind::Pi),
                "ucb" => Ok(AcquisitionKind::Ucb { beta: 4.0 }),
                "thompson" | "ts" => Ok(AcquisitionKind::Thompson),
                _ => Err(format!(
                    "unknown acquisition `{s}` (logei, ei, pi, ucb[:beta], thompson)"
                )),
            },
            _ => Err(format!(
                "unknown acquisition `{s}` (logei, ei, pi, ucb[:beta], thompson)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_gradients(acq: &dyn Acquisition, mean: f64, sd: f64) {
        let s = acq.score(mean, sd);
        let h = 1e-6;
        let dm = (acq.score(mean + h, sd).value - acq.score(mean - h, sd).value) / (2.0 * h);
        let ds = (acq.score(mean, sd + h).value - acq.score(mean, sd - h).value) / (2.0 * h);
        assert!(
            (s.d_mean - dm).abs() < 1e-4 * dm.abs().max(1.0),
            "d_mean {} vs {dm}",
            s.d_mean
        );
        assert!(
            (s.d_sd - ds).abs() < 1e-4 * ds.abs().max(1.0),
            "d_sd {} vs {ds}",
            s.d_sd
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        for &(mean, sd) in &[(0.0, 1.0), (2.0, 0.3), (-1.0, 0.5), (30.0, 0.5)] {
            check_gradients(&LogExpectedImprovement { best: 0.1 }, mean, sd);
            check_gradients(&ExpectedImprovement { best: 0.1 }, mean, sd.max(0.5));
            check_gradients(&LogProbabilityOfImprovement { best: 0.1 }, mean, sd);
            check_gradients(&ConfidenceBound { beta: 2.0 }, mean, sd);
        }
    }

    #[test]
    fn log_ei_keeps_ranking_where_ei_underflows() {
        let ei = ExpectedImprovement { best: 0.0 };
        let log_ei = LogExpectedImprovement { best: 0.0 };
        assert_eq!(ei.score(60.0, 1.0).value, 0.0);
        assert_eq!(ei.score(70.0, 1.0).value, 0.0);
        let (a, b) = (log_ei.score(60.0, 1.0).value, log_ei.score(70.0, 1.0).value);
        assert!(a.is_finite() && b.is_finite() && a > b);
        // Where EI is representable, LogEI is its logarithm.
        assert!((log_ei.score(0.5, 0.7).value - ei.score(0.5, 0.7).value.ln()).abs() < 1e-12);
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            "UCB:2.5".parse::<AcquisitionKind>(),
            Ok(AcquisitionKind::Ucb { beta: 2.5 })
        );
        assert!("ucb:-1".parse::<AcquisitionKind>().is_err());
        assert!("foo".parse::<AcquisitionKind>().is_err());
    }
}
