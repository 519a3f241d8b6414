//! Contour: the value over two parameters, interpolated between the complete
//! trials (inverse-distance weighting on the two unit axes; a categorical
//! axis is a band per category, drawn from that category's trials alone and
//! left grey where it has none), with the trials on top and the best one
//! marked. By default the two most important parameters.

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;

use super::axis::{ParamAxis, Ticked};
use super::{colorbar, padded_range, shade, svg, StudyView, CAPTION, LABEL};
use crate::importance::ped_anova;
use crate::space::ParamKind;

/// Cells per side of the interpolated surface.
const CELLS: usize = 48;

pub fn draw(view: &StudyView, pair: Option<(&str, &str)>) -> Result<String> {
    let names: Vec<&str> = view.space.searched().map(|p| p.name.as_str()).collect();
    let (first, second) = match pair {
        Some(pair) => pair,
        None => default_pair(view, &names)?,
    };
    let axis = |name: &str| {
        view.space
            .searched()
            .find(|p| p.name == name)
            .map(ParamAxis::new)
            .ok_or_else(|| {
                anyhow!(
                    "study `{}` searches no parameter `{name}` (it searches {})",
                    view.study.name,
                    names.join(", ")
                )
            })
    };
    let (x_axis, y_axis) = (axis(first)?, axis(second)?);
    if first == second {
        bail!("a contour needs two different parameters, got `{first}` twice");
    }
    let drawn = view.drawn();
    let points: Vec<(f64, f64, f64)> = drawn
        .iter()
        .filter_map(|(t, v)| Some((x_axis.coordinate(&t.params)?, y_axis.coordinate(&t.params)?, *v)))
        .collect();
    if points.is_empty() {
        return Err(view.no_complete_trials());
    }
    let goal = view.goal();
    let values = padded_range(points.iter().map(|p| p.2));
    let best = points
        .iter()
        .min_by(|a, b| goal.to_loss(a.2).total_cmp(&goal.to_loss(b.2)))
        .copied()
        .expect("points are not empty");
    let metric = view.study.metric.as_str();
    let caption = format!(
        "{}: {metric} over {} and {} (red: best trial){}",
        view.study.name,
        first,
        second,
        view.drawn_note(drawn.len())
    );
    svg((900, 700), |root| {
        let (plot, bar) = root.split_horizontally(780);
        let mut chart = ChartBuilder::on(&plot)
            .caption(caption, CAPTION)
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(Ticked::unit(x_axis.tick_units()), Ticked::unit(y_axis.tick_units()))?;
        let (x_bands, y_bands) = (bands(&x_axis), bands(&y_axis));
        let (columns, rows) = (x_bands.unwrap_or(CELLS), y_bands.unwrap_or(CELLS));
        let (width, height) = (1.0 / columns as f64, 1.0 / rows as f64);
        chart.draw_series((0..columns * rows).map(|k| {
            let (i, j) = ((k % columns) as f64, (k / columns) as f64);
            let centre = ((i + 0.5) * width, (j + 0.5) * height);
            // A trial counts where it lies in the same category band as the cell.
            let near = |p: &&(f64, f64, f64)| {
                (x_bands.is_none() || (p.0 * columns as f64).floor() == i)
                    && (y_bands.is_none() || (p.1 * rows as f64).floor() == j)
            };
            let colour = match interpolate(points.iter().filter(near), centre) {
                Some(v) => shade(v, values.start, values.end, goal),
                None => RGBColor(225, 225, 225),
            };
            Rectangle::new(
                [(i * width, j * height), ((i + 1.0) * width, (j + 1.0) * height)],
                colour.filled(),
            )
        }))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_axis.title.as_str())
            .y_desc(y_axis.title.as_str())
            .label_style(LABEL)
            .axis_desc_style(LABEL)
            .x_label_formatter(&|u| x_axis.label(*u))
            .y_label_formatter(&|u| y_axis.label(*u))
            .draw()?;
        chart.draw_series(points.iter().map(|(x, y, _)| Circle::new((*x, *y), 3, BLACK.filled())))?;
        chart.draw_series(std::iter::once(TriangleMarker::new((best.0, best.1), 9, RED.filled())))?;
        colorbar(&bar, values.clone(), goal, metric)?;
        Ok(())
    })
}

/// The two most important parameters, or the first two when importance
/// cannot be measured yet.
fn default_pair<'a>(view: &StudyView, names: &[&'a str]) -> Result<(&'a str, &'a str)> {
    if names.len() < 2 {
        bail!(
            "a contour needs two searched parameters; study `{}` searches {}",
            view.study.name,
            names.len()
        );
    }
    let ranked: Vec<&'a str> = match ped_anova(&view.space, view.goal(), &view.trials) {
        Ok(importances) => importances
            .iter()
            .filter_map(|(name, _)| names.iter().find(|n| *n == name).copied())
            .collect(),
        Err(_) => names.to_vec(),
    };
    Ok((ranked[0], ranked[1]))
}

/// A categorical axis's number of bands.
fn bands(axis: &ParamAxis) -> Option<usize> {
    match &axis.param.kind {
        ParamKind::Categorical { values, .. } => Some(values.len()),
        _ => None,
    }
}

/// Inverse-distance-weighted value at (x, y), exact at a trial; none without trials.
fn interpolate<'a>(points: impl Iterator<Item = &'a (f64, f64, f64)>, (x, y): (f64, f64)) -> Option<f64> {
    let (mut weighted, mut total) = (0.0, 0.0);
    for (px, py, v) in points {
        let d2 = (px - x).powi(2) + (py - y).powi(2);
        if d2 < 1e-12 {
            return Some(*v);
        }
        let w = 1.0 / (d2 * d2);
        weighted += w * v;
        total += w;
    }
    (total > 0.0).then(|| weighted / total)
}
