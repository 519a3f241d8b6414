use std::collections::HashSet;

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

/// A dimension that only matters when a categorical parent takes one of
/// some choices (W&B-style conditional parameters: `momentum` only for
/// `optimizer: sgd`).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub child: usize,
    /// A categorical dimension before `child`.
    pub parent: usize,
    /// The parent's choices (indices) under which `child` is active.
    pub choices: Vec<usize>,
}

impl Condition {
    /// `child` is active while `parent` takes one of `choices`.
    pub fn new(child: usize, parent: usize, choices: &[usize]) -> Self {
        Condition {
            child,
            parent,
            choices: choices.to_vec(),
        }
    }
}

/// The search space as strategies see it: one unit coordinate per parameter.
///
/// An inactive coordinate (its condition fails, or its parent's does) always
/// holds one canonical value, so configurations that differ only there are
/// the same point: the same key, never proposed twice, one input to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub dims: Vec<Dim>,
    /// Sorted by child; a child with several conditions needs all of them.
    conditions: Vec<Condition>,
}

/// Where an inactive coordinate sits (snapped to its kind).
const INACTIVE: f64 = 0.5;
/// Cardinality enumerates the parents' joint choices up to this many.
const MAX_PARENT_COMBINATIONS: u128 = 100_000;

/// Coordinates closer than this are the same configuration.
const KEY_RESOLUTION: f64 = 1e9;

impl Domain {
    pub fn new(dims: Vec<Dim>) -> Self {
        Domain {
            dims,
            conditions: Vec::new(),
        }
    }

