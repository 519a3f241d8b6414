//! Stationary ARD kernels written through the scaled squared distance r².

use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Matern52,
    Rbf,
}

impl Kernel {
    /// The unit-variance kernel value k(r²) and the factor g(r²) with
    /// ∂k/∂x_j = −g·Δ_j/ℓ_j² and ∂k/∂ln ℓ_j = g·Δ_j²/ℓ_j², which both
    /// gradients (in the inputs and in the lengthscales) share.
    #[inline]
    pub fn value_and_factor(self, r2: f64) -> (f64, f64) {
        match self {
            Kernel::Matern52 => {
                let s5r = (5.0 * r2).sqrt();
                let e = (-s5r).exp();
                ((1.0 + s5r + 5.0 / 3.0 * r2) * e, 5.0 / 3.0 * (1.0 + s5r) * e)
            }
            Kernel::Rbf => {
                let k = (-0.5 * r2).exp();
                (k, k)
            }
        }
    }
}

impl FromStr for Kernel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "matern52" | "matern" => Ok(Kernel::Matern52),
            "rbf" | "se" => Ok(Kernel::Rbf),
            _ => Err(format!("unknown kernel `{s}` (matern52, rbf)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_is_the_derivative_in_the_lengthscale() {
        // k(r²) with r² = Δ²/ℓ²: ∂k/∂ln ℓ = −2 r² k'(r²) must equal g·r².
        for kernel in [Kernel::Matern52, Kernel::Rbf] {
            for &r2 in &[0.01, 0.5, 2.0, 9.0] {
                let h = 1e-7;
                let dk_dr2 = (kernel.value_and_factor(r2 + h).0 - kernel.value_and_factor(r2 - h).0) / (2.0 * h);
                let (_, g) = kernel.value_and_factor(r2);
                assert!((-2.0 * r2 * dk_dr2 - g * r2).abs() < 1e-6, "{kernel:?} r2={r2}");
            }
        }
    }
}
