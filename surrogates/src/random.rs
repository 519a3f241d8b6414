//! Random search: independent draws from each parameter's prior.

use crate::{per_call_rng, Domain, History, Sampler, SamplerError};

/// How many draws to try before declaring a finite space used up.
const MAX_DRAWS: usize = 1000;

pub struct RandomSampler {
    seed: u64,
}

impl RandomSampler {
    pub fn new(seed: u64) -> Self {
        RandomSampler { seed }
    }
}

impl Sampler for RandomSampler {
    fn suggest(&mut self, domain: &Domain, history: &History) -> Result<Option<Vec<f64>>, SamplerError> {
        let mut rng = per_call_rng(self.seed, history);
        let taken = history.taken(domain);
        if domain.cardinality().is_some_and(|n| taken.len() as u128 >= n) {
            return Ok(None);
        }
        for _ in 0..MAX_DRAWS {
            let point = domain.sample_prior(&mut rng);
            if !taken.contains(&domain.key(&point)) {
                return Ok(Some(point));
            }
        }
        // A nearly exhausted finite space: take what is left, in order.
        Ok(crate::grid::first_untaken(domain, &taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dim, DimKind, Observation, Prior};

    #[test]
    fn same_seed_same_suggestions_and_finite_spaces_end() {
        let domain = Domain::new(vec![Dim {
            name: "c".into(),
            kind: DimKind::Categorical(3),
            prior: Prior::Uniform,
        }]);
        let mut history = History::default();
        let mut seen = Vec::new();
        let mut sampler = RandomSampler::new(7);
        while let Some(p) = sampler.suggest(&domain, &history).unwrap() {
            let again = RandomSampler::new(7).suggest(&domain, &history).unwrap().unwrap();
            assert_eq!(p, again);
            seen.push(domain.key(&p));
            history.complete.push(Observation { point: p, value: 0.0 });
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3);
    }
}
