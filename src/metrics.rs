//! Metrics in the Prometheus text format, at `GET /metrics`.
//!
//! The code records through the `metrics` facade (`metrics::counter!` and friends,
//! where the thing happens); this module installs the Prometheus recorder once per
//! process and renders it. What is recorded:
//!
//! | metric | kind | where |
//! |---|---|---|
//! | `gadka_messages_committed_total` | counter | the engine, after each commit |
//! | `gadka_writer_batch_size` | histogram | commands per batch |
//! | `gadka_writer_commit_seconds` | histogram | one batch, from first read to commit |
//! | `gadka_writer_sync_seconds` | histogram | one WAL sync (SQLite with `durability: full`) |
//! | `gadka_writer_batches_per_sync` | histogram | committed batches one WAL sync made durable |
//! | `gadka_writer_checkpoint_seconds{thread}` | histogram | one WAL checkpoint (SQLite), on the `background` thread or on the `writer`'s |
//! | `gadka_writer_queue_depth` | gauge | commands waiting when a batch starts |
//! | `gadka_sockets_open` | gauge | the hub |
//! | `gadka_db_queries_total` | counter | every statement the store runs |
//! | `gadka_http_requests_total{route,method,status}` | counter | the HTTP layer; the web client's pages under `/{client route}`, its files under `/assets/{version}/{file}` |
//! | `gadka_bridge_outbox_depth` | gauge | the bridge's rows waiting for Matrix (with the bridge on) |
//! | `gadka_bridge_outbox_age_seconds` | gauge | how long the oldest of them has waited |
//! | `gadka_bridge_portal_failures_total` | counter | conversations opened from gadka whose Matrix room the homeserver refused for good (their gadka user is told in the chat) |

use std::sync::OnceLock;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use. Every application in the process
/// (tests start many) records into the same one.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let counts = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
            let seconds = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("gadka_writer_batch_size".into()), &counts)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("gadka_writer_batches_per_sync".into()),
                        &counts,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Prefix("gadka_writer_".into()), &seconds)
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                // Only an empty bucket list fails, and these are constants.
                Err(e) => {
                    tracing::error!(error = %e, "metrics buckets refused; using summaries");
                    PrometheusBuilder::new().build_recorder()
                }
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows ours only"
                );
            }
            handle
        })
        .clone()
}

/// `GET /metrics`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let handle = handle();
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { render(&handle) }
        }),
    )
}

fn render(handle: &PrometheusHandle) -> Response {
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// The route label of a response that no router pattern matched but a fallback
/// served (the web client's pages and assets).
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// Counts every HTTP request by route (the matched pattern, never the raw path, so
/// ids do not explode the label set), method and status.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let route = matched
        .or_else(|| {
            let label = response.extensions().get::<RouteLabel>()?;
            Some(label.0.to_owned())
        })
        .unwrap_or_else(|| "unmatched".to_owned());
    metrics::counter!(
        "gadka_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    response
}
