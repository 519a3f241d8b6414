//! Search strategies for `bo`.
//!
//! Every strategy works in the unit cube: the space in the `bo` crate encodes
//! each parameter as one coordinate in [0, 1] (log parameters in log space,
//! categoricals as the centre of their bin) and describes it here as a
//! [`Dim`]. A strategy only ever sees points, values to minimize and pending
//! points, so adding one touches its own file plus [`registry`].

pub mod acquisition;
mod domain;
pub mod gp;
pub mod grid;
mod history;
pub mod lipo;
pub mod normal;
pub mod pruners;
pub mod random;
pub mod registry;
mod sampler;
pub mod sobol;
pub mod tpe;

pub use domain::{category_index, Condition, Dim, DimKind, Domain, Prior};
pub use history::{CurveObservation, History, Observation};
pub use registry::{build_sampler, SamplerOptions, SAMPLER_NAMES};
pub use sampler::{per_call_rng, Sampler, SamplerError};

/// Runs a sampler for `n` trials on `f`, as the strategies' tests need.
#[cfg(test)]
pub(crate) fn run_sampler(sampler: &mut dyn Sampler, domain: &Domain, f: impl Fn(&[f64]) -> f64, n: usize) -> History {
    let mut history = History::default();
    for _ in 0..n {
        let point = sampler.suggest(domain, &history).unwrap().unwrap();
        history.complete.push(Observation {
            value: f(&point),
            point,
        });
    }
    history
}
