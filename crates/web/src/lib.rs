//! kapstone's web app: the staff UI, the patient portal and the security around them.
//! It reaches data only through `kapstone_app`'s use cases, which authorize and audit.
#![forbid(unsafe_code)]
// Page steps return the response to send instead of a result; it is built once per request,
// so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod admin_pages;
mod api;
mod auth_pages;
mod chart_view;
pub mod client_address;
mod clinic_pages;
pub mod health;
pub mod http;
pub mod logging;
mod outcomes_pages;
pub use outcomes_pages::report_html;
mod portal_pages;
mod record_pages;
mod record_view;
pub mod request_log;
mod views;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{Limiter, Origin, PageError};
use kapstone_app::App;
use kapstone_app::auth::{SessionState, Staff};
use kapstone_app::clinical::vocab::Role;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request handler needs; built once per server.
pub struct Web {
    pub app: App,
    /// Every page carries a "synthetic demo data" banner.
    pub synthetic: bool,
    /// Cookies are `Secure` and HSTS is sent when the public URL is https.
    pub secure: bool,
    pub limiter: Limiter,
    /// What `/readyz` checks, in order.
    pub readiness: Vec<health::Check>,
    pub trusted_proxies: Arc<client_address::TrustedProxies>,
}

pub type Shared = Arc<Web>;

impl Web {
    pub fn new(app: App, synthetic: bool) -> Shared {
        Self::behind(app, synthetic, client_address::TrustedProxies::default())
    }

    /// As `new`, believing the client address in `X-Forwarded-For` from these proxies.
    pub fn behind(
        app: App,
        synthetic: bool,
        trusted_proxies: client_address::TrustedProxies,
    ) -> Shared {
        let secure = app.public_url().starts_with("https://");
        Arc::new(Web {
            app,
            synthetic,
            secure,
            limiter: Limiter::new(30, Duration::from_secs(60)),
            readiness: health::Check::DEFAULT.to_vec(),
            trusted_proxies: Arc::new(trusted_proxies),
        })
    }

    /// The signed-in staff member, or where to send the browser instead.
    pub(crate) async fn staff(
        &self,
        headers: &HeaderMap,
        origin: &Origin,
    ) -> Result<Staff, Response> {
        let Some(token) = http::session_token(headers) else {
            return Err(Redirect::to("/signin").into_response());
        };
        match self.app.session(&token, &origin.0).await {
            Ok((staff, SessionState::Ready)) => {
                request_log::note_user(staff.user.id);
                Ok(staff)
            }
            Ok((_, SessionState::NeedsMfa)) => Err(Redirect::to("/mfa").into_response()),
            Ok((_, SessionState::NeedsEnrolment)) => {
                Err(Redirect::to("/mfa/enrol").into_response())
            }
            Err(e) => Err(PageError(e).into_response()),
        }
    }

    pub(crate) async fn layout(&self, staff: &Staff) -> views::Layout {
        let clinic_name = self
            .app
            .clinic(staff.user.clinic_id)
            .await
            .map(|c| c.name)
            .unwrap_or_default();
        let backup_warning = if staff.role() == Role::Admin {
            admin_pages::backup_warning(self, staff).await
        } else {
            None
        };
        views::Layout {
            synthetic: self.synthetic,
            backup_warning,
            nav: Some(views::Nav {
                clinic_name,
                user_name: staff.user.display_name.clone(),
                role: staff.role().as_str().to_string(),
                csrf: staff.session.csrf_token.clone(),
                admin: staff.role() == Role::Admin,
                outcomes: matches!(staff.role(), Role::Admin | Role::Researcher),
                clinician: matches!(
                    staff.role(),
                    Role::Prescriber | Role::Therapist | Role::Nurse
                ),
            }),
        }
    }
}

/// The patient chart page: the use case (authorized, audited reads) and the rendering. Public so
/// the chart benchmark measures exactly what a request does.
pub async fn chart_page_html(
    web: &Web,
    staff: &Staff,
    patient: kapstone_app::model::PatientId,
) -> Result<String, kapstone_app::AppError> {
    use askama::Template;
    let chart = web.app.chart(staff, patient).await?;
    let overdue_minutes = web.app.overdue_minutes(staff.user.clinic_id).await?;
    let layout = web.layout(staff).await;
    let emergency = web.app.break_glass_active(staff, patient).await?;
    let mut view = chart_view::build(
        &web.app,
        layout,
        &staff.session.csrf_token,
        &chart,
        overdue_minutes,
    );
    view.emergency = emergency;
    view.render()
        .map_err(|e| kapstone_app::AppError::Internal(e.to_string()))
}

