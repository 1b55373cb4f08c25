//! Staff pages: the alert dashboard, patients, the chart and the actions taken from it.

use crate::http::{Origin, PageError, ok_or_page, page, parse_id, render};
use crate::views::{
    AlertRow, Dashboard, LinkPage, PatientForm, PatientFormData, PatientRow, Patients,
};
use crate::{Shared, chart_view, check_csrf};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kapstone_app::AppError;
use kapstone_app::clinical::course::{CourseStatus, Indication, Route};
use kapstone_app::clinical::vocab::{Role, Sex};
use kapstone_app::model::*;
use std::collections::HashMap;
use std::str::FromStr;

/// Unwraps a page step: on failure, the response to send instead.
pub async fn dashboard(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    if staff.role() == Role::Admin {
        return Redirect::to("/patients").into_response();
    }
    let alerts = page!(ok_or_page(web.app.open_alerts(&staff).await));
    let mut names: HashMap<PatientId, String> = HashMap::new();
    let mut rows = Vec::with_capacity(alerts.len());
    for a in alerts {
        if !names.contains_key(&a.alert.patient_id) {
            let p = page!(ok_or_page(
                web.app.patient(&staff, a.alert.patient_id).await
            ));
            names.insert(
                p.id,
                format!("{}, {}", p.details.family_name, p.details.given_name),
            );
        }
        rows.push(AlertRow {
            patient_id: a.alert.patient_id.to_string(),
            patient_name: names.get(&a.alert.patient_id).cloned().unwrap_or_default(),
            message: a.alert.message.clone(),
            raised_at: chart_view::when(a.alert.raised_at),
            overdue: a.overdue,
        });
    }
    let overdue_minutes = page!(ok_or_page(
        web.app.overdue_minutes(staff.user.clinic_id).await
    ));
    render(
        StatusCode::OK,
        &Dashboard {
            layout: web.layout(&staff).await,
            alerts: rows,
            overdue_minutes,
        },
    )
}

/// A search is posted, not put in the address: a name in a URL stays in the browser's history,
/// bookmarks and any proxy's logs.
#[derive(serde::Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

/// The patients list (every patient the person may see).
pub async fn patients(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    patients_found(&web, &staff, String::new()).await
}

/// The patients whose name or record number holds the posted term.
pub async fn search_patients(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<SearchForm>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    patients_found(&web, &staff, f.q).await
}

async fn patients_found(web: &Shared, staff: &kapstone_app::auth::Staff, q: String) -> Response {
    let found = page!(ok_or_page(web.app.find_patients(staff, &q).await));
    let patients = found
        .into_iter()
        .map(|p| PatientRow {
            id: p.id.to_string(),
            given_name: p.details.given_name,
            family_name: p.details.family_name,
            mrn: p.mrn,
            birth_date: p.details.birth_date.to_string(),
        })
        .collect();
    render(
        StatusCode::OK,
        &Patients {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            query: q,
            patients,
        },
    )
}

fn details_from(f: &PatientFormData) -> Result<PatientDetails, AppError> {
    kapstone_app::clinic::PatientInput {
        given_name: &f.given_name,
        family_name: &f.family_name,
        birth_date: &f.birth_date,
        sex: &f.sex,
        email: Some(&f.email),
        phone: Some(&f.phone),
        postal_code: Some(&f.postal_code),
    }
    .parse()
}

/// The care-team choice on the registration form, or nothing when editing.
struct TeamChoice {
    teams: Vec<CareTeam>,
    required: bool,
}

async fn team_choice(
    web: &Shared,
    staff: &kapstone_app::auth::Staff,
) -> Result<TeamChoice, Response> {
    let teams = ok_or_page(web.app.teams(staff).await)?;
    Ok(TeamChoice {
        teams,
        required: staff.role() == Role::Admin,
    })
}

