//! Classic optimization test functions (to be minimized) with their domains
//! and global minima, as in the Virtual Library of Simulation Experiments.

use std::f64::consts::PI;

#[derive(Clone, Debug)]
pub struct TestFunction {
    /// Canonical name with its dimension where it varies, e.g. `ackley5`.
    pub name: String,
    pub bounds: Vec<(f64, f64)>,
    /// The global minimum value.
    pub optimum: f64,
    f: fn(&[f64]) -> f64,
}

/// Names `by_name` accepts; those marked `N` take a dimension suffix (`levy8`).
pub const FUNCTION_NAMES: &[&str] = &[
    "branin",
    "hartmann3",
    "hartmann6",
    "ackleyN",
    "levyN",
    "rosenbrockN",
    "styblinski_tangN",
    "six_hump_camel",
    "holder_table",
    "shekel",
    "michalewiczN (N = 2, 5, 10)",
    "rastriginN",
    "griewankN",
    "schwefelN",
];

/// The largest dimension a scalable test function takes.
const MAX_DIM: usize = 1000;

impl TestFunction {
    pub fn dim(&self) -> usize {
        self.bounds.len()
    }

    pub fn evaluate(&self, x: &[f64]) -> f64 {
        (self.f)(x)
    }

    /// Evaluates at a point of the unit cube mapped onto the bounds.
    pub fn evaluate_unit(&self, u: &[f64]) -> f64 {
        let x: Vec<f64> = u
            .iter()
            .zip(&self.bounds)
            .map(|(u, (lo, hi))| lo + u * (hi - lo))
            .collect();
        self.evaluate(&x)
    }

    /// `branin`, `hartmann6`, `ackley5`, `styblinski_tang4`, ... (case and `-`/`_` insensitive).
    pub fn by_name(name: &str) -> Result<TestFunction, String> {
        let normalized: String = name
            .to_ascii_lowercase()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        let split = normalized.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (base, digits) = normalized.split_at(split);
        let dim = if digits.is_empty() {
            None
        } else {
            let dim = digits.parse::<usize>().ok().filter(|d| (1..=MAX_DIM).contains(d));
            Some(dim.ok_or_else(|| format!("`{name}`: the dimension must be 1 to {MAX_DIM}, got {digits}"))?)
        };
        let fixed = |f: TestFunction| {
            if dim.is_none() || dim == Some(f.dim()) {
                Ok(f)
            } else {
                Err(format!("`{base}` has a fixed dimension of {}", f.dim()))
            }
        };
        let unknown = || format!("unknown test function `{name}` (known: {})", FUNCTION_NAMES.join(", "));
        match (base, dim) {
            ("branin", _) => fixed(branin()),
            ("sixhumpcamel" | "camel", _) => fixed(six_hump_camel()),
            ("holdertable", _) => fixed(holder_table()),
            ("hartmann", Some(3)) => Ok(hartmann3()),
            ("hartmann", Some(6)) => Ok(hartmann6()),
            ("ackley", d) => Ok(ackley(d.unwrap_or(5))),
            ("levy", d) => Ok(levy(d.unwrap_or(8))),
            ("rosenbrock", d) if d != Some(1) => Ok(rosenbrock(d.unwrap_or(4))),
            ("styblinskitang", d) => Ok(styblinski_tang(d.unwrap_or(4))),
            ("shekel", _) => fixed(shekel()),
            ("michalewicz", d) => michalewicz(d.unwrap_or(5)),
            ("rastrigin", d) => Ok(rastrigin(d.unwrap_or(10))),
            ("griewank", d) => Ok(griewank(d.unwrap_or(10))),
            ("schwefel", d) => Ok(schwefel(d.unwrap_or(5))),
            _ => Err(unknown()),
        }
    }
}

fn branin() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let (b, c, t) = (5.1 / (4.0 * PI * PI), 5.0 / PI, 1.0 / (8.0 * PI));
        (x[1] - b * x[0] * x[0] + c * x[0] - 6.0).powi(2) + 10.0 * (1.0 - t) * x[0].cos() + 10.0
    }
    TestFunction {
        name: "branin".into(),
        bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
        optimum: 0.397_887_357_729_738,
        f,
    }
}

fn six_hump_camel() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        (4.0 - 2.1 * a * a + a.powi(4) / 3.0) * a * a + a * b + (-4.0 + 4.0 * b * b) * b * b
    }
    TestFunction {
        name: "six_hump_camel".into(),
        bounds: vec![(-3.0, 3.0), (-2.0, 2.0)],
        optimum: -1.031_628_453_489_877,
        f,
    }
}

/// Four narrow global minima in the corners of a rugged landscape.
fn holder_table() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let r = (x[0] * x[0] + x[1] * x[1]).sqrt();
        -(x[0].sin() * x[1].cos() * (1.0 - r / PI).abs().exp()).abs()
    }
    TestFunction {
        name: "holder_table".into(),
        bounds: vec![(-10.0, 10.0); 2],
        optimum: -19.208_502_567_767_17,
        f,
    }
}

const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];

