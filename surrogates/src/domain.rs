use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

/// How one coordinate of the unit cube may vary.
#[derive(Clone, Debug, PartialEq)]
pub enum DimKind {
    /// Any point of [0, 1].
    Continuous,
    /// Only these sorted coordinates are valid (integers, quantized values).
    Discrete(Vec<f64>),
    /// One of `n` unordered choices; choice `i` sits at `(i + 0.5) / n`.
    Categorical(usize),
}

/// The distribution random search draws a coordinate from (model-based
/// strategies search the whole cube whatever the prior).
#[derive(Clone, Debug, PartialEq)]
pub enum Prior {
    Uniform,
    /// A normal in unit coordinates, truncated to [0, 1].
    Normal {
        mean: f64,
        sd: f64,
    },
    /// A beta distribution on [0, 1].
    Beta {
        a: f64,
        b: f64,
    },
    /// Probabilities of the choices of a categorical.
    Weights(Vec<f64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    pub name: String,
    pub kind: DimKind,
    pub prior: Prior,
}

impl Dim {
    pub fn continuous(name: impl Into<String>) -> Self {
        Dim {
            name: name.into(),
            kind: DimKind::Continuous,
            prior: Prior::Uniform,
        }
    }
}

/// The search space as strategies see it: one unit coordinate per parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub dims: Vec<Dim>,
}

/// Coordinates closer than this are the same configuration.
const KEY_RESOLUTION: f64 = 1e9;

impl Domain {
    pub fn new(dims: Vec<Dim>) -> Self {
        Domain { dims }
    }

    pub fn len(&self) -> usize {
        self.dims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// Moves a point onto the nearest valid configuration.
    pub fn snap(&self, point: &mut [f64]) {
        for (u, dim) in point.iter_mut().zip(&self.dims) {
            *u = snap_coordinate(&dim.kind, *u);
        }
    }

    /// A hashable identity of a point, equal for points that decode alike.
    pub fn key(&self, point: &[f64]) -> Vec<i64> {
        let mut p = point.to_vec();
        self.snap(&mut p);
        p.iter().map(|u| (u * KEY_RESOLUTION).round() as i64).collect()
    }

    /// The number of distinct configurations, when every dimension is finite.
    pub fn cardinality(&self) -> Option<u128> {
        self.dims.iter().try_fold(1u128, |acc, d| match &d.kind {
            DimKind::Continuous => None,
            DimKind::Discrete(levels) => acc.checked_mul(levels.len() as u128),
            DimKind::Categorical(n) => acc.checked_mul(*n as u128),
        })
    }

    /// Draws a point from the priors.
    pub fn sample_prior(&self, rng: &mut impl Rng) -> Vec<f64> {
        let mut point: Vec<f64> = self.dims.iter().map(|d| sample_dim(d, rng)).collect();
        self.snap(&mut point);
        point
    }

    /// Maps a point of [0, 1)^d drawn uniformly (pseudo- or quasi-random)
    /// onto the domain, ignoring priors.
    pub fn from_uniform(&self, uniform: &[f64]) -> Vec<f64> {
        let mut point = uniform.to_vec();
        self.snap(&mut point);
        point
    }
}

/// The index of the choice a categorical coordinate stands for.
pub fn category_index(u: f64, n: usize) -> usize {
    ((u.clamp(0.0, 1.0) * n as f64).floor() as usize).min(n - 1)
}

fn snap_coordinate(kind: &DimKind, u: f64) -> f64 {
    let u = if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) };
    match kind {
        DimKind::Continuous => u,
        DimKind::Discrete(levels) => nearest(levels, u),
        DimKind::Categorical(n) => (category_index(u, *n) as f64 + 0.5) / *n as f64,
    }
}

fn nearest(sorted: &[f64], u: f64) -> f64 {
    let i = sorted.partition_point(|&v| v < u);
    match (i.checked_sub(1).map(|j| sorted[j]), sorted.get(i)) {
        (Some(lo), Some(&hi)) => {
            if u - lo <= hi - u {
                lo
            } else {
                hi
            }
        }
        (Some(lo), None) => lo,
        (None, Some(&hi)) => hi,
        (None, None) => u,
    }
}

fn sample_dim(dim: &Dim, rng: &mut impl Rng) -> f64 {
    match (&dim.prior, &dim.kind) {
        (Prior::Weights(w), DimKind::Categorical(n)) => {
            let index = WeightedIndex::new(w).map(|d| d.sample(rng)).unwrap_or(0);
            (index.min(n - 1) as f64 + 0.5) / *n as f64
        }
        (Prior::Normal { mean, sd }, _) => loop {
            // Truncation by rejection: the cube spans at least a few sd.
            let z: f64 = rand_distr::StandardNormal.sample(rng);
            let u = mean + sd * z;
            if (0.0..=1.0).contains(&u) {
                break u;
            }
        },
        (Prior::Beta { a, b }, _) => rand_distr::Beta::new(*a, *b)
            .map(|d| d.sample(rng))
            .unwrap_or_else(|_| rng.gen()),
        _ => rng.gen(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn snapping_picks_the_nearest_level_and_bin() {
        let d = Domain::new(vec![
            Dim {
                name: "i".into(),
                kind: DimKind::Discrete(vec![0.1, 0.5, 0.9]),
                prior: Prior::Uniform,
            },
            Dim {
                name: "c".into(),
                kind: DimKind::Categorical(4),
                prior: Prior::Uniform,
            },
        ]);
        let mut p = vec![0.31, 0.99];
        d.snap(&mut p);
        assert_eq!(p, vec![0.5, 0.875]);
        let mut p = vec![-3.0, f64::NAN];
        d.snap(&mut p);
        assert_eq!(p, vec![0.1, 0.625]);
        assert_eq!(d.cardinality(), Some(12));
    }

    #[test]
    fn categorical_weights_are_honoured() {
        let d = Domain::new(vec![Dim {
            name: "c".into(),
            kind: DimKind::Categorical(3),
            prior: Prior::Weights(vec![0.7, 0.2, 0.1]),
        }]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut counts = [0usize; 3];
        for _ in 0..10_000 {
            counts[category_index(d.sample_prior(&mut rng)[0], 3)] += 1;
        }
        assert!((counts[0] as f64 / 1e4 - 0.7).abs() < 0.02, "{counts:?}");
        assert!((counts[2] as f64 / 1e4 - 0.1).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn truncated_normal_prior_stays_in_the_cube_and_centres() {
        let d = Domain::new(vec![Dim {
            name: "n".into(),
            kind: DimKind::Continuous,
            prior: Prior::Normal { mean: 0.5, sd: 0.125 },
        }]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let xs: Vec<f64> = (0..5000).map(|_| d.sample_prior(&mut rng)[0]).collect();
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        let within_one_sd = xs.iter().filter(|x| (*x - 0.5).abs() < 0.125).count();
        assert!((within_one_sd as f64 / 5000.0 - 0.683).abs() < 0.03);
    }
}
