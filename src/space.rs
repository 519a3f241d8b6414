//! Search spaces as users write them: W&B sweep files (YAML or JSON).
//!
//! Every searched parameter becomes one coordinate of the unit cube (a
//! [`Dim`]): numeric parameters along their search axis (log parameters in
//! log space, normal-family ones over μ ± 4σ), categoricals as bins.
//! Constants are not searched; they are added to every configuration.
//!
//! Two structures on top of W&B's flat list:
//! - nested `parameters` (W&B's syntax) group parameters; each becomes a
//!   flat parameter with a dotted name (`optimizer.lr`), as Hydra overrides
//!   and `--name=value` parsers take it, and `${args_json}` nests them back;
//! - `when: {parent: value or [values]}` (bo's key) makes a parameter, or a
//!   whole nested group, exist only while categorical parents take those
//!   values. A configuration holds only its active parameters.

use std::io::Read;
use std::path::Path;

use bo_surrogates::{Condition, Dim, DimKind, Domain, Prior};
use serde_json::{Map, Value};

use crate::pruning::PrunerSpec;

/// The sweep's `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Grid,
    Random,
    Bayes,
}

impl Method {
    /// The strategy a method means unless `--surrogate` says otherwise.
    pub fn default_strategy(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Bayes => "gp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Minimize,
    Maximize,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Minimize => "minimize",
            Goal::Maximize => "maximize",
        }
    }

    /// The value strategies minimize.
    pub fn to_loss(self, value: f64) -> f64 {
        match self {
            Goal::Minimize => value,
            Goal::Maximize => -value,
        }
    }

    /// Whether `a` is better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        self.to_loss(a) < self.to_loss(b)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    pub goal: Goal,
}

/// A parsed sweep file.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub method: Method,
    pub metric: Option<Metric>,
    pub space: Space,
    pub program: Option<String>,
    pub command: Option<Vec<String>>,
    pub run_cap: Option<usize>,
    /// The pruner of the sweep's `pruner:` key, or of W&B's `early_terminate`.
    pub pruner: Option<PrunerSpec>,
    /// The file's content as JSON, stored with the study so it can be re-read.
    pub raw: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub params: Vec<Param>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The full name; a nested parameter's joins its groups with dots.
    pub name: String,
    /// The groups and the name, as the sweep nests them (`["optimizer", "lr"]`).
    pub path: Vec<String>,
    pub kind: ParamKind,
    /// The parameter exists only when every requirement holds.
    pub when: Vec<Requirement>,
}

/// A categorical parent and the values under which a parameter is active.
#[derive(Clone, Debug, PartialEq)]
pub struct Requirement {
    pub parent: String,
    pub values: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamKind {
    Constant(Value),
    Categorical {
        values: Vec<Value>,
        probabilities: Option<Vec<f64>>,
    },
    Numeric(Numeric),
}

/// A numeric parameter: value = exp(t) if `log` else t, t on the axis
/// [lo, hi], then rounded to a multiple of `q` or to an integer.
#[derive(Clone, Debug, PartialEq)]
pub struct Numeric {
    lo: f64,
    hi: f64,
    log: bool,
    q: Option<f64>,
    integer: bool,
    prior: Prior,
    /// (unit coordinate, value) of every allowed value, sorted, when few enough to list.
    levels: Option<Vec<(f64, f64)>>,
}

/// Discrete parameters with more values than this are searched as continuous and rounded.
const MAX_LEVELS: usize = 10_000;

/// A sweep that cannot be used; the message names the file, the parameter and the fault.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {location}{message}")]
pub struct ConfigError {
    origin: String,
    location: String,
    message: String,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "method",
    "metric",
    "parameters",
    "program",
    "command",
    "run_cap",
    "early_terminate",
    "pruner",
    "name",
    "description",
    "project",
    "entity",
];
const METRIC_KEYS: &[&str] = &["name", "goal", "target"];
const PARAM_KEYS: &[&str] = &[
    "distribution",
    "min",
    "max",
    "mu",
    "sigma",
    "a",
    "b",
    "q",
    "value",
    "values",
    "probabilities",
    "when",
];
/// What a nested group may hold besides its parameters.
const GROUP_KEYS: &[&str] = &["parameters", "when"];
pub const DISTRIBUTIONS: &[&str] = &[
    "constant",
    "categorical",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
];

fn did_you_mean(word: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.75);
    match best {
        Some((_, k)) => format!(" (did you mean `{k}`?)"),
        None => format!(" (expected one of: {})", known.join(", ")),
    }
}