fn hartmann(x: &[f64], a: &[&[f64]; 4], p: &[&[f64]; 4]) -> f64 {
    -(0..4)
        .map(|i| {
            let inner: f64 = x
                .iter()
                .enumerate()
                .map(|(j, xj)| a[i][j] * (xj - p[i][j]).powi(2))
                .sum();
            HARTMANN_ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

fn hartmann3() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        const A: [&[f64]; 4] = [
            &[3.0, 10.0, 30.0],
            &[0.1, 10.0, 35.0],
            &[3.0, 10.0, 30.0],
            &[0.1, 10.0, 35.0],
        ];
        const P: [&[f64]; 4] = [
            &[0.3689, 0.1170, 0.2673],
            &[0.4699, 0.4387, 0.7470],
            &[0.1091, 0.8732, 0.5547],
            &[0.038150, 0.5743, 0.8828],
        ];
        hartmann(x, &A, &P)
    }
    TestFunction {
        name: "hartmann3".into(),
        bounds: vec![(0.0, 1.0); 3],
        optimum: -3.862_779_787_332_09,
        f,
    }
}

fn hartmann6() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        const A: [&[f64]; 4] = [
            &[10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
            &[0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
            &[3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
            &[17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
        ];
        const P: [&[f64]; 4] = [
            &[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
            &[0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
            &[0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
            &[0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
        ];
        hartmann(x, &A, &P)
    }
    TestFunction {
        name: "hartmann6".into(),
        bounds: vec![(0.0, 1.0); 6],
        optimum: -3.322_368_011_415_51,
        f,
    }
}

fn ackley(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let n = x.len() as f64;
        let sq = x.iter().map(|v| v * v).sum::<f64>() / n;
        let cos = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / n;
        -20.0 * (-0.2 * sq.sqrt()).exp() - cos.exp() + 20.0 + std::f64::consts::E
    }
    TestFunction {
        name: format!("ackley{d}"),
        bounds: vec![(-32.768, 32.768); d],
        optimum: 0.0,
        f,
    }
}

fn levy(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
        let last = w[w.len() - 1];
        let middle: f64 = w[..w.len() - 1]
            .iter()
            .map(|wi| (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2)))
            .sum();
        (PI * w[0]).sin().powi(2) + middle + (last - 1.0).powi(2) * (1.0 + (2.0 * PI * last).sin().powi(2))
    }
    TestFunction {
        name: format!("levy{d}"),
        bounds: vec![(-10.0, 10.0); d],
        optimum: 0.0,
        f,
    }
}

fn rosenbrock(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        x.windows(2)
            .map(|p| 100.0 * (p[1] - p[0] * p[0]).powi(2) + (1.0 - p[0]).powi(2))
            .sum()
    }
    TestFunction {
        name: format!("rosenbrock{d}"),
        bounds: vec![(-5.0, 10.0); d],
        optimum: 0.0,
        f,
    }
}

fn styblinski_tang(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        0.5 * x.iter().map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v).sum::<f64>()
    }
    TestFunction {
        name: format!("styblinski_tang{d}"),
        bounds: vec![(-5.0, 5.0); d],
        optimum: -39.166_165_703_771_4 * d as f64,
        f,
    }
}

/// Ten wells of different depths (m = 10); the deepest near (4, 4, 4, 4).
fn shekel() -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        const BETA: [f64; 10] = [0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.3, 0.7, 0.5, 0.5];
        const C: [[f64; 10]; 4] = [
            [4.0, 1.0, 8.0, 6.0, 3.0, 2.0, 5.0, 8.0, 6.0, 7.0],
            [4.0, 1.0, 8.0, 6.0, 7.0, 9.0, 3.0, 1.0, 2.0, 3.6],
            [4.0, 1.0, 8.0, 6.0, 3.0, 2.0, 5.0, 8.0, 6.0, 7.0],
            [4.0, 1.0, 8.0, 6.0, 7.0, 9.0, 3.0, 1.0, 2.0, 3.6],
        ];
        -(0..10)
            .map(|i| 1.0 / ((0..4).map(|j| (x[j] - C[j][i]).powi(2)).sum::<f64>() + BETA[i]))
            .sum::<f64>()
    }
    TestFunction {
        name: "shekel".into(),
        bounds: vec![(0.0, 10.0); 4],
        optimum: -10.536_443_153_483_53,
        f,
    }
}

/// Steep ridges and valleys (m = 10): the minimum hides in a narrow valley,
/// known to precision for 2, 5 and 10 dimensions only.
fn michalewicz(d: usize) -> Result<TestFunction, String> {
    fn f(x: &[f64]) -> f64 {
        -x.iter()
            .enumerate()
            .map(|(i, v)| v.sin() * ((i + 1) as f64 * v * v / PI).sin().powi(20))
            .sum::<f64>()
    }
    let optimum = match d {
        2 => -1.801_303_410_098_553,
        5 => -4.687_658_179,
        10 => -9.660_151_716,
        _ => {
            return Err(format!(
                "michalewicz's minimum is known for 2, 5 and 10 dimensions, not {d}"
            ))
        }
    };
    Ok(TestFunction {
        name: format!("michalewicz{d}"),
        bounds: vec![(0.0, PI); d],
        optimum,
        f,
    })
}

