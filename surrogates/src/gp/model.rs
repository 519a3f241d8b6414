//! GP regression on standardized outputs: MAP hyperparameters and the posterior.

use std::sync::{Arc, Mutex};

use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_linalg::{CholeskyFactorized, FactorizeC, InverseC, SolveC, UPLO};

use super::Kernel;

/// The smallest noise variance the model may learn (standardized units).
const NOISE_FLOOR: f64 = 1e-6;
/// Box for every log-hyperparameter, kept by a quadratic penalty.
const LOG_LENGTHSCALE_BOUNDS: (f64, f64) = (-6.0, 6.0);
const LOG_SCALE_BOUNDS: (f64, f64) = (-6.0, 4.0);
const LOG_NOISE_BOUNDS: (f64, f64) = (-20.0, 1.0);
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Hyperparameters as θ = [ln ℓ_1 … ln ℓ_D, ln s², ln(σ² − floor)].
#[derive(Clone, Debug)]
pub struct Hyperparameters {
    pub theta: Vec<f64>,
}

impl Hyperparameters {
    fn dims(&self) -> usize {
        self.theta.len() - 2
    }
    pub fn lengthscales(&self) -> Vec<f64> {
        self.theta[..self.dims()].iter().map(|t| t.exp()).collect()
    }
    pub fn signal_variance(&self) -> f64 {
        self.theta[self.dims()].exp()
    }
    pub fn noise_variance(&self) -> f64 {
        NOISE_FLOOR + self.theta[self.dims() + 1].exp()
    }
}

/// Priors on the hyperparameters. Lengthscales: −ln p = 0.1/λ + 0.1·λ with
/// λ = ℓ⁻² (the prior of Optuna's GPSampler), which keeps every input
/// relevant at small n; a dimension-scaled log-normal (Hvarfner et al., 2024)
/// let few observations declare inputs irrelevant and stall the search on a
/// face of the cube (Hartmann-6 regret 0.6 against 0.02).
#[derive(Clone, Debug)]
pub struct Prior;

impl Prior {
    pub fn for_dims(_d: usize) -> Self {
        Prior
    }

    /// −ln p(θ) up to a constant, and its gradient (added in place).
    fn negative_log_density(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let d = theta.len() - 2;
        let mut value = 0.0;
        for j in 0..d {
            let (long, short) = ((2.0 * theta[j]).exp(), (-2.0 * theta[j]).exp());
            value += 0.1 * (long + short);
            grad[j] += 0.2 * (long - short);
        }
        // Gamma(2, 1) on the signal variance: around 1, as outputs are standardized.
        let scale = theta[d].exp();
        value += -scale.ln() + scale;
        grad[d] += -1.0 + scale;
        // Gamma(1.1, 30) on the noise variance: small unless the data insist,
        // so a few outliers are not explained away as noise.
        let extra = theta[d + 1].exp();
        let noise = NOISE_FLOOR + extra;
        value += -0.1 * noise.ln() + 30.0 * noise;
        grad[d + 1] += (-0.1 / noise + 30.0) * extra;
        value
    }

    /// A starting point at the prior's centre.
    pub fn centre(&self, d: usize) -> Vec<f64> {
        let mut theta = vec![0.0; d];
        theta.extend([0.0, (1e-3f64).ln()]);
        theta
    }
}

/// Squared distances between the rows of `a` and `b`, from one matrix
/// product: ‖a‖² + ‖b‖² − 2·a·bᵀ, clamped at zero against rounding.
fn squared_distances(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let norms_a: Array1<f64> = a.rows().into_iter().map(|r| r.dot(&r)).collect();
    let norms_b: Array1<f64> = b.rows().into_iter().map(|r| r.dot(&r)).collect();
    let mut d = a.dot(&b.t());
    ndarray::Zip::indexed(&mut d).for_each(|(i, j), v| *v = (norms_a[i] + norms_b[j] - 2.0 * *v).max(0.0));
    d
}

/// The kernel matrix (signal variance 1) between two point sets.
fn cross_kernel(kernel: Kernel, a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let mut k = squared_distances(a, b);
    k.mapv_inplace(|r2| kernel.value_and_factor(r2).0);
    k
}

