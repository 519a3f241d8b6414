//! `bo dashboard` in a real headless Chromium while a study runs beside it:
//! the page names the study, its trial count grows while it stays open (no
//! reload), its table sorts, and the study finishes unharmed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bo, command, export, ok};
use serde_json::{json, Value};

/// Kills a child process when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's chromium, or BO_CHROMIUM; scripts/setup.sh installs it.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("BO_CHROMIUM") {
        return path.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("no Chromium found: install Debian's chromium (scripts/setup.sh does) or set BO_CHROMIUM");
}

/// A headless Chromium showing one page, driven over its DevTools protocol.
struct Browser {
    _process: Running,
    socket: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
}

impl Browser {
    fn open(url: &str, profile: &Path) -> Browser {
        let mut process = Running(
            Command::new(chromium())
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                    &format!("--user-data-dir={}", profile.display()),
                    url,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("chromium starts"),
        );
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut lines = BufReader::new(process.0.stderr.take().unwrap()).lines();
        let port: u16 = loop {
            let line = lines.next().expect("chromium names its DevTools port").unwrap();
            if let Some(rest) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                break rest[..rest.find('/').unwrap()].parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let targets = http_get(port, "/json/list");
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let address = page["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tungstenite::client(address, TcpStream::connect(("127.0.0.1", port)).unwrap())
            .unwrap_or_else(|e| panic!("cannot reach DevTools: {e}"));
        Browser {
            _process: process,
            socket,
            next_id: 1,
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({"id": id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": true}});
        self.socket.send(tungstenite::Message::text(call.to_string())).unwrap();
        loop {
            let message = self.socket.read().unwrap();
            let Ok(reply) = serde_json::from_str::<Value>(message.to_text().unwrap_or("")) else {
                continue;
            };
            if reply["id"] == id {
                return reply["result"]["result"]["value"].clone();
            }
        }
    }

    /// Waits until `expression` is true in the page.
    fn wait_for(&mut self, what: &str, expression: &str) {
        let start = Instant::now();
        while self.eval(expression) != Value::Bool(true) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the page never showed {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The trial count the page shows.
    fn trial_count(&mut self) -> u64 {
        let text = self.eval("document.getElementById('trial-count')?.textContent ?? ''");
        text.as_str().unwrap().parse().unwrap_or(0)
    }
}

/// A JSON document over HTTP; DevTools keeps the connection open, so the
/// body is read by its length.
fn http_get(port: u16, path: &str) -> Value {
    let mut stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    write!(stream.get_mut(), "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_dashboard_follows_a_running_study_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("slow.py"),
        "import json, sys, time\nargs = dict(a[2:].split('=', 1) for a in sys.argv[1:])\ntime.sleep(0.3)\nprint(json.dumps({'loss': float(args['x']) ** 2}))\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sweep.yaml"),
        "program: slow.py\nmetric: {name: loss}\nparameters:\n  x: {min: -1.0, max: 1.0}\n  kind: {values: [p, q]}\n",
    )
    .unwrap();
    let mut run = Running(
        command(
            d,
            &[
                "run",
                "--config",
                "sweep.yaml",
                "--study",
                "live-study",
                "--trials",
                "80",
                "--surrogate",
                "tpe",
            ],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("run.log")).unwrap())
        .spawn()
        .unwrap(),
    );
    let start = Instant::now();
    while !d.join("bo.db").exists() || !ok(bo(d, &["studies"])).contains("live-study") {
        assert!(start.elapsed() < Duration::from_secs(30), "the study did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut dashboard = Running(
        command(d, &["dashboard", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(dashboard.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "binds the loopback address by default: {url}"
    );

    let profile = tempfile::tempdir().unwrap();
    let mut page = Browser::open(&format!("{url}#study=live-study"), profile.path());
    page.wait_for(
        "the study's trials",
        "Number(document.getElementById('trial-count')?.textContent) > 0",
    );
    assert_eq!(
        page.eval("document.getElementById('study-name').textContent"),
        "live-study"
    );
    let before = page.trial_count();
    // Marks this page: a reload would lose the mark.
    page.eval("window.probe = 'still the same page'");
    let grown = format!("Number(document.getElementById('trial-count').textContent) > {before}");
    page.wait_for("a growing trial count", &grown);
    assert_eq!(page.eval("window.probe"), "still the same page", "the page reloaded");
    page.wait_for("the plots", "document.querySelectorAll('#plots svg').length >= 2");
    // Sorting by the metric, best first: the first row holds the lowest loss.
    page.eval("[...document.querySelectorAll('#trials th')].find(th => th.textContent.startsWith('loss')).click()");
    page.wait_for(
        "the table sorted by loss",
        "document.querySelector('#trials th:nth-child(3)').textContent.includes('▲')",
    );
    let column: Vec<f64> = serde_json::from_value(page.eval(
        "[...document.querySelectorAll('#trials tr')].slice(1).map(r => Number(r.children[2].textContent)).filter(v => !isNaN(v))",
    ))
    .unwrap();
    assert!(
        column.len() > 1 && column.windows(2).all(|w| w[0] <= w[1]),
        "not sorted: {column:?}"
    );

    // The study ran to its end beside the dashboard, every trial complete.
    let status = run.0.wait().unwrap();
    let stderr = std::fs::read_to_string(d.join("run.log")).unwrap();
    assert!(status.success(), "the study failed beside the dashboard: {stderr}");
    let trials = export(d, "live-study")["trials"].as_array().unwrap().clone();
    assert_eq!(trials.len(), 80);
    assert!(trials.iter().all(|t| t["state"] == "complete"), "{stderr}");
    // The open page catches up with the finished study.
    page.wait_for(
        "the final count",
        "document.getElementById('trial-count').textContent === '80'",
    );
}

#[test]
fn the_dashboard_refuses_a_missing_store_and_a_foreign_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = bo(d, &["dashboard", "--storage", "absent.db", "--port", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("absent.db"), "{stderr}");
    assert!(!d.join("absent.db").exists(), "the dashboard created a store");
    std::fs::write(d.join("notes.txt"), "not a database").unwrap();
    let out = bo(d, &["dashboard", "--storage", "notes.txt", "--port", "0"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(d.join("notes.txt")).unwrap(), "not a database");
}