/// Refuses a state-changing request whose form does not carry the session's CSRF token.
pub(crate) fn check_csrf(staff: &Staff, given: &str) -> Result<(), PageError> {
    if kapstone_app::crypto::same(&staff.session.csrf_token, given) {
        Ok(())
    } else {
        Err(PageError(kapstone_app::AppError::Forbidden))
    }
}

async fn static_file(path: axum::extract::Path<String>) -> Response {
    let (body, ty): (&'static str, &'static str) = match path.0.as_str() {
        "htmx.min.js" => (include_str!("../static/htmx.min.js"), "text/javascript"),
        "app.css" => (include_str!("../static/app.css"), "text/css"),
        _ => return (axum::http::StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn home() -> Redirect {
    Redirect::to("/dashboard")
}

/// Every route. Patient-scoped routes are listed in `PATIENT_ROUTES` too, so the access test
/// can try each of them as an outsider.
pub fn router(web: Shared) -> Router {
    let secure = web.secure;
    let trusted = web.trusted_proxies.clone();
    let routes = Router::new()
        .route("/", get(home))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{file}", get(static_file))
        .route(
            "/signin",
            get(auth_pages::signin_page).post(auth_pages::signin),
        )
        .route("/signout", post(auth_pages::signout))
        .route("/signout/everywhere", post(auth_pages::signout_everywhere))
        .route("/mfa", get(auth_pages::mfa_page).post(auth_pages::mfa))
        .route("/mfa/recovery", post(auth_pages::recovery))
        .route(
            "/mfa/enrol",
            get(auth_pages::enrol_page).post(auth_pages::enrol),
        )
        .route(
            "/setup/{token}",
            get(auth_pages::setup_page).post(auth_pages::setup),
        )
        .route("/dashboard", get(clinic_pages::dashboard))
        .route(
            "/patients",
            get(clinic_pages::patients).post(clinic_pages::search_patients),
        )
        .route("/outcomes", get(outcomes_pages::outcomes))
        .route(
            "/patients/new",
            get(clinic_pages::new_patient_page).post(clinic_pages::create_patient),
        )
        .route("/patients/{id}", get(clinic_pages::chart))
        .route(
            "/patients/{id}/edit",
            get(clinic_pages::edit_patient_page).post(clinic_pages::edit_patient),
        )
        .route("/patients/{id}/courses", post(clinic_pages::open_course))
        .route(
            "/patients/{id}/courses/{course}/status",
            post(clinic_pages::course_status),
        )
        .route(
            "/patients/{id}/courses/{course}",
            get(record_pages::course_page),
        )
        .route(
            "/patients/{id}/courses/{course}/screening",
            get(record_pages::screening_page).post(record_pages::sign_screening),
        )
        .route(
            "/patients/{id}/medications",
            post(record_pages::add_medication),
        )
        .route(
            "/patients/{id}/medications/{medication}/stop",
            post(record_pages::stop_medication),
        )
        .route(
            "/patients/{id}/consents",
            get(record_pages::consents_page).post(record_pages::sign_consent),
        )
        .route(
            "/patients/{id}/consents/{consent}/revoke",
            post(record_pages::revoke_consent),
        )
        .route(
            "/patients/{id}/encounters/{encounter}",
            get(record_pages::encounter_page),
        )
        .route(
            "/patients/{id}/encounters/{encounter}/rems",
            get(record_pages::rems_page),
        )
        .route(
            "/patients/{id}/encounters/{encounter}/{action}",
            post(record_pages::encounter_action),
        )
        .route(
            "/patients/{id}/psychotherapy-notes",
            get(record_pages::psychotherapy_page).post(record_pages::write_psychotherapy_note),
        )
        .route(
            "/admin/clinical",
            get(record_pages::clinical_settings_page).post(record_pages::save_dosing_rules),
        )
        .route(
            "/admin/consent-documents",
            post(record_pages::add_consent_document),
        )
        .route(
            "/patients/{id}/dues/{due}/link",
            post(clinic_pages::create_link),
        )
        .route(
            "/patients/{id}/dues/{due}/email",
            post(clinic_pages::email_link),
        )
        .route(
            "/patients/{id}/alerts/{alert}/ack",
            post(clinic_pages::acknowledge),
        )
        .route(
            "/admin/settings",
            get(admin_pages::settings_page).post(admin_pages::save_settings),
        )
        .route("/admin/audit", get(admin_pages::audit))
        .route("/admin/backups", get(admin_pages::backups))
        .route(
            "/emergency",
            get(clinic_pages::emergency_page).post(clinic_pages::emergency),
        )
        .route(
            "/admin/staff",
            get(admin_pages::staff_page).post(admin_pages::add_staff),
        )
        .route(
            "/admin/staff/{id}/{change}",
            post(admin_pages::change_staff),
        )
        .route("/admin/teams", post(admin_pages::create_team))
        .route("/patients/{id}/teams", post(admin_pages::assign_team))
        .route(
            "/p/{token}",
            get(portal_pages::form).post(portal_pages::submit),
        )
        .route("/api/openapi.json", get(api::openapi))
        .route(
            "/api/patients",
            get(api::patients).post(api::create_patient),
        )
        .route("/api/patients/search", post(api::search_patients))
        .route("/api/patients/{id}", get(api::patient))
        .route(
            "/api/patients/{id}/courses",
            get(api::courses).post(api::open_course),
        )
        .route(
            "/api/patients/{id}/courses/{course}/status",
            post(api::course_status),
        )
        .route(
            "/api/patients/{id}/assessments",
            get(api::assessments).post(api::record_assessment),
        )
        .route(
            "/api/patients/{id}/encounters/{encounter}",
            get(api::encounter),
        )
        .route(
            "/api/patients/{id}/encounters/{encounter}/{action}",
            post(api::encounter_write),
        )
        .route("/api/alerts", get(api::alerts))
        .route(
            "/api/patients/{id}/alerts/{alert}/ack",
            post(api::acknowledge),
        )
        .layer(axum::middleware::from_fn(move |req, next| {
            http::security(secure, req, next)
        }))
        .layer(axum::middleware::from_fn(move |req, next| {
            client_address::resolve(trusted.clone(), req, next)
        }));
    request_log::layer(routes).with_state(web)
}

/// Patient-scoped routes (method, path with `{id}` and any other ids), for the access test.
pub const PATIENT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/patients/{id}"),
    ("GET", "/patients/{id}/edit"),
    ("POST", "/patients/{id}/edit"),
    ("POST", "/patients/{id}/courses"),
    ("POST", "/patients/{id}/courses/{course}/status"),
    ("POST", "/patients/{id}/dues/{due}/link"),
    ("POST", "/patients/{id}/dues/{due}/email"),
    ("POST", "/patients/{id}/teams"),
    ("GET", "/api/patients/{id}"),
    ("GET", "/api/patients/{id}/courses"),
    ("POST", "/api/patients/{id}/courses"),
    ("POST", "/api/patients/{id}/courses/{course}/status"),
    ("GET", "/api/patients/{id}/assessments"),
    ("POST", "/api/patients/{id}/assessments"),
    ("POST", "/api/patients/{id}/alerts/{alert}/ack"),
    ("POST", "/patients/{id}/alerts/{alert}/ack"),
    ("GET", "/patients/{id}/courses/{course}"),
    ("GET", "/patients/{id}/courses/{course}/screening"),
    ("POST", "/patients/{id}/courses/{course}/screening"),
    ("POST", "/patients/{id}/medications"),
    ("POST", "/patients/{id}/medications/{medication}/stop"),
    ("GET", "/patients/{id}/consents"),
    ("POST", "/patients/{id}/consents"),
    ("POST", "/patients/{id}/consents/{consent}/revoke"),
    ("GET", "/patients/{id}/encounters/{encounter}"),
    ("GET", "/patients/{id}/encounters/{encounter}/rems"),
    ("POST", "/patients/{id}/encounters/{encounter}/note"),
    ("POST", "/patients/{id}/encounters/{encounter}/sign"),
    ("POST", "/patients/{id}/encounters/{encounter}/addenda"),
    ("POST", "/patients/{id}/encounters/{encounter}/start"),
    ("POST", "/patients/{id}/encounters/{encounter}/doses"),
    ("POST", "/patients/{id}/encounters/{encounter}/vitals"),
    ("POST", "/patients/{id}/encounters/{encounter}/observations"),
    (
        "POST",
        "/patients/{id}/encounters/{encounter}/adverse-events",
    ),
    ("POST", "/patients/{id}/encounters/{encounter}/discharge"),
    ("GET", "/patients/{id}/psychotherapy-notes"),
    ("POST", "/patients/{id}/psychotherapy-notes"),
    ("GET", "/api/patients/{id}/encounters/{encounter}"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/note"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/sign"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/addenda"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/start"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/doses"),
    ("POST", "/api/patients/{id}/encounters/{encounter}/vitals"),
    (
        "POST",
        "/api/patients/{id}/encounters/{encounter}/observations",
    ),
    (
        "POST",
        "/api/patients/{id}/encounters/{encounter}/adverse-events",
    ),
    (
        "POST",
        "/api/patients/{id}/encounters/{encounter}/discharge",
    ),
];

/// Binds first (so the caller can print the real address), then serves.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves until `shutdown` completes, then stops accepting connections and returns once every
/// request already started has been answered.
pub async fn serve_on(
    web: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(web).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
