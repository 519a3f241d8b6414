//! `bo report`: one self-contained HTML page of a study. Its plots are inline
//! SVG and its style is inline CSS, so it opens offline and links nothing.

use std::collections::BTreeSet;
use std::fmt::Write;

use bo_benchmarks::stats::{median, quantile};
use serde_json::Value;

use crate::format::{duration, format_param, format_params, format_value, utc};
use crate::plots::{self, Kind, StudyView};
use crate::retest;
use crate::storage::{TrialCounts, TrialRecord};

/// Rows of the best-trials table.
const TOP_TRIALS: usize = 20;

const STYLE: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
.note { color: #666; font-style: italic; }
";

/// The page for `view`.
pub fn html(view: &StudyView) -> String {
    let name = escape(&view.study.name);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>bo report: {name}</title><style>{STYLE}</style></head><body>\n<h1>Study {name}</h1>\n"
    );
    page.push_str(&metadata(view));
    page.push_str(&best(view));
    page.push_str(&retests(view));
    page.push_str("<h2>Plots</h2>\n");
    for kind in Kind::ALL {
        let _ = write!(page, "<figure id=\"{}\">", kind.name());
        match plots::draw(kind, view, None) {
            Ok(svg) => page.push_str(&inline_svg(&svg)),
            Err(e) => {
                let _ = write!(
                    page,
                    "<p class=\"note\">{}: {}</p>",
                    kind.name(),
                    escape(&format!("{e:#}"))
                );
            }
        }
        page.push_str("</figure>\n");
    }
    page.push_str(&top_trials(view));
    page.push_str("</body></html>\n");
    page
}

/// An SVG for inlining in HTML, where it needs no namespace: the page then
/// holds no `http://` at all.
fn inline_svg(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(label), escape(value));
}

fn metadata(view: &StudyView) -> String {
    let study = &view.study;
    let search: Vec<&TrialRecord> = view.trials.iter().filter(|t| t.is_search()).collect();
    let counts = TrialCounts::of(&view.trials);
    let hosts: BTreeSet<&str> = view.trials.iter().map(|t| t.host.as_str()).collect();
    let commits: BTreeSet<&str> = view.trials.iter().filter_map(|t| t.git_commit.as_deref()).collect();
    let first = view.trials.iter().map(|t| t.started).fold(f64::INFINITY, f64::min);
    let last = view
        .trials
        .iter()
        .map(|t| t.ended.unwrap_or(t.heartbeat))
        .fold(f64::NEG_INFINITY, f64::max);
    let busy: f64 = view.trials.iter().filter_map(|t| Some(t.ended? - t.started)).sum();
    let suggest: Vec<f64> = search.iter().filter_map(|t| t.suggest_seconds).collect();
    let pruner = study
        .pruner
        .as_ref()
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("none");
    let mut out = String::from("<table class=\"meta\">");
    row(
        &mut out,
        "metric",
        &format!("{} ({})", study.metric, study.goal.as_str()),
    );
    row(&mut out, "strategy", &study.strategy);
    row(&mut out, "pruner", pruner);
    row(&mut out, "seed", &study.seed.to_string());
    row(&mut out, "created", &utc(study.created));
    row(
        &mut out,
        "trials",
        &format!(
            "{} search: {} complete, {} pruned, {} failed, {} running; {} re-tests",
            counts.search, counts.complete, counts.pruned, counts.failed, counts.running, counts.retests
        ),
    );
    row(&mut out, "hosts", &join_or(&hosts, "none"));
    row(
        &mut out,
        "git commits",
        &join_or(&commits, "unknown (not run from a git checkout)"),
    );
    if first.is_finite() && last.is_finite() {
        row(
            &mut out,
            "wall time",
            &format!("{} ({} to {})", duration(last - first), utc(first), utc(last)),
        );
    }
    row(&mut out, "trial time, summed", &duration(busy));
    if !suggest.is_empty() {
        row(
            &mut out,
            "suggestion time",
            &format!(
                "median {:.1} ms, 99th percentile {:.1} ms, over {} suggestions",
                median(&suggest) * 1e3,
                quantile(&suggest, 0.99) * 1e3,
                suggest.len()
            ),
        );
    }
    out.push_str("</table>\n");
    out
}

