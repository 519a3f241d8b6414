//! Pictures of a study, one file per kind. Each draws an SVG string: `bo plot`
//! writes it (or a PNG of it), `bo report` and `bo dashboard` inline it.

mod axis;
mod contour;
mod history;
mod importance;
mod intermediate;
mod parallel;
mod retest;
mod slice;

use anyhow::{Context, Result};
use plotters::coord::{ranged1d::Ranged, Shift};
use plotters::prelude::*;

use crate::space::{Goal, Space, Sweep};
use crate::storage::{StudyRecord, TrialRecord, TrialState};
use axis::ParamAxis;

/// What `bo plot --kind` draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Values and the best so far; failed and pruned trials marked.
    History,
    /// Parallel coordinates, coloured by value.
    Parallel,
    /// Parameter importance (PED-ANOVA).
    Importance,
    /// The value against each parameter.
    Slice,
    /// The value over two parameters (by default the two most important).
    Contour,
    /// Learning curves; pruned ones marked.
    Intermediate,
    /// Search score against re-test mean and its 95% interval.
    Retest,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::History,
        Kind::Parallel,
        Kind::Importance,
        Kind::Slice,
        Kind::Contour,
        Kind::Intermediate,
        Kind::Retest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::History => "history",
            Kind::Parallel => "parallel",
            Kind::Importance => "importance",
            Kind::Slice => "slice",
            Kind::Contour => "contour",
            Kind::Intermediate => "intermediate",
            Kind::Retest => "retest",
        }
    }

    pub fn by_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A stored study with its trials and the space its parameters come from.
pub struct StudyView {
    pub study: StudyRecord,
    pub trials: Vec<TrialRecord>,
    pub space: Space,
}

impl StudyView {
    pub fn new(study: StudyRecord, trials: Vec<TrialRecord>) -> Result<StudyView> {
        let space = Sweep::from_value(study.config.clone(), &format!("study `{}`", study.name))
            .with_context(|| format!("study `{}` holds a sweep that no longer parses", study.name))?
            .space;
        Ok(StudyView { study, trials, space })
    }

    pub fn goal(&self) -> Goal {
        self.study.goal
    }

    /// Complete search trials with a finite value, in trial order.
    pub fn complete(&self) -> Vec<(&TrialRecord, f64)> {
        self.trials
            .iter()
            .filter(|t| t.is_search() && t.state == TrialState::Complete)
            .filter_map(|t| t.value.filter(|v| v.is_finite()).map(|v| (t, v)))
            .collect()
    }

    /// The complete trials a plot of many draws: all of them up to
    /// `MAX_DRAWN`, else the best half of that and an even sample of the rest,
    /// so that 10,000 trials stay quick to draw and to view.
    fn drawn(&self) -> Vec<(&TrialRecord, f64)> {
        let mut complete = self.complete();
        if complete.len() <= MAX_DRAWN {
            return complete;
        }
        let goal = self.goal();
        complete.sort_by(|a, b| goal.to_loss(a.1).total_cmp(&goal.to_loss(b.1)));
        let rest = complete.split_off(MAX_DRAWN / 2);
        let stride = rest.len() as f64 / (MAX_DRAWN - complete.len()) as f64;
        complete.extend((0..MAX_DRAWN - complete.len()).map(|i| rest[(i as f64 * stride) as usize]));
        complete.sort_by_key(|(t, _)| t.number);
        complete
    }

    /// The caption's note when not every complete trial is drawn.
    fn drawn_note(&self, drawn: usize) -> String {
        let complete = self.complete().len();
        if drawn < complete {
            format!(" ({drawn} of {complete} complete trials: the best and an even sample)")
        } else {
            String::new()
        }
    }

    /// The axes of the searched parameters; an error when there are none.
    fn searched_axes(&self) -> Result<Vec<ParamAxis>> {
        let axes: Vec<ParamAxis> = self.space.searched().map(ParamAxis::new).collect();
        if axes.is_empty() {
            anyhow::bail!("study `{}` searches no parameter", self.study.name);
        }
        Ok(axes)
    }

    fn no_complete_trials(&self) -> anyhow::Error {
        anyhow::anyhow!("study `{}` has no complete trial to plot yet", self.study.name)
    }
}

/// Above this many complete trials, plots of every trial draw a sample.
const MAX_DRAWN: usize = 2000;
const SIZE: (u32, u32) = (960, 560);
const CAPTION: (&str, u32) = ("sans-serif", 20);
const LABEL: (&str, u32) = ("sans-serif", 15);

/// Draws `kind` for the study; `pair` names the contour's two parameters.
pub fn draw(kind: Kind, view: &StudyView, pair: Option<(&str, &str)>) -> Result<String> {
    match kind {
        Kind::History => history::draw(view),
        Kind::Parallel => parallel::draw(view),
        Kind::Importance => importance::draw(view),
        Kind::Slice => slice::draw(view),
        Kind::Contour => contour::draw(view, pair),
        Kind::Intermediate => intermediate::draw(view),
        Kind::Retest => retest::draw(view),
    }
}

