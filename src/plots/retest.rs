//! The optimizer's curse, seen: each re-tested configuration's search score
//! against its re-test mean with the 95% interval. Points off the diagonal
//! (on the worse side) were partly luck.

use anyhow::{bail, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{legend, padded_range, svg, StudyView, CAPTION, LABEL, SIZE};
use crate::format::format_value;
use crate::retest;
use crate::space::Goal;

pub fn draw(view: &StudyView) -> Result<String> {
    let rows: Vec<retest::RetestRow> = retest::rows(view.goal(), &view.trials)
        .into_iter()
        .filter(|r| !r.values.is_empty())
        .collect();
    if rows.is_empty() {
        bail!(
            "study `{}` has no re-tests yet: `bo retest {}` re-runs its best configurations",
            view.study.name,
            view.study.name
        );
    }
    let interval = |r: &retest::RetestRow| {
        let h = if r.half_width.is_finite() { r.half_width } else { 0.0 };
        (r.mean - h, r.mean + h)
    };
    let range = padded_range(rows.iter().flat_map(|r| [r.search_value, interval(r).0, interval(r).1]));
    let metric = view.study.metric.as_str();
    let caption = format!("{}: search score against re-test mean (95% interval)", view.study.name);
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, CAPTION)
            .margin(14)
            .margin_right(30)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(range.clone(), range.clone())?;
        chart
            .configure_mesh()
            .x_desc(format!("search score ({metric})"))
            .y_desc(format!("re-test mean ({metric})"))
            .label_style(LABEL)
            .axis_desc_style(LABEL)
            .x_label_formatter(&|v| format_value(*v))
            .y_label_formatter(&|v| format_value(*v))
            .draw()?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new(
                [(range.start, range.start), (range.end, range.end)],
                6,
                4,
                grey.stroke_width(1),
            ))?
            .label("re-test = search (no luck)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(rows.iter().map(|r| {
                let (lo, hi) = interval(r);
                ErrorBar::new_vertical(r.search_value, lo, r.mean, hi, blue.filled().stroke_width(2), 10)
            }))?
            .label("re-test mean and 95% interval")
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, blue.filled()));
        let label = TextStyle::from(LABEL.into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
        chart.draw_series(rows.iter().map(|r| {
            Text::new(
                format!("#{} ({} re-tests)", r.trial, r.values.len()),
                (r.search_value, r.mean),
                label.clone(),
            )
        }))?;
        // Re-tests fall on the worse side of the diagonal: the other corner is free.
        let corner = match view.goal() {
            Goal::Minimize => SeriesLabelPosition::LowerRight,
            Goal::Maximize => SeriesLabelPosition::UpperLeft,
        };
        legend(&mut chart, corner)?;
        Ok(())
    })
}