fn join_or(items: &BTreeSet<&str>, empty: &str) -> String {
    if items.is_empty() {
        empty.into()
    } else {
        items.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

fn best(view: &StudyView) -> String {
    let goal = view.goal();
    let mut out = String::from("<h2>Best configuration</h2>\n");
    let Some((trial, value)) = view
        .complete()
        .into_iter()
        .min_by(|a, b| goal.to_loss(a.1).total_cmp(&goal.to_loss(b.1)))
    else {
        out.push_str("<p class=\"note\">No trial has completed yet.</p>\n");
        return out;
    };
    let _ = write!(
        out,
        "<p>Trial {} with {} = {} (by search score; the re-tests below say how much of it holds).</p><table>",
        trial.number,
        escape(&view.study.metric),
        format_value(value)
    );
    for (name, v) in &trial.params {
        row(&mut out, name, &format_param(v));
    }
    out.push_str("</table>\n");
    out
}

fn retests(view: &StudyView) -> String {
    let rows = retest::rows(view.goal(), &view.trials);
    let mut out = String::from("<h2>Re-tests</h2>\n");
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">No re-tests yet: <code>bo retest {}</code> re-runs the best configurations with fresh seeds.</p>",
            escape(&view.study.name)
        );
        return out;
    }
    out.push_str(
        "<table><tr><th>rank</th><th>trial</th><th>search score</th><th>re-test mean ± 95%</th><th>drop (luck)</th><th>re-tests</th><th>failed</th><th>parameters</th></tr>",
    );
    for (rank, r) in rows.iter().enumerate() {
        out.push_str("<tr>");
        let rank = (rank + 1).to_string();
        let failed = r.failed.to_string();
        for cell in std::iter::once(&rank).chain(&r.cells()).chain([&failed]) {
            let _ = write!(out, "<td class=\"num\">{cell}</td>");
        }
        let _ = write!(out, "<td>{}</td></tr>", escape(&format_params(&r.params)));
    }
    out.push_str("</table>\n");
    if let Some(first) = rows.first().filter(|r| !r.values.is_empty()) {
        let _ = writeln!(
            out,
            "<p>Recommended: trial {}, the best re-test mean. A positive drop is the part of the search score that was luck.</p>",
            first.trial
        );
    }
    out
}

fn top_trials(view: &StudyView) -> String {
    let goal = view.goal();
    let mut complete = view.complete();
    complete.sort_by(|a, b| goal.to_loss(a.1).total_cmp(&goal.to_loss(b.1)));
    complete.truncate(TOP_TRIALS);
    let mut out = format!("<h2>The best {} trials</h2>\n", complete.len());
    let names: Vec<&str> = view.space.searched().map(|p| p.name.as_str()).collect();
    out.push_str("<table><tr><th>trial</th><th>");
    out.push_str(&escape(&view.study.metric));
    out.push_str("</th><th>seconds</th>");
    for name in &names {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr>");
    for (t, v) in complete {
        let seconds = t.ended.map(|e| format!("{:.1}", e - t.started)).unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{seconds}</td>",
            t.number,
            format_value(v)
        );
        for name in &names {
            let cell = t.params.get(*name).map(format_param).unwrap_or_default();
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::tests::mixed_study;

    #[test]
    fn the_report_holds_every_plot_and_links_nothing() {
        let mut view = mixed_study();
        view.study.name = "a <b> & \"c\"".into();
        let page = html(&view);
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "a link or namespace URL remains"
        );
        assert!(!page.contains("<script") && !page.contains(" src="));
        assert_eq!(page.matches("<svg").count(), Kind::ALL.len(), "every kind drawn inline");
        for kind in Kind::ALL {
            assert!(
                page.contains(&format!("<figure id=\"{}\"><svg", kind.name())),
                "{}",
                kind.name()
            );
        }
        assert!(
            page.contains("Study a &lt;b&gt; &amp; &quot;c&quot;"),
            "the name is escaped"
        );
        for words in [
            "strategy</th><td>gp",
            "seed</th><td>3",
            "hosts</th><td>h",
            "wall time",
            "Re-tests",
            "Recommended: trial",
        ] {
            assert!(page.contains(words), "no `{words}`");
        }
    }

    #[test]
    fn a_study_without_re_tests_or_curves_says_so_in_place_of_the_plot() {
        let mut view = mixed_study();
        view.trials.retain(|t| t.retest_of.is_none());
        for t in &mut view.trials {
            t.intermediate.clear();
        }
        let page = html(&view);
        assert!(page.contains("No re-tests yet: <code>bo retest mixed</code>"));
        assert!(page.contains("intermediate: study `mixed` has no learning curves"));
        assert_eq!(page.matches("<svg").count(), Kind::ALL.len() - 2);
    }
}