/// The kernel matrix of one point set and the gradient factors g(r²).
fn gram_matrices(kernel: Kernel, a: ArrayView2<f64>) -> (Array2<f64>, Array2<f64>) {
    let mut k = squared_distances(a, a);
    // A point is at distance zero from itself, whatever the rounding.
    k.diag_mut().fill(0.0);
    let mut g = Array2::zeros(k.raw_dim());
    ndarray::Zip::from(&mut k).and(&mut g).for_each(|k, g| {
        let (kv, gv) = kernel.value_and_factor(*k);
        *k = kv;
        *g = gv;
    });
    (k, g)
}

fn scale_columns(x: ArrayView2<f64>, lengthscales: &[f64]) -> Array2<f64> {
    let mut xs = x.to_owned();
    for (mut col, l) in xs.axis_iter_mut(Axis(1)).zip(lengthscales) {
        col.mapv_inplace(|v| v / l);
    }
    xs
}

/// Cholesky of `k + σ²I`, adding jitter until it factorizes.
fn factorize_with_jitter(mut k: Array2<f64>, noise: f64) -> Option<CholeskyFactorized<ndarray::OwnedRepr<f64>>> {
    let n = k.nrows();
    let mean_diag = k.diag().sum() / n.max(1) as f64;
    k.diag_mut().mapv_inplace(|v| v + noise);
    let mut jitter = 0.0;
    for _ in 0..10 {
        if let Ok(f) = k.factorizec(UPLO::Lower) {
            if f.factor.diag().iter().all(|v| v.is_finite() && *v > 0.0) {
                return Some(f);
            }
        }
        let next = if jitter == 0.0 {
            1e-9 * mean_diag.max(1e-12)
        } else {
            jitter * 10.0
        };
        k.diag_mut().mapv_inplace(|v| v + next - jitter);
        jitter = next;
    }
    None
}

/// The lower Cholesky factor of a covariance matrix, with adaptive jitter.
pub(crate) fn lower_cholesky(cov: Array2<f64>) -> Option<Array2<f64>> {
    let scale = cov.diag().iter().copied().fold(0.0, f64::max).max(1e-12);
    factorize_with_jitter(cov, 1e-10 * scale).map(|f| f.factor)
}

/// Negative log marginal likelihood plus negative log prior, and its gradient.
fn objective(
    kernel: Kernel,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    prior: &Prior,
    theta: &[f64],
) -> Option<(f64, Vec<f64>)> {
    let d = x.ncols();
    let n = x.nrows() as f64;
    // Keep θ in its box by a penalty rather than a hard wall, so L-BFGS sees a smooth surface.
    let mut grad = vec![0.0; theta.len()];
    let mut penalty = 0.0;
    let clamped: Vec<f64> = theta
        .iter()
        .enumerate()
        .map(|(j, &t)| {
            let (lo, hi) = if j < d {
                LOG_LENGTHSCALE_BOUNDS
            } else if j == d {
                LOG_SCALE_BOUNDS
            } else {
                LOG_NOISE_BOUNDS
            };
            let c = t.clamp(lo, hi);
            penalty += 100.0 * (t - c) * (t - c);
            grad[j] += 200.0 * (t - c);
            c
        })
        .collect();
    let h = Hyperparameters { theta: clamped };
    let (s2, noise) = (h.signal_variance(), h.noise_variance());
    let xs = scale_columns(x, &h.lengthscales());
    let (k, g) = gram_matrices(kernel, xs.view());
    let chol = factorize_with_jitter(&k * s2, noise)?;
    let alpha = chol.solvec(&y).ok()?;
    let kinv = chol.invc().ok()?;
    let log_det: f64 = chol.factor.diag().iter().map(|v| 2.0 * v.ln()).sum();
    let nll = 0.5 * y.dot(&alpha) + 0.5 * log_det + 0.5 * n * LN_2PI;

    // ∂nll/∂θ = ½ tr(W ∂K/∂θ) with W = K⁻¹ − ααᵀ.
    let mut w = kinv;
    for (i, ai) in alpha.iter().enumerate() {
        w.row_mut(i).scaled_add(-ai, &alpha);
    }
    grad[d] += 0.5 * s2 * (&w * &k).sum();
    grad[d + 1] += 0.5 * w.diag().sum() * (noise - NOISE_FLOOR);
    // Σ_ab M_ab (x_aj − x_bj)² = 2 Σ_a x_aj² m_a − 2 x_jᵀ M x_j with M = W∘G·s².
    let m = &w * &g * s2;
    let row_sums = m.sum_axis(Axis(1));
    let mx = m.dot(&xs);
    for (j, g) in grad.iter_mut().enumerate().take(d) {
        let col = xs.column(j);
        let quad: f64 = col.iter().zip(mx.column(j)).map(|(a, b)| a * b).sum();
        let weighted: f64 = col.iter().zip(&row_sums).map(|(a, r)| a * a * r).sum();
        *g += weighted - quad;
    }
    let value = nll + penalty + prior.negative_log_density(&h.theta, &mut grad);
    (value.is_finite() && grad.iter().all(|v| v.is_finite())).then_some((value, grad))
}

