//! Which pruner a study stops trials with: from `--pruner` and its flags, the
//! sweep file's `pruner:` key, or W&B's `early_terminate`. The choice is stored
//! with the study as JSON, so every worker and every resume decide alike.

use bo_surrogates::pruners::{median, Asha, Hyperband, Percentile, Pruner, Threshold, WandbHyperband};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The pruners `--pruner` names.
pub const PRUNER_NAMES: &[&str] = &["none", "median", "percentile", "threshold", "asha", "hyperband"];

/// A pruner and its settings, in the units of the study's metric and steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrunerSpec {
    Median {
        #[serde(default = "one")]
        min_resource: i64,
        #[serde(default = "five")]
        startup_trials: usize,
    },
    Percentile {
        percentile: f64,
        #[serde(default = "one")]
        min_resource: i64,
        #[serde(default = "five")]
        startup_trials: usize,
    },
    /// Stops a trial whose metric is worse than `threshold`.
    Threshold {
        threshold: f64,
        #[serde(default = "one")]
        min_resource: i64,
    },
    Asha {
        #[serde(default = "one")]
        min_resource: i64,
        #[serde(default)]
        max_resource: Option<i64>,
        #[serde(default = "three")]
        reduction_factor: f64,
        /// The first this many trials at each rung stop there, unjudged
        /// (studies stored before this setting read as 0).
        #[serde(default)]
        bootstrap_count: usize,
    },
    Hyperband {
        #[serde(default = "one")]
        min_resource: i64,
        max_resource: i64,
        #[serde(default = "three")]
        reduction_factor: f64,
        #[serde(default)]
        bootstrap_count: usize,
    },
    /// W&B's `early_terminate`, with its bands worked out.
    WandbHyperband { bands: Vec<i64>, eta: f64, strict: bool },
}

fn one() -> i64 {
    1
}
fn five() -> usize {
    5
}
fn three() -> f64 {
    3.0
}

/// The pruner flags of `bo run`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrunerFlags {
    pub min_resource: Option<i64>,
    pub max_resource: Option<i64>,
    pub reduction_factor: Option<f64>,
    pub percentile: Option<f64>,
    pub threshold: Option<f64>,
    pub startup_trials: Option<usize>,
    pub bootstrap_count: Option<usize>,
}

/// Refuses a flag the named pruner has no use for, rather than ignore it.
fn refuse_foreign_flags(name: &str, flags: &PrunerFlags) -> Result<(), String> {
    let given = [
        ("--min-resource", flags.min_resource.is_some()),
        ("--max-resource", flags.max_resource.is_some()),
        ("--reduction-factor", flags.reduction_factor.is_some()),
        ("--percentile", flags.percentile.is_some()),
        ("--threshold", flags.threshold.is_some()),
        ("--startup-trials", flags.startup_trials.is_some()),
        ("--bootstrap-count", flags.bootstrap_count.is_some()),
    ];
    let used: &[&str] = match name {
        "none" => &[],
        "median" => &["--min-resource", "--startup-trials"],
        "percentile" => &["--min-resource", "--startup-trials", "--percentile"],
        "threshold" => &["--min-resource", "--threshold"],
        "asha" | "hyperband" => &[
            "--min-resource",
            "--max-resource",
            "--reduction-factor",
            "--bootstrap-count",
        ],
        _ => return Ok(()),
    };
    match given.iter().find(|(flag, set)| *set && !used.contains(flag)) {
        Some((flag, _)) if used.is_empty() => Err(format!("{flag} is a pruner setting, and the pruner is none")),
        Some((flag, _)) => Err(format!(
            "{flag} is not a setting of {name} (it takes {})",
            used.join(", ")
        )),
        None => Ok(()),
    }
}

