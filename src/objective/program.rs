//! Any program as the objective, the W&B way: parameters as `--name=value`
//! arguments, results as JSON lines on standard output.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{interrupted, Objective, Outcome, Report, TrialContext};

/// The command W&B runs when a sweep names none.
pub const DEFAULT_COMMAND: &[&str] = &["${env}", "${interpreter}", "${program}", "${args}"];

/// How much of the program's standard error a failure keeps.
const STDERR_TAIL: usize = 2000;

pub struct ProgramObjective {
    pub program: Option<String>,
    pub command: Vec<String>,
    pub metric: String,
    pub timeout: Option<Duration>,
}

/// A parameter value as W&B writes it on a command line.
fn arg_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn python() -> &'static str {
    let found = |name: &str| {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    };
    if found("python3") || !found("python") {
        "python3"
    } else {
        "python"
    }
}

impl ProgramObjective {
    /// The argument vector with the W&B macros expanded.
    pub fn argv(&self, params: &Map<String, Value>) -> Result<Vec<String>, String> {
        let program = self.program.clone();
        let mut argv = Vec::new();
        for token in &self.command {
            match token.as_str() {
                "${env}" => argv.push("/usr/bin/env".into()),
                "${interpreter}" => {
                    if program.as_deref().is_some_and(|p| p.ends_with(".py")) {
                        argv.push(python().into());
                    }
                }
                "${program}" => argv.push(
                    program
                        .clone()
                        .ok_or("the command uses ${program} but the sweep names no `program`")?,
                ),
                "${args}" => argv.extend(params.iter().map(|(k, v)| format!("--{k}={}", arg_value(v)))),
                "${args_no_hyphens}" => argv.extend(params.iter().map(|(k, v)| format!("{k}={}", arg_value(v)))),
                "${args_json}" => argv.push(Value::Object(params.clone()).to_string()),
                other => argv.push(other.replace("${program}", program.as_deref().unwrap_or(""))),
            }
        }
        if argv.is_empty() {
            return Err("the command is empty".into());
        }
        Ok(argv)
    }

    /// The metric in one output line: `Some(Ok((step, value)))` when the line reports it.
    fn parse_line(&self, line: &str) -> Option<Result<(Option<i64>, f64), String>> {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains(&self.metric) {
            return None;
        }
        // Python's json.dumps writes bare NaN and Infinity; read them too.
        let parsed: Value = serde_json::from_str(line).ok().or_else(|| {
            let quoted = line
                .replace("-Infinity", "\"-inf\"")
                .replace("Infinity", "\"inf\"")
                .replace("NaN", "\"nan\"");
            serde_json::from_str(&quoted).ok()
        })?;
        let value = parsed.get(&self.metric)?;
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok(),
            _ => None,
        };
        let step = parsed.get("step").and_then(Value::as_i64);
        Some(
            number
                .map(|v| (step, v))
                .ok_or_else(|| format!("`{}` is not a number: {value}", self.metric)),
        )
    }
}

/// Kills the program and everything it started (it leads its own process group).
fn kill_group(child: &mut Child) {
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Objective for ProgramObjective {
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report)) -> Outcome {
        let argv = match self.argv(trial.params) {
            Ok(argv) => argv,
            Err(e) => return Outcome::Failed(e),
        };
        let mut child = match Command::new(&argv[0])
            .args(&argv[1..])
            .env("BO_STUDY", trial.study)
            .env("BO_TRIAL", trial.number.to_string())
            .env("BO_TRIAL_SEED", trial.seed.to_string())
            .env("BO_PARAMS", Value::Object(trial.params.clone()).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return Outcome::Failed(format!("cannot start `{}`: {e}", argv[0])),
        };
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_reader = thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            let text = String::from_utf8_lossy(&text).into_owned();
            let start = text.len().saturating_sub(STDERR_TAIL);
            text[text.ceil_char_boundary(start)..].trim().to_owned()
        });

        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut last = None;
        let mut reports = 0i64;
        let failure = loop {
            if interrupted() {
                kill_group(&mut child);
                return Outcome::Interrupted;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                kill_group(&mut child);
                break Some(format!(
                    "timed out after {} s",
                    self.timeout.unwrap_or_default().as_secs_f64()
                ));
            }
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => match self.parse_line(&line) {
                    Some(Ok((step, value))) if value.is_finite() => {
                        let step = step.unwrap_or(reports);
                        reports += 1;
                        report(Report::Intermediate { step, value });
                        last = Some(value);
                    }
                    Some(Ok((_, value))) => {
                        kill_group(&mut child);
                        break Some(format!("`{}` is {value}", self.metric));
                    }
                    Some(Err(e)) => {
                        kill_group(&mut child);
                        break Some(e);
                    }
                    None => {}
                },
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        let status = child.wait();
        let stderr_tail = stderr_reader.join().unwrap_or_default();
        let with_stderr = |message: String| {
            if stderr_tail.is_empty() {
                message
            } else {
                format!("{message}; stderr: {stderr_tail}")
            }
        };
        if let Some(reason) = failure {
            return Outcome::Failed(with_stderr(reason));
        }
        match status {
            Ok(s) if !s.success() => Outcome::Failed(with_stderr(format!("`{}` exited with {s}", argv.join(" ")))),
            Err(e) => Outcome::Failed(format!("waiting for the program failed: {e}")),
            Ok(_) => match last {
                Some(value) => Outcome::Complete(value),
                None => Outcome::Failed(with_stderr(format!(
                    "the program printed no JSON line with `{}`",
                    self.metric
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective() -> ProgramObjective {
        ProgramObjective {
            program: Some("train.py".into()),
            command: DEFAULT_COMMAND.iter().map(|s| s.to_string()).collect(),
            metric: "val_loss".into(),
            timeout: None,
        }
    }

    #[test]
    fn macros_expand_the_wandb_way() {
        let mut params = Map::new();
        params.insert("lr".into(), Value::from(0.01));
        params.insert("opt".into(), Value::from("adam"));
        params.insert("aug".into(), Value::from(true));
        let argv = objective().argv(&params).unwrap();
        assert_eq!(argv[0], "/usr/bin/env");
        assert!(argv[1].starts_with("python"));
        assert_eq!(argv[2..], ["train.py", "--lr=0.01", "--opt=adam", "--aug=True"]);
        let mut o = objective();
        o.command = vec!["run".into(), "${args_no_hyphens}".into()];
        assert_eq!(o.argv(&params).unwrap(), ["run", "lr=0.01", "opt=adam", "aug=True"]);
    }

    #[test]
    fn lines_are_read_leniently() {
        let o = objective();
        assert_eq!(
            o.parse_line("{\"val_loss\": 0.31, \"step\": 3}"),
            Some(Ok((Some(3), 0.31)))
        );
        assert!(o.parse_line("epoch 3 val_loss 0.2").is_none());
        assert!(o.parse_line("{\"loss\": 0.2}").is_none());
        let nan = o.parse_line("{\"val_loss\": NaN}").unwrap().unwrap();
        assert!(nan.1.is_nan());
        assert!(o.parse_line("{\"val_loss\": \"high\"}").unwrap().is_err());
    }
}
