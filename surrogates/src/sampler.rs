use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::{Domain, History};

#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("{0}")]
    Unsupported(String),
    #[error("numerical failure in the surrogate: {0}")]
    Numerical(String),
}

/// A search strategy: proposes the next point to evaluate.
///
/// Points are in the unit cube of `domain`; values in `history` are to be
/// minimized. Implementations are seeded at construction and must be
/// deterministic given the seed and the history, so a resumed study proposes
/// what an uninterrupted one would have.
pub trait Sampler: Send {
    /// The next point, snapped to the domain, never one already evaluated,
    /// failed or pending; `None` once a finite space holds nothing new.
    fn suggest(&mut self, domain: &Domain, history: &History) -> Result<Option<Vec<f64>>, SamplerError>;
}

/// A generator for one call of `suggest`, derived from the strategy's seed and
/// the number of trials so far: independent across calls, reproducible on resume.
pub fn per_call_rng(seed: u64, history: &History) -> StdRng {
    let n = history.n_trials() as u64;
    StdRng::seed_from_u64(seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}
