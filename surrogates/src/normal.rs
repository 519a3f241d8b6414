//! The standard normal distribution in forms that stay finite far in the tails,
//! as log-space acquisition functions need (Ament et al., 2023, "Unexpected
//! improvements to expected improvement").

use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

pub fn pdf(z: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

pub fn cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

pub fn log_pdf(z: f64) -> f64 {
    -0.5 * z * z - LN_SQRT_2PI
}

/// ln Φ(z), accurate for very negative z where Φ(z) underflows.
pub fn log_cdf(z: f64) -> f64 {
    if z > -5.0 {
        cdf(z).ln()
    } else {
        -0.5 * z * z + (0.5 * erfcx(-z * FRAC_1_SQRT_2)).ln()
    }
}

/// The scaled complementary error function exp(x²)·erfc(x).
pub fn erfcx(x: f64) -> f64 {
    if x < 2.0 {
        // erfc keeps full relative precision here and exp(x²) stays small.
        (x * x).exp() * libm::erfc(x)
    } else {
        // Continued fraction erfc(x) = exp(-x²)/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))).
        let mut t = x;
        for k in (1..=60).rev() {
            t = x + 0.5 * k as f64 / t;
        }
        1.0 / (PI.sqrt() * t)
    }
}

/// ln h(z) with h(z) = φ(z) + z·Φ(z), so that EI = σ·h((best − μ)/σ).
pub fn log_h(z: f64) -> f64 {
    if z > -1.0 {
        (pdf(z) + z * cdf(z)).ln()
    } else if z > -1e4 {
        // h(z) = exp(-z²/2)·(1/√(2π) + z·erfcx(-z/√2)/2): no underflow, mild cancellation.
        -0.5 * z * z + (INV_SQRT_2PI + 0.5 * z * erfcx(-z / SQRT_2)).ln()
    } else {
        // Asymptotically h(z) ≈ φ(z)/z².
        log_pdf(z) - 2.0 * (-z).ln()
    }
}

/// d ln h / dz = Φ(z)/h(z), without forming the tiny numbers.
pub fn dlog_h(z: f64) -> f64 {
    if z > -1.0 {
        cdf(z) / (pdf(z) + z * cdf(z))
    } else if z > -1e4 {
        let e = 0.5 * erfcx(-z / SQRT_2);
        e / (INV_SQRT_2PI + z * e)
    } else {
        -z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfcx_matches_the_direct_formula_where_both_hold() {
        for &x in &[2.0_f64, 2.5, 3.0, 4.0, 5.0] {
            let direct = (x * x).exp() * libm::erfc(x);
            assert!((erfcx(x) / direct - 1.0).abs() < 1e-10, "x={x}");
        }
        // Asymptote 1/(x√π).
        assert!((erfcx(1e6) * 1e6 * PI.sqrt() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn log_h_is_continuous_and_finite_deep_in_the_tail() {
        for &z in &[-1.0, -1e4] {
            let (a, b) = (log_h(z - 1e-9), log_h(z + 1e-9));
            assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "jump at {z}: {a} vs {b}");
        }
        // Where the plain formula still works, it agrees.
        for &z in &[-3.0, -0.5, 0.0, 2.0] {
            assert!((log_h(z) - (pdf(z) + z * cdf(z)).ln()).abs() < 1e-9);
        }
        let deep = log_h(-1e3);
        assert!(deep.is_finite() && deep < -4e5);
        assert!(log_h(-50.0) < log_h(-49.0));
    }

    #[test]
    fn dlog_h_matches_finite_differences() {
        for &z in &[-200.0_f64, -30.0, -3.0, -0.5, 0.7, 3.0] {
            let eps = 1e-6 * z.abs().max(1.0);
            let fd = (log_h(z + eps) - log_h(z - eps)) / (2.0 * eps);
            assert!(
                (dlog_h(z) - fd).abs() < 1e-4 * fd.abs().max(1.0),
                "z={z}: {} vs {fd}",
                dlog_h(z)
            );
        }
    }

    #[test]
    fn log_cdf_far_tail() {
        assert!((log_cdf(-1.0) - cdf(-1.0).ln()).abs() < 1e-12);
        let z = -40.0;
        // ln Φ(z) ≈ ln φ(z) − ln(−z) for very negative z.
        assert!((log_cdf(z) - (log_pdf(z) - (-z).ln())).abs() < 1e-3);
    }
}
