//! The JSON API: the same use cases as the pages, so the same authorization and audit. It uses
//! the staff session; state-changing calls must send the session's CSRF token in the
//! `X-CSRF-Token` header. Bodies are parsed only after the caller is known to be allowed, so
//! an outsider learns nothing from validation errors. Described at `/api/openapi.json`.

use crate::Shared;
use crate::http::Origin;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kapstone_app::AppError;
use kapstone_app::auth::{SessionState, Staff};
use kapstone_app::clinical::course::{CourseStatus, Indication, Route};
use kapstone_app::model::*;
use kapstone_app::policy::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use std::str::FromStr;

/// An error as JSON: a stable code, a safe message, and the field when there is one.
pub struct ApiError(AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "database busy");
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let field = match &self.0 {
            AppError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let message = match &self.0 {
            AppError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut res = (
            status,
            Json(json!({ "code": self.0.code(), "message": message, "field": field })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            crate::http::retry_soon(&mut res);
        }
        res
    }
}

type ApiResult = Result<Response, ApiError>;

async fn staff(web: &Shared, headers: &HeaderMap, origin: &Origin) -> Result<Staff, ApiError> {
    let token = crate::http::session_token(headers).ok_or(AppError::Unauthenticated)?;
    match web.app.session(&token, &origin.0).await? {
        (staff, SessionState::Ready) => {
            crate::request_log::note_user(staff.user.id);
            Ok(staff)
        }
        _ => Err(AppError::Unauthenticated.into()),
    }
}

/// A state-changing call: signed in, and carrying the session's CSRF token in a header.
async fn writer(web: &Shared, headers: &HeaderMap, origin: &Origin) -> Result<Staff, ApiError> {
    let staff = staff(web, headers, origin).await?;
    let given = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !kapstone_app::crypto::same(&staff.session.csrf_token, given) {
        return Err(AppError::Forbidden.into());
    }
    Ok(staff)
}

/// A state-changing call about one patient: signed in, CSRF header, and the policy asked for
/// this action on this patient *before* the body is read, so a refusal looks the same whatever
/// was sent.
async fn patient_writer(
    web: &Shared,
    headers: &HeaderMap,
    origin: &Origin,
    pid: &str,
    action: Action,
) -> Result<(Staff, PatientId), ApiError> {
    let staff = writer(web, headers, origin).await?;
    let patient: PatientId = id(pid)?;
    web.app.check(&staff, action, Some(patient)).await?;
    Ok((staff, patient))
}

fn id<T: FromStr>(s: &str) -> Result<T, ApiError> {
    T::from_str(s).map_err(|_| ApiError(AppError::NotFound))
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError(AppError::invalid(
            "body",
            format!("not the expected JSON: {e}"),
        ))
    })
}

fn patient_json(p: &Patient) -> Value {
    let d = &p.details;
    json!({
        "id": p.id, "mrn": p.mrn, "given_name": d.given_name, "family_name": d.family_name,
        "birth_date": d.birth_date.to_string(), "sex": d.sex.as_str(), "email": d.email,
        "phone": d.phone, "postal_code": d.postal_code,
    })
}

