//! The sweep reader on real files and the sampling of every kind of parameter.

use std::path::{Path, PathBuf};

use bo::pruning::PrunerSpec;
use bo::space::{Goal, Method, Sweep};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{Map, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `n` configurations drawn from the priors, as random search draws them.
fn draw(sweep: &Sweep, n: usize) -> Vec<Map<String, Value>> {
    let domain = sweep.space.domain();
    let mut rng = StdRng::seed_from_u64(11);
    (0..n)
        .map(|_| sweep.space.decode(&domain.sample_prior(&mut rng)))
        .collect()
}

fn floats(configs: &[Map<String, Value>], key: &str) -> Vec<f64> {
    configs
        .iter()
        .map(|c| {
            c[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} = {} is not a number", c[key]))
        })
        .collect()
}

#[test]
fn the_course_sweep_reads_alike_in_yaml_and_json() {
    let yaml = Sweep::from_file(&fixture("course_sweep.yaml")).unwrap();
    let json = Sweep::from_file(&fixture("course_sweep.json")).unwrap();
    assert_eq!(yaml.space, json.space);
    assert_eq!(yaml.method, Method::Bayes);
    assert_eq!(yaml.metric.as_ref().unwrap().name, "val_loss");
    assert_eq!(yaml.metric.as_ref().unwrap().goal, Goal::Minimize);
    assert_eq!(yaml.program.as_deref(), Some("train.py"));

    let configs = draw(&yaml, 3000);
    let lr = floats(&configs, "lr");
    assert!(lr.iter().all(|v| (1e-4..=1e-1).contains(v)));
    // Log-uniform: a third of the draws per decade.
    let below_1e3 = lr.iter().filter(|v| **v < 1e-3).count() as f64 / lr.len() as f64;
    assert!((below_1e3 - 1.0 / 3.0).abs() < 0.04, "{below_1e3}");
    for c in &configs {
        let bs = c["batch_size"].as_i64().expect("integer batch size");
        assert!((8..=1024).contains(&bs) && bs % 8 == 0, "batch size {bs}");
        assert_eq!(c["epochs"], 5);
    }
    // Log scale over batch sizes: as many below 90 (≈ geometric mean) as above.
    let small = configs
        .iter()
        .filter(|c| c["batch_size"].as_i64().unwrap() <= 88)
        .count() as f64
        / 3000.0;
    assert!((small - 0.5).abs() < 0.05, "{small}");
}

#[test]
fn nested_and_conditional_parameters_exist_only_where_they_apply() {
    let sweep = Sweep::from_file(&fixture("conditional_sweep.yaml")).unwrap();
    let names: Vec<&str> = sweep.space.params.iter().map(|p| p.name.as_str()).collect();
    // Parents first, otherwise as written; nested groups as dotted names.
    assert_eq!(
        names,
        [
            "optimizer",
            "momentum",
            "nesterov",
            "dampening",
            "lr",
            "adam.beta1",
            "adam.beta2",
            "model.width",
            "model.depth",
            "model.decay",
            "smoothing"
        ]
    );
    let domain = sweep.space.domain();
    let configs = draw(&sweep, 3000);
    let mut by_optimizer = std::collections::HashMap::new();
    for c in &configs {
        let optimizer = c["optimizer"].as_str().unwrap();
        *by_optimizer.entry(optimizer).or_insert(0) += 1;
        let has = |key: &str| c.contains_key(key);
        assert_eq!(has("momentum"), optimizer == "sgd", "{c:?}");
        assert_eq!(has("nesterov"), optimizer == "sgd", "{c:?}");
        // A grandchild: needs sgd and nesterov = false.
        assert_eq!(
            has("dampening"),
            c.get("nesterov") == Some(&Value::Bool(false)),
            "{c:?}"
        );
        assert_eq!(has("adam.beta1") && has("adam.beta2"), optimizer == "adam", "{c:?}");
        assert!(!has("adam.beta1") || has("adam.beta2"), "{c:?}");
        assert_eq!(has("smoothing"), optimizer != "adam", "{c:?}");
        assert!(has("lr") && has("model.width") && has("model.depth"));
        assert_eq!(c["model.decay"], 0.0005);
        // What is stored reads back to the same point and configuration.
        let mut point = sweep
            .space
            .encode(c)
            .expect("a drawn configuration belongs to its space");
        domain.snap(&mut point);
        assert_eq!(&sweep.space.decode(&point), c);
    }
    for optimizer in ["adam", "sgd", "rmsprop"] {
        let share = by_optimizer[optimizer] as f64 / configs.len() as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.04, "{optimizer}: {share}");
    }
    // A configuration missing an active parameter is not of this space; one
    // missing an inactive parameter is.
    let mut sgd = configs.iter().find(|c| c["optimizer"] == "sgd").unwrap().clone();
    sgd.remove("momentum");
    assert!(sweep.space.encode(&sgd).is_none());
    let adam = configs.iter().find(|c| c["optimizer"] == "adam").unwrap();
    assert!(!adam.contains_key("momentum") && sweep.space.encode(adam).is_some());
}

