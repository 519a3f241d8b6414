//! `bo plot` and `bo report` on a real study with complete, pruned, failed,
//! categorical and re-tested trials.

mod common;

use std::path::Path;

use common::{bo, export, ok};

/// A program with a log-scaled `lr` and a categorical `opt`: `c` with a large
/// lr fails, a loss above 1.2 at step 2 or later is pruned, the rest complete.
const PROGRAM: &str = r#"
import json, math, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
lr, opt = float(args["lr"]), args["opt"]
if opt == "c" and lr > 0.05:
    sys.exit("diverged")
noise = (int(os.environ["BO_TRIAL_SEED"]) % 100) / 1000.0
base = abs(math.log10(lr) + 2.0) * 0.3 + {"a": 0.0, "b": 0.3, "c": 0.6}[opt] + noise
for step in range(1, 5):
    print(json.dumps({"loss": base + 0.5 / step, "step": step}), flush=True)
"#;

fn study(d: &Path) {
    std::fs::write(d.join("train.py"), PROGRAM).unwrap();
    std::fs::write(
        d.join("sweep.yaml"),
        "program: train.py\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {min: 0.0001, max: 1.0, distribution: log_uniform_values}\n  opt: {values: [a, b, c]}\n",
    )
    .unwrap();
    ok(bo(
        d,
        &[
            "run",
            "--config",
            "sweep.yaml",
            "--study",
            "mixed",
            "--surrogate",
            "random",
            "--trials",
            "30",
            "--seed",
            "5",
            "--pruner",
            "threshold",
            "--threshold",
            "1.2",
            "--min-resource",
            "2",
        ],
    ));
    ok(bo(d, &["retest", "mixed", "--top-k", "2", "--seeds", "2"]));
    let trials = export(d, "mixed")["trials"].as_array().unwrap().clone();
    for state in ["complete", "pruned", "failed"] {
        assert!(
            trials.iter().any(|t| t["state"] == state),
            "the study has no {state} trial"
        );
    }
}

#[test]
fn every_plot_kind_is_written_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d);
    for kind in [
        "history",
        "parallel",
        "importance",
        "slice",
        "contour",
        "intermediate",
        "retest",
    ] {
        let svg = d.join(format!("{kind}.svg"));
        ok(bo(
            d,
            &["plot", "mixed", "--kind", kind, "--out", svg.to_str().unwrap()],
        ));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("mixed"),
            "{kind}: not a titled SVG"
        );
        let png = d.join(format!("{kind}.png"));
        ok(bo(
            d,
            &["plot", "mixed", "--kind", kind, "--out", png.to_str().unwrap()],
        ));
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{kind}: not a PNG");
        // The IHDR width, twice the SVG's: drawn, not an empty image.
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        assert!(width >= 1600, "{kind}: {width} pixels wide");
    }
    // Categories and the log axis's decades label their axes.
    let slice = std::fs::read_to_string(d.join("slice.svg")).unwrap();
    // plotters writes each label on a line of its own.
    for label in ["lr (log)", "0.001", "0.01", "a", "b", "c"] {
        assert!(slice.lines().any(|l| l.trim() == label), "slice: no label `{label}`");
    }
    let contour = std::fs::read_to_string(d.join("contour.svg")).unwrap();
    assert!(
        contour.contains("over lr and opt") || contour.contains("over opt and lr"),
        "the two parameters"
    );
}

#[test]
fn a_plot_that_cannot_be_drawn_says_why_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--kind", "contour", "--params", "lr,depth", "--out", "c.svg"],
            "no parameter `depth` (it searches lr, opt)",
        ),
        (&["--kind", "history", "--out", "h.jpg"], "written as .svg or .png"),
        (
            &["--kind", "history", "--params", "lr,opt", "--out", "h.svg"],
            "--kind history takes none",
        ),
        (
            &["--kind", "history", "--out", "missing-folder/h.svg"],
            "cannot write missing-folder/h.svg",
        ),
    ];
    for (args, words) in cases {
        let mut all = vec!["plot", "mixed"];
        all.extend_from_slice(args);
        let out = bo(d, &all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(words), "{args:?}: {stderr}");
    }
    for file in ["c.svg", "h.jpg", "h.svg"] {
        assert!(!d.join(file).exists(), "{file} was written");
    }
    let out = bo(d, &["plot", "nosuch", "--kind", "history", "--out", "n.svg"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no study named `nosuch` (studies here: mixed)"));
}

#[test]
fn the_report_is_one_page_with_every_plot_that_links_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d);
    ok(bo(d, &["report", "mixed"]));
    let page = std::fs::read_to_string(d.join("report-mixed.html")).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the report links out"
    );
    assert_eq!(page.matches("<svg").count(), 7, "one inline SVG per plot kind");
    for words in [
        "strategy</th><td>random",
        "seed</th><td>5",
        "git commits",
        "suggestion time",
        "Recommended: trial",
        "Best configuration",
    ] {
        assert!(page.contains(words), "the report has no `{words}`");
    }
    ok(bo(d, &["report", "mixed", "--out", "elsewhere.html"]));
    assert!(d.join("elsewhere.html").is_file());
}
