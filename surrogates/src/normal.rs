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

/// Φ⁻¹: Acklam's rational approximation, polished by one Halley step to
/// near machine precision.
pub fn inverse_cdf(q: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let q = q.clamp(1e-300, 1.0 - 1e-16);
    let tail = |r: f64| {
        (((((C[0] * r + C[1]) * r + C[2]) * r + C[3]) * r + C[4]) * r + C[5])
            / ((((D[0] * r + D[1]) * r + D[2]) * r + D[3]) * r + 1.0)
    };
    let x = if q < 0.02425 {
        tail((-2.0 * q.ln()).sqrt())
    } else if q > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - q).ln()).sqrt())
    } else {
        let u = q - 0.5;
        let r = u * u;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * u
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = cdf(x) - q;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_inverts_the_normal_cdf() {
        for &q in &[1e-12, 1e-4, 0.02, 0.3, 0.5, 0.77, 0.99, 1.0 - 1e-9] {
            let x = inverse_cdf(q);
            assert!((cdf(x) / q - 1.0).abs() < 1e-9, "q={q}: Φ({x}) = {}", cdf(x));
        }
    }

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
