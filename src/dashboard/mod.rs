//! `bo dashboard`: a live web view of a store. It only reads: every request
//! opens the store read-only on a blocking thread, so a running study (SQLite
//! in WAL mode, or PostgreSQL) never waits on it. The page (`page.html`)
//! polls the JSON endpoints and redraws itself without a reload.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::plots::{self, Kind, StudyView};
use crate::storage::{self, Access, Location, Storage, StudyRecord, TrialCounts, TrialRecord};
use crate::study::best_trial;

const PAGE: &str = include_str!("page.html");
/// The trials table shows this many rows of its sorted order.
const TABLE_ROWS: usize = 500;

/// Serves the dashboard of `location` on `address` until Ctrl-C; `ready` is
/// told the address bound (the port, when 0 was asked for).
pub fn serve(location: Location, address: SocketAddr, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    // Fails early, with the store's own message, on a missing or foreign store.
    storage::open(&location, Access::ReadOnly)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the dashboard's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        ready(listener.local_addr()?);
        let app = Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/api/studies", get(studies))
            .route("/api/trials", get(trials))
            .route("/plot", get(plot))
            .with_state(location);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the dashboard's server stopped")
    })
}

/// A failed request: its message, as plain text.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

/// Runs `read` on a blocking thread with the store open read-only.
async fn read<T: Send + 'static>(
    location: Location,
    read: impl FnOnce(&dyn Storage) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || read(storage::open(&location, Access::ReadOnly)?.as_ref()))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("the read failed: {e}")))?
}

fn load(storage: &dyn Storage, name: &str) -> Result<(StudyRecord, Vec<TrialRecord>), Failure> {
    let study = storage
        .study(name)?
        .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no study named `{name}`")))?;
    let trials = storage.trials(study.id)?;
    Ok((study, trials))
}

/// A study's name, counts and best value.
fn summary(study: &StudyRecord, trials: &[TrialRecord]) -> Value {
    let counts = TrialCounts::of(trials);
    json!({
        "name": study.name,
        "metric": study.metric,
        "goal": study.goal.as_str(),
        "strategy": study.strategy,
        "trials": counts.search,
        "complete": counts.complete,
        "pruned": counts.pruned,
        "failed": counts.failed,
        "running": counts.running,
        "retests": counts.retests,
        "best": best_trial(study.goal, trials).and_then(|t| t.value),
    })
}

async fn studies(State(location): State<Location>) -> Result<Json<Value>, Failure> {
    read(location, |storage| {
        let mut all = Vec::new();
        for study in storage.studies()? {
            let trials = storage.trials(study.id)?;
            all.push(summary(&study, &trials));
        }
        Ok(Json(Value::Array(all)))
    })
    .await
}

#[derive(Deserialize)]
struct TrialsQuery {
    study: String,
    /// `number`, `state`, `value`, `seconds` or a parameter's name.
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    desc: bool,
}

async fn trials(State(location): State<Location>, Query(q): Query<TrialsQuery>) -> Result<Json<Value>, Failure> {
    read(location, move |storage| {
        let (study, trials) = load(storage, &q.study)?;
        let mut rows: Vec<&TrialRecord> = trials.iter().filter(|t| t.is_search()).collect();
        let key = q.sort.as_deref().unwrap_or("number");
        rows.sort_by(|a, b| {
            let order = sort_key(a, key).compare(&sort_key(b, key));
            if q.desc {
                order.reverse()
            } else {
                order
            }
        });
        let total = rows.len();
        let rows: Vec<Value> = rows
            .into_iter()
            .take(TABLE_ROWS)
            .map(|t| {
                json!({
                    "number": t.number,
                    "state": if t.abandoned { "abandoned" } else { t.state.as_str() },
                    "value": t.value,
                    "seconds": t.ended.map(|e| e - t.started),
                    "params": t.params,
                })
            })
            .collect();
        let params: Vec<String> = StudyView::new(study.clone(), Vec::new())?
            .space
            .searched()
            .map(|p| p.name.clone())
            .collect();
        Ok(Json(json!({
            "summary": summary(&study, &trials),
            "params": params,
            "total": total,
            "rows": rows,
        })))
    })
    .await
}

/// What a trials-table column sorts by; missing values sort last.
enum SortKey {
    Number(Option<f64>),
    Text(String),
}

impl SortKey {
    fn compare(&self, other: &SortKey) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (SortKey::Number(Some(a)), SortKey::Number(Some(b))) => a.total_cmp(b),
            (SortKey::Number(None), SortKey::Number(Some(_))) => Ordering::Greater,
            (SortKey::Number(Some(_)), SortKey::Number(None)) => Ordering::Less,
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Number(_), SortKey::Text(_)) => Ordering::Less,
            (SortKey::Text(_), SortKey::Number(_)) => Ordering::Greater,
            (SortKey::Number(None), SortKey::Number(None)) => Ordering::Equal,
        }
    }
}

fn sort_key(t: &TrialRecord, key: &str) -> SortKey {
    match key {
        "number" => SortKey::Number(Some(t.number as f64)),
        "state" => SortKey::Text(t.state.as_str().into()),
        "value" => SortKey::Number(t.value.filter(|v| !v.is_nan())),
        "seconds" => SortKey::Number(t.ended.map(|e| e - t.started)),
        param => match t.params.get(param) {
            Some(Value::Number(n)) => SortKey::Number(n.as_f64()),
            Some(Value::String(s)) => SortKey::Text(s.clone()),
            Some(other) => SortKey::Text(other.to_string()),
            None => SortKey::Number(None),
        },
    }
}

#[derive(Deserialize)]
struct PlotQuery {
    study: String,
    kind: String,
}

async fn plot(State(location): State<Location>, Query(q): Query<PlotQuery>) -> Result<Response, Failure> {
    let kind =
        Kind::by_name(&q.kind).ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no plot kind `{}`", q.kind)))?;
    read(location, move |storage| {
        let (study, trials) = load(storage, &q.study)?;
        let view = StudyView::new(study, trials)?;
        // What cannot be drawn yet (no re-tests, no curves) is said in place of the plot.
        let svg =
            plots::draw(kind, &view, None).map_err(|e| Failure(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
        Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
    })
    .await
}
