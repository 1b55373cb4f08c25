//! Admin pages: clinic settings and the audit viewer.

use crate::http::{Origin, PageError, render};
use crate::views::{
    AdminPatient, Audit, AuditRow, BackupRow, Backups, Settings, StaffPage, StaffRow,
};
use crate::{Shared, Web, check_csrf};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kapstone_app::AppError;
use kapstone_app::StaffChange;
use kapstone_app::auth::Staff;
use kapstone_app::backups::BackupState;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::{AuditFilter, CareTeamId, ClinicSettings, PatientId, UserId};

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
    let clinic = match web.app.clinic(staff.user.clinic_id).await {
        Ok(c) => c,
        Err(e) => return PageError(e).into_response(),
    };
    render(
        status,
        &Settings {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            error,
            saved,
            clinic_name: clinic.name,
            time_zone: clinic.time_zone,
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
    let saved = web
        .app
        .save_clinic_settings(&staff, &s, &get("clinic_name"), &get("time_zone"))
        .await
        .map(|_| ());
    match saved {
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
    let names: std::collections::HashMap<String, String> = match web.app.staff_list(&staff).await {
        Ok(list) => list
            .into_iter()
            .map(|(u, _)| {
                (
                    u.id.to_string(),
                    format!("{} <{}>", u.display_name, u.email),
                )
            })
            .collect(),
        Err(e) => return PageError(e).into_response(),
    };
    let break_glass = match web.app.break_glass_log(&staff).await {
        Ok(log) => log
            .into_iter()
            .map(|b| {
                let who = names
                    .get(&b.user_id.to_string())
                    .cloned()
                    .unwrap_or_else(|| b.user_id.to_string());
                (
                    b.created_at.strftime("%Y-%m-%d %H:%M").to_string(),
                    who,
                    b.patient_id.to_string(),
                    b.reason,
                    b.expires_at.strftime("%Y-%m-%d %H:%M").to_string(),
                )
            })
            .collect(),
        Err(e) => return PageError(e).into_response(),
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
                    break_glass,
                    patient: q.patient,
                    actor: q.actor,
                    events: rows,
                },
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

async fn staff_view(
    web: &Shared,
    staff: &Staff,
    error: Option<String>,
    link: Option<(String, String)>,
) -> Response {
    let list = match web.app.staff_list(staff).await {
        Ok(l) => l,
        Err(e) => return PageError(e).into_response(),
    };
    let teams = match web.app.teams(staff).await {
        Ok(t) => t,
        Err(e) => return PageError(e).into_response(),
    };
    let pending = match web.app.pending_grants(staff).await {
        Ok(p) => p,
        Err(e) => return PageError(e).into_response(),
    };
    let name_of = |id: UserId| {
        list.iter()
            .find(|(u, _)| u.id == id)
            .map_or_else(|| id.to_string(), |(u, _)| u.display_name.clone())
    };
    let awaiting: Vec<(UserId, String, bool)> = pending
        .iter()
        .map(|g| {
            (
                g.user,
                name_of(g.requested_by),
                g.requested_by != staff.user.id,
            )
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &StaffPage {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            error,
            link,
            staff: list
                .into_iter()
                .map(|(u, t)| StaffRow {
                    awaiting: awaiting
                        .iter()
                        .find(|(id, _, _)| *id == u.id)
                        .map(|(_, by, _)| by.clone()),
                    may_approve: awaiting.iter().any(|(id, _, may)| *id == u.id && *may),
                    id: u.id.to_string(),
                    is_me: u.id == staff.user.id,
                    teams: t
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    name: u.display_name,
                    email: u.email,
                    role: u.role.as_str().to_string(),
                    active: u.active,
                })
                .collect(),
            roles: Role::IDS.to_vec(),
            teams: teams
                .into_iter()
                .map(|t| (t.id.to_string(), t.name))
                .collect(),
        },
    )
}

pub async fn staff_page(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    match web.staff(&headers, &origin).await {
        Ok(staff) => staff_view(&web, &staff, None, None).await,
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team: String,
}

/// Deactivate, reactivate, reset the second factor of, or sign out a colleague.
pub async fn change_staff(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    axum::extract::Path((id, change)): axum::extract::Path<(String, String)>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let Ok(user) = id.parse::<UserId>() else {
        return PageError(AppError::NotFound).into_response();
    };
    if change == "approve" {
        return match web.app.approve_staff(&staff, user).await {
            Ok(_) => axum::response::Redirect::to("/admin/staff").into_response(),
            Err(e @ AppError::Invalid { .. }) => {
                staff_view(&web, &staff, Some(e.to_string()), None).await
            }
            Err(e) => PageError(e).into_response(),
        };
    }
    let change = match change.as_str() {
        "deactivate" => StaffChange::Deactivate,
        "reactivate" => StaffChange::Reactivate,
        "reset-mfa" => StaffChange::ResetSecondFactor,
        "sign-out" => StaffChange::EndSessions,
        _ => return PageError(AppError::NotFound).into_response(),
    };
    match web.app.change_staff(&staff, user, change).await {
        Ok(_) => axum::response::Redirect::to("/admin/staff").into_response(),
        Err(e @ AppError::Invalid { .. }) => {
            staff_view(&web, &staff, Some(e.to_string()), None).await
        }
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn add_staff(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    axum::Form(f): axum::Form<StaffForm>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let parsed = (|| -> Result<(Role, Option<CareTeamId>), AppError> {
        let role =
            Role::parse(f.role.trim()).map_err(|e| AppError::invalid("role", e.to_string()))?;
        let team = match f.team.trim() {
            "" => None,
            t => Some(
                t.parse::<CareTeamId>()
                    .map_err(|_| AppError::invalid("team", "no such care team"))?,
            ),
        };
        Ok((role, team))
    })();
    let result = match parsed {
        Ok((role, team)) => {
            web.app
                .invite_staff(&staff, &f.email, &f.display_name, role, team)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((user, link)) => staff_view(&web, &staff, None, Some((user.email, link))).await,
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            staff_view(&web, &staff, Some(e.to_string()), None).await
        }
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create_team(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    axum::Form(f): axum::Form<TeamForm>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    match web.app.create_team(&staff, &f.name).await {
        Ok(_) => axum::response::Redirect::to("/admin/staff").into_response(),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            staff_view(&web, &staff, Some(e.to_string()), None).await
        }
        Err(e) => PageError(e).into_response(),
    }
}

/// What an admin sees at a patient's address: who treats them, and a way to change it.
pub async fn patient_admin_view(web: &Shared, staff: &Staff, id: PatientId) -> Response {
    let p = match web.app.patient(staff, id).await {
        Ok(p) => p,
        Err(e) => return PageError(e).into_response(),
    };
    let (teams, all) = match (
        web.app.patient_teams(staff, id).await,
        web.app.teams(staff).await,
    ) {
        (Ok(t), Ok(a)) => (t, a),
        (Err(e), _) | (_, Err(e)) => return PageError(e).into_response(),
    };
    render(
        StatusCode::OK,
        &AdminPatient {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            id: id.to_string(),
            name: format!("{} {}", p.details.given_name, p.details.family_name),
            mrn: p.mrn,
            birth_date: p.details.birth_date.to_string(),
            teams: teams.into_iter().map(|t| t.name).collect(),
            all_teams: all
                .into_iter()
                .map(|t| (t.id.to_string(), t.name))
                .collect(),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    team: String,
}

pub async fn assign_team(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(f): axum::Form<AssignForm>,
) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<PatientId>() else {
        return PageError(AppError::NotFound).into_response();
    };
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    // Whose patient this is is asked before the form is read, so refusals look alike.
    if let Err(e) = web
        .app
        .check(&staff, kapstone_app::policy::Action::ManageTeams, Some(id))
        .await
    {
        return PageError(e).into_response();
    }
    let team = match f.team.parse::<CareTeamId>() {
        Ok(t) => t,
        Err(_) => return PageError(AppError::invalid("team", "no such care team")).into_response(),
    };
    match web.app.assign_team(&staff, id, team).await {
        Ok(()) => axum::response::Redirect::to(&format!("/patients/{id}")).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

/// The banner admins see on every page when backups need attention.
pub(crate) async fn backup_warning(web: &Web, staff: &Staff) -> Option<String> {
    let state = web.app.backup_state(staff).await.ok()?;
    let now = jiff::Timestamp::now();
    if !state.needs_attention(now) {
        return None;
    }
    Some(match state {
        BackupState::NotScheduled => "this server takes no scheduled backups.".to_string(),
        BackupState::Scheduled { status, .. } => match status.last_good {
            None => "no backup has been written yet.".to_string(),
            Some(g) => format!(
                "the newest good backup is from {}, older than twice the interval.",
                g.taken_at.strftime("%Y-%m-%d %H:%M UTC")
            ),
        },
    })
}

pub async fn backups(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    let staff = match web.staff(&headers, &origin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let state = match web.app.backup_state(&staff).await {
        Ok(s) => s,
        Err(e) => return PageError(e).into_response(),
    };
    let when = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let (scheduled, rows, last_error) = match state {
        BackupState::NotScheduled => (false, Vec::new(), None),
        BackupState::Scheduled { dir, keep, status } => {
            let mut rows = vec![
                BackupRow {
                    label: "Directory",
                    value: dir,
                },
                BackupRow {
                    label: "Every",
                    value: format!("{:#}", status.every),
                },
                BackupRow {
                    label: "Kept",
                    value: format!("the newest {keep}"),
                },
            ];
            match &status.last_good {
                Some(g) => {
                    rows.push(BackupRow {
                        label: "Newest good backup",
                        value: format!("{} ({}, {} bytes)", when(g.taken_at), g.file, g.bytes),
                    });
                }
                None => rows.push(BackupRow {
                    label: "Newest good backup",
                    value: "none yet".into(),
                }),
            }
            let mut last_error = None;
            if let Some(a) = &status.last_attempt {
                let result = if a.ok {
                    format!("written in {} ms", a.took_ms)
                } else {
                    last_error = a.error.clone();
                    "failed".to_string()
                };
                rows.push(BackupRow {
                    label: "Last attempt",
                    value: format!("{}: {result}", when(a.at)),
                });
            }
            (true, rows, last_error)
        }
    };
    render(
        StatusCode::OK,
        &Backups {
            layout: web.layout(&staff).await,
            scheduled,
            rows,
            last_error,
        },
    )
}