/// The largest sweep file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The deepest nesting read (a sweep needs about five levels).
const MAX_DEPTH: usize = 64;

/// How deeply the text nests: indentation levels plus open brackets and braces.
fn nesting_depth(text: &str) -> usize {
    let mut indents: Vec<usize> = Vec::new();
    let mut deepest = 0;
    let mut open: usize = 0;
    for line in text.lines() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        while indents.last().is_some_and(|&i| i >= indent) {
            indents.pop();
        }
        indents.push(indent);
        let mut quote = None;
        for c in body.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '[' | '{') => open += 1,
                (None, ']' | '}') => open = open.saturating_sub(1),
                _ => {}
            }
        }
        deepest = deepest.max(indents.len() + open);
    }
    deepest
}

/// A YAML document as JSON, refusing what JSON cannot hold: non-finite
/// numbers, keys that are not scalars, tags. `at` names the place in errors.
fn yaml_to_json(value: &serde_yaml::Value, at: &str) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    let place = || {
        if at.is_empty() {
            "the document".to_owned()
        } else {
            format!("`{at}`")
        }
    };
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::from(i),
            (_, Some(u), _) => Value::from(u),
            (_, _, Some(f)) if f.is_finite() => Value::from(f),
            (_, _, f) => {
                let shown = f.map_or_else(|| n.to_string(), |f| f.to_string());
                return Err(format!("{} is {shown}; numbers must be finite", place()));
            }
        },
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| yaml_to_json(v, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("{} has a key that is not a name: {other:?}", place())),
                };
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert(key, yaml_to_json(v, &path)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            return Err(format!(
                "{} has a YAML tag ({}), which sweeps do not use",
                place(),
                t.tag
            ))
        }
    })
}

/// The W&B macros a `command` may use.
const MACROS: &[&str] = &["env", "interpreter", "program", "args", "args_no_hyphens", "args_json"];

/// Refuses a `${name}` in a command token that is not one of W&B's macros.
fn check_macros(token: &str) -> Result<(), String> {
    let mut rest = token;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`command` item `{token}` has an unclosed `${{`"));
        };
        let name = &after[..end];
        if !MACROS.contains(&name) {
            let known: Vec<String> = MACROS.iter().map(|m| format!("${{{m}}}")).collect();
            return Err(format!(
                "`command` uses the unknown macro `${{{name}}}` (known: {})",
                known.join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A parameter name that can be passed as `--name=value`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a parameter name is empty".into());
    }
    if let Some(c) = name.chars().find(|c| *c == '=' || c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "parameter name {name:?} holds {c:?}; names are passed as --name=value, so they cannot hold `=`, spaces or control characters"
        ));
    }
    Ok(())
}

