//! Learning curves: every search trial's intermediate values by step,
//! coloured by how the trial ended; a pruned trial's curve ends in a cross.

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::{legend, padded_range, state_style, svg, StudyView, CAPTION, LABEL, MAX_DRAWN, SIZE};
use crate::format::format_value;
use crate::storage::{TrialRecord, TrialState};

pub fn draw(view: &StudyView) -> Result<String> {
    let curves: Vec<&TrialRecord> = view
        .trials
        .iter()
        .filter(|t| t.is_search() && !t.intermediate.is_empty())
        .collect();
    if curves.is_empty() {
        bail!(
            "study `{}` has no learning curves: its trials reported no intermediate values",
            view.study.name
        );
    }
    // The most recent curves, when there are too many to draw.
    let curves = &curves[curves.len().saturating_sub(MAX_DRAWN)..];
    let steps = curves
        .iter()
        .flat_map(|t| t.intermediate.iter().map(|p| p.0))
        .fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let x = steps.0 as f64..(steps.1 as f64).max(steps.0 as f64 + 1.0);
    let y = padded_range(curves.iter().flat_map(|t| t.intermediate.iter().map(|p| p.1)));
    let metric = view.study.metric.as_str();
    let caption = format!("{}: learning curves ({} trials)", view.study.name, curves.len());
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, CAPTION)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x.clone(), y.clone())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(metric)
            .label_style(LABEL)
            .axis_desc_style(LABEL)
            .y_label_formatter(&|v| format_value(*v))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        // Pruned curves first, so that the ones that ran on stay visible.
        for state in [
            TrialState::Pruned,
            TrialState::Failed,
            TrialState::Running,
            TrialState::Complete,
        ] {
            let (colour, name) = state_style(state);
            let mine: Vec<&&TrialRecord> = curves.iter().filter(|t| t.state == state && !t.abandoned).collect();
            if mine.is_empty() {
                continue;
            }
            for t in &mine {
                let points = t
                    .intermediate
                    .iter()
                    .map(|(s, v)| (*s as f64, *v))
                    .filter(|p| p.1.is_finite());
                chart.draw_series(std::iter::once(PathElement::new(
                    points.collect::<Vec<_>>(),
                    colour.mix(0.55),
                )))?;
            }
            if state == TrialState::Pruned {
                chart.draw_series(mine.iter().filter_map(|t| {
                    let (s, v) = *t.intermediate.last()?;
                    v.is_finite()
                        .then(|| Cross::new((s as f64, v), 5, colour.stroke_width(2)))
                }))?;
            }
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(format!("{name} ({})", mine.len()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}
