//! Slices: the value against each parameter in turn, one panel each; later
//! trials are darker, so a search that narrows in shows it.

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Ticked;
use super::{padded_range, svg, StudyView, CAPTION, LABEL};
use crate::format::format_value;

const COLUMNS: usize = 3;
const PANEL: (u32, u32) = (420, 330);

pub fn draw(view: &StudyView) -> Result<String> {
    let drawn = view.drawn();
    if drawn.is_empty() {
        return Err(view.no_complete_trials());
    }
    let axes = view.searched_axes()?;
    let columns = axes.len().min(COLUMNS);
    let rows = axes.len().div_ceil(columns);
    let size = (PANEL.0 * columns as u32, PANEL.1 * rows as u32 + 40);
    let y = padded_range(drawn.iter().map(|(_, v)| *v));
    let last = drawn.iter().map(|(t, _)| t.number).max().unwrap_or(0).max(1) as f64;
    let metric = view.study.metric.as_str();
    let caption = format!(
        "{}: {metric} against each parameter (darker: later trial){}",
        view.study.name,
        view.drawn_note(drawn.len())
    );
    svg(size, |root| {
        let root = root.titled(&caption, CAPTION)?;
        let panels = root.split_evenly((rows, columns));
        for (axis, panel) in axes.iter().zip(panels.iter()) {
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(Ticked::unit(axis.tick_units()), y.clone())?;
            chart
                .configure_mesh()
                .x_desc(axis.title.as_str())
                .y_desc(metric)
                .label_style(LABEL)
                .axis_desc_style(LABEL)
                .x_label_formatter(&|u| axis.label(*u))
                .y_label_formatter(&|v| format_value(*v))
                .draw()?;
            chart.draw_series(drawn.iter().filter_map(|(t, v)| {
                let u = axis.coordinate(&t.params)?;
                let age = t.number as f64 / last;
                let colour = RGBColor(
                    (200.0 - 170.0 * age) as u8,
                    (220.0 - 150.0 * age) as u8,
                    (255.0 - 75.0 * age) as u8,
                );
                Some(Circle::new((u, *v), 4, colour.filled()))
            }))?;
        }
        Ok(())
    })
}