impl PrunerSpec {
    /// `--pruner NAME` with its flags; `None` for `none`.
    pub fn from_flags(name: &str, flags: &PrunerFlags) -> Result<Option<PrunerSpec>, String> {
        let min_resource = flags.min_resource.unwrap_or(1);
        let startup_trials = flags.startup_trials.unwrap_or(5);
        let reduction_factor = flags.reduction_factor.unwrap_or(3.0);
        let bootstrap_count = flags.bootstrap_count.unwrap_or(0);
        refuse_foreign_flags(name, flags)?;
        let spec = match name {
            "none" => return Ok(None),
            "median" => PrunerSpec::Median {
                min_resource,
                startup_trials,
            },
            "percentile" => PrunerSpec::Percentile {
                percentile: flags
                    .percentile
                    .ok_or("--pruner percentile needs --percentile P (0 to 100: the lower, the more it stops)")?,
                min_resource,
                startup_trials,
            },
            "threshold" => PrunerSpec::Threshold {
                threshold: flags
                    .threshold
                    .ok_or("--pruner threshold needs --threshold X (a trial whose metric is worse stops)")?,
                min_resource,
            },
            "asha" => PrunerSpec::Asha {
                min_resource,
                max_resource: flags.max_resource,
                reduction_factor,
                bootstrap_count,
            },
            "hyperband" => PrunerSpec::Hyperband {
                min_resource,
                max_resource: flags
                    .max_resource
                    .ok_or("--pruner hyperband needs --max-resource N (the steps of a full trial, e.g. its epochs)")?,
                reduction_factor,
                bootstrap_count,
            },
            other => {
                return Err(format!(
                    "unknown pruner `{other}` (choose from {})",
                    PRUNER_NAMES.join(", ")
                ))
            }
        };
        spec.check()?;
        Ok(Some(spec))
    }

    /// A sweep file's `pruner:` mapping, with the same names as the flags
    /// (`type`, `min_resource`, `max_resource`, `reduction_factor`, ...).
    pub fn from_sweep(value: &Value) -> Result<PrunerSpec, String> {
        if value.get("type").and_then(Value::as_str) == Some("wandb_hyperband") {
            return Err("`type: wandb_hyperband` is written as W&B's `early_terminate`".into());
        }
        let spec: PrunerSpec = serde_json::from_value(value.clone()).map_err(|e| {
            let known: Vec<&str> = PRUNER_NAMES[1..].to_vec();
            format!("{e} (types: {}; settings as the --pruner flags)", known.join(", "))
        })?;
        spec.check()?;
        Ok(spec)
    }