    /// Makes dimensions conditional on categorical parents that come before them.
    pub fn with_conditions(mut self, mut conditions: Vec<Condition>) -> Result<Self, String> {
        for c in &conditions {
            let (Some(child), Some(parent)) = (self.dims.get(c.child), self.dims.get(c.parent)) else {
                return Err(format!(
                    "a condition names dimension {} of {}",
                    c.child.max(c.parent),
                    self.len()
                ));
            };
            let DimKind::Categorical(n) = parent.kind else {
                return Err(format!(
                    "`{}` depends on `{}`, which is not categorical",
                    child.name, parent.name
                ));
            };
            if c.parent >= c.child {
                return Err(format!(
                    "`{}` must come after `{}`, its parent",
                    child.name, parent.name
                ));
            }
            if c.choices.is_empty() || c.choices.iter().any(|&i| i >= n) {
                return Err(format!(
                    "`{}` depends on choices `{}` does not have",
                    child.name, parent.name
                ));
            }
        }
        conditions.sort_by_key(|c| c.child);
        self.conditions = conditions;
        Ok(self)
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Which coordinates of `point` matter: those whose conditions hold, and
    /// their parents' conditions too.
    pub fn active(&self, point: &[f64]) -> Vec<bool> {
        let mut active = vec![true; self.len()];
        // Parents come before children, so a parent's activity is final when read.
        for c in &self.conditions {
            let DimKind::Categorical(n) = self.dims[c.parent].kind else {
                unreachable!("with_conditions checks that parents are categorical")
            };
            let holds = active[c.parent] && c.choices.contains(&category_index(point[c.parent], n));
            active[c.child] &= holds;
        }
        active
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
        if self.conditions.is_empty() {
            return;
        }
        let active = self.active(point);
        for ((u, dim), active) in point.iter_mut().zip(&self.dims).zip(active) {
            if !active {
                *u = snap_coordinate(&dim.kind, INACTIVE);
            }
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
        let full = product(self.dims.iter())?;
        if self.conditions.is_empty() {
            return Some(full);
        }
        // Each distinct pattern of the parents' choices, times the sizes of
        // the other dimensions it leaves active.
        let mut parents: Vec<usize> = self.conditions.iter().map(|c| c.parent).collect();
        parents.sort_unstable();
        parents.dedup();
        let combinations = product(parents.iter().map(|&p| &self.dims[p]))?;
        if combinations > MAX_PARENT_COMBINATIONS {
            return Some(full);
        }
        let mut patterns = HashSet::new();
        let mut total = 0u128;
        for mut index in 0..combinations {
            let mut point = vec![INACTIVE; self.len()];
            for &p in &parents {
                let DimKind::Categorical(n) = self.dims[p].kind else {
                    unreachable!("parents are categorical")
                };
                point[p] = ((index % n as u128) as f64 + 0.5) / n as f64;
                index /= n as u128;
            }
            self.snap(&mut point);
            if !patterns.insert(self.key(&point)) {
                continue;
            }
            let active = self.active(&point);
            let others = (0..self.len()).filter(|&j| active[j] && parents.binary_search(&j).is_err());
            total = total.checked_add(product(others.map(|j| &self.dims[j]))?)?;
        }
        Some(total)
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

/// How many configurations some finite dimensions hold together.
fn product<'a>(mut dims: impl Iterator<Item = &'a Dim>) -> Option<u128> {
    dims.try_fold(1u128, |acc, d| {
        acc.checked_mul(match &d.kind {
            DimKind::Continuous => return None,
            DimKind::Discrete(levels) => levels.len() as u128,
            DimKind::Categorical(n) => *n as u128,
        })
    })
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

    /// `opt` (3 choices); `momentum` only for choice 1; `nesterov` (2 choices)
    /// only for choice 1 too; `beta` (a level of 4) only when `nesterov` is choice 0.
    fn conditional() -> Domain {
        let categorical = |name: &str, n| Dim {
            name: name.into(),
            kind: DimKind::Categorical(n),
            prior: Prior::Uniform,
        };
        Domain::new(vec![
            categorical("opt", 3),
            Dim::continuous("momentum"),
            categorical("nesterov", 2),
            Dim {
                name: "beta".into(),
                kind: DimKind::Discrete(vec![0.0, 0.3, 0.6, 0.9]),
                prior: Prior::Uniform,
            },
        ])
        .with_conditions(vec![
            Condition::new(3, 2, &[0]),
            Condition::new(1, 0, &[1]),
            Condition::new(2, 0, &[1]),
        ])
        .unwrap()
    }

    #[test]
    fn inactive_coordinates_collapse_to_one_configuration() {
        let d = conditional();
        let (adam, sgd) = (0.5 / 3.0, 1.5 / 3.0);
        assert_eq!(d.active(&[adam, 0.2, 0.25, 0.3]), vec![true, false, false, false]);
        assert_eq!(d.active(&[sgd, 0.2, 0.25, 0.3]), vec![true, true, true, true]);
        assert_eq!(d.active(&[sgd, 0.2, 0.75, 0.3]), vec![true, true, true, false]);
        // Inactive coordinates do not tell configurations apart; active ones do.
        assert_eq!(d.key(&[adam, 0.2, 0.25, 0.3]), d.key(&[adam, 0.9, 0.75, 0.9]));
        assert_ne!(d.key(&[sgd, 0.2, 0.25, 0.3]), d.key(&[sgd, 0.9, 0.25, 0.3]));
        assert_eq!(d.key(&[sgd, 0.2, 0.75, 0.0]), d.key(&[sgd, 0.2, 0.75, 0.9]));
        // The grandchild follows its parent out when the grandparent switches.
        let mut p = vec![2.5 / 3.0, 0.2, 0.25, 0.9];
        d.snap(&mut p);
        assert_eq!(d.active(&p), vec![true, false, false, false]);
        assert_eq!(p, d.from_uniform(&[2.5 / 3.0, 0.7, 0.1, 0.0]));
    }

    #[test]
    fn cardinality_counts_only_active_variations() {
        let mut d = conditional();
        assert_eq!(d.cardinality(), None, "momentum is continuous");
        d.dims[1].kind = DimKind::Discrete(vec![0.0, 0.5, 1.0]);
        // adam, rmsprop: 1 each; sgd: 3 momenta × (nesterov 0 × 4 betas + nesterov 1).
        assert_eq!(d.cardinality(), Some(2 + 3 * (4 + 1)));
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let distinct: HashSet<_> = (0..5000).map(|_| d.key(&d.sample_prior(&mut rng))).collect();
        assert_eq!(distinct.len(), 17);
    }

    #[test]
    fn conditions_must_name_an_earlier_categorical_parent() {
        let dims = conditional().dims;
        let bad = |c: Condition| Domain::new(dims.clone()).with_conditions(vec![c]).unwrap_err();
        assert!(bad(Condition::new(0, 2, &[0])).contains("after"));
        assert!(bad(Condition::new(2, 1, &[0])).contains("not categorical"));
        assert!(bad(Condition::new(1, 0, &[3])).contains("choices"));
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
