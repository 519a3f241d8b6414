//! Grid search: the full product of every parameter's levels, in order.

use std::collections::HashSet;

use crate::{DimKind, Domain, History, Sampler, SamplerError};

pub struct GridSampler {
    /// Levels given to each continuous parameter; `None` refuses them.
    points_per_continuous: Option<usize>,
}

impl GridSampler {
    pub fn new(points_per_continuous: Option<usize>) -> Self {
        GridSampler { points_per_continuous }
    }
}

/// The grid coordinates of each dimension.
fn axes(domain: &Domain, points_per_continuous: Option<usize>) -> Result<Vec<Vec<f64>>, SamplerError> {
    domain
        .dims
        .iter()
        .map(|dim| match &dim.kind {
            DimKind::Discrete(levels) => Ok(levels.clone()),
            DimKind::Categorical(n) => Ok((0..*n).map(|i| (i as f64 + 0.5) / *n as f64).collect()),
            DimKind::Continuous => match points_per_continuous {
                Some(1) => Ok(vec![0.5]),
                Some(k) if k >= 2 => Ok((0..k).map(|i| i as f64 / (k - 1) as f64).collect()),
                _ => Err(SamplerError::Unsupported(format!(
                    "grid search needs levels for the continuous parameter `{}`: give it `values` or pass --grid-points N",
                    dim.name
                ))),
            },
        })
        .collect()
}

/// Walks the grid in mixed-radix order and returns the first untaken point.
fn first_untaken_on(axes: &[Vec<f64>], domain: &Domain, taken: &HashSet<Vec<i64>>) -> Option<Vec<f64>> {
    let mut index = vec![0usize; axes.len()];
    loop {
        let point: Vec<f64> = index.iter().zip(axes).map(|(&i, axis)| axis[i]).collect();
        if !taken.contains(&domain.key(&point)) {
            return Some(point);
        }
        // Increment the last axis first, carrying leftwards.
        let mut d = axes.len();
        loop {
            if d == 0 {
                return None;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < axes[d].len() {
                break;
            }
            index[d] = 0;
        }
    }
}

/// The first configuration of a finite domain not yet taken.
pub(crate) fn first_untaken(domain: &Domain, taken: &HashSet<Vec<i64>>) -> Option<Vec<f64>> {
    let axes = axes(domain, None).ok()?;
    first_untaken_on(&axes, domain, taken)
}

impl Sampler for GridSampler {
    fn suggest(&mut self, domain: &Domain, history: &History) -> Result<Option<Vec<f64>>, SamplerError> {
        let axes = axes(domain, self.points_per_continuous)?;
        Ok(first_untaken_on(&axes, domain, &history.taken(domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dim, Observation, Prior};

    #[test]
    fn visits_the_full_product_once() {
        let domain = Domain::new(vec![
            Dim {
                name: "c".into(),
                kind: DimKind::Categorical(2),
                prior: Prior::Uniform,
            },
            Dim::continuous("x"),
        ]);
        assert!(GridSampler::new(None).suggest(&domain, &History::default()).is_err());
        let mut sampler = GridSampler::new(Some(3));
        let mut history = History::default();
        while let Some(p) = sampler.suggest(&domain, &history).unwrap() {
            history.complete.push(Observation { point: p, value: 1.0 });
        }
        assert_eq!(history.complete.len(), 6);
        assert_eq!(history.taken(&domain).len(), 6);
        assert_eq!(history.complete[1].point, vec![0.25, 0.5]);
    }
}
