//! One log line per request: its id, the route template, method, status, latency and the
//! signed-in staff member's id. Never the raw path or query string: paths carry patient ids and
//! portal tokens, and search queries carry names and record numbers.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tower_http::trace::TraceLayer;
use tracing::Span;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route: the request id outermost, so the log span and the answer share it.
pub(crate) fn layer<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_request(on_request)
                .on_response(on_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn(request_id))
}

/// A fresh id for every request. One sent by the client is replaced, not trusted: it would be
/// text of the client's choosing in the log.
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = HeaderValue::from_str(&uuid::Uuid::now_v7().simple().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID, id);
    res
}

fn span<B>(req: &axum::http::Request<B>) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = %route,
        user = tracing::field::Empty,
    )
}

/// At debug level only: with it, a request that never finishes can be told from one never made.
fn on_request<B>(_: &axum::http::Request<B>, _: &Span) {
    tracing::debug!("request started");
}

fn on_response<B>(res: &axum::http::Response<B>, latency: Duration, _: &Span) {
    let status = res.status().as_u16();
    // Microsecond precision is plenty and keeps the lines short.
    let latency_ms = (latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    if res.status().is_server_error() {
        tracing::warn!(status, latency_ms, "response");
    } else {
        tracing::info!(status, latency_ms, "response");
    }
}

/// Names the signed-in staff member (by id) on the request's log line.
pub(crate) fn note_user(user: impl std::fmt::Display) {
    Span::current().record("user", tracing::field::display(user));
}