/// A bowl covered in a regular grid of local minima.
fn rastrigin(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        x.iter().map(|v| v * v - 10.0 * (2.0 * PI * v).cos() + 10.0).sum()
    }
    TestFunction {
        name: format!("rastrigin{d}"),
        bounds: vec![(-5.12, 5.12); d],
        optimum: 0.0,
        f,
    }
}

/// A wide bowl with fine ripples: many shallow local minima.
fn griewank(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        let sum: f64 = x.iter().map(|v| v * v / 4000.0).sum();
        let product: f64 = x
            .iter()
            .enumerate()
            .map(|(i, v)| (v / ((i + 1) as f64).sqrt()).cos())
            .product();
        sum - product + 1.0
    }
    TestFunction {
        name: format!("griewank{d}"),
        bounds: vec![(-600.0, 600.0); d],
        optimum: 0.0,
        f,
    }
}

/// Deceptive: the best local minima lie far from the global one, near the box's edge.
fn schwefel(d: usize) -> TestFunction {
    fn f(x: &[f64]) -> f64 {
        418.982_887_272_433_8 * x.len() as f64 - x.iter().map(|v| v * v.abs().sqrt().sin()).sum::<f64>()
    }
    TestFunction {
        name: format!("schwefel{d}"),
        bounds: vec![(-500.0, 500.0); d],
        // The value at the minimizer 420.968746…: zero to 1e-11 per dimension.
        optimum: f(&vec![SCHWEFEL_MINIMIZER; d]),
        f,
    }
}

const SCHWEFEL_MINIMIZER: f64 = 420.968_746_359_982;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_minimizers_reach_the_stated_optimum() {
        let cases: &[(&str, Vec<f64>)] = &[
            ("branin", vec![PI, 2.275]),
            ("six_hump_camel", vec![0.0898, -0.7126]),
            ("holder_table", vec![8.05502, 9.66459]),
            ("hartmann3", vec![0.114614, 0.555649, 0.852547]),
            (
                "hartmann6",
                vec![0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
            ),
            ("ackley3", vec![0.0; 3]),
            ("levy8", vec![1.0; 8]),
            ("rosenbrock4", vec![1.0; 4]),
            ("styblinski_tang2", vec![-2.903534; 2]),
            ("shekel", vec![4.000747, 3.999509, 4.000747, 3.999509]),
            ("michalewicz2", vec![2.202906, std::f64::consts::FRAC_PI_2]),
            ("rastrigin10", vec![0.0; 10]),
            ("griewank10", vec![0.0; 10]),
            ("schwefel5", vec![SCHWEFEL_MINIMIZER; 5]),
        ];
        for (name, x) in cases {
            let f = TestFunction::by_name(name).unwrap();
            assert_eq!(f.dim(), x.len());
            assert!(
                (f.evaluate(x) - f.optimum).abs() < 1e-4,
                "{name}: {} vs {}",
                f.evaluate(x),
                f.optimum
            );
            // A point elsewhere is worse.
            let shifted: Vec<f64> = x
                .iter()
                .zip(&f.bounds)
                .map(|(v, (lo, hi))| (v + 0.1 * (hi - lo)).min(*hi))
                .collect();
            assert!(f.evaluate(&shifted) > f.optimum + 1e-3, "{name}");
        }
    }

    #[test]
    fn names_are_parsed_with_dimensions() {
        assert_eq!(TestFunction::by_name("Ackley-5").unwrap().dim(), 5);
        assert_eq!(TestFunction::by_name("levy").unwrap().dim(), 8);
        assert!(TestFunction::by_name("branin3").is_err());
        assert!(TestFunction::by_name("hartmann4").is_err());
        assert!(TestFunction::by_name("nope").unwrap_err().contains("known"));
        assert_eq!(TestFunction::by_name("michalewicz10").unwrap().dim(), 10);
        assert!(TestFunction::by_name("michalewicz7")
            .unwrap_err()
            .contains("2, 5 and 10"));
        assert!(TestFunction::by_name("shekel4").is_ok() && TestFunction::by_name("shekel5").is_err());
    }

    #[test]
    fn no_point_beats_the_stated_optimum() {
        // Random points and points pulled towards the known minimizers never
        // go below the optimum: a wrong constant would show as negative regret.
        let mut state = 12345u64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for name in [
            "shekel",
            "michalewicz2",
            "michalewicz5",
            "michalewicz10",
            "rastrigin10",
            "griewank10",
            "schwefel5",
        ] {
            let f = TestFunction::by_name(name).unwrap();
            for _ in 0..20_000 {
                let u: Vec<f64> = (0..f.dim()).map(|_| uniform()).collect();
                let value = f.evaluate_unit(&u);
                assert!(value >= f.optimum - 1e-9, "{name}: {value} below {}", f.optimum);
            }
        }
    }
}
