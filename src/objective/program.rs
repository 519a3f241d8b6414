//! Any program as the objective, the W&B way: parameters as `--name=value`
//! arguments, results as JSON lines on standard output.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::process::Group;
use super::{interrupted, Decision, Objective, Outcome, Report, TrialContext};

/// The command W&B runs when a sweep names none.
pub const DEFAULT_COMMAND: &[&str] = &["${env}", "${interpreter}", "${program}", "${args}"];

/// How much of the program's standard error a failure keeps.
const STDERR_TAIL: usize = 2000;
/// How often the loop looks at the clock, Ctrl-C and the program's exit.
const POLL: Duration = Duration::from_millis(20);
/// After the program exited: how long its output may pause, and how long it may still arrive at all.
const DRAIN: Duration = Duration::from_millis(200);
const MAX_DRAIN: Duration = Duration::from_secs(1);
/// How long a pruned program has between SIGTERM and SIGKILL.
const PRUNE_GRACE: Duration = Duration::from_secs(3);

pub struct ProgramObjective {
    pub program: Option<String>,
    pub command: Vec<String>,
    pub metric: String,
    pub timeout: Option<Duration>,
    /// Set as CUDA_VISIBLE_DEVICES for every trial.
    pub gpu: Option<String>,
    /// Parameters of nested groups: their dotted names and paths, which
    /// `${args_json}` nests back into objects.
    pub nested: Vec<(String, Vec<String>)>,
}

/// Where `name` runs from: itself if it has a slash, else the first match on
/// PATH; it must be an executable file.
fn executable(name: &str) -> Result<PathBuf, String> {
    let is_executable =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if name.contains('/') {
        let path = PathBuf::from(name);
        return match std::fs::metadata(&path) {
            Err(e) => Err(format!("`{name}` cannot be run: {e}")),
            Ok(_) if is_executable(&path) => Ok(path),
            Ok(m) if !m.is_file() => Err(format!("`{name}` is not a file")),
            Ok(_) => Err(format!(
                "`{name}` is not executable (chmod +x, or run it through an interpreter)"
            )),
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("`{name}` is not found on PATH"))
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

/// The parameters as one JSON object, nested parameters inside their groups' objects.
fn nest(params: &Map<String, Value>, nested: &[(String, Vec<String>)]) -> Value {
    let mut root = Map::new();
    for (name, value) in params {
        let placed = nested
            .iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, path)| insert_at(&mut root, path, value.clone()));
        if !placed {
            root.insert(name.clone(), value.clone());
        }
    }
    Value::Object(root)
}