    /// W&B's `early_terminate`: `type: hyperband` with `min_iter`, or
    /// `max_iter` and `s`; `eta` (default 3) and `strict` (default false).
    pub fn from_early_terminate(value: &Value) -> Result<PrunerSpec, String> {
        let map = value
            .as_object()
            .ok_or("must be a mapping such as {type: hyperband, min_iter: 3}")?;
        const KEYS: &[&str] = &["type", "min_iter", "max_iter", "s", "eta", "strict"];
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key `{key}` (W&B's keys: {})", KEYS.join(", ")));
        }
        match map.get("type").and_then(Value::as_str) {
            Some("hyperband") => {}
            Some(other) => {
                return Err(format!(
                    "`type` is `{other}`; W&B's only early_terminate type is hyperband"
                ))
            }
            None => return Err("`type: hyperband` is missing".into()),
        }
        let whole = |key: &str, map: &Map<String, Value>| -> Result<Option<i64>, String> {
            map.get(key)
                .map(|v| {
                    v.as_i64()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("`{key}` must be a whole number ≥ 1, got {v}"))
                })
                .transpose()
        };
        let eta = match map.get("eta") {
            None => 3.0,
            Some(v) => v
                .as_f64()
                .filter(|e| *e > 1.0 && e.is_finite())
                .ok_or_else(|| format!("`eta` must be a number above 1, got {v}"))?,
        };
        let strict = match map.get("strict") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(format!("`strict` must be true or false, got {v}")),
        };
        let pruner = match (whole("max_iter", map)?, whole("s", map)?, whole("min_iter", map)?) {
            (Some(max_iter), Some(s), _) => WandbHyperband::from_max_iter(max_iter, s as u32, eta, strict),
            (Some(_), None, None) => return Err("`max_iter` needs `s`, the number of bands".into()),
            (_, _, Some(min_iter)) => WandbHyperband::from_min_iter(min_iter, eta, strict),
            (None, _, None) => return Err("give `min_iter`, or `max_iter` and `s`".into()),
        };
        if pruner.bands.is_empty() {
            return Err("no band lies at 1 or above: raise `max_iter` or lower `s` or `eta`".into());
        }
        Ok(PrunerSpec::WandbHyperband {
            bands: pruner.bands,
            eta,
            strict,
        })
    }

    /// Refuses settings no pruner can work with.
    fn check(&self) -> Result<(), String> {
        let min = |m: i64| {
            if m >= 1 {
                Ok(())
            } else {
                Err(format!("the minimum resource must be ≥ 1, got {m}"))
            }
        };
        let rungs = |min_resource: i64, max_resource: Option<i64>, eta: f64| {
            min(min_resource)?;
            if !(eta > 1.0 && eta.is_finite()) {
                return Err(format!("the reduction factor must be above 1, got {eta}"));
            }
            match max_resource {
                Some(max) if max <= min_resource => Err(format!(
                    "the maximum resource ({max}) must be above the minimum ({min_resource})"
                )),
                _ => Ok(()),
            }
        };
        match self {
            PrunerSpec::Median { min_resource, .. } => min(*min_resource),
            PrunerSpec::Percentile {
                percentile,
                min_resource,
                ..
            } => {
                if !(*percentile > 0.0 && *percentile < 100.0) {
                    return Err(format!("the percentile must lie between 0 and 100, got {percentile}"));
                }
                min(*min_resource)
            }
            PrunerSpec::Threshold {
                threshold,
                min_resource,
            } => {
                if !threshold.is_finite() {
                    return Err(format!("the threshold must be a finite number, got {threshold}"));
                }
                min(*min_resource)
            }
            PrunerSpec::Asha {
                min_resource,
                max_resource,
                reduction_factor,
                ..
            } => rungs(*min_resource, *max_resource, *reduction_factor),
            PrunerSpec::Hyperband {
                min_resource,
                max_resource,
                reduction_factor,
                ..
            } => rungs(*min_resource, Some(*max_resource), *reduction_factor),
            PrunerSpec::WandbHyperband { .. } => Ok(()),
        }
    }

    /// The pruner, comparing losses: `to_loss` turns the metric into a value to minimize.
    pub fn build(&self, to_loss: &dyn Fn(f64) -> f64) -> Box<dyn Pruner> {
        match self.clone() {
            PrunerSpec::Median {
                min_resource,
                startup_trials,
            } => Box::new(median(startup_trials, min_resource, 1)),
            PrunerSpec::Percentile {
                percentile,
                min_resource,
                startup_trials,
            } => Box::new(Percentile {
                percentile,
                startup_trials,
                min_resource,
                interval: 1,
            }),
            PrunerSpec::Threshold {
                threshold,
                min_resource,
            } => Box::new(Threshold {
                worst: to_loss(threshold),
                min_resource,
            }),
            PrunerSpec::Asha {
                min_resource,
                max_resource,
                reduction_factor,
                bootstrap_count,
            } => Box::new(Asha {
                min_resource,
                reduction_factor,
                min_early_stopping_rate: 0,
                max_resource,
                bootstrap_count,
            }),
            PrunerSpec::Hyperband {
                min_resource,
                max_resource,
                reduction_factor,
                bootstrap_count,
            } => Box::new(Hyperband {
                min_resource,
                max_resource,
                reduction_factor,
                bootstrap_count,
            }),
            PrunerSpec::WandbHyperband { bands, eta, strict } => Box::new(WandbHyperband { bands, eta, strict }),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a pruner spec is plain data")
    }

    /// What the study's record holds back as a spec.
    pub fn from_json(value: &Value) -> Result<PrunerSpec, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("corrupt pruner in the study: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn early_terminate_follows_w_and_b() {
        let bands = |v: Value| match PrunerSpec::from_early_terminate(&v).unwrap() {
            PrunerSpec::WandbHyperband { bands, eta, strict } => (bands[..3.min(bands.len())].to_vec(), eta, strict),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            bands(json!({"type": "hyperband", "min_iter": 3})),
            (vec![3, 9, 27], 3.0, false)
        );
        assert_eq!(
            bands(json!({"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": true})),
            (vec![3, 9], 3.0, true)
        );
        for (bad, words) in [
            (
                json!({"type": "median", "min_iter": 3}),
                "only early_terminate type is hyperband",
            ),
            (json!({"min_iter": 3}), "`type: hyperband` is missing"),
            (json!({"type": "hyperband"}), "give `min_iter`"),
            (json!({"type": "hyperband", "max_iter": 27}), "`max_iter` needs `s`"),
            (
                json!({"type": "hyperband", "min_iter": 0}),
                "`min_iter` must be a whole number ≥ 1",
            ),
            (
                json!({"type": "hyperband", "min_iter": 2.5}),
                "`min_iter` must be a whole number",
            ),
            (
                json!({"type": "hyperband", "min_iter": 3, "eta": 1}),
                "`eta` must be a number above 1",
            ),
            (
                json!({"type": "hyperband", "min_iter": 3, "strict": "yes"}),
                "`strict` must be true or false",
            ),
            (
                json!({"type": "hyperband", "min_iter": 3, "etaa": 2}),
                "unknown key `etaa`",
            ),
            (json!({"type": "hyperband", "max_iter": 2, "s": 3}), "no band"),
            (json!("hyperband"), "must be a mapping"),
        ] {
            let error = PrunerSpec::from_early_terminate(&bad).unwrap_err();
            assert!(error.contains(words), "{bad}: {error}");
        }
    }

    #[test]
    fn flags_and_sweep_keys_are_checked_and_round_trip() {
        let flags = PrunerFlags {
            max_resource: Some(27),
            bootstrap_count: Some(2),
            ..PrunerFlags::default()
        };
        let spec = PrunerSpec::from_flags("hyperband", &flags).unwrap().unwrap();
        assert_eq!(PrunerSpec::from_json(&spec.to_json()).unwrap(), spec);
        assert_eq!(PrunerSpec::from_sweep(&spec.to_json()).unwrap(), spec);
        assert!(PrunerSpec::from_flags("none", &PrunerFlags::default())
            .unwrap()
            .is_none());
        // Studies stored before the bootstrap setting existed read as without one.
        let stored = json!({"type": "asha", "min_resource": 1, "max_resource": null, "reduction_factor": 3.0});
        assert!(matches!(
            PrunerSpec::from_json(&stored).unwrap(),
            PrunerSpec::Asha { bootstrap_count: 0, .. }
        ));
        let with = |min: Option<i64>, max: Option<i64>, eta: Option<f64>, percentile: Option<f64>| PrunerFlags {
            min_resource: min,
            max_resource: max,
            reduction_factor: eta,
            percentile,
            ..PrunerFlags::default()
        };
        for (name, flags, words) in [
            ("hyperband", PrunerFlags::default(), "needs --max-resource"),
            ("percentile", PrunerFlags::default(), "needs --percentile"),
            ("threshold", PrunerFlags::default(), "needs --threshold"),
            ("asha", with(Some(0), None, None, None), "minimum resource must be ≥ 1"),
            ("asha", with(None, None, Some(1.0), None), "reduction factor"),
            ("asha", with(Some(9), Some(9), None, None), "must be above"),
            ("percentile", with(None, None, None, Some(100.0)), "between 0 and 100"),
            (
                "asha",
                with(None, None, None, Some(50.0)),
                "--percentile is not a setting of asha",
            ),
            (
                "median",
                with(None, Some(9), None, None),
                "--max-resource is not a setting of median",
            ),
            ("none", with(Some(2), None, None, None), "the pruner is none"),
            ("hyperbnd", PrunerFlags::default(), "unknown pruner `hyperbnd`"),
        ] {
            let error = PrunerSpec::from_flags(name, &flags).unwrap_err();
            assert!(error.contains(words), "{name}: {error}");
        }
        let error = PrunerSpec::from_sweep(&json!({"type": "asha", "min_resorce": 2})).unwrap_err();
        assert!(error.contains("min_resorce"), "{error}");
    }
}