impl Sweep {
    pub fn from_file(path: &Path) -> Result<Sweep, ConfigError> {
        let origin = path.display().to_string();
        let fault = |message: String| ConfigError {
            origin: origin.clone(),
            location: String::new(),
            message,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| fault(format!("cannot read the file: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(fault(format!(
                "larger than {} KiB; a sweep file is a few kilobytes",
                MAX_FILE_BYTES / 1024
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| fault(format!("not UTF-8 text: {e}")))?;
        // The YAML reader takes time quadratic in the nesting depth.
        let depth = nesting_depth(&text);
        if depth > MAX_DEPTH {
            return Err(fault(format!(
                "nested {depth} levels deep; at most {MAX_DEPTH} are read"
            )));
        }
        // JSON is YAML, so one reader serves both; it refuses duplicate keys.
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| fault(format!("not valid YAML or JSON: {e}")))?;
        let raw = yaml_to_json(&yaml, "").map_err(fault)?;
        Sweep::from_value(raw, &origin)
    }

    pub fn from_value(raw: Value, origin: &str) -> Result<Sweep, ConfigError> {
        let top = |message: String| ConfigError {
            origin: origin.into(),
            location: String::new(),
            message,
        };
        let map = raw
            .as_object()
            .ok_or_else(|| top("the sweep must be a mapping of keys such as `method` and `parameters`".into()))?;
        for key in map.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                return Err(top(format!("unknown key `{key}`{}", did_you_mean(key, TOP_LEVEL_KEYS))));
            }
        }
        let method = match map.get("method").map(|m| m.as_str()) {
            None => Method::Bayes,
            Some(Some("grid")) => Method::Grid,
            Some(Some("random")) => Method::Random,
            Some(Some("bayes")) => Method::Bayes,
            Some(other) => {
                let shown = other.map(str::to_owned).unwrap_or_else(|| map["method"].to_string());
                return Err(top(format!("`method` is `{shown}`; expected grid, random or bayes")));
            }
        };
        let metric = map
            .get("metric")
            .map(|m| parse_metric(m).map_err(|e| top(format!("metric: {e}"))))
            .transpose()?;
        let params = map
            .get("parameters")
            .and_then(Value::as_object)
            .ok_or_else(|| top("`parameters` must be a mapping from parameter names to their specifications".into()))?;
        let mut parsed = Vec::with_capacity(params.len());
        collect_params(params, &[], &[], &mut parsed).map_err(|(name, message)| ConfigError {
            origin: origin.into(),
            location: name.map(|n| format!("parameter `{n}`: ")).unwrap_or_default(),
            message,
        })?;
        if parsed.is_empty() {
            return Err(top("`parameters` is empty".into()));
        }
        let parsed = order_by_dependence(parsed).map_err(|(name, message)| ConfigError {
            origin: origin.into(),
            location: format!("parameter `{name}`: "),
            message,
        })?;
        let program = match map.get("program") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(top(format!("`program` must be a string, got {other}"))),
        };
        let command = match map.get("command") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| top(format!("`command` items must be strings, got {v}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => return Err(top(format!("`command` must be a list of strings, got {other}"))),
        };
        for token in command.iter().flatten() {
            check_macros(token).map_err(top)?;
        }
        let run_cap = match map.get("run_cap") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| top(format!("`run_cap` must be a positive integer, got {v}")))?
                    as usize,
            ),
        };
        let pruner = match (map.get("pruner"), map.get("early_terminate")) {
            (Some(_), Some(_)) => return Err(top("give `pruner` or W&B's `early_terminate`, not both".into())),
            (Some(p), None) => Some(PrunerSpec::from_sweep(p).map_err(|e| top(format!("pruner: {e}")))?),
            (None, Some(e)) => Some(
                PrunerSpec::from_early_terminate(e).map_err(|message| top(format!("early_terminate: {message}")))?,
            ),
            (None, None) => None,
        };
        Ok(Sweep {
            method,
            metric,
            space: Space { params: parsed },
            program,
            command,
            run_cap,
            pruner,
            raw,
        })
    }
}

/// A fault in one parameter (named by its full name) or in the list itself.
type ParamFault = (Option<String>, String);

/// Flattens `parameters` into `out`: nested groups become dotted names, and
/// a group's `when` applies to everything inside it.
fn collect_params(
    params: &Map<String, Value>,
    prefix: &[String],
    inherited: &[Requirement],
    out: &mut Vec<Param>,
) -> Result<(), ParamFault> {
    for (key, spec) in params {
        check_name(key).map_err(|message| (None, message))?;
        let path: Vec<String> = prefix.iter().cloned().chain([key.clone()]).collect();
        let name = path.join(".");
        let fault = |message: String| (Some(name.clone()), message);
        let map = spec.as_object();
        let own = match map.and_then(|m| m.get("when")) {
            Some(when) => parse_when(when).map_err(|e| fault(format!("when: {e}")))?,
            None => Vec::new(),
        };
        let when: Vec<Requirement> = inherited.iter().cloned().chain(own).collect();
        match map.filter(|m| m.contains_key("parameters")) {
            Some(group) => {
                if let Some(key) = group.keys().find(|k| !GROUP_KEYS.contains(&k.as_str())) {
                    return Err(fault(format!(
                        "a nested group holds only `parameters` and `when`, not `{key}`"
                    )));
                }
                let inner = group["parameters"]
                    .as_object()
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| fault("nested `parameters` must be a non-empty mapping of parameters".into()))?;
                collect_params(inner, &path, &when, out)?;
            }
            None => {
                let kind = parse_param(spec).map_err(fault)?;
                if out.iter().any(|p| p.name == name) {
                    return Err(fault(
                        "is given twice (a dotted name and a nested group spell the same parameter)".into(),
                    ));
                }
                out.push(Param { name, path, kind, when });
            }
        }
    }
    Ok(())
}

