//! Convergence plots: normalized regret against the budget spent (trials, or
//! cumulative epochs where trials report learning curves), median and
//! interquartile band.

use std::path::Path;

use plotters::prelude::*;

use crate::stats::quantile;
use crate::suite::{Reference, RunRecord};

/// Smallest normalized regret the log axis shows.
const FLOOR: f64 = 1e-5;

/// Lower quartile, median and upper quartile at one trial.
type Band = (f64, f64, f64);

/// Writes one SVG for `reference.problem` with a line and band per strategy.
pub fn convergence(path: &Path, reference: &Reference, runs: &[&RunRecord]) -> anyhow::Result<()> {
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
    let root = SVGBackend::new(path, (720, 450)).into_drawing_area();
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
    Ok(())
}