fn course_json(c: &Course) -> Value {
    json!({
        "id": c.id, "patient_id": c.patient_id, "indication": c.indication.as_str(),
        "planned_route": c.planned_route.map(Route::as_str), "protocol": c.protocol,
        "status": c.status.as_str(), "status_reason": c.status_reason,
        "opened_at": c.opened_at.to_string(), "closed_at": c.closed_at.map(|t| t.to_string()),
        "next_statuses": c.status.next().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}

fn alert_json(a: &Alert, overdue: bool) -> Value {
    json!({
        "id": a.id, "patient_id": a.patient_id, "kind": a.kind, "message": a.message,
        "raised_at": a.raised_at.to_string(), "overdue": overdue,
        "acknowledged_at": a.acknowledged_at.map(|t| t.to_string()),
        "acknowledged_by": a.acknowledged_by, "action_note": a.action_note,
    })
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// Every patient the caller may see.
pub async fn patients(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let found = web.app.find_patients(&staff, "").await?;
    Ok(Json(found.iter().map(patient_json).collect::<Vec<_>>()).into_response())
}

/// The patients whose name or record number holds `q`, posted in the body: a name in a URL
/// stays in proxies' and servers' logs.
pub async fn search_patients(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    bytes: Bytes,
) -> ApiResult {
    let staff = writer(&web, &headers, &origin).await?;
    let s: Search = body(&bytes)?;
    let found = web.app.find_patients(&staff, &s.q).await?;
    Ok(Json(found.iter().map(patient_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
struct PatientBody {
    given_name: String,
    family_name: String,
    birth_date: String,
    sex: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    /// The care team that will treat the patient (required for admins; default: all of yours).
    #[serde(default)]
    care_team: Option<String>,
}

fn details(b: &PatientBody) -> Result<PatientDetails, ApiError> {
    Ok(kapstone_app::clinic::PatientInput {
        given_name: &b.given_name,
        family_name: &b.family_name,
        birth_date: &b.birth_date,
        sex: &b.sex,
        email: b.email.as_deref(),
        phone: b.phone.as_deref(),
        postal_code: b.postal_code.as_deref(),
    }
    .parse()?)
}

pub async fn create_patient(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    bytes: Bytes,
) -> ApiResult {
    let staff = writer(&web, &headers, &origin).await?;
    let b: PatientBody = body(&bytes)?;
    let d = details(&b)?;
    let team = b.care_team.as_deref().map(id::<CareTeamId>).transpose()?;
    let p = web
        .app
        .create_patient(
            &staff,
            &NewPatient {
                mrn: None,
                details: d,
            },
            team,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(patient_json(&p))).into_response())
}

pub async fn patient(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let p = web.app.patient(&staff, id(&pid)?).await?;
    Ok(Json(patient_json(&p)).into_response())
}

pub async fn courses(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let list = web.app.courses(&staff, id(&pid)?).await?;
    Ok(Json(list.iter().map(course_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
struct CourseBody {
    indication: String,
    #[serde(default)]
    route: Option<String>,
    protocol: String,
    intake: String,
}

pub async fn open_course(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let (staff, patient) =
        patient_writer(&web, &headers, &origin, &pid, Action::ManageCourse).await?;
    let b: CourseBody = body(&bytes)?;
    let indication = Indication::parse(&b.indication)
        .map_err(|e| ApiError(AppError::invalid("indication", e.to_string())))?;
    let route = b
        .route
        .filter(|r| !r.is_empty())
        .map(|r| Route::parse(&r))
        .transpose()
        .map_err(|e| ApiError(AppError::invalid("route", e.to_string())))?;
    let intake = jiff::civil::Date::from_str(b.intake.trim())
        .map_err(|_| ApiError(AppError::invalid("intake", "expected a date as YYYY-MM-DD")))?;
    let c = web
        .app
        .open_course(&staff, patient, indication, route, &b.protocol, intake)
        .await?;
    Ok((StatusCode::CREATED, Json(course_json(&c))).into_response())
}

#[derive(Deserialize)]
struct StatusBody {
    to: String,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn course_status(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, cid)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let staff = writer(&web, &headers, &origin).await?;
    let patient: PatientId = id(&pid)?;
    let course: CourseId = id(&cid)?;
    if !web
        .app
        .courses(&staff, patient)
        .await?
        .iter()
        .any(|c| c.id == course)
    {
        return Err(AppError::NotFound.into());
    }
    let b: StatusBody = body(&bytes)?;
    let to =
        CourseStatus::parse(&b.to).map_err(|e| ApiError(AppError::invalid("to", e.to_string())))?;
    let c = web
        .app
        .change_course_status(&staff, course, to, b.reason.as_deref())
        .await?;
    Ok(Json(course_json(&c)).into_response())
}

pub async fn assessments(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let points = web.app.assessment_points(&staff, id(&pid)?).await?;
    let list: Vec<Value> = points
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "course_id": a.course_id, "instrument": a.instrument, "time_point": a.time_point,
                "complete": a.complete, "total": a.total, "severity": a.severity,
                "flags": a.flags.split(',').filter(|f| !f.is_empty()).collect::<Vec<_>>(),
                "administered_at": a.administered_at.to_string(),
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
struct AssessmentBody {
    instrument: String,
    answers: Vec<Option<i64>>,
    time_point: String,
    #[serde(default)]
    course_id: Option<String>,
}

pub async fn record_assessment(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let (staff, patient) =
        patient_writer(&web, &headers, &origin, &pid, Action::RecordAssessment).await?;
    let b: AssessmentBody = body(&bytes)?;
    let course = b.course_id.as_deref().map(id::<CourseId>).transpose()?;
    let rec = web
        .app
        .record_assessment(
            &staff,
            patient,
            course,
            &b.instrument,
            &b.answers,
            &b.time_point,
        )
        .await?;
    let a = &rec.assessment;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": a.id, "instrument": a.instrument, "version": a.instrument_version, "answers": a.answers,
            "complete": a.complete, "total": a.total, "severity": a.severity,
            "subscales": a.subscales.as_ref().map(|s| s.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>()),
            "flags": a.flags, "interpretation": a.interpretation, "time_point": a.time_point,
            "alerts": rec.alerts.iter().map(|al| alert_json(al, false)).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

pub async fn alerts(State(web): State<Shared>, headers: HeaderMap, origin: Origin) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let list = web.app.open_alerts(&staff).await?;
    Ok(Json(
        list.iter()
            .map(|a| alert_json(&a.alert, a.overdue))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

#[derive(Deserialize)]
struct AckBody {
    note: String,
}

pub async fn acknowledge(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, aid)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let (staff, patient) =
        patient_writer(&web, &headers, &origin, &pid, Action::AcknowledgeAlert).await?;
    let alert: AlertId = id(&aid)?;
    let b: AckBody = body(&bytes)?;
    let a = web
        .app
        .acknowledge_alert(&staff, patient, alert, &b.note)
        .await?;
    Ok(Json(alert_json(&a, false)).into_response())
}

pub async fn openapi() -> Response {
    let mut r = include_str!("../openapi.json").into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// An encounter's record as JSON. Psychotherapy notes are not part of an encounter record;
/// no API route reads them.
pub async fn encounter(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, eid)): Path<(String, String)>,
) -> ApiResult {
    let staff = staff(&web, &headers, &origin).await?;
    let patient: PatientId = id(&pid)?;
    let rec = web.app.encounter_record(&staff, id(&eid)?).await?;
    if rec.encounter.patient_id != patient {
        return Err(AppError::NotFound.into());
    }
    let e = &rec.encounter;
    Ok(Json(json!({
        "id": e.id, "course_id": e.course_id, "kind": e.kind.as_str(), "sequence": e.sequence,
        "status": e.status.as_str(),
        "signed_at": rec.signed.map(|(_, t)| t.to_string()),
        "note": rec.note.as_ref().map(|n| n.body.clone()),
        "preparation": rec.note.as_ref().and_then(|n| n.preparation.clone()),
        "addenda": rec.addenda.iter().map(|a| json!({"at": a.created_at.to_string(), "text": a.body})).collect::<Vec<_>>(),
        "dosing": rec.dosing.as_ref().map(|d| json!({
            "started_at": d.start.started_at.to_string(),
            "checklist": d.start.checklist, "setting": d.start.setting, "predose": d.start.predose,
            "discharged_at": d.discharged_at.map(|t| t.to_string()), "discharge": d.discharge,
        })),
        "administrations": rec.administrations.iter().map(|a| json!({
            "given_at": a.given_at.to_string(), "drug": a.dose.drug.as_str(), "route": a.dose.route.as_str(),
            "formulation": a.dose.formulation.as_str(), "dose_mg": a.dose.dose_mg, "weight_kg": a.dose.weight_kg,
            "mg_per_kg": a.dose.mg_per_kg(), "lot": a.dose.lot,
        })).collect::<Vec<_>>(),
        "vitals": rec.vitals.iter().map(|v| json!({"taken_at": v.taken_at.to_string(), "values": v.vitals})).collect::<Vec<_>>(),
        "observations": rec.observations.iter().map(|o| json!({
            "observed_at": o.observed_at.to_string(), "measure": o.measure.as_str(), "value": o.value,
        })).collect::<Vec<_>>(),
        "adverse_events": rec.adverse_events.iter().map(|a| &a.event).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Every write to an encounter, by the same path as the pages: `note`, `sign`, `addenda`,
/// `start`, `doses`, `vitals`, `observations`, `adverse-events`, `discharge`. The body is a
/// JSON object of the form's fields (text, numbers, or true/false for checkboxes).
pub async fn encounter_write(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, eid, action)): Path<(String, String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let staff = writer(&web, &headers, &origin).await?;
    let patient: PatientId = id(&pid)?;
    let e = web.app.encounter_for(&staff, id(&eid)?).await?;
    if e.patient_id != patient {
        return Err(AppError::NotFound.into());
    }
    let map: serde_json::Map<String, Value> = if bytes.is_empty() {
        serde_json::Map::new()
    } else {
        body(&bytes)?
    };
    let fields: crate::record_pages::Fields = map
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Bool(true) => "on".into(),
                Value::Bool(false) | Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    crate::record_pages::apply(&web.app, &staff, &e, &action, &fields).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