/// `when: {parent: value}` or `when: {parent: [values]}`; several parents must all hold.
fn parse_when(value: &Value) -> Result<Vec<Requirement>, String> {
    let map = value
        .as_object()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| format!("must map parent parameters to values, such as {{optimizer: sgd}}; got {value}"))?;
    map.iter()
        .map(|(parent, values)| {
            let values = match values {
                Value::Array(list) if !list.is_empty() => list.clone(),
                Value::Array(_) => return Err(format!("`{parent}` lists no values")),
                scalar => vec![scalar.clone()],
            };
            if let Some(bad) = values.iter().find(|v| v.is_array() || v.is_object() || v.is_null()) {
                return Err(format!("`{parent}` must be given values of it, got {bad}"));
            }
            Ok(Requirement {
                parent: parent.clone(),
                values,
            })
        })
        .collect()
}

/// Checks every `when` against its parent and orders the parameters so that
/// parents come first (otherwise as declared); refuses cycles.
fn order_by_dependence(params: Vec<Param>) -> Result<Vec<Param>, (String, String)> {
    let names: Vec<&str> = params.iter().map(|q| q.name.as_str()).collect();
    for p in &params {
        for r in &p.when {
            let fault = |message: String| (p.name.clone(), format!("when: {message}"));
            if r.parent == p.name {
                return Err(fault("a parameter cannot depend on itself".into()));
            }
            let Some(parent) = params.iter().find(|q| q.name == r.parent) else {
                return Err(fault(format!(
                    "`{}` is not a parameter{}",
                    r.parent,
                    did_you_mean(&r.parent, &names)
                )));
            };
            let ParamKind::Categorical { values, .. } = &parent.kind else {
                return Err(fault(format!(
                    "`{}` must be categorical (a parameter with `values`) to be depended on",
                    r.parent
                )));
            };
            if let Some(v) = r.values.iter().find(|v| !values.iter().any(|c| same_category(c, v))) {
                let listed: Vec<String> = values.iter().map(Value::to_string).collect();
                return Err(fault(format!(
                    "`{}` never takes {v}; its values are {}",
                    r.parent,
                    listed.join(", ")
                )));
            }
        }
    }
    let mut pending = params;
    let mut ordered: Vec<Param> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|p| p.when.iter().all(|r| ordered.iter().any(|q| q.name == r.parent)));
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                let names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
                return Err((
                    pending[0].name.clone(),
                    format!(
                        "the `when` conditions of {} depend on each other in a cycle",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(ordered)
}

fn parse_metric(value: &Value) -> Result<Metric, String> {
    let map = value.as_object().ok_or("must be a mapping with `name` and `goal`")?;
    for key in map.keys() {
        if !METRIC_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown key `{key}`{}", did_you_mean(key, METRIC_KEYS)));
        }
    }
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("`name` must be a non-empty string")?;
    let goal = match map.get("goal").map(|g| g.as_str()) {
        None | Some(Some("minimize")) => Goal::Minimize,
        Some(Some("maximize")) => Goal::Maximize,
        Some(_) => return Err(format!("`goal` is {}; expected minimize or maximize", map["goal"])),
    };
    Ok(Metric {
        name: name.into(),
        goal,
    })
}

fn number(map: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a number, got {v}")),
    }
}

fn required(map: &Map<String, Value>, key: &str, distribution: &str) -> Result<f64, String> {
    number(map, key)?.ok_or_else(|| format!("`{distribution}` needs `{key}`"))
}

