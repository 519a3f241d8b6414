//! MaxLIPO with a trust region, after dlib's `find_min_global` (King, 2017;
//! Malherbe & Vayatis, 2017).
//!
//! The model is a lower bound L(x) = maxᵢ yᵢ − √(σᵢ + Σ_d k_d (x_d − xᵢ_d)²)
//! with per-dimension Lipschitz constants k and per-observation noise terms σ
//! fitted to the data: the smallest ‖k‖² + C‖σ‖² for which the bound holds at
//! every observation. Steps alternate between the point of lowest bound in a
//! candidate pool (LIPO) and the minimum of a quadratic model fitted around the
//! best point within a trust region; a few steps are purely random. Integers
//! are snapped and log parameters live in log space (the unit-cube encoding);
//! categoricals are treated as their ordered bins.

use ndarray::{Array1, Array2};
use ndarray_linalg::Solve;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::sobol::{sobol_point, SobolSampler};
use crate::{per_call_rng, Domain, History, Sampler, SamplerError};

#[derive(Clone, Debug)]
pub struct LipoConfig {
    /// Sobol points before the model; default max(3, d + 1).
    pub initial_points: Option<usize>,
    /// Chance of a purely random step (dlib's default).
    pub random_probability: f64,
    /// Candidates the LIPO step scores. Few on purpose: the bound of a sparse
    /// model is lowest in the cube's corners, so a large pool turns the step
    /// into a corner search (5000 lost to random search on Levy-8; 30 beat it
    /// on the whole suite, median and mean over 40 seeds).
    pub candidates: usize,
}

impl Default for LipoConfig {
    fn default() -> Self {
        LipoConfig {
            initial_points: None,
            random_probability: 0.02,
            candidates: 30,
        }
    }
}

pub struct LipoSampler {
    seed: u64,
    config: LipoConfig,
}

impl LipoSampler {
    pub fn new(seed: u64, config: LipoConfig) -> Self {
        LipoSampler { seed, config }
    }
}

/// Weight of the noise terms against the Lipschitz constants (dlib's value):
/// noise only absorbs what no constant can.
const NOISE_WEIGHT: f64 = 1e6;
/// At most this many pairs constrain the fit (sampled beyond it).
const MAX_PAIRS: usize = 20_000;
/// Sweeps of dual coordinate ascent at most.
const MAX_SWEEPS: usize = 500;

/// A fitted lower bound on the objective (values standardized).
pub struct LipschitzBound {
    points: Vec<Vec<f64>>,
    values: Vec<f64>,
    /// Squared Lipschitz constant per dimension.
    pub k: Vec<f64>,
    /// Noise term per observation.
    pub sigma: Vec<f64>,
}

/// One constraint: observation `high` lies `gap²` above another, at squared offsets `offsets`.
struct Pair {
    high: usize,
    gap2: f64,
    offsets: Vec<f64>,
}

