//! Optimization history: each trial's value, the best so far, and where
//! trials failed (no value: a mark along the bottom) or were pruned.

use anyhow::Result;
use plotters::prelude::*;

use super::{legend, padded_range, state_style, svg, StudyView, CAPTION, LABEL, SIZE};
use crate::format::format_value;
use crate::storage::TrialState;

pub fn draw(view: &StudyView) -> Result<String> {
    let complete = view.complete();
    if complete.is_empty() {
        return Err(view.no_complete_trials());
    }
    let goal = view.goal();
    let search: Vec<_> = view.trials.iter().filter(|t| t.is_search()).collect();
    let pruned: Vec<(u64, f64)> = search
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .filter_map(|t| t.value.filter(|v| v.is_finite()).map(|v| (t.number, v)))
        .collect();
    let failed: Vec<u64> = search
        .iter()
        .filter(|t| t.state == TrialState::Failed && !t.abandoned)
        .map(|t| t.number)
        .collect();
    let mut best_so_far: Vec<(u64, f64)> = Vec::new();
    for (t, v) in &complete {
        let best = match best_so_far.last() {
            Some(&(_, b)) if !goal.better(*v, b) => b,
            _ => *v,
        };
        best_so_far.push((t.number, best));
    }
    let last = search.iter().map(|t| t.number).max().unwrap_or(0) + 1;
    let y = padded_range(complete.iter().map(|(_, v)| *v).chain(pruned.iter().map(|p| p.1)));
    let metric = &view.study.metric;
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{}: {} ({}) per trial", view.study.name, metric, goal.as_str()),
                CAPTION,
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..last as f64, y.clone())?;
        chart
            .configure_mesh()
            .x_desc("trial")
            .y_desc(metric.as_str())
            .label_style(LABEL)
            .axis_desc_style(LABEL)
            .y_label_formatter(&|v| format_value(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        let (blue, _) = state_style(TrialState::Complete);
        chart
            .draw_series(
                complete
                    .iter()
                    .map(|(t, v)| Circle::new((t.number as f64, *v), 4, blue.mix(0.7).filled())),
            )?
            .label(format!("complete ({})", complete.len()))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, blue.filled()));
        let (orange, _) = state_style(TrialState::Pruned);
        if !pruned.is_empty() {
            chart
                .draw_series(
                    pruned
                        .iter()
                        .map(|(n, v)| Cross::new((*n as f64, *v), 5, orange.stroke_width(2))),
                )?
                .label(format!("pruned ({}), at its last value", pruned.len()))
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, orange.stroke_width(2)));
        }
        let (red, _) = state_style(TrialState::Failed);
        let bottom = y.start;
        if !failed.is_empty() {
            chart
                .draw_series(
                    failed
                        .iter()
                        .map(|n| TriangleMarker::new((*n as f64, bottom), 6, red.filled())),
                )?
                .label(format!("failed ({}), no value", failed.len()))
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, red.filled()));
        }
        let steps: Vec<(f64, f64)> = best_so_far
            .iter()
            .enumerate()
            .flat_map(|(i, &(n, b))| {
                // A staircase: the best holds until the next complete trial.
                let end = best_so_far.get(i + 1).map(|p| p.0).unwrap_or(last) as f64;
                [(n as f64, b), (end, b)]
            })
            .collect();
        let green = RGBColor(44, 160, 44);
        chart
            .draw_series(LineSeries::new(steps, green.stroke_width(3)))?
            .label("best so far")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(3)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