fn parse_param(spec: &Value) -> Result<ParamKind, String> {
    let map = match spec {
        Value::Object(map) => map,
        other => {
            return Err(format!(
                "must be a mapping such as {{values: [...]}} or {{min: .., max: ..}}, got {other}"
            ))
        }
    };
    for key in map.keys() {
        if !PARAM_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown key `{key}`{}", did_you_mean(key, PARAM_KEYS)));
        }
    }
    let distribution = match map.get("distribution") {
        Some(Value::String(d)) => {
            if !DISTRIBUTIONS.contains(&d.as_str()) {
                return Err(format!("unknown distribution `{d}`{}", did_you_mean(d, DISTRIBUTIONS)));
            }
            d.clone()
        }
        Some(other) => return Err(format!("`distribution` must be a string, got {other}")),
        None if map.contains_key("value") => "constant".into(),
        None if map.contains_key("values") => "categorical".into(),
        None if map.contains_key("min") && map.contains_key("max") => {
            let both_int = map["min"].is_i64() && map["max"].is_i64();
            if both_int { "int_uniform" } else { "uniform" }.into()
        }
        None => return Err("give `value`, `values`, or `min` and `max` (or a `distribution`)".into()),
    };
    let d = distribution.as_str();
    match d {
        "constant" => map
            .get("value")
            .cloned()
            .map(ParamKind::Constant)
            .ok_or_else(|| "`constant` needs `value`".into()),
        "categorical" => parse_categorical(map),
        _ => parse_numeric(map, d).map(ParamKind::Numeric),
    }
}

/// Whether two categories are the same value (1 and 1.0 are).
fn same_category(a: &Value, b: &Value) -> bool {
    a == b || (a.as_f64().is_some() && a.as_f64() == b.as_f64())
}

fn parse_categorical(map: &Map<String, Value>) -> Result<ParamKind, String> {
    let values = map
        .get("values")
        .and_then(Value::as_array)
        .ok_or("`categorical` needs `values`, a list")?;
    if values.is_empty() {
        return Err("`values` is empty".into());
    }
    if let Some(bad) = values.iter().find(|v| v.is_array() || v.is_object() || v.is_null()) {
        return Err(format!("`values` must be numbers, strings or booleans, got {bad}"));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].iter().any(|w| same_category(w, v)) {
            return Err(format!("`values` lists {v} twice"));
        }
    }
    let probabilities = match map.get("probabilities") {
        None => None,
        Some(p) => {
            let list = p.as_array().ok_or("`probabilities` must be a list of numbers")?;
            let probs: Vec<f64> = list
                .iter()
                .map(|v| {
                    v.as_f64()
                        .filter(|x| x.is_finite() && *x >= 0.0)
                        .ok_or_else(|| format!("probability {v} is not a number ≥ 0"))
                })
                .collect::<Result<_, _>>()?;
            if probs.len() != values.len() {
                return Err(format!("{} probabilities for {} values", probs.len(), values.len()));
            }
            let sum: f64 = probs.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return Err(format!("probabilities sum to {sum}, not 1"));
            }
            Some(probs)
        }
    };
    Ok(ParamKind::Categorical {
        values: values.clone(),
        probabilities,
    })
}