/// An SVG drawn by `paint` on a white canvas of `size`.
fn svg<F>(size: (u32, u32), paint: F) -> Result<String>
where
    F: for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> Result<()>,
{
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE)?;
        paint(&root)?;
        root.present()?;
    }
    Ok(out)
}

/// A range around `values` with a little room on both sides.
fn padded_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    lo - pad..hi + pad
}

/// The colour of `value` on a scale from `lo` to `hi`: yellow is best, in the goal's direction.
fn shade(value: f64, lo: f64, hi: f64, goal: Goal) -> RGBColor {
    let t = if hi > lo {
        ((value - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let t = match goal {
        Goal::Minimize => 1.0 - t,
        Goal::Maximize => t,
    };
    ViridisRGB::get_color(t)
}

/// A vertical colour bar for `shade` over `range`, labelled with the metric.
fn colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    range: std::ops::Range<f64>,
    goal: Goal,
    metric: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(50)
        .margin_right(8)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, range.clone())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(metric)
        .y_label_style(LABEL)
        .axis_desc_style(LABEL)
        .y_label_formatter(&|v| crate::format::format_value(*v))
        .draw()?;
    let steps = 100;
    let step = (range.end - range.start) / steps as f64;
    chart.draw_series((0..steps).map(|i| {
        let y = range.start + i as f64 * step;
        Rectangle::new(
            [(0.0, y), (1.0, y + step)],
            shade(y + step / 2.0, range.start, range.end, goal).filled(),
        )
    }))?;
    Ok(())
}

/// The legend of the series labelled so far, in a corner.
fn legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(LABEL)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Whether a trial is drawn as failed, pruned or complete.
fn state_style(state: TrialState) -> (RGBColor, &'static str) {
    match state {
        TrialState::Complete => (RGBColor(31, 119, 180), "complete"),
        TrialState::Pruned => (RGBColor(255, 127, 14), "pruned"),
        TrialState::Failed => (RGBColor(214, 39, 40), "failed"),
        TrialState::Running => (RGBColor(44, 160, 44), "running"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::space::Goal;

    /// A study of three parameters, one of them log-scaled and one
    /// categorical, with complete, pruned, failed and re-tested trials.
    pub(crate) fn mixed_study() -> StudyView {
        let config = json!({
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {
                "lr": {"min": 1e-4, "max": 1.0, "distribution": "log_uniform_values"},
                "width": {"min": 8, "max": 64},
                "optimizer": {"values": ["sgd", "adam"]},
            }
        });
        let study = StudyRecord {
            id: 1,
            name: "mixed".into(),
            config,
            objective: json!({"program": "train.py"}),
            metric: "loss".into(),
            goal: Goal::Minimize,
            strategy: "gp".into(),
            seed: 3,
            created: 0.0,
            pruner: None,
        };
        let mut trials: Vec<TrialRecord> = (0..24u64)
            .map(|i| {
                let lr = 10f64.powf(-4.0 + 4.0 * ((i * 7) % 24) as f64 / 23.0);
                let width = 8 + (i * 5) % 57;
                let optimizer = if i % 3 == 0 { "sgd" } else { "adam" };
                let loss =
                    (lr.log10() + 2.0).powi(2) + width as f64 / 64.0 + if optimizer == "sgd" { 1.0 } else { 0.0 };
                let curve: Vec<(i64, f64)> = (1..=4).map(|s| (s, loss + 4.0 / s as f64)).collect();
                let state = match i % 8 {
                    5 => TrialState::Pruned,
                    7 => TrialState::Failed,
                    _ => TrialState::Complete,
                };
                let (value, curve) = match state {
                    TrialState::Pruned => (Some(curve[1].1), curve[..2].to_vec()),
                    TrialState::Failed => (None, curve[..1].to_vec()),
                    _ => (Some(loss), curve),
                };
                let mut t = TrialRecord::for_test(
                    i,
                    state,
                    json!({"lr": lr, "width": width, "optimizer": optimizer}),
                    value,
                    &curve,
                    curve.last().map(|p| p.0),
                );
                t.started = 1000.0 + i as f64;
                t.ended = Some(1000.5 + i as f64);
                t
            })
            .collect();
        // Two re-tests of the best two trials.
        let best: Vec<(u64, f64)> = {
            let mut c: Vec<(u64, f64)> = trials
                .iter()
                .filter_map(|t| {
                    t.value
                        .filter(|_| t.state == TrialState::Complete)
                        .map(|v| (t.number, v))
                })
                .collect();
            c.sort_by(|a, b| a.1.total_cmp(&b.1));
            c.truncate(2);
            c
        };
        for (k, (number, value)) in best.into_iter().enumerate() {
            for s in 0..3 {
                let mut t = trials[number as usize].clone();
                t.number = 100 + 3 * k as u64 + s;
                t.retest_of = Some(number);
                t.value = Some(value + 0.1 * (s as f64 + 1.0));
                trials.push(t);
            }
        }
        StudyView::new(study, trials).unwrap()
    }

    #[test]
    fn every_kind_draws_a_study_with_failed_pruned_and_categorical_trials() {
        let view = mixed_study();
        for kind in Kind::ALL {
            let svg = draw(kind, &view, None).unwrap_or_else(|e| panic!("{}: {e:#}", kind.name()));
            assert!(
                svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
                "{}",
                kind.name()
            );
            // Every kind names what it shows.
            let expected: &[&str] = match kind {
                Kind::History => &["best so far", "pruned", "failed", "trial"],
                Kind::Parallel => &["lr", "width", "optimizer", "sgd", "adam"],
                Kind::Importance => &["lr", "width", "optimizer", "PED-ANOVA"],
                Kind::Slice => &["lr", "width", "optimizer", "sgd", "adam"],
                Kind::Contour => &["lr"],
                Kind::Intermediate => &["step", "pruned", "complete"],
                Kind::Retest => &["re-test mean", "search score", "#"],
            };
            for word in expected {
                assert!(svg.contains(word), "{}: no `{word}`", kind.name());
            }
        }
    }

    /// A trial without a conditional parameter keeps its line, with a gap at
    /// that axis (a line needed every axis once, so no trial was drawn).
    #[test]
    fn parallel_coordinates_draw_trials_that_lack_a_conditional_parameter() {
        let mut view = mixed_study();
        view.study.config["parameters"]["momentum"] = json!({"min": 0.0, "max": 1.0, "when": {"optimizer": "sgd"}});
        view.space = Sweep::from_value(view.study.config.clone(), "test").unwrap().space;
        for t in &mut view.trials {
            if t.params["optimizer"] == "sgd" {
                t.params.insert("momentum".into(), json!(0.5));
            }
        }
        let svg = draw(Kind::Parallel, &view, None).unwrap();
        let strokes = |colour_opacity: &str| svg.matches(colour_opacity).count();
        // Trials are the only marks drawn translucent. The axes run lr, width,
        // optimizer, momentum, loss: one line per sgd trial; per adam trial a
        // line up to `optimizer` and a lone mark at the loss.
        let complete: Vec<bool> = view
            .drawn()
            .iter()
            .map(|(t, _)| t.params["optimizer"] == "sgd")
            .collect();
        let sgd = complete.iter().filter(|s| **s).count();
        let adam = complete.len() - sgd;
        assert!(sgd > 0 && adam > 0);
        assert_eq!(strokes("opacity=\"0.6\""), sgd + 2 * adam);
    }

    #[test]
    fn a_log_scaled_parameter_gets_decade_ticks() {
        let view = mixed_study();
        let lr = view.space.searched().find(|p| p.name == "lr").unwrap();
        let axis = ParamAxis::new(lr);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1e-4", "0.001", "0.01", "0.1", "1"]);
        // Evenly spaced: a log axis.
        let gaps: Vec<f64> = axis.ticks.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|g| (g - 0.25).abs() < 1e-9), "{gaps:?}");
    }

    #[test]
    fn a_plot_that_needs_what_the_study_lacks_says_what() {
        let mut view = mixed_study();
        view.trials.retain(|t| t.retest_of.is_none());
        for t in &mut view.trials {
            t.intermediate.clear();
        }
        let retest = draw(Kind::Retest, &view, None).unwrap_err().to_string();
        assert!(
            retest.contains("no re-tests") && retest.contains("bo retest"),
            "{retest}"
        );
        let curves = draw(Kind::Intermediate, &view, None).unwrap_err().to_string();
        assert!(curves.contains("no learning curves"), "{curves}");
        let contour = draw(Kind::Contour, &view, Some(("lr", "depth")))
            .unwrap_err()
            .to_string();
        assert!(
            contour.contains("`depth`") && contour.contains("lr, width, optimizer"),
            "{contour}"
        );
        view.trials.retain(|t| t.state != TrialState::Complete);
        let history = draw(Kind::History, &view, None).unwrap_err().to_string();
        assert!(history.contains("no complete trial"), "{history}");
    }

    #[test]
    fn ten_thousand_trials_draw_a_sample_that_keeps_the_best() {
        let mut view = mixed_study();
        let template = view.trials[0].clone();
        view.trials = (0..10_000u64)
            .map(|i| {
                let mut t = template.clone();
                t.number = i;
                t.state = TrialState::Complete;
                t.value = Some(((i * 7919) % 10_000) as f64);
                t
            })
            .collect();
        let drawn = view.drawn();
        assert_eq!(drawn.len(), MAX_DRAWN);
        assert!(drawn.iter().any(|(_, v)| *v == 0.0), "the best trial is drawn");
        assert!(drawn.iter().any(|(_, v)| *v > 9000.0), "the worst ones are sampled too");
        let svg = draw(Kind::Parallel, &view, None).unwrap();
        assert!(svg.contains("2000 of 10000 complete trials"));
    }
}