/// A point of hyperparameter space with its objective value.
type Scored = (Vec<f64>, f64);

/// The MAP problem for argmin, remembering the best point it has seen so a
/// failed line search still leaves a usable answer.
struct MapProblem {
    kernel: Kernel,
    x: Array2<f64>,
    y: Array1<f64>,
    prior: Prior,
    /// The last evaluation with its gradient: argmin asks for cost and gradient separately.
    last: Mutex<Option<(Scored, Vec<f64>)>>,
    best: Arc<Mutex<Option<Scored>>>,
}

impl MapProblem {
    fn evaluate(&self, theta: &Array1<f64>) -> Result<(f64, Vec<f64>), ArgminError> {
        let theta = theta.to_vec();
        if let Some(((t, v), g)) = self.last.lock().unwrap().as_ref() {
            if *t == theta {
                return Ok((*v, g.clone()));
            }
        }
        let (value, grad) = objective(self.kernel, self.x.view(), self.y.view(), &self.prior, &theta)
            .ok_or_else(|| ArgminError::msg("kernel matrix could not be factorized"))?;
        let mut best = self.best.lock().unwrap();
        if best.as_ref().is_none_or(|(_, b)| value < *b) {
            *best = Some((theta.clone(), value));
        }
        *self.last.lock().unwrap() = Some(((theta, value), grad.clone()));
        Ok((value, grad))
    }
}

impl CostFunction for MapProblem {
    type Param = Array1<f64>;
    type Output = f64;
    fn cost(&self, theta: &Self::Param) -> Result<f64, ArgminError> {
        Ok(self.evaluate(theta)?.0)
    }
}

impl Gradient for MapProblem {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, theta: &Self::Param) -> Result<Array1<f64>, ArgminError> {
        Ok(Array1::from(self.evaluate(theta)?.1))
    }
}

/// MAP hyperparameters by L-BFGS from each start; the best value wins.
pub fn fit_hyperparameters(
    kernel: Kernel,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    starts: &[Vec<f64>],
    max_iters: u64,
) -> Option<Hyperparameters> {
    let prior = Prior::for_dims(x.ncols());
    let mut best: Option<Scored> = None;
    for start in starts {
        let start_best = Arc::new(Mutex::new(None));
        let problem = MapProblem {
            kernel,
            x: x.to_owned(),
            y: y.to_owned(),
            prior: prior.clone(),
            last: Mutex::new(None),
            best: Arc::clone(&start_best),
        };
        if problem.evaluate(&Array1::from(start.clone())).is_err() {
            continue;
        }
        let run = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            // The MAP needs no more precision than the acquisition can use.
            .with_tolerance_grad(1e-3)
            .and_then(|s| s.with_tolerance_cost(1e-6))
            .map(|solver| {
                Executor::new(problem, solver)
                    .configure(|state| state.param(Array1::from(start.clone())).max_iters(max_iters))
                    .run()
            });
        // Whatever argmin reports, the best point evaluated is a valid answer.
        drop(run);
        let start_result = start_best.lock().unwrap().take();
        if let Some((theta, value)) = start_result {
            if best.as_ref().is_none_or(|(_, b)| value < *b) {
                best = Some((theta, value));
            }
        }
    }
    best.map(|(theta, _)| Hyperparameters { theta })
}