/// Puts `value` at `path`, creating the groups' objects; false where a
/// group's name is already taken by a value.
fn insert_at(object: &mut Map<String, Value>, path: &[String], value: Value) -> bool {
    match path {
        [] => false,
        [last] => {
            object.insert(last.clone(), value);
            true
        }
        [group, rest @ ..] => match object.entry(group.clone()).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(inner) => insert_at(inner, rest, value),
            _ => false,
        },
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
                "${args_json}" => argv.push(nest(params, &self.nested).to_string()),
                other => argv.push(other.replace("${program}", program.as_deref().unwrap_or(""))),
            }
        }
        if argv.is_empty() {
            return Err("the command is empty".into());
        }
        Ok(argv)
    }

    /// Checks, before any trial, that the command can start: its executable
    /// (and, through `${env}`, the interpreter) exists and may be run, and the
    /// sweep's program is a non-empty file.
    pub fn check(&self) -> Result<(), String> {
        let argv = self.argv(&Map::new())?;
        let uses_program = self.command.iter().any(|t| t.contains("${program}"));
        if let (true, Some(program)) = (uses_program, &self.program) {
            if program.trim().is_empty() {
                return Err("the sweep's `program` is empty".into());
            }
            let path = Path::new(program);
            // A bare name run directly may come from PATH instead.
            let from_path = argv[0] == *program && !program.contains('/');
            if !from_path || path.is_file() {
                let meta = std::fs::metadata(path).map_err(|e| format!("program `{program}`: {e}"))?;
                if !meta.is_file() {
                    return Err(format!("program `{program}` is not a file"));
                }
                if meta.len() == 0 {
                    return Err(format!("program `{program}` is empty"));
                }
                std::fs::File::open(path).map_err(|e| format!("program `{program}` cannot be read: {e}"))?;
            }
        }
        let first = executable(&argv[0])?;
        if first == Path::new("/usr/bin/env") {
            // `env [NAME=VALUE...] PROGRAM`: the program is what must exist.
            if let Some(next) = argv[1..].iter().find(|a| !a.contains('=') && !a.starts_with('-')) {
                executable(next)?;
            }
        }
        Ok(())
    }

    /// The metric in one output line: `Some(Ok((step, value)))` when the line reports it.
    fn parse_line(&self, line: &str) -> Option<Result<(Option<i64>, f64), ParseError>> {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains(&self.metric) {
            return None;
        }
        let parsed = match parse_json_line(line) {
            Ok(parsed) => parsed,
            Err(e) => return Some(Err(ParseError::NotJson(format!("`{}`: {e}", shorten(line))))),
        };
        let value = parsed.get(&self.metric)?;
        let step = parsed.get("step").and_then(Number::as_i64);
        Some(
            value
                .as_f64()
                .map(|v| (step, v))
                .ok_or_else(|| ParseError::NotANumber(format!("`{}` is not a number: {value}", self.metric))),
        )
    }
}

/// Why a line that mentions the metric was not used.
#[derive(Debug, PartialEq)]
enum ParseError {
    /// A JSON line whose metric is not a number: the trial fails.
    NotANumber(String),
    /// Not JSON at all: kept to explain a missing result.
    NotJson(String),
}

/// A line's top-level values, read leniently: Python's json.dumps writes bare
/// NaN and Infinity, and an overflowing literal such as 1e999 is infinite.
fn parse_json_line(line: &str) -> Result<HashMap<String, Number>, String> {
    let strict = serde_json::from_str::<Map<String, Value>>(line);
    // YAML reads JSON, NaN and Infinity aside; its floats overflow to infinity.
    let yaml = || {
        let quoted = line
            .replace("-Infinity", "-.inf")
            .replace("Infinity", ".inf")
            .replace("NaN", ".nan");
        serde_yaml::from_str::<serde_yaml::Mapping>(&quoted)
    };
    match strict {
        Ok(map) => Ok(map.into_iter().map(|(k, v)| (k, Number::from_json(&v))).collect()),
        Err(e) => match yaml() {
            Ok(map) => Ok(map
                .into_iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), Number::from_yaml(&v))))
                .collect()),
            Err(_) => Err(e.to_string()),
        },
    }
}

/// A reported value: a number (possibly NaN or infinite), or what it was instead.
#[derive(Debug)]
enum Number {
    Float(f64),
    Other(String),
}

impl Number {
    fn from_json(v: &Value) -> Number {
        match v {
            Value::Number(n) => n.as_f64().map(Number::Float),
            Value::String(s) => s.parse().ok().map(Number::Float),
            _ => None,
        }
        .unwrap_or_else(|| Number::Other(v.to_string()))
    }

    fn from_yaml(v: &serde_yaml::Value) -> Number {
        match v {
            serde_yaml::Value::Number(n) => n.as_f64().map(Number::Float),
            serde_yaml::Value::String(s) => s.parse().ok().map(Number::Float),
            _ => None,
        }
        .unwrap_or_else(|| Number::Other(serde_yaml::to_string(v).unwrap_or_default().trim().to_owned()))
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Float(x) => Some(*x),
            Number::Other(_) => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        self.as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9e15)
            .map(|x| x as i64)
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Number::Float(x) => write!(f, "{x}"),
            Number::Other(s) => f.write_str(s),
        }
    }
}