fn parse_numeric(map: &Map<String, Value>, d: &str) -> Result<Numeric, String> {
    let quantized = d.starts_with("q_");
    let q = if quantized {
        let q = number(map, "q")?.unwrap_or(1.0);
        if q <= 0.0 {
            return Err(format!("`q` must be positive, got {q}"));
        }
        Some(q)
    } else {
        if map.contains_key("q") {
            return Err(format!("`q` only applies to q_ distributions, not `{d}`"));
        }
        None
    };
    let base = d.strip_prefix("q_").unwrap_or(d);
    let ordered = |lo: f64, hi: f64| {
        if lo >= hi {
            Err(format!("min ({lo}) must be below max ({hi})"))
        } else {
            Ok(())
        }
    };
    let positive = |lo: f64| {
        if lo <= 0.0 {
            Err(format!(
                "`{d}` takes values, so min must be positive for a log scale, got {lo}"
            ))
        } else {
            Ok(())
        }
    };
    let (lo, hi, log, prior, integer) = match base {
        "int_uniform" => {
            let (lo, hi) = (required(map, "min", d)?, required(map, "max", d)?);
            if lo.fract() != 0.0 || hi.fract() != 0.0 {
                return Err(format!("`int_uniform` needs integer min and max, got {lo} and {hi}"));
            }
            ordered(lo, hi)?;
            // Bins of width one centred on each integer: uniform over the integers.
            (lo - 0.5, hi + 0.5, false, Prior::Uniform, true)
        }
        "uniform" => {
            let (lo, hi) = (required(map, "min", d)?, required(map, "max", d)?);
            ordered(lo, hi)?;
            (lo, hi, false, Prior::Uniform, false)
        }
        "log_uniform" => {
            let (lo, hi) = (required(map, "min", d)?, required(map, "max", d)?);
            ordered(lo, hi)?;
            (lo, hi, true, Prior::Uniform, false)
        }
        "log_uniform_values" | "inv_log_uniform_values" => {
            let (lo, hi) = (required(map, "min", d)?, required(map, "max", d)?);
            positive(lo)?;
            ordered(lo, hi)?;
            (lo.ln(), hi.ln(), true, Prior::Uniform, false)
        }
        "inv_log_uniform" => {
            // X = exp(−U(min, max)).
            let (lo, hi) = (required(map, "min", d)?, required(map, "max", d)?);
            ordered(lo, hi)?;
            (-hi, -lo, true, Prior::Uniform, false)
        }
        "normal" | "log_normal" => {
            let mu = number(map, "mu")?.unwrap_or(0.0);
            let sigma = number(map, "sigma")?.unwrap_or(1.0);
            if sigma <= 0.0 {
                return Err(format!("`sigma` must be positive, got {sigma}"));
            }
            (
                mu - 4.0 * sigma,
                mu + 4.0 * sigma,
                base == "log_normal",
                Prior::Normal { mean: 0.5, sd: 0.125 },
                false,
            )
        }
        "beta" => {
            let a = number(map, "a")?.unwrap_or(1.0);
            let b = number(map, "b")?.unwrap_or(1.0);
            if a <= 0.0 || b <= 0.0 {
                return Err(format!("`a` and `b` must be positive, got {a} and {b}"));
            }
            (0.0, 1.0, false, Prior::Beta { a, b }, false)
        }
        _ => return Err(format!("unknown distribution `{d}`{}", did_you_mean(d, DISTRIBUTIONS))),
    };
    if base == "int_uniform" && quantized {
        return Err("there is no `q_int_uniform`".into());
    }
    let integer = integer || q.is_some_and(|q| q.fract() == 0.0);
    let mut numeric = Numeric {
        lo,
        hi,
        log,
        q,
        integer,
        prior,
        levels: None,
    };
    numeric.check_representable()?;
    numeric.levels = numeric.list_levels();
    Ok(numeric)
}

/// Rounds away binary noise such as 0.30000000000000004.
fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 12 - v.abs().log10().ceil() as i32;
    let scale = 10f64.powi(digits.clamp(-300, 300));
    (v * scale).round() / scale
}

/// Integers above this lose exactness in a double (2^53).
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;
/// The most steps of q a range may hold before rounding to q means nothing.
const MAX_STEPS: f64 = 1e15;

impl Numeric {
    /// Refuses a range whose values would overflow, lose exactness, or that q
    /// cannot divide: every value drawn must reach the program as a number.
    fn check_representable(&self) -> Result<(), String> {
        let (vmin, vmax) = (self.axis_to_value(self.lo), self.axis_to_value(self.hi));
        if !(vmin.is_finite() && vmax.is_finite() && (vmax - vmin).is_finite() && (self.hi - self.lo).is_finite()) {
            return Err(if self.log {
                format!("the range overflows: exp({}) is beyond a double", self.hi)
            } else {
                format!("the range from {vmin} to {vmax} is too wide for a double")
            });
        }
        if self.log && vmin == 0.0 {
            return Err(format!("the range underflows: exp({}) is 0", self.lo));
        }
        if self.integer && vmin.abs().max(vmax.abs()) > MAX_EXACT_INTEGER {
            return Err(format!(
                "integer values beyond ±2^53 ({MAX_EXACT_INTEGER}) are not exact; the range reaches {}",
                if vmax.abs() > vmin.abs() { vmax } else { vmin }
            ));
        }
        if let Some(q) = self.q {
            let range = vmax - vmin;
            if q > range {
                return Err(format!(
                    "q = {q} is larger than the range ({vmin} to {vmax}); for one value, use `value:`"
                ));
            }
            if range / q > MAX_STEPS {
                return Err(format!(
                    "q = {q} is too fine for the range ({vmin} to {vmax}): more than {MAX_STEPS:e} steps"
                ));
            }
        }
        Ok(())
    }

    fn axis_to_value(&self, t: f64) -> f64 {
        if self.log {
            t.exp()
        } else {
            t
        }
    }

