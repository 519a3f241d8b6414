//! Strategies by name: the one place a new strategy is registered.

use crate::gp::{GpConfig, GpSampler};
use crate::grid::GridSampler;
use crate::lipo::{LipoConfig, LipoSampler};
use crate::random::RandomSampler;
use crate::sobol::SobolSampler;
use crate::tpe::{TpeConfig, TpeSampler};
use crate::{Sampler, SamplerError};

pub const SAMPLER_NAMES: &[&str] = &["gp", "tpe", "lipo", "random", "sobol", "grid"];

#[derive(Clone, Debug, Default)]
pub struct SamplerOptions {
    /// Levels for each continuous parameter in grid search.
    pub grid_points: Option<usize>,
    pub gp: GpConfig,
    pub tpe: TpeConfig,
    pub lipo: LipoConfig,
}

pub fn build_sampler(name: &str, seed: u64, options: &SamplerOptions) -> Result<Box<dyn Sampler>, SamplerError> {
    match name {
        "gp" => Ok(Box::new(GpSampler::new(seed, options.gp.clone()))),
        "tpe" => Ok(Box::new(TpeSampler::new(seed, options.tpe.clone()))),
        "lipo" => Ok(Box::new(LipoSampler::new(seed, options.lipo.clone()))),
        "random" => Ok(Box::new(RandomSampler::new(seed))),
        "sobol" => Ok(Box::new(SobolSampler::new(seed))),
        "grid" => Ok(Box::new(GridSampler::new(options.grid_points))),
        _ => Err(SamplerError::Unsupported(format!(
            "unknown strategy `{name}` (choose from {})",
            SAMPLER_NAMES.join(", ")
        ))),
    }
}
