//! A parameter's axis. Plots place every parameter on its unit axis, the one
//! strategies search: a log-scaled parameter's is logarithmic, a categorical
//! one's has a slot per category. The ticks carry the values' own labels.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use serde_json::Value;

use crate::format::format_value;
use crate::space::{Param, ParamKind};

pub struct ParamAxis {
    pub param: Param,
    /// "lr (log)" for a log-scaled parameter, else its name.
    pub title: String,
    /// (unit coordinate, label), in order.
    pub ticks: Vec<(f64, String)>,
}

impl ParamAxis {
    /// The axis of a searched parameter.
    pub fn new(param: &Param) -> ParamAxis {
        let (title, ticks) = match &param.kind {
            ParamKind::Categorical { values, .. } => (
                param.name.clone(),
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ((i as f64 + 0.5) / values.len() as f64, category_label(v)))
                    .collect(),
            ),
            ParamKind::Numeric(n) => {
                let (lo, hi) = n.value_range();
                let values = if n.is_log() {
                    log_ticks(lo, hi)
                } else {
                    linear_ticks(lo, hi, 6)
                };
                let title = if n.is_log() {
                    format!("{} (log)", param.name)
                } else {
                    param.name.clone()
                };
                (title, values.into_iter().map(|v| (n.unit(v), tick_label(v))).collect())
            }
            ParamKind::Constant(_) => (param.name.clone(), Vec::new()),
        };
        ParamAxis {
            param: param.clone(),
            title,
            ticks,
        }
    }

    /// A trial's coordinate on this axis.
    pub fn coordinate(&self, params: &serde_json::Map<String, Value>) -> Option<f64> {
        self.param.unit(params.get(&self.param.name)?)
    }

    pub fn tick_units(&self) -> Vec<f64> {
        self.ticks.iter().map(|(u, _)| *u).collect()
    }

    /// The label of the tick at `unit` (plotters asks for tick positions only).
    pub fn label(&self, unit: f64) -> String {
        self.ticks
            .iter()
            .find(|(u, _)| (u - unit).abs() < 1e-9)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
}

/// A linear coordinate whose ticks sit where the caller says (plotters'
/// `with_key_points` cannot take a label formatter on an f64 range).
pub struct Ticked {
    pub range: Range<f64>,
    pub ticks: Vec<f64>,
}

impl Ticked {
    /// A unit axis with ticks at `ticks`.
    pub fn unit(ticks: Vec<f64>) -> Ticked {
        Ticked { range: 0.0..1.0, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.range.start) / (self.range.end - self.range.start);
        (limit.0 as f64 + t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for Ticked {
    fn format(value: &f64) -> String {
        value.to_string()
    }
}

/// A tick's value, short: 0.001, 250, 1e-5.
pub fn tick_label(v: f64) -> String {
    let plain = format_value(v);
    if plain.contains('e') {
        format!("{v:e}")
    } else {
        plain
    }
}

fn category_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Round values from `lo` to `hi`: steps of 1, 2 or 5 times a power of ten.
pub fn linear_ticks(lo: f64, hi: f64, about: usize) -> Vec<f64> {
    // Also catches NaN bounds.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / about as f64;
    let power = 10f64.powf(raw.log10().floor());
    let multiple = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * power >= raw)
        .unwrap_or(10.0);
    let step = multiple * power;
    // Divided by a whole power of ten where below one, so that 3 × 0.2 prints as 0.6.
    let at = |k: i64| {
        if power < 1.0 {
            k as f64 * multiple / (1.0 / power).round()
        } else {
            k as f64 * step
        }
    };
    ((lo / step).ceil() as i64..=(hi / step).floor() as i64)
        .map(at)
        .collect()
}

/// Powers of ten from `lo` to `hi`; where fewer than three fit, 2 and 5 times them too.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32);
    let within = |v: &f64| *v >= lo * (1.0 - 1e-12) && *v <= hi * (1.0 + 1e-12);
    let powers: Vec<f64> = decades.clone().map(|k| 10f64.powi(k)).filter(within).collect();
    if powers.len() >= 3 {
        return powers;
    }
    let finer: Vec<f64> = decades
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(within)
        .collect();
    if finer.len() >= 2 {
        finer
    } else {
        vec![lo, hi]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside_the_range() {
        assert_eq!(linear_ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(8.0, 64.0, 6), [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    }

    #[test]
    fn a_narrow_log_range_gets_two_and_five_ticks() {
        assert_eq!(log_ticks(0.01, 0.3), [0.01, 0.02, 0.05, 0.1, 0.2]);
    }
}