/// At most 200 characters of a line, for a message.
fn shorten(line: &str) -> String {
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

impl Objective for ProgramObjective {
    fn evaluate(&mut self, trial: &TrialContext, report: &mut dyn FnMut(Report) -> Decision) -> Outcome {
        let argv = match self.argv(trial.params) {
            Ok(argv) => argv,
            Err(e) => return Outcome::Failed(e),
        };
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env("BO_STUDY", trial.study)
            .env("BO_TRIAL", trial.number.to_string())
            .env("BO_TRIAL_SEED", trial.seed.to_string())
            .env("BO_PARAMS", Value::Object(trial.params.clone()).to_string())
            .stdin(Stdio::null());
        if let Some(gpu) = &self.gpu {
            command.env("CUDA_VISIBLE_DEVICES", gpu);
        }
        let mut group = match Group::spawn(&mut command, Some(STDERR_TAIL)) {
            Ok(group) => group,
            Err(e) => return Outcome::Failed(format!("cannot start `{}`: {e}", argv[0])),
        };
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut last = None;
        let mut unreadable = None;
        let mut reports = 0i64;
        let mut exited_at: Option<Instant> = None;
        let mut quiet_since = None;
        // The trial ends when the program exits (or fails, or runs out of
        // time), not when its standard output closes: a program may close it
        // early, and a child it forked may hold it open long after.
        let failure = loop {
            if interrupted() {
                group.finish().ok();
                return Outcome::Interrupted;
            }
            if exited_at.is_none() && group.has_exited() {
                exited_at = Some(Instant::now());
            }
            let exited = exited_at.is_some();
            if exited_at.is_some_and(|t| t.elapsed() >= MAX_DRAIN) {
                break None;
            }
            if !exited && deadline.is_some_and(|d| Instant::now() >= d) {
                break Some(format!(
                    "timed out after {} s",
                    self.timeout.unwrap_or_default().as_secs_f64()
                ));
            }
            match group.lines.recv_timeout(POLL) {
                Ok(line) => {
                    quiet_since = None;
                    match self.parse_line(&line) {
                        Some(Ok((step, value))) if value.is_finite() => {
                            // Unnumbered reports count from 1: the nth is step n.
                            reports += 1;
                            let step = step.unwrap_or(reports);
                            last = Some(value);
                            if report(Report::Intermediate { step, value }) == Decision::Prune {
                                group.terminate(PRUNE_GRACE).ok();
                                return Outcome::Pruned;
                            }
                        }
                        Some(Ok((_, value))) => break Some(format!("`{}` is {value}", self.metric)),
                        Some(Err(ParseError::NotANumber(e))) => break Some(e),
                        Some(Err(ParseError::NotJson(e))) => unreadable = Some(e),
                        None => {}
                    }
                }
                // Once the program has exited, what it wrote is read within a
                // moment; a stray child's later output is not its result.
                Err(RecvTimeoutError::Timeout) if exited => {
                    if quiet_since.get_or_insert_with(Instant::now).elapsed() >= DRAIN {
                        break None;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) if exited => break None,
                Err(RecvTimeoutError::Disconnected) => thread::sleep(POLL),
            }
        };
        let status = group.finish();
        let stderr_tail = group.stderr_tail();
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
                None => Outcome::Failed(with_stderr(match unreadable {
                    Some(e) => format!("the program printed no readable JSON line with `{}` ({e})", self.metric),
                    None => format!("the program printed no JSON line with `{}`", self.metric),
                })),
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
            gpu: None,
            nested: Vec::new(),
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
        assert!(matches!(
            o.parse_line("{\"val_loss\": \"high\"}"),
            Some(Err(ParseError::NotANumber(_)))
        ));
        let overflow = o.parse_line("{\"val_loss\": 1e999, \"step\": 2}").unwrap().unwrap();
        assert_eq!(overflow, (Some(2), f64::INFINITY));
        assert_eq!(o.parse_line("{'val_loss': 0.5}"), Some(Ok((None, 0.5))));
        assert!(matches!(
            o.parse_line("{val_loss: [0.5"),
            Some(Err(ParseError::NotJson(_)))
        ));
    }
}
