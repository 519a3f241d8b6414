//! Statistics for comparing strategies over seeds.

/// Median of a slice (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile with linear interpolation between order statistics.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator; NaN below two values).
pub fn sample_sd(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() as f64 - 1.0)).sqrt()
}

/// Two-sided p-value of the Wilcoxon signed-rank test on paired samples
/// (normal approximation with tie and continuity corrections; zero
/// differences dropped). 1 when no difference is non-zero.
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> f64 {
    let mut diffs: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x - y)
        .filter(|d| *d != 0.0 && d.is_finite())
        .collect();
    let n = diffs.len();
    if n == 0 {
        return 1.0;
    }
    diffs.sort_by(|x, y| x.abs().total_cmp(&y.abs()));
    // Average ranks over ties of |d|.
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && diffs[j + 1].abs() == diffs[i].abs() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        ranks[i..=j].fill(rank);
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let w_plus: f64 = diffs
        .iter()
        .zip(&ranks)
        .filter(|(d, _)| **d > 0.0)
        .map(|(_, r)| r)
        .sum();
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / var.sqrt();
    (libm::erfc(z / std::f64::consts::SQRT_2)).min(1.0)
}

/// Ranks (1 = lowest) with ties sharing their average rank.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            out[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilcoxon_separates_shifted_pairs_from_noise() {
        let a: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let shifted: Vec<f64> = a.iter().enumerate().map(|(i, x)| x + 1.0 + 0.01 * i as f64).collect();
        assert!(wilcoxon_signed_rank(&a, &shifted) < 1e-3);
        let alternating: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| if i % 2 == 0 { x + 1.0 } else { x - 1.0 })
            .collect();
        assert!(wilcoxon_signed_rank(&a, &alternating) > 0.5);
        assert_eq!(wilcoxon_signed_rank(&a, &a), 1.0);
        // A textbook case: n = 10, W+ = 40, two-sided p ≈ 0.57 by the normal approximation.
        let x = [125.0, 115.0, 130.0, 140.0, 140.0, 115.0, 140.0, 125.0, 140.0, 135.0];
        let y = [110.0, 122.0, 125.0, 120.0, 140.0, 124.0, 123.0, 137.0, 135.0, 145.0];
        let p = wilcoxon_signed_rank(&x, &y);
        assert!((p - 0.6).abs() < 0.1, "{p}");
    }

    #[test]
    fn quantiles_and_ranks() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!(ranks(&[0.3, 0.1, 0.3]), vec![2.5, 1.0, 2.5]);
    }
}