impl LipschitzBound {
    /// Fits k and σ to points with values to minimize: the QP
    /// min ½‖k‖² + ½C‖σ‖² s.t. σ_i + Σ_d k_d δ_d² ≥ (y_i − y_j)² for y_i > y_j,
    /// solved exactly by coordinate ascent on its dual (k = Σ λ_p a_p ≥ 0
    /// holds by itself since every a_p ≥ 0), as for linear SVMs.
    pub fn fit(points: &[Vec<f64>], values: &[f64], rng: &mut impl Rng) -> Self {
        let (n, d) = (points.len(), points.first().map_or(0, Vec::len));
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let scale = if sd > 1e-12 { sd } else { 1.0 };
        let values: Vec<f64> = values.iter().map(|v| (v - mean) / scale).collect();
        let mut pairs: Vec<Pair> = Vec::new();
        for i in 0..n {
            for j in 0..n {
                if values[i] > values[j] {
                    let offsets: Vec<f64> = points[i]
                        .iter()
                        .zip(&points[j])
                        .map(|(a, b)| (a - b) * (a - b))
                        .collect();
                    pairs.push(Pair {
                        high: i,
                        gap2: (values[i] - values[j]).powi(2),
                        offsets,
                    });
                }
            }
        }
        if pairs.len() > MAX_PAIRS {
            pairs.shuffle(rng);
            pairs.truncate(MAX_PAIRS);
        }
        // Primal variables k and s = √C·σ, dual variables λ ≥ 0 per pair.
        let root_c = NOISE_WEIGHT.sqrt();
        let mut k = vec![0.0; d];
        let mut s = vec![0.0; n];
        let mut lambda = vec![0.0; pairs.len()];
        let norms: Vec<f64> = pairs
            .iter()
            .map(|p| p.offsets.iter().map(|o| o * o).sum::<f64>() + 1.0 / NOISE_WEIGHT)
            .collect();
        let tolerance = 1e-9 * pairs.iter().map(|p| p.gap2).fold(1e-12, f64::max);
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        for _ in 0..MAX_SWEEPS {
            order.shuffle(rng);
            let mut worst = 0.0f64;
            for &p in &order {
                let pair = &pairs[p];
                let reach = s[pair.high] / root_c + k.iter().zip(&pair.offsets).map(|(k, o)| k * o).sum::<f64>();
                let slack = pair.gap2 - reach;
                let next = (lambda[p] + slack / norms[p]).max(0.0);
                let step = next - lambda[p];
                if step != 0.0 {
                    lambda[p] = next;
                    k.iter_mut().zip(&pair.offsets).for_each(|(k, o)| *k += step * o);
                    s[pair.high] += step / root_c;
                }
                worst = worst.max(slack);
            }
            if worst <= tolerance {
                break;
            }
        }
        let sigma: Vec<f64> = s.iter().map(|v| (v / root_c).max(0.0)).collect();
        // Close what the iterations left open, so the bound holds at every pair.
        let mut factor: f64 = 1.0;
        for p in &pairs {
            let reach: f64 = k.iter().zip(&p.offsets).map(|(k, o)| k * o).sum();
            if sigma[p.high] + reach < p.gap2 {
                factor = factor.max(if reach > 0.0 {
                    (p.gap2 - sigma[p.high]) / reach
                } else {
                    f64::INFINITY
                });
            }
        }
        if !factor.is_finite() {
            let slope2 = pairs
                .iter()
                .map(|p| p.gap2 / p.offsets.iter().sum::<f64>().max(1e-12))
                .fold(0.0, f64::max);
            return LipschitzBound::isotropic(points, &values, slope2);
        }
        k.iter_mut().for_each(|x| *x *= factor);
        LipschitzBound {
            points: points.to_vec(),
            values,
            k,
            sigma,
        }
    }

    /// The classic LIPO bound: one constant, the largest observed slope.
    fn isotropic(points: &[Vec<f64>], values: &[f64], slope2: f64) -> Self {
        let d = points.first().map_or(0, Vec::len);
        LipschitzBound {
            points: points.to_vec(),
            values: values.to_vec(),
            k: vec![slope2; d],
            sigma: vec![0.0; points.len()],
        }
    }