/// A GP conditioned on data: everything prediction needs.
pub struct Posterior {
    kernel: Kernel,
    lengthscales: Vec<f64>,
    signal_variance: f64,
    x_scaled: Array2<f64>,
    alpha: Array1<f64>,
    k_inverse: Array2<f64>,
}

/// Posterior mean and sd at one point with their gradients in the inputs.
pub struct PointPrediction {
    pub mean: f64,
    pub sd: f64,
    pub d_mean: Vec<f64>,
    pub d_sd: Vec<f64>,
}

/// Variance below which a prediction counts as certain (keeps sd > 0).
const MIN_VARIANCE: f64 = 1e-12;

impl Posterior {
    pub fn new(kernel: Kernel, hyper: &Hyperparameters, x: ArrayView2<f64>, y: ArrayView1<f64>) -> Option<Self> {
        let lengthscales = hyper.lengthscales();
        let signal_variance = hyper.signal_variance();
        let x_scaled = scale_columns(x, &lengthscales);
        let (k, _) = gram_matrices(kernel, x_scaled.view());
        let chol = factorize_with_jitter(k * signal_variance, hyper.noise_variance())?;
        let alpha = chol.solvec(&y).ok()?;
        let k_inverse = chol.invc().ok()?;
        Some(Posterior {
            kernel,
            lengthscales,
            signal_variance,
            x_scaled,
            alpha,
            k_inverse,
        })
    }

    pub fn lengthscales(&self) -> &[f64] {
        &self.lengthscales
    }

