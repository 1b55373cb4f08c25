//! HTTP plumbing shared by every page: cookies, the client's address, CSRF, security headers,
//! rate limits, and turning use-case errors into pages.

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use kapstone_app::AppError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "kapstone_session";

/// The client's address: the socket's peer, or behind a trusted proxy the client the proxy
/// names (`client_address`).
#[derive(Debug, Clone)]
pub struct Origin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts
            .extensions
            .get::<crate::client_address::ClientAddress>()
        {
            return Ok(Origin(c.0.clone()));
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        Ok(Origin(ip))
    }
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

pub fn set_session_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("kapstone_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A redirect that also sets (or clears) the session cookie.
pub fn redirect_with_cookie(to: &str, cookie: HeaderValue) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r
}

pub fn render<T: askama::Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template error");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A use-case error as a response. Messages never carry health data; internals are logged,
/// not shown.
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, body) = match &self.0 {
            AppError::Unauthenticated => return Redirect::to("/signin").into_response(),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "Not allowed", self.0.to_string()),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "This page does not exist, or you do not have access to it.".to_string(),
            ),
            AppError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check",
                self.0.to_string(),
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "Could not save", m.clone()),
            AppError::Locked(m) => (StatusCode::TOO_MANY_REQUESTS, "Please wait", m.clone()),
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "database busy");
                let mut res = render(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &crate::views::Message {
                        layout: crate::views::Layout::bare(false),
                        heading: "Please try again in a moment".to_string(),
                        body: "kapstone is busy and could not save or show this just now. \
                               Nothing was changed; go back and try again in a moment."
                            .to_string(),
                        link: None,
                    },
                );
                retry_soon(&mut res);
                return res;
            }
            AppError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error has been logged.".to_string(),
                )
            }
        };
        render(
            status,
            &crate::views::Message {
                layout: crate::views::Layout::bare(false),
                heading: heading.to_string(),
                body,
                link: None,
            },
        )
    }
}

/// Tells the client (and any proxy) that a 503 is brief: the database was busy.
pub(crate) fn retry_soon(res: &mut Response) {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
}

/// Whether a form was posted from one of kapstone's own pages, for a post that needs no session
/// and so carries no CSRF token (sign-in: a post from another site would sign the victim's
/// browser into the attacker's account). A browser says so in `Sec-Fetch-Site` (`same-origin`,
/// or `none` when the person typed or bookmarked it); a browser too old for that header sends
/// `Origin`, which must then be kapstone's public address. Neither: refused.
pub(crate) fn posted_from_own_page(headers: &HeaderMap, public_url: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => header("origin").is_some_and(|o| {
            let own = public_url.trim_end_matches('/');
            // The public URL's scheme, host and port; any path after them is not an origin.
            let own_origin = own
                .find("://")
                .and_then(|i| own[i + 3..].find('/').map(|j| &own[..i + 3 + j]))
                .unwrap_or(own);
            o == own_origin
        }),
    }
}

/// Security headers on every response; cross-site form posts refused before any handler runs.
pub async fn security(secure: bool, req: Request, next: Next) -> Response {
    let cross_site_post = req.method() == Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
    let mut res = if cross_site_post {
        (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Portal links carry their token in the path; no page may pass it on as a referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// (bucket, client address or other key) → (window start, hits in the window).
type Hits = HashMap<(&'static str, String), (Instant, u32)>;

/// A fixed-window limit per client address, for sign-in and the portal.
pub struct Limiter {
    per_window: u32,
    window: Duration,
    hits: Mutex<Hits>,
}

impl Limiter {
    pub fn new(per_window: u32, window: Duration) -> Self {
        Limiter {
            per_window,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// True when the request may go ahead: at most the limiter's own count per client address.
    pub fn allow(&self, bucket: &'static str, origin: &Origin) -> bool {
        self.allow_up_to(bucket, &origin.0, self.per_window)
    }

    /// True when the request may go ahead: at most `limit` per window for `key` in `bucket`.
    pub fn allow_up_to(&self, bucket: &'static str, key: &str, limit: u32) -> bool {
        let Ok(mut hits) = self.hits.lock() else {
            return false;
        };
        let now = Instant::now();
        if hits.len() > 50_000 {
            hits.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = hits.entry((bucket, key.to_string())).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }
}

pub fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts from this address; wait a minute and try again.",
    )
        .into_response()
}

/// The value, or the response to send instead: page handlers return early with it.
macro_rules! page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}
pub(crate) use page;

pub(crate) fn ok_or_page<T>(r: Result<T, AppError>) -> Result<T, Response> {
    r.map_err(|e| PageError(e).into_response())
}

/// An id from the path; one that does not parse is simply not found.
pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, Response> {
    T::from_str(s).map_err(|_| PageError(AppError::NotFound).into_response())
}