    /// The lower bound at `x` (standardized units).
    pub fn lower(&self, x: &[f64]) -> f64 {
        self.points
            .iter()
            .zip(&self.values)
            .zip(&self.sigma)
            .map(|((p, y), s)| {
                let dist: f64 = p
                    .iter()
                    .zip(x)
                    .zip(&self.k)
                    .map(|((a, b), k)| k * (a - b) * (a - b))
                    .sum();
                y - (s + dist).sqrt()
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The best (lowest) standardized observation.
    fn best(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// The minimum of a quadratic fitted to the points nearest the best one,
/// within a trust region; `None` when there are too few points.
fn trust_region_step(points: &[Vec<f64>], values: &[f64], best: usize) -> Option<Vec<f64>> {
    let d = points[best].len();
    let full = 1 + d + d * (d + 1) / 2;
    let (terms, need) = if points.len() >= full + d {
        (full, full + d)
    } else if points.len() > 2 * d + 1 {
        (1 + 2 * d, 2 * d + 2)
    } else {
        return None;
    };
    let centre = &points[best];
    let mut order: Vec<usize> = (0..points.len()).collect();
    let dist = |i: usize| {
        points[i]
            .iter()
            .zip(centre)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
    };
    order.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)));
    let chosen = &order[..need.min(points.len())];
    let radius = (dist(*chosen.last()?).sqrt() * 0.5).max(1e-4);
    // Features of z = x − centre: 1, z, and z_i z_j (i ≤ j) or z_i² only.
    let features = |z: &[f64]| -> Vec<f64> {
        let mut f = vec![1.0];
        f.extend_from_slice(z);
        for i in 0..d {
            if terms == full {
                f.extend((i..d).map(|j| z[i] * z[j]));
            } else {
                f.push(z[i] * z[i]);
            }
        }
        f
    };
    let mut ata = Array2::<f64>::zeros((terms, terms));
    let mut aty = Array1::<f64>::zeros(terms);
    for &i in chosen {
        let z: Vec<f64> = points[i].iter().zip(centre).map(|(a, b)| a - b).collect();
        let f = features(&z);
        for r in 0..terms {
            aty[r] += f[r] * values[i];
            for c in 0..terms {
                ata[[r, c]] += f[r] * f[c];
            }
        }
    }
    let ridge = 1e-8 * (0..terms).map(|r| ata[[r, r]]).fold(1e-12, f64::max);
    for r in 0..terms {
        ata[[r, r]] += ridge;
    }
    let coef = ata.solve(&aty).ok()?;
    // Gradient g and Hessian H of the model at z = 0.
    let g: Vec<f64> = (0..d).map(|i| coef[1 + i]).collect();
    let mut h = vec![vec![0.0; d]; d];
    // The quadratic terms follow `features`: pairs (i, j ≥ i), or squares only.
    let pairs: Vec<(usize, usize)> = if terms == full {
        (0..d).flat_map(|i| (i..d).map(move |j| (i, j))).collect()
    } else {
        (0..d).map(|i| (i, i)).collect()
    };
    for (&(i, j), &c) in pairs.iter().zip(coef.iter().skip(1 + d)) {
        if i == j {
            h[i][i] = 2.0 * c;
        } else {
            h[i][j] = c;
            h[j][i] = c;
        }
    }
    // Projected gradient descent on q(z) = gᵀz + ½ zᵀHz inside the box.
    let lipschitz = h
        .iter()
        .map(|row| row.iter().map(|v| v.abs()).sum::<f64>())
        .fold(1e-12, f64::max);
    let step = 1.0 / lipschitz;
    let lo: Vec<f64> = centre.iter().map(|c| (-radius).max(-c)).collect();
    let hi: Vec<f64> = centre.iter().map(|c| radius.min(1.0 - c)).collect();
    let mut z = vec![0.0; d];
    for _ in 0..500 {
        let grad: Vec<f64> = (0..d)
            .map(|i| g[i] + (0..d).map(|j| h[i][j] * z[j]).sum::<f64>())
            .collect();
        let mut moved = 0.0f64;
        for i in 0..d {
            let next = (z[i] - step * grad[i]).clamp(lo[i], hi[i]);
            moved = moved.max((next - z[i]).abs());
            z[i] = next;
        }
        if moved < 1e-9 {
            break;
        }
    }
    z.iter()
        .all(|v| v.is_finite())
        .then(|| centre.iter().zip(&z).map(|(c, z)| c + z).collect())
}

impl Sampler for LipoSampler {
    fn suggest(&mut self, domain: &Domain, history: &History) -> Result<Option<Vec<f64>>, SamplerError> {
        let observed: Vec<_> = history.complete.iter().filter(|o| o.value.is_finite()).collect();
        let initial = self.config.initial_points.unwrap_or((domain.len() + 1).max(3));
        if observed.len() < initial {
            return SobolSampler::new(self.seed).suggest(domain, history);
        }
        let taken = history.taken(domain);
        if domain.cardinality().is_some_and(|n| taken.len() as u128 >= n) {
            return Ok(None);
        }
        let mut rng = per_call_rng(self.seed, history);
        let random =
            |rng: &mut rand::rngs::StdRng| crate::random::RandomSampler::new(rng.gen()).suggest(domain, history);
        if rng.gen::<f64>() < self.config.random_probability {
            return random(&mut rng);
        }
        let best_value = observed.iter().map(|o| o.value).fold(f64::INFINITY, f64::min);
        // Pending points enter as if they had matched the best so far, so parallel workers spread out.
        let points: Vec<Vec<f64>> = observed
            .iter()
            .map(|o| o.point.clone())
            .chain(history.pending.iter().cloned())
            .collect();
        let values: Vec<f64> = observed
            .iter()
            .map(|o| o.value)
            .chain(history.pending.iter().map(|_| best_value))
            .collect();

        // Odd trials try the trust region first.
        if history.n_trials() % 2 == 1 {
            let best = (0..observed.len())
                .min_by(|&a, &b| values[a].total_cmp(&values[b]))
                .expect("observations");
            if let Some(mut x) = trust_region_step(&points, &values, best) {
                domain.snap(&mut x);
                if !taken.contains(&domain.key(&x)) {
                    return Ok(Some(x));
                }
            }
        }
        let bound = LipschitzBound::fit(&points, &values, &mut rng);
        let seed: u64 = rng.gen();
        let best = bound.best();
        let choice = (0..self.config.candidates as u32)
            .map(|i| domain.from_uniform(&sobol_point(i, domain.len(), seed)))
            .filter(|x| !taken.contains(&domain.key(x)))
            .map(|x| (bound.lower(&x), x))
            .filter(|(l, _)| l.is_finite())
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match choice {
            // Only a point whose bound allows an improvement is worth evaluating.
            Some((l, x)) if l < best => Ok(Some(x)),
            _ => random(&mut rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dim, DimKind, Observation, Prior};
    use rand::SeedableRng;

    #[test]
    fn the_fitted_bound_is_a_true_bound_on_a_lipschitz_function() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for f in [|x: f64| (x - 0.3).abs(), |x: f64| 2.0 * (x - 0.7).abs() + 0.5] {
            let points: Vec<Vec<f64>> = (0..25).map(|_| vec![rng.gen::<f64>()]).collect();
            let values: Vec<f64> = points.iter().map(|p| f(p[0])).collect();
            let bound = LipschitzBound::fit(&points, &values, &mut rng);
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
            // The model's noise terms (dlib's weighting) loosen the bound by at
            // most √σ; on noise-free data they stay within 2% of the value range.
            let slack = bound.sigma.iter().copied().fold(0.0, f64::max).sqrt();
            assert!(slack < 0.02, "noise terms {slack} on noise-free data");
            for i in 0..=2000 {
                let x = i as f64 / 2000.0;
                let truth = (f(x) - mean) / sd;
                assert!(
                    bound.lower(&[x]) <= truth + slack + 1e-12,
                    "bound {} above f = {truth} at {x}",
                    bound.lower(&[x])
                );
            }
            // And it is tight at the data: the bound touches each observation.
            for (p, y) in points.iter().zip(&values) {
                assert!((bound.lower(p) - (y - mean) / sd).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn trust_region_finds_the_minimum_of_a_quadratic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let f = |p: &[f64]| (p[0] - 0.42).powi(2) + 2.0 * (p[1] - 0.58).powi(2) + 0.5 * (p[0] - 0.42) * (p[1] - 0.58);
        let points: Vec<Vec<f64>> = (0..12)
            .map(|_| vec![0.3 + 0.3 * rng.gen::<f64>(), 0.4 + 0.3 * rng.gen::<f64>()])
            .collect();
        let values: Vec<f64> = points.iter().map(|p| f(p)).collect();
        let best = (0..12).min_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
        let x = trust_region_step(&points, &values, best).unwrap();
        assert!(f(&x) < values[best], "the step improves on the best point");
    }

    fn run(domain: &Domain, f: impl Fn(&[f64]) -> f64, n: usize, seed: u64) -> History {
        crate::run_sampler(&mut LipoSampler::new(seed, LipoConfig::default()), domain, f, n)
    }

    #[test]
    fn converges_in_one_dimension_and_handles_odd_histories() {
        let domain = Domain::new(vec![Dim::continuous("x")]);
        let history = run(&domain, |p| (p[0] - 0.37).abs(), 20, 0);
        assert!((history.best().unwrap().point[0] - 0.37).abs() < 0.01);
        let mut sampler = LipoSampler::new(1, LipoConfig::default());
        let failed = History {
            failed: vec![vec![0.5]],
            ..Default::default()
        };
        assert!(sampler.suggest(&domain, &failed).unwrap().is_some());
        let obs = |x: f64, v: f64| Observation {
            point: vec![x],
            value: v,
        };
        let odd = History {
            complete: vec![
                obs(0.2, 1.0),
                obs(0.2, 1.0),
                obs(0.7, 1.0),
                obs(0.9, 1.0),
                obs(0.4, f64::NAN),
            ],
            pending: vec![vec![0.5]],
            ..Default::default()
        };
        let p = sampler.suggest(&domain, &odd).unwrap().unwrap();
        assert!(p[0].is_finite() && !odd.taken(&domain).contains(&domain.key(&p)));
    }

    #[test]
    fn categorical_only_space_is_searched_to_the_end() {
        let domain = Domain::new(vec![
            Dim {
                name: "a".into(),
                kind: DimKind::Categorical(3),
                prior: Prior::Uniform,
            },
            Dim {
                name: "b".into(),
                kind: DimKind::Categorical(2),
                prior: Prior::Uniform,
            },
        ]);
        let mut sampler = LipoSampler::new(2, LipoConfig::default());
        let mut history = History::default();
        while let Some(p) = sampler.suggest(&domain, &history).unwrap() {
            history.complete.push(Observation {
                value: p[0] + p[1],
                point: p,
            });
            assert!(history.complete.len() <= 6);
        }
        assert_eq!(history.taken(&domain).len(), 6);
    }
}
