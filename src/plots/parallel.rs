//! Parallel coordinates: one vertical axis per parameter and one for the
//! value; each complete trial is a line across them, coloured by its value.
//! A conditional parameter a trial did not have leaves a gap in its line.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{linear_ticks, tick_label};
use super::{colorbar, padded_range, shade, svg, StudyView, CAPTION, LABEL, SIZE};

pub fn draw(view: &StudyView) -> Result<String> {
    let drawn = view.drawn();
    if drawn.is_empty() {
        return Err(view.no_complete_trials());
    }
    let axes = view.searched_axes()?;
    let goal = view.goal();
    let values = padded_range(drawn.iter().map(|(_, v)| *v));
    let value_unit = |v: f64| (v - values.start) / (values.end - values.start);
    // Worst first, so the best lines lie on top.
    let mut lines: Vec<(Vec<Option<f64>>, f64)> = drawn
        .iter()
        .map(|(t, v)| {
            let mut coords: Vec<Option<f64>> = axes.iter().map(|a| a.coordinate(&t.params)).collect();
            coords.push(Some(value_unit(*v)));
            (coords, *v)
        })
        .collect();
    lines.sort_by(|a, b| goal.to_loss(b.1).total_cmp(&goal.to_loss(a.1)));
    let value_ticks: Vec<(f64, String)> = linear_ticks(values.start, values.end, 6)
        .into_iter()
        .map(|v| (value_unit(v), tick_label(v)))
        .collect();
    let metric = view.study.metric.as_str();
    let mut titles: Vec<&str> = axes.iter().map(|a| a.title.as_str()).collect();
    titles.push(metric);
    let mut ticks: Vec<&[(f64, String)]> = axes.iter().map(|a| a.ticks.as_slice()).collect();
    ticks.push(&value_ticks);
    let last = (titles.len() - 1) as f64;
    let width = (SIZE.0).max(180 * titles.len() as u32);
    let caption = format!(
        "{}: parallel coordinates{}",
        view.study.name,
        view.drawn_note(drawn.len())
    );
    svg((width, SIZE.1), |root| {
        let (plot, bar) = root.split_horizontally(width - 110);
        let mut chart = ChartBuilder::on(&plot)
            .caption(caption, CAPTION)
            .margin_left(70)
            .margin_right(70)
            .margin_top(10)
            .margin_bottom(30)
            // Room above the axes for their titles.
            .build_cartesian_2d(-0.02..last + 0.02, 0.0..1.08)?;
        for (coords, v) in &lines {
            let colour = shade(*v, values.start, values.end, goal).mix(0.6);
            // Each run of axes the trial has is one stretch of its line.
            let mut run: Vec<(f64, f64)> = Vec::new();
            for (i, u) in coords.iter().enumerate() {
                if let Some(u) = u {
                    run.push((i as f64, *u));
                }
                if u.is_none() || i + 1 == coords.len() {
                    match run.len() {
                        0 => {}
                        1 => {
                            chart.draw_series(std::iter::once(Circle::new(run[0], 2, colour.filled())))?;
                        }
                        _ => {
                            chart
                                .draw_series(std::iter::once(PathElement::new(run.clone(), colour.stroke_width(1))))?;
                        }
                    }
                    run.clear();
                }
            }
        }
        let label = TextStyle::from(LABEL.into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        let title = TextStyle::from(LABEL.into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, (name, axis_ticks)) in titles.iter().zip(&ticks).enumerate() {
            let x = i as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, 1.0)],
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(name.to_string(), (x, 1.06), title.clone())))?;
            for (u, text) in axis_ticks.iter() {
                chart.draw_series(std::iter::once(PathElement::new(vec![(x - 0.015, *u), (x, *u)], BLACK)))?;
                chart.draw_series(std::iter::once(Text::new(text.clone(), (x - 0.02, *u), label.clone())))?;
            }
        }
        colorbar(&bar, values.clone(), goal, metric)?;
        Ok(())
    })
}
