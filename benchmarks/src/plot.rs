//! Benchmark plots, as SVG: per problem, normalized regret against the budget
//! spent (trials, or cumulative epochs where trials report learning curves),
//! median and interquartile band; over the suite, each strategy's mean rank
//! as the budget is spent.

use std::collections::BTreeMap;

use plotters::prelude::*;

use crate::stats::{quantile, ranks};
use crate::suite::{Reference, RunRecord};

/// Smallest normalized regret the log axis shows.
const FLOOR: f64 = 1e-5;

/// Lower quartile, median and upper quartile at one trial.
type Band = (f64, f64, f64);

/// One SVG for `reference.problem` with a line and band per strategy.
pub fn convergence(reference: &Reference, runs: &[&RunRecord]) -> anyhow::Result<String> {
    let mut strategies: Vec<&str> = runs.iter().map(|r| r.strategy.as_str()).collect();
    strategies.sort();
    strategies.dedup();
    let budget = runs.iter().map(|r| r.regret.len()).max().unwrap_or(1).max(2);
    // Each point of a run is one full training's worth of the budget.
    let steps = reference.steps_per_unit.max(1) as usize;
    let curves: Vec<(&str, Vec<Band>)> = strategies
        .iter()
        .map(|s| {
            let mine: Vec<&&RunRecord> = runs.iter().filter(|r| r.strategy == *s).collect();
            let band = (0..budget)
                .map(|t| {
                    // A run with no completed trial yet has no pick: worse than any.
                    let values: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.regret.get(t))
                        .map(|v| match reference.normalize(*v) {
                            n if n.is_nan() => f64::INFINITY,
                            n => n.max(FLOOR),
                        })
                        .collect();
                    (quantile(&values, 0.25), quantile(&values, 0.5), quantile(&values, 0.75))
                })
                .collect();
            (*s, band)
        })
        .collect();
    let finite = |pick: fn(&Band) -> f64| {
        curves
            .iter()
            .flat_map(move |(_, b)| b.iter().map(pick))
            .filter(|v| v.is_finite())
    };
    let top = finite(|v| v.2).fold(1.0f64, f64::max) * 2.0;
    // The axis starts just below the lowest quartile drawn, not at the floor.
    let bottom = (finite(|v| v.0).fold(1.0f64, f64::min) / 2.0).max(FLOOR);
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (720, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: normalized regret (median, interquartile band)", reference.problem),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(steps..budget * steps, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(if steps > 1 { "cumulative epochs" } else { "trial" })
        .y_desc("normalized regret")
        .y_label_formatter(&|v| {
            if *v >= 0.01 {
                format!("{v:.2}")
            } else {
                format!("{v:.0e}")
            }
        })
        .draw()?;
    for (i, (strategy, band)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points = |k: usize| {
            band.iter()
                .enumerate()
                .filter(move |(_, v)| [v.0, v.1, v.2][k].is_finite())
                .map(move |(t, v)| ((t + 1) * steps, [v.0, v.1, v.2][k]))
        };
        let polygon: Vec<(usize, f64)> = points(2)
            .chain(points(0).collect::<Vec<_>>().into_iter().rev())
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.15).filled())))?;
        chart
            .draw_series(LineSeries::new(points(1), color.stroke_width(2)))?
            .label(*strategy)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        // Curves fall from the upper left: the lower left is free.
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(svg)
}

/// Points along the budget at which ranks are taken.
const RANK_POINTS: usize = 50;

/// (share of the budget in %, mean rank) points.
type Curve = Vec<(f64, f64)>;

/// Each strategy's curve of mean rank (1 = best, ties shared) against the
/// share of the budget spent (%), over the problem-seed pairs every strategy
/// ran, and how many pairs those are. A run with no pick yet ranks last.
fn mean_ranks(runs: &[RunRecord]) -> (Vec<(&str, Curve)>, usize) {
    let mut strategies: Vec<&str> = runs.iter().map(|r| r.strategy.as_str()).collect();
    strategies.sort();
    strategies.dedup();
    // The runs of each problem and seed, one per strategy.
    let mut groups: BTreeMap<(&str, u64), Vec<&RunRecord>> = BTreeMap::new();
    for run in runs {
        groups.entry((run.problem.as_str(), run.seed)).or_default().push(run);
    }
    let complete: Vec<&Vec<&RunRecord>> = groups.values().filter(|g| g.len() == strategies.len()).collect();
    let curves = strategies
        .iter()
        .map(|s| {
            let curve = (1..=RANK_POINTS)
                .map(|p| {
                    let share = p as f64 / RANK_POINTS as f64;
                    let mean = complete
                        .iter()
                        .map(|group| {
                            let at = |r: &RunRecord| {
                                let i = ((share * r.regret.len() as f64).ceil() as usize)
                                    .clamp(1, r.regret.len().max(1))
                                    - 1;
                                r.regret
                                    .get(i)
                                    .copied()
                                    .filter(|v| !v.is_nan())
                                    .unwrap_or(f64::INFINITY)
                            };
                            let values: Vec<f64> = strategies
                                .iter()
                                .map(|name| {
                                    at(group
                                        .iter()
                                        .find(|r| r.strategy == *name)
                                        .expect("one run per strategy"))
                                })
                                .collect();
                            let mine = strategies.iter().position(|name| name == s).expect("listed above");
                            ranks(&values)[mine]
                        })
                        .sum::<f64>()
                        / complete.len().max(1) as f64;
                    (share * 100.0, mean)
                })
                .collect();
            (*s, curve)
        })
        .collect();
    (curves, complete.len())
}

/// One SVG of `mean_ranks`: a line per strategy.
pub fn mean_rank(runs: &[RunRecord]) -> anyhow::Result<String> {
    let (curves, pairs) = mean_ranks(runs);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("mean rank over {pairs} problem-seed pairs (1 = best)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..100.0, 0.8..curves.len() as f64 + 0.2)?;
        chart
            .configure_mesh()
            .x_desc("share of the budget spent (%)")
            .y_desc("mean rank")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        for (i, (strategy, curve)) in curves.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(curve, color.stroke_width(2)))?
                .label(strategy)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(problem: &str, strategy: &str, seed: u64, regret: &[f64]) -> RunRecord {
        RunRecord {
            problem: problem.into(),
            strategy: strategy.into(),
            seed,
            regret: regret.to_vec(),
            believed_regret: Vec::new(),
            suggest_seconds: 0.0,
        }
    }

    #[test]
    fn mean_ranks_follow_the_order_at_each_point_of_the_budget() {
        let runs = vec![
            run("a", "gp", 0, &[1.0, 0.1]),
            run("a", "random", 0, &[0.5, 0.5]),
            run("b", "gp", 0, &[f64::NAN, 0.2]),
            run("b", "random", 0, &[0.9, 0.3]),
            // No partner: left out of the ranks.
            run("b", "gp", 1, &[0.1, 0.1]),
        ];
        let (curves, pairs) = mean_ranks(&runs);
        assert_eq!(pairs, 2);
        let (gp, random) = (&curves[0], &curves[1]);
        assert_eq!((gp.0, random.0), ("gp", "random"));
        // First half of the budget: gp behind on both problems (no pick on b
        // ranks last); second half: ahead on both.
        assert_eq!((gp.1[0], random.1[0]), ((2.0, 2.0), (2.0, 1.0)));
        assert_eq!((gp.1[49], random.1[49]), ((100.0, 1.0), (100.0, 2.0)));
        assert!(mean_rank(&runs).unwrap().contains("over 2 problem-seed pairs"));
    }
}