    fn round(&self, v: f64) -> f64 {
        match self.q {
            Some(q) => {
                let k = (v / q).round();
                // Log parameters stay positive.
                let k = if self.log { k.max(1.0) } else { k };
                tidy(k * q)
            }
            None if self.integer => v.round(),
            None => v,
        }
    }

    /// The value's coordinate on the unit axis (log-scaled where the parameter is).
    pub fn unit(&self, v: f64) -> f64 {
        let t = if self.log { v.ln() } else { v };
        ((t - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// Every allowed value with its coordinate, when the parameter is discrete and small.
    fn list_levels(&self) -> Option<Vec<(f64, f64)>> {
        if self.q.is_none() && !self.integer {
            return None;
        }
        let (vmin, vmax) = (self.axis_to_value(self.lo), self.axis_to_value(self.hi));
        let step = self.q.unwrap_or(1.0);
        let (kmin, kmax) = ((vmin / step).ceil(), (vmax / step).floor());
        let kmin = if self.log { kmin.max(1.0) } else { kmin };
        if kmax - kmin + 1.0 > MAX_LEVELS as f64 {
            return None;
        }
        // q is no larger than the range, so at least one multiple lies in it.
        let mut levels: Vec<(f64, f64)> = ((kmin as i64)..=(kmax as i64))
            .map(|k| {
                let v = tidy(k as f64 * step);
                (self.unit(v), v)
            })
            .collect();
        levels.sort_by(|a, b| a.0.total_cmp(&b.0));
        levels.dedup_by(|a, b| a.0 == b.0);
        Some(levels)
    }

    /// Whether the parameter is searched on a log scale.
    pub fn is_log(&self) -> bool {
        self.log
    }

    /// The smallest and largest values.
    pub fn value_range(&self) -> (f64, f64) {
        (self.axis_to_value(self.lo), self.axis_to_value(self.hi))
    }

    fn decode(&self, u: f64) -> f64 {
        match &self.levels {
            Some(levels) => {
                let i = levels.partition_point(|(c, _)| *c < u);
                let candidates = [i.checked_sub(1), (i < levels.len()).then_some(i)];
                let nearest = candidates
                    .into_iter()
                    .flatten()
                    .min_by(|&a, &b| (levels[a].0 - u).abs().total_cmp(&(levels[b].0 - u).abs()))
                    .expect("levels are not empty");
                levels[nearest].1
            }
            None => self.round(self.axis_to_value(self.lo + u.clamp(0.0, 1.0) * (self.hi - self.lo))),
        }
    }

    fn to_json(&self, v: f64) -> Value {
        if self.integer && v.abs() < 9e15 {
            Value::from(v as i64)
        } else {
            Value::from(v)
        }
    }
}

impl Space {
    /// The searched parameters, in order.
    pub fn searched(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| !matches!(p.kind, ParamKind::Constant(_)))
    }

    /// The unit-cube view strategies search.
    pub fn domain(&self) -> Domain {
        let searched: Vec<&Param> = self.searched().collect();
        let conditions = searched
            .iter()
            .enumerate()
            .flat_map(|(child, p)| p.when.iter().map(move |r| (child, r)))
            .map(|(child, r)| {
                let parent = searched
                    .iter()
                    .position(|q| q.name == r.parent)
                    .expect("parents were checked when the sweep was read");
                let ParamKind::Categorical { values, .. } = &searched[parent].kind else {
                    unreachable!("parents were checked to be categorical")
                };
                let choices = r
                    .values
                    .iter()
                    .filter_map(|v| values.iter().position(|c| same_category(c, v)))
                    .collect();
                Condition { child, parent, choices }
            })
            .collect();
        let domain = Domain::new(
            self.searched()
                .map(|p| match &p.kind {
                    ParamKind::Categorical { values, probabilities } => Dim {
                        name: p.name.clone(),
                        kind: DimKind::Categorical(values.len()),
                        prior: probabilities.clone().map(Prior::Weights).unwrap_or(Prior::Uniform),
                    },
                    ParamKind::Numeric(n) => Dim {
                        name: p.name.clone(),
                        kind: match &n.levels {
                            Some(levels) => DimKind::Discrete(levels.iter().map(|(c, _)| *c).collect()),
                            None => DimKind::Continuous,
                        },
                        prior: n.prior.clone(),
                    },
                    ParamKind::Constant(_) => unreachable!("constants are not searched"),
                })
                .collect(),
        );
        domain
            .with_conditions(conditions)
            .expect("parameters are ordered parents first when the sweep is read")
    }

    /// The dotted names of parameters from nested groups, with their paths.
    pub fn nested_paths(&self) -> Vec<(String, Vec<String>)> {
        self.params
            .iter()
            .filter(|p| p.path.len() > 1)
            .map(|p| (p.name.clone(), p.path.clone()))
            .collect()
    }

    /// The configuration a unit-cube point stands for: its active
    /// parameters, constants included.
    pub fn decode(&self, point: &[f64]) -> Map<String, Value> {
        let mut coords = point.iter();
        let mut config = Map::new();
        for p in &self.params {
            let mut coordinate = || *coords.next().expect("one coordinate per searched parameter");
            let value = match &p.kind {
                ParamKind::Constant(v) => v.clone(),
                ParamKind::Categorical { values, .. } => {
                    values[bo_surrogates::category_index(coordinate(), values.len())].clone()
                }
                ParamKind::Numeric(n) => n.to_json(n.decode(coordinate())),
            };
            // Parents come first, so `config` already says whether they are active.
            if p.is_active_in(&config) {
                config.insert(p.name.clone(), value);
            }
        }
        config
    }

    /// The unit-cube point of a stored configuration; `None` if it does not
    /// belong to this space (a missing active parameter or an unknown
    /// category). Inactive parameters get the cube's centre, which the
    /// domain's `snap` turns into their canonical coordinate.
    pub fn encode(&self, config: &Map<String, Value>) -> Option<Vec<f64>> {
        self.searched()
            .map(|p| {
                if p.is_active_in(config) {
                    p.unit(config.get(&p.name)?)
                } else {
                    Some(0.5)
                }
            })
            .collect()
    }
}

impl Param {
    /// Whether the parameter exists beside the parameters of `config`.
    pub fn is_active_in(&self, config: &Map<String, Value>) -> bool {
        self.when.iter().all(|r| {
            config
                .get(&r.parent)
                .is_some_and(|v| r.values.iter().any(|w| same_category(w, v)))
        })
    }

    /// A searched parameter's value as a unit coordinate (a category: the
    /// middle of its slot); `None` for a value outside the parameter.
    pub fn unit(&self, value: &Value) -> Option<f64> {
        match &self.kind {
            ParamKind::Categorical { values, .. } => {
                let i = values.iter().position(|c| same_category(c, value))?;
                Some((i as f64 + 0.5) / values.len() as f64)
            }
            ParamKind::Numeric(n) => {
                let x = value.as_f64().filter(|x| x.is_finite())?;
                if n.log && x <= 0.0 {
                    return None;
                }
                Some(n.unit(x))
            }
            ParamKind::Constant(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(yaml: &str) -> Space {
        Sweep::from_value(serde_yaml::from_str(yaml).unwrap(), "test")
            .unwrap()
            .space
    }

    #[test]
    fn int_uniform_is_uniform_over_its_integers() {
        let s = space("parameters: {k: {min: 1, max: 3}}");
        let d = s.domain();
        let mut counts = [0; 3];
        for i in 0..3000 {
            let k = s.decode(&[(i as f64 + 0.5) / 3000.0])["k"].as_i64().unwrap();
            counts[(k - 1) as usize] += 1;
        }
        assert_eq!(counts, [1000, 1000, 1000]);
        assert_eq!(d.cardinality(), Some(3));
    }

    #[test]
    fn round_trips_through_the_unit_cube() {
        let s = space(
            "parameters:\n  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 0.1}\n  bs: {distribution: q_log_uniform_values, min: 8, max: 1024, q: 8}\n  opt: {values: [adam, sgd, 3]}\n  e: {value: 10}",
        );
        let config = s.decode(&[0.5, 0.3, 0.9]);
        let again = s.decode(&s.encode(&config).unwrap());
        assert_eq!(config, again);
        assert_eq!(config["e"], 10);
        assert_eq!(config["opt"], 3);
        assert!(config["bs"].as_i64().unwrap() % 8 == 0);
        assert!((config["lr"].as_f64().unwrap() - 10f64.powf(-2.5)).abs() < 1e-12);
    }
}
