//! Admin pages: clinic settings and the audit viewer.

use crate::http::{Origin, PageError, render};
use crate::views::{Audit, AuditRow, Settings};
use crate::{Shared, check_csrf};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kapstone_app::AppError;
use kapstone_app::auth::Staff;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::{AuditFilter, ClinicSettings, PatientId};

async fn settings_view(
    web: &Shared,
    staff: &Staff,
    s: ClinicSettings,
    error: Option<String>,
    saved: bool,
) -> Response {
    let roles = Role::ALL
        .iter()
        .map(|r| (r.as_str(), s.mfa_exempt_roles.contains(r)))
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &Settings {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            error,
            saved,
            s,
            roles,
        },
    )
}

pub async fn settings_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if staff.role() != Role::Admin {
        return PageError(AppError::Forbidden).into_response();
    }
    match web.app.settings(staff.user.clinic_id).await {
        Ok(s) => settings_view(&web, &staff, s, None, false).await,
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn save_settings(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Err(e) = check_csrf(&staff, &get("csrf")) {
        return e.into_response();
    }
    let number = |k: &'static str| -> Result<i64, AppError> {
        get(k)
            .trim()
            .parse::<i64>()
            .map_err(|_| AppError::invalid(k, "enter a whole number"))
    };
    let parsed = (|| -> Result<ClinicSettings, AppError> {
        Ok(ClinicSettings {
            address: get("address"),
            phone: get("phone"),
            crisis_line: get("crisis_line"),
            crisis_text: get("crisis_text"),
            answers_monitored_live: get("answers_monitored_live") == "1",
            alert_overdue_minutes: number("alert_overdue_minutes")?,
            portal_link_days: number("portal_link_days")?,
            idle_timeout_minutes: number("idle_timeout_minutes")?,
            absolute_timeout_hours: number("absolute_timeout_hours")?,
            mfa_exempt_roles: fields
                .iter()
                .filter(|(n, _)| n == "mfa_exempt")
                .map(|(_, v)| {
                    Role::parse(v).map_err(|e| AppError::invalid("mfa_exempt", e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        })
    })();
    let s = match parsed {
        Ok(s) => s,
        Err(e) => {
            let current = web
                .app
                .settings(staff.user.clinic_id)
                .await
                .unwrap_or_default();
            return settings_view(&web, &staff, current, Some(e.to_string()), false).await;
        }
    };
    match web.app.save_settings(&staff, &s).await {
        Ok(()) => settings_view(&web, &staff, s, None, true).await,
        Err(e @ AppError::Invalid { .. }) => {
            settings_view(&web, &staff, s, Some(e.to_string()), false).await
        }
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    actor: String,
}

pub async fn audit(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Query(q): Query<AuditQuery>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = AuditFilter {
        patient_id: q.patient.trim().parse::<PatientId>().ok(),
        actor_id: q.actor.trim().parse::<uuid::Uuid>().ok(),
        limit: 500,
    };
    match web.app.audit_events(&staff, &filter).await {
        Ok(events) => {
            let rows = events
                .into_iter()
                .map(|e| AuditRow {
                    seq: e.seq,
                    occurred_at: e.occurred_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    actor_kind: e.actor_kind,
                    actor: e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
                    action: e.action,
                    patient: e.patient_id.map(|p| p.to_string()).unwrap_or_default(),
                    origin: e.origin,
                })
                .collect();
            render(
                StatusCode::OK,
                &Audit {
                    layout: web.layout(&staff).await,
                    patient: q.patient,
                    actor: q.actor,
                    events: rows,
                },
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}