fn form_page(
    layout: crate::views::Layout,
    csrf: String,
    heading: &str,
    action: String,
    form: PatientFormData,
    error: Option<String>,
    choice: Option<TeamChoice>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (teams, team_required) = match choice {
        Some(c) => (
            c.teams
                .iter()
                .map(|t| {
                    (
                        t.id.to_string(),
                        t.name.clone(),
                        t.id.to_string() == form.care_team,
                    )
                })
                .collect(),
            c.required,
        ),
        None => (Vec::new(), false),
    };
    render(
        status,
        &PatientForm {
            layout,
            heading: heading.into(),
            action,
            csrf,
            error,
            sexes: Sex::IDS.iter().map(|s| (*s, *s == form.sex)).collect(),
            form,
            teams,
            team_required,
        },
    )
}

pub async fn new_patient_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let choice = page!(team_choice(&web, &staff).await);
    let form = PatientFormData {
        sex: "unknown".into(),
        ..Default::default()
    };
    let layout = web.layout(&staff).await;
    form_page(
        layout,
        staff.session.csrf_token.clone(),
        "Register a patient",
        "/patients/new".into(),
        form,
        None,
        Some(choice),
    )
}

pub async fn create_patient(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<PatientFormData>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let team = match f.care_team.trim() {
        "" => Ok(None),
        t => t
            .parse::<CareTeamId>()
            .map(Some)
            .map_err(|_| AppError::invalid("care_team", "choose one of your care teams")),
    };
    let result = match (details_from(&f), team) {
        (Ok(details), Ok(team)) => {
            web.app
                .create_patient(&staff, &NewPatient { mrn: None, details }, team)
                .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(p) => Redirect::to(&format!("/patients/{}", p.id)).into_response(),
        Err(e @ AppError::Invalid { .. }) => {
            let choice = page!(team_choice(&web, &staff).await);
            let layout = web.layout(&staff).await;
            form_page(
                layout,
                staff.session.csrf_token.clone(),
                "Register a patient",
                "/patients/new".into(),
                f,
                Some(e.to_string()),
                Some(choice),
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn edit_patient_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(id): Path<String>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    let p = page!(ok_or_page(web.app.patient(&staff, id).await));
    let d = &p.details;
    let form = PatientFormData {
        csrf: String::new(),
        given_name: d.given_name.clone(),
        family_name: d.family_name.clone(),
        birth_date: d.birth_date.to_string(),
        sex: d.sex.as_str().into(),
        email: d.email.clone().unwrap_or_default(),
        phone: d.phone.clone().unwrap_or_default(),
        postal_code: d.postal_code.clone().unwrap_or_default(),
        care_team: String::new(),
    };
    let layout = web.layout(&staff).await;
    form_page(
        layout,
        staff.session.csrf_token.clone(),
        "Edit patient details",
        format!("/patients/{id}/edit"),
        form,
        None,
        None,
    )
}

pub async fn edit_patient(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(id): Path<String>,
    Form(f): Form<PatientFormData>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let result = match details_from(&f) {
        Ok(details) => web.app.update_patient(&staff, id, &details).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/patients/{id}")).into_response(),
        Err(e @ AppError::Invalid { .. }) => {
            let layout = web.layout(&staff).await;
            form_page(
                layout,
                staff.session.csrf_token.clone(),
                "Edit patient details",
                format!("/patients/{id}/edit"),
                f,
                Some(e.to_string()),
                None,
            )
        }
        Err(e) => PageError(e).into_response(),
    }
}

pub async fn chart(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(id): Path<String>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    if staff.role() == Role::Admin {
        return crate::admin_pages::patient_admin_view(&web, &staff, id).await;
    }
    match crate::chart_page_html(&web, &staff, id).await {
        Ok(html) => (StatusCode::OK, axum::response::Html(html)).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CourseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    indication: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    intake: String,
}

fn back_to_chart(id: PatientId) -> Response {
    Redirect::to(&format!("/patients/{id}")).into_response()
}

pub async fn open_course(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(id): Path<String>,
    Form(f): Form<CourseForm>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let parsed = (|| -> Result<_, AppError> {
        let indication = Indication::parse(&f.indication)
            .map_err(|e| AppError::invalid("indication", e.to_string()))?;
        let route = match f.route.trim() {
            "" => None,
            r => Some(Route::parse(r).map_err(|e| AppError::invalid("route", e.to_string()))?),
        };
        let intake = jiff::civil::Date::from_str(f.intake.trim())
            .map_err(|_| AppError::invalid("intake", "enter a date as YYYY-MM-DD"))?;
        Ok((indication, route, intake))
    })();
    let result = match parsed {
        Ok((indication, route, intake)) => {
            web.app
                .open_course(&staff, id, indication, route, &f.protocol, intake)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => back_to_chart(id),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

pub async fn course_status(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((id, course)): Path<(String, String)>,
    Form(f): Form<StatusForm>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    let course: CourseId = page!(parse_id(&course));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let to = match CourseStatus::parse(&f.to) {
        Ok(t) => t,
        Err(e) => return PageError(AppError::invalid("to", e.to_string())).into_response(),
    };
    let reason = Some(f.reason.as_str()).filter(|r| !r.trim().is_empty());
    // The course must belong to the patient in the path, or it is not found.
    let courses = page!(ok_or_page(web.app.courses(&staff, id).await));
    if !courses.iter().any(|c| c.id == course) {
        return PageError(AppError::NotFound).into_response();
    }
    match web
        .app
        .change_course_status(&staff, course, to, reason)
        .await
    {
        Ok(_) => back_to_chart(id),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn create_link(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((id, due)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    let due: DueId = page!(parse_id(&due));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let link = page!(ok_or_page(web.app.send_portal_link(&staff, id, due).await));
    let p = page!(ok_or_page(web.app.patient(&staff, id).await));
    let instrument = web.app.library().short_name(&link.instrument);
    render(
        StatusCode::OK,
        &LinkPage {
            layout: web.layout(&staff).await,
            patient_id: id.to_string(),
            patient_name: format!("{} {}", p.details.given_name, p.details.family_name),
            instrument,
            url: link.url,
            expires: chart_view::when(link.expires_at),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct AckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

pub async fn acknowledge(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((id, alert)): Path<(String, String)>,
    Form(f): Form<AckForm>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    let alert: AlertId = page!(parse_id(&alert));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    match web.app.acknowledge_alert(&staff, id, alert, &f.note).await {
        Ok(_) => back_to_chart(id),
        Err(e) => PageError(e).into_response(),
    }
}

/// `robin@example.org` → `r•••@example.org`: enough to confirm, not enough to copy.
fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => "•••".into(),
    }
}

pub async fn email_link(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((id, due)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    let id: PatientId = page!(parse_id(&id));
    let due: DueId = page!(parse_id(&due));
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    let to = page!(ok_or_page(web.app.email_portal_link(&staff, id, due).await));
    render(
        StatusCode::OK,
        &crate::views::Message {
            layout: web.layout(&staff).await,
            heading: "Link sent".into(),
            body: format!(
                "A one-time questionnaire link was e-mailed to {}. The e-mail names the clinic only, not the questionnaire.",
                masked(&to)
            ),
            link: Some(format!("/patients/{id}")),
        },
    )
}

#[derive(serde::Deserialize, Default)]
pub struct EmergencyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mrn: String,
    #[serde(default)]
    reason: String,
}

async fn emergency_view(
    web: &Shared,
    staff: &kapstone_app::auth::Staff,
    f: EmergencyForm,
    error: Option<String>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &crate::views::Emergency {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            error,
            mrn: f.mrn,
            reason: f.reason,
            minutes: kapstone_app::clinic::BREAK_GLASS_MINUTES,
        },
    )
}

pub async fn emergency_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    if let Err(e) = web
        .app
        .check(&staff, kapstone_app::policy::Action::EmergencyAccess, None)
        .await
    {
        return PageError(e).into_response();
    }
    emergency_view(&web, &staff, EmergencyForm::default(), None).await
}

pub async fn emergency(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<EmergencyForm>,
) -> Response {
    let staff = page!(web.staff(&headers, &origin).await);
    if let Err(e) = check_csrf(&staff, &f.csrf) {
        return e.into_response();
    }
    match web.app.break_glass(&staff, &f.mrn, &f.reason).await {
        Ok(id) => Redirect::to(&format!("/patients/{id}")).into_response(),
        Err(e @ AppError::Invalid { .. }) => {
            let msg = e.to_string();
            emergency_view(&web, &staff, f, Some(msg)).await
        }
        Err(e) => PageError(e).into_response(),
    }
}
