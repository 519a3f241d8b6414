//! `bo-train serve`: the worker side of bo's training objective.
//!
//! It loads the data once and prints `{"ready": true, "device": "..."}` (or
//! `{"error": "..."}` and exits 1). Then it reads one trial a line on standard
//! input, `{"trial": N, "seed": S, "params": {...}}`, and answers in the JSON
//! lines every bo objective speaks: per epoch `{"step": E, "val_error": V,
//! "val_loss": L, "train_loss": T}`, and last `{"done": true, "val_error": V,
//! "test_accuracy": A, "train_seconds": S, "images_per_second": R}` or
//! `{"done": true, "error": "..."}`. After each epoch line the worker waits
//! for bo's decision, `{"prune": false}` to go on or `{"prune": true}` to stop
//! there (then `{"done": true, "pruned": true, "step": E}`). End of input ends
//! it. bo stops a trial otherwise (Ctrl-C, a timeout) by killing the worker's
//! process group and starting a new worker.

use std::io::{self, BufRead, Write};

use anyhow::{bail, Context, Result};
use bo::objective::training::{TrainingData, METRIC};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{defaults, describe, load, train, EpochStats, TrainError};

#[derive(Deserialize)]
struct TrialRequest {
    seed: u64,
    params: Map<String, Value>,
}

fn send(line: Value) -> Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush().context("bo stopped listening")
}

/// Serves trials until standard input ends.
pub fn serve(settings: &TrainingData) -> Result<()> {
    let data = match load(settings).and_then(|data| {
        if data.validation.is_empty() {
            bail!("a study scores its trials on held-out images: the validation split must hold at least 1");
        }
        Ok(data)
    }) {
        Ok(data) => data,
        Err(e) => {
            send(json!({"error": format!("{e:#}")}))?;
            std::process::exit(1);
        }
    };
    send(json!({"ready": true, "device": describe(data.train.images.device())}))?;
    let defaults = defaults(settings.dataset);
    let mut input = io::stdin().lock();
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).context("reading a trial from bo")? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        let request: TrialRequest = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                send(json!({"done": true, "error": format!("unreadable trial request: {e}")}))?;
                continue;
            }
        };
        let config = match defaults.clone().with_params(&request.params) {
            Ok(c) => c,
            Err(e) => {
                send(json!({"done": true, "error": e}))?;
                continue;
            }
        };
        // After each epoch bo answers {"prune": false} to go on, or true to stop there.
        let mut failure = None;
        let mut on_epoch = |s: &EpochStats| {
            let line = json!({
                "step": s.epoch,
                METRIC: 100.0 * (1.0 - s.val_accuracy),
                "val_loss": s.val_loss,
                "train_loss": s.train_loss,
            });
            match send(line).and_then(|_| decision(&mut input)) {
                Ok(go_on) => go_on,
                Err(e) => {
                    failure.get_or_insert(e);
                    false
                }
            }
        };
        let result = train(&data, &config, request.seed, &mut on_epoch, &|| false);
        if let Some(e) = failure {
            return Err(e);
        }
        send(match result {
            Ok(r) => json!({
                "done": true,
                METRIC: 100.0 * (1.0 - r.val_accuracy),
                "test_accuracy": 100.0 * r.test_accuracy,
                "train_seconds": r.train_seconds,
                "images_per_second": r.images_per_second,
            }),
            Err(TrainError::Pruned(epoch)) => json!({"done": true, "pruned": true, "step": epoch}),
            Err(TrainError::Diverged(why) | TrainError::Invalid(why)) => json!({"done": true, "error": why}),
            Err(TrainError::Stopped) => json!({"done": true, "error": "stopped"}),
        })?;
    }
}

/// bo's answer to an epoch: whether the trial goes on.
fn decision(input: &mut impl BufRead) -> Result<bool> {
    let mut line = String::new();
    if input.read_line(&mut line).context("reading bo's decision")? == 0 {
        anyhow::bail!("bo closed the worker's input mid-trial");
    }
    let answer: Value = serde_json::from_str(&line).context("bo's decision is not JSON")?;
    Ok(answer.get("prune") != Some(&Value::Bool(true)))
}