    /// Mean and variance of the latent function at each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> (Array1<f64>, Array1<f64>) {
        let xq = scale_columns(x, &self.lengthscales);
        let k = cross_kernel(self.kernel, xq.view(), self.x_scaled.view());
        let k = k * self.signal_variance;
        let mean = k.dot(&self.alpha);
        let reduced = (&k.dot(&self.k_inverse) * &k).sum_axis(Axis(1));
        let var = reduced.mapv(|r| (self.signal_variance - r).max(MIN_VARIANCE));
        (mean, var)
    }

    /// Mean and full covariance of the latent function over the rows of `x`.
    pub fn joint(&self, x: ArrayView2<f64>) -> (Array1<f64>, Array2<f64>) {
        let xq = scale_columns(x, &self.lengthscales);
        let k = cross_kernel(self.kernel, xq.view(), self.x_scaled.view());
        let k = k * self.signal_variance;
        let (prior_cov, _) = gram_matrices(self.kernel, xq.view());
        let cov = prior_cov * self.signal_variance - k.dot(&self.k_inverse).dot(&k.t());
        (k.dot(&self.alpha), cov)
    }

    /// Mean and sd at one point, with gradients in each input.
    pub fn predict_with_gradient(&self, x: &[f64]) -> PointPrediction {
        let xq: Vec<f64> = x.iter().zip(&self.lengthscales).map(|(v, l)| v / l).collect();
        let n = self.x_scaled.nrows();
        let d = xq.len();
        let mut k = Array1::zeros(n);
        let mut g = Array1::zeros(n);
        for (i, row) in self.x_scaled.axis_iter(Axis(0)).enumerate() {
            let r2: f64 = row.iter().zip(&xq).map(|(a, b)| (a - b) * (a - b)).sum();
            let (kv, gv) = self.kernel.value_and_factor(r2);
            k[i] = kv * self.signal_variance;
            g[i] = gv * self.signal_variance;
        }
        let v = self.k_inverse.dot(&k);
        let var = (self.signal_variance - k.dot(&v)).max(MIN_VARIANCE);
        let sd = var.sqrt();
        let mut d_mean = vec![0.0; d];
        let mut d_sd = vec![0.0; d];
        for (i, row) in self.x_scaled.axis_iter(Axis(0)).enumerate() {
            let (ga, gv) = (g[i] * self.alpha[i], g[i] * v[i]);
            for j in 0..d {
                // ∂k_i/∂x_j = −g_i·(x_j − x_ij)/ℓ_j², in scaled units (xq_j − row_j)/ℓ_j.
                let dk = -(xq[j] - row[j]) / self.lengthscales[j];
                d_mean[j] += dk * ga;
                d_sd[j] += -2.0 * dk * gv;
            }
        }
        for v in &mut d_sd {
            *v /= 2.0 * sd;
        }
        PointPrediction {
            mean: k.dot(&self.alpha),
            sd,
            d_mean,
            d_sd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn toy() -> (Array2<f64>, Array1<f64>) {
        let x = array![[0.1, 0.2], [0.4, 0.9], [0.8, 0.3], [0.5, 0.5], [0.95, 0.7], [0.2, 0.6]];
        let y = x.map_axis(Axis(1), |r| (3.0_f64 * r[0]).sin() + r[1] * r[1] - 0.5);
        (x, y)
    }

    #[test]
    fn objective_gradient_matches_finite_differences() {
        let (x, y) = toy();
        let prior = Prior::for_dims(2);
        for kernel in [Kernel::Matern52, Kernel::Rbf] {
            let theta = vec![-0.7, 0.3, 0.2, -4.0];
            let (_, grad) = objective(kernel, x.view(), y.view(), &prior, &theta).unwrap();
            for j in 0..theta.len() {
                let h = 1e-6;
                let (mut up, mut down) = (theta.clone(), theta.clone());
                up[j] += h;
                down[j] -= h;
                let fd = (objective(kernel, x.view(), y.view(), &prior, &up).unwrap().0
                    - objective(kernel, x.view(), y.view(), &prior, &down).unwrap().0)
                    / (2.0 * h);
                assert!(
                    (grad[j] - fd).abs() < 1e-4 * fd.abs().max(1.0),
                    "{kernel:?} θ{j}: {} vs {fd}",
                    grad[j]
                );
            }
        }
    }

    #[test]
    fn prediction_gradient_matches_finite_differences() {
        let (x, y) = toy();
        let hyper = Hyperparameters {
            theta: vec![-1.0, -0.5, 0.1, -8.0],
        };
        let post = Posterior::new(Kernel::Matern52, &hyper, x.view(), y.view()).unwrap();
        let p = [0.33, 0.47];
        let pred = post.predict_with_gradient(&p);
        let (mean, var) = post.predict(array![[0.33, 0.47]].view());
        assert!((pred.mean - mean[0]).abs() < 1e-10 && (pred.sd - var[0].sqrt()).abs() < 1e-10);
        for j in 0..2 {
            let h = 1e-6;
            let (mut up, mut down) = (p, p);
            up[j] += h;
            down[j] -= h;
            let (a, b) = (post.predict_with_gradient(&up), post.predict_with_gradient(&down));
            let (fm, fs) = ((a.mean - b.mean) / (2.0 * h), (a.sd - b.sd) / (2.0 * h));
            assert!((pred.d_mean[j] - fm).abs() < 1e-5 * fm.abs().max(1.0));
            assert!((pred.d_sd[j] - fs).abs() < 1e-5 * fs.abs().max(1.0));
        }
    }

    #[test]
    fn map_fit_interpolates_noise_free_data_and_survives_duplicates() {
        let (x, y) = toy();
        let prior = Prior::for_dims(2);
        let hyper = fit_hyperparameters(Kernel::Matern52, x.view(), y.view(), &[prior.centre(2)], 100).unwrap();
        assert!(hyper.noise_variance() < 1e-2, "noise {}", hyper.noise_variance());
        let post = Posterior::new(Kernel::Matern52, &hyper, x.view(), y.view()).unwrap();
        let (mean, _) = post.predict(x.view());
        for (m, t) in mean.iter().zip(&y) {
            assert!((m - t).abs() < 0.05);
        }
        // The same point three times with different values, and constant outputs.
        let xd = array![[0.5], [0.5], [0.5]];
        for yd in [array![0.1, -0.2, 0.1], array![0.0, 0.0, 0.0]] {
            let h = fit_hyperparameters(
                Kernel::Matern52,
                xd.view(),
                yd.view(),
                &[Prior::for_dims(1).centre(1)],
                50,
            )
            .unwrap();
            let post = Posterior::new(Kernel::Matern52, &h, xd.view(), yd.view()).unwrap();
            let (m, v) = post.predict(array![[0.5], [0.1]].view());
            assert!(m.iter().chain(&v).all(|v| v.is_finite()));
        }
    }
}
