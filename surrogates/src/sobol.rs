//! Sobol quasi-random search (Owen-scrambled, seeded), spread evenly over the cube.

use crate::{Domain, History, Sampler, SamplerError};

/// Dimensions the Sobol tables cover.
pub const MAX_DIMS: usize = sobol_burley::NUM_DIMENSIONS as usize;

pub struct SobolSampler {
    seed: u64,
}

impl SobolSampler {
    pub fn new(seed: u64) -> Self {
        SobolSampler { seed }
    }
}

/// The `index`-th point of the scrambled sequence for `dims` dimensions.
pub fn sobol_point(index: u32, dims: usize, seed: u64) -> Vec<f64> {
    let seed = (seed ^ (seed >> 32)) as u32;
    (0..dims as u32)
        .map(|d| {
            if (d as usize) < MAX_DIMS {
                sobol_burley::sample(index, d, seed) as f64
            } else {
                // Past the tables: a hashed coordinate keeps the design deterministic.
                let h = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (d as u64) ^ seed as u64;
                (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 11) as f64 / (1u64 << 53) as f64
            }
        })
        .collect()
}

impl Sampler for SobolSampler {
    fn suggest(&mut self, domain: &Domain, history: &History) -> Result<Option<Vec<f64>>, SamplerError> {
        let taken = history.taken(domain);
        if domain.cardinality().is_some_and(|n| taken.len() as u128 >= n) {
            return Ok(None);
        }
        // Start at the trial count so a resumed study continues the sequence.
        let start = history.n_trials() as u32;
        for index in start..start.saturating_add(4096) {
            let point = domain.from_uniform(&sobol_point(index, domain.len(), self.seed));
            if !taken.contains(&domain.key(&point)) {
                return Ok(Some(point));
            }
        }
        Ok(crate::grid::first_untaken(domain, &taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_points_cover_every_half_of_each_axis() {
        let n = 16;
        let points: Vec<Vec<f64>> = (0..n).map(|i| sobol_point(i, 5, 3)).collect();
        for d in 0..5 {
            let low = points.iter().filter(|p| p[d] < 0.5).count();
            assert_eq!(low, 8, "axis {d} unbalanced");
        }
        assert_eq!(sobol_point(5, 3, 9), sobol_point(5, 3, 9));
        assert_ne!(sobol_point(5, 3, 9), sobol_point(5, 3, 10));
    }
}
