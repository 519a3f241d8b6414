//! Views of stored studies as text: `bo show`, `bo export`, `bo studies`.

use std::io::Write;

use anyhow::Result;
use serde_json::{json, Value};

use crate::format::{format_params, format_value};
use crate::storage::{StudyRecord, TrialRecord, TrialState};
use crate::study::best_trial;

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

fn state_label(t: &TrialRecord) -> String {
    let state = if t.abandoned { "abandoned" } else { t.state.as_str() };
    match t.retest_of {
        Some(n) => format!("{state} (re-test of {n})"),
        None => state.to_owned(),
    }
}

/// `bo show`: every trial and the best one.
pub fn show(out: &mut impl Write, study: &StudyRecord, trials: &[TrialRecord]) -> Result<()> {
    let pruner = match study
        .pruner
        .as_ref()
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
    {
        Some(kind) => format!(" · pruner {kind}"),
        None => String::new(),
    };
    writeln!(
        out,
        "study {} · {} {} · strategy {}{pruner} · seed {}",
        study.name,
        study.goal.as_str(),
        study.metric,
        study.strategy,
        study.seed
    )?;
    let rows: Vec<[String; 5]> = trials
        .iter()
        .map(|t| {
            let seconds = t
                .ended
                .map(|e| format!("{:.1}", e - t.started))
                .unwrap_or_else(|| "–".into());
            let mut detail = format_params(&t.params);
            // Final measurements beside the metric (test accuracy, seconds): shown, never chosen on.
            let finals: Vec<String> = t
                .metrics
                .iter()
                .filter(|(_, step, _)| step.is_none())
                .map(|(name, _, value)| format!("{name} {}", format_value(*value)))
                .collect();
            if !finals.is_empty() {
                detail = format!("{detail}  [{}]", finals.join(", "));
            }
            if let Some(e) = &t.error {
                detail = format!("{detail}  ({})", truncate(e, 80));
            }
            let state = match (t.state, t.resource, t.abandoned) {
                (TrialState::Pruned, Some(step), false) => format!("pruned at {step}"),
                _ => state_label(t),
            };
            [
                t.number.to_string(),
                state,
                t.value.map(format_value).unwrap_or_else(|| "–".into()),
                seconds,
                detail,
            ]
        })
        .collect();
    let headers = ["#", "state", "value", "seconds", "parameters"];
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        format!(
            "{:>w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    writeln!(out, "{}", line(headers))?;
    for r in &rows {
        writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
    }
    let count = |s: TrialState| trials.iter().filter(|t| t.counts() && t.state == s).count();
    let retests = trials.iter().filter(|t| !t.is_search()).count();
    let steps: i64 = trials
        .iter()
        .filter(|t| t.counts())
        .map(crate::study::resource_used)
        .sum();
    writeln!(
        out,
        "{} complete, {} pruned, {} failed, {} running, {} abandoned{}{}",
        count(TrialState::Complete),
        count(TrialState::Pruned),
        count(TrialState::Failed),
        count(TrialState::Running),
        trials.iter().filter(|t| t.abandoned).count(),
        if retests > 0 {
            format!(", {retests} re-tests")
        } else {
            String::new()
        },
        if steps > 0 {
            format!("; {steps} steps in all")
        } else {
            String::new()
        }
    )?;
    match best_trial(study.goal, trials) {
        Some(b) => writeln!(
            out,
            "best: trial {} with {} = {}  {}",
            b.number,
            study.metric,
            format_value(b.value.unwrap_or(f64::NAN)),
            format_params(&b.params)
        )?,
        None => writeln!(out, "best: none yet (no complete trial)")?,
    }
    let retests = crate::retest::rows(study.goal, trials);
    if !retests.is_empty() {
        write!(out, "\n{}", crate::retest::render(study.goal, &study.metric, &retests))?;
    }
    Ok(())
}

/// One line per study: its size and best value.
pub fn studies(out: &mut impl Write, studies: &[(StudyRecord, Vec<TrialRecord>)]) -> Result<()> {
    if studies.is_empty() {
        writeln!(out, "no studies")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<40}  {:>8}  {:>8}  {:>8}  {:<9}  {:<8}  best",
        "study", "complete", "pruned", "failed", "goal", "strategy"
    )?;
    for (s, trials) in studies {
        let count = |state: TrialState| trials.iter().filter(|t| t.state == state).count();
        let (complete, pruned, failed) = (
            count(TrialState::Complete),
            count(TrialState::Pruned),
            count(TrialState::Failed),
        );
        let best = best_trial(s.goal, trials)
            .and_then(|t| t.value)
            .map(format_value)
            .unwrap_or_else(|| "–".into());
        writeln!(
            out,
            "{:<40}  {:>8}  {:>8}  {:>8}  {:<9}  {:<8}  {}",
            s.name,
            complete,
            pruned,
            failed,
            s.goal.as_str(),
            s.strategy,
            best
        )?;
    }
    Ok(())
}

pub fn trial_json(t: &TrialRecord) -> Value {
    json!({
        "number": t.number,
        "state": t.state.as_str(),
        "abandoned": t.abandoned,
        "value": t.value,
        "params": t.params,
        "seed": t.seed,
        "started": t.started,
        "ended": t.ended,
        "error": t.error,
        "host": t.host,
        "pid": t.pid,
        "git_commit": t.git_commit,
        "suggest_seconds": t.suggest_seconds,
        "retest_of": t.retest_of,
        "resource": t.resource,
        "intermediate": t.intermediate.iter().map(|(s, v)| json!({"step": s, "value": v})).collect::<Vec<_>>(),
        "metrics": t.metrics.iter().map(|(name, step, value)| json!({"name": name, "step": step, "value": value})).collect::<Vec<_>>(),
    })
}

pub fn export_json(out: &mut impl Write, study: &StudyRecord, trials: &[TrialRecord]) -> Result<()> {
    let doc = json!({
        "study": study.name,
        "metric": study.metric,
        "goal": study.goal.as_str(),
        "strategy": study.strategy,
        "pruner": study.pruner,
        "seed": study.seed,
        "config": study.config,
        "objective": study.objective,
        "best": best_trial(study.goal, trials).map(|t| t.number),
        "trials": trials.iter().map(trial_json).collect::<Vec<_>>(),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

/// One row per trial, one column per parameter (the union over trials).
pub fn export_csv(out: &mut impl Write, trials: &[TrialRecord]) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for t in trials {
        for k in t.params.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(out);
    let fixed = [
        "number",
        "state",
        "value",
        "seed",
        "started",
        "ended",
        "error",
        "host",
        "git_commit",
        "retest_of",
        "resource",
    ];
    w.write_record(
        fixed
            .iter()
            .map(|s| s.to_string())
            .chain(names.iter().map(|n| format!("param_{n}"))),
    )?;
    for t in trials {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut row = vec![
            t.number.to_string(),
            state_label(t).to_string(),
            opt(t.value),
            t.seed.to_string(),
            t.started.to_string(),
            opt(t.ended),
            t.error.clone().unwrap_or_default(),
            t.host.clone(),
            t.git_commit.clone().unwrap_or_default(),
            t.retest_of.map(|n| n.to_string()).unwrap_or_default(),
            t.resource.map(|n| n.to_string()).unwrap_or_default(),
        ];
        row.extend(names.iter().map(|n| match t.params.get(n) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }));
        w.write_record(row)?;
    }
    w.flush()?;
    Ok(())
}