#[test]
fn every_distribution_samples_within_its_bounds() {
    let sweep = Sweep::from_file(&fixture("all_distributions.yaml")).unwrap();
    assert_eq!(sweep.method, Method::Random);
    assert_eq!(sweep.run_cap, Some(12));
    // W&B's early_terminate becomes its hyperband pruner, bands from min_iter 3 by η = 3.
    match &sweep.pruner {
        Some(PrunerSpec::WandbHyperband { bands, eta, strict }) => {
            assert_eq!((&bands[..3], *eta, *strict), (&[3, 9, 27][..], 3.0, false))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sweep.command.as_ref().unwrap()[3], "--fixed=1");
    let configs = draw(&sweep, 4000);
    let within = |key: &str, lo: f64, hi: f64| {
        let v = floats(&configs, key);
        assert!(v.iter().all(|x| (lo..=hi).contains(x)), "{key} outside [{lo}, {hi}]");
        v
    };
    let multiple_of = |key: &str, q: f64| {
        for v in floats(&configs, key) {
            assert!(
                ((v / q).round() * q - v).abs() < 1e-9,
                "{key} = {v} is not a multiple of {q}"
            );
        }
    };
    for c in &configs {
        assert_eq!(c["const"], 7);
        assert_eq!(c["bare_const"], "sgd");
        assert!(c["layers"].is_i64() && c["bare_ints"].is_i64());
    }
    let layers = within("layers", 1.0, 4.0);
    for k in 1..=4 {
        let share = layers.iter().filter(|v| **v == k as f64).count() as f64 / layers.len() as f64;
        assert!((share - 0.25).abs() < 0.03, "layers={k}: {share}");
    }
    within("bare_ints", 2.0, 6.0);
    within("dropout", 0.0, 0.5);
    within("bare_floats", 0.5, 1.5);
    within("momentum", 0.8, 0.99);
    multiple_of("momentum", 0.01);
    within("lr_exp", (-9.21f64).exp(), (-2.3f64).exp());
    within("lr", 1e-4, 0.1);
    multiple_of("width_exp", 4.0);
    within("batch", 16.0, 512.0);
    multiple_of("batch", 16.0);
    within("inv", (-5f64).exp(), (-1f64).exp());
    within("inv_values", 0.001, 0.5);
    let noise = within("noise", 1.0 - 0.8, 1.0 + 0.8);
    // Random search draws from the normal itself: about 68% within one sigma.
    let one_sigma = noise.iter().filter(|v| (**v - 1.0).abs() < 0.2).count() as f64 / noise.len() as f64;
    assert!((one_sigma - 0.683).abs() < 0.03, "{one_sigma}");
    multiple_of("q_noise", 1.0);
    within("scale", (-2f64).exp(), 2f64.exp());
    multiple_of("q_scale", 2.0);
    let mix = within("mix", 0.0, 1.0);
    // Beta(2, 5) has mean 2/7.
    assert!((mix.iter().sum::<f64>() / mix.len() as f64 - 2.0 / 7.0).abs() < 0.01);
    multiple_of("q_mix", 0.1);
    let share = |v: &str| configs.iter().filter(|c| c["optimizer"] == v).count() as f64 / configs.len() as f64;
    assert!((share("adam") - 0.6).abs() < 0.03 && (share("rmsprop") - 0.1).abs() < 0.02);
    let values: Vec<&Value> = configs.iter().map(|c| &c["bare_values"]).collect();
    assert!(values.contains(&&Value::from(2.5)) && values.contains(&&Value::from(true)));
}

#[test]
fn each_kind_of_bad_file_is_refused_with_the_parameter_and_the_fault() {
    let cases = [
        ("min_ge_max.yaml", "`lr`", "min (0.1) must be below max (0.01)"),
        ("log_nonpositive.yaml", "`lr`", "min must be positive"),
        ("q_nonpositive.yaml", "`width`", "`q` must be positive"),
        (
            "unknown_distribution.yaml",
            "`lr`",
            "did you mean `log_uniform_values`?",
        ),
        ("empty_values.yaml", "`optimizer`", "`values` is empty"),
        ("wrong_type.yaml", "`lr`", "`min` must be a number, got \"low\""),
        (
            "unknown_key.yaml",
            "`lr`",
            "unknown key `minimum` (did you mean `min`?)",
        ),
        (
            "unknown_top_key.yaml",
            "",
            "unknown key `parameter` (did you mean `parameters`?)",
        ),
        ("not_yaml.yaml", "", "not valid YAML or JSON"),
    ];
    for (file, parameter, fault) in cases {
        let message = Sweep::from_file(&fixture(&format!("bad/{file}")))
            .unwrap_err()
            .to_string();
        assert!(message.contains(file), "{file}: {message}");
        assert!(message.contains(parameter), "{file}: {message}");
        assert!(message.contains(fault), "{file}: {message}");
    }
}
