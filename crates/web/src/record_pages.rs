//! The clinical record pages: a course's record, screening and eligibility, medications,
//! consent, encounters (preparation, dosing with its live session record, integration) with
//! notes that lock when signed, the REMS monitoring form, and the author's psychotherapy notes.
//!
//! Dosing-session forms post with htmx and swap only the record section; without JavaScript
//! they post normally. Either way a refused entry re-renders the page with the message naming
//! the field, and nothing is saved.

use crate::http::{Origin, PageError, page, parse_id as id, render};
use crate::record_view::*;
use crate::views::Layout;
use crate::{Shared, check_csrf};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kapstone_app::AppError;
use kapstone_app::auth::Staff;
use kapstone_app::clinical::course::{EncounterKind, Route};
use kapstone_app::clinical::dosing::administration::{self, DoseInput, Drug, Formulation};
use kapstone_app::clinical::dosing::events::{
    AdverseEventInput, AeAction, AeOutcome, AeTerm, Measure, Severity,
};
use kapstone_app::clinical::dosing::screening::{
    self, CONDITIONS, DrugClass, Kind, PregnancyStatus,
};
use kapstone_app::clinical::dosing::vitals::VitalsInput;
use kapstone_app::clinical::instrument::AnswerSet;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::*;
use kapstone_app::record::{ScreeningForm, StartForm};

pub(crate) type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn ticked(f: &Fields, name: &str) -> bool {
    !field(f, name).is_empty()
}

fn all<'a>(f: &'a Fields, name: &str) -> Vec<&'a str> {
    f.iter()
        .filter(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect()
}

fn fail(e: AppError) -> Response {
    PageError(e).into_response()
}

macro_rules! app {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return fail(e),
        }
    };
}

async fn signed_in(web: &Shared, headers: &HeaderMap, origin: &Origin) -> Result<Staff, Response> {
    web.staff(headers, origin).await
}

async fn posted(
    web: &Shared,
    headers: &HeaderMap,
    origin: &Origin,
    f: &Fields,
) -> Result<Staff, Response> {
    let staff = web.staff(headers, origin).await?;
    check_csrf(&staff, field(f, "csrf")).map_err(IntoResponse::into_response)?;
    Ok(staff)
}

async fn tz(web: &Shared, staff: &Staff) -> TimeZone {
    web.app
        .clinic(staff.user.clinic_id)
        .await
        .ok()
        .and_then(|c| TimeZone::get(&c.time_zone).ok())
        .unwrap_or(TimeZone::UTC)
}

fn name(p: &Patient) -> String {
    format!("{} {}", p.details.given_name, p.details.family_name)
}

fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

fn interaction_rows(list: &[screening::Interaction]) -> Vec<InteractionRow> {
    list.iter()
        .map(|i| InteractionRow {
            medication: i.medication.clone(),
            class: i.class.as_str().replace('_', " "),
            note: i.note,
            source: i.source,
        })
        .collect()
}

// ---- The course record ----

pub async fn course_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, cid)): Path<(String, String)>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let cid: CourseId = page!(id(&cid));
    let rec = app!(web.app.course_record(&staff, pid, cid).await);
    let p = app!(web.app.patient(&staff, pid).await);
    let tz = tz(&web, &staff).await;
    let screening = rec.screening.as_ref().map(|s| {
        format!(
            "{} — signed {}",
            s.input.decision.as_str().replace('_', " "),
            local(s.signed_at, &tz)
        )
    });
    let consent = rec
        .consents
        .iter()
        .rev()
        .find(|c| c.revoked_at.is_none())
        .map(|c| format!("version {} signed {}", c.version, local(c.signed_at, &tz)));
    render(
        StatusCode::OK,
        &CoursePage {
            layout: web.layout(&staff).await,
            patient_id: pid.to_string(),
            patient_name: name(&p),
            course_id: cid.to_string(),
            title: format!(
                "{} · {}",
                rec.course.indication.as_str().to_uppercase(),
                rec.course.protocol
            ),
            status: rec.course.status.as_str().replace('_', " "),
            screening,
            consent,
            encounters: rec
                .encounters
                .iter()
                .map(|e| EncounterLink {
                    href: format!("/patients/{pid}/encounters/{}", e.id),
                    label: format!("{} {}", e.kind.as_str().replace('_', "-"), e.sequence),
                    status: e.status.as_str().into(),
                    when: e
                        .occurred_at
                        .or(e.planned_for)
                        .map(|t| local(t, &tz))
                        .unwrap_or_default(),
                })
                .collect(),
        },
    )
}

// ---- Screening and medications ----

async fn screening_response(
    web: &Shared,
    staff: &Staff,
    pid: PatientId,
    cid: CourseId,
    status: StatusCode,
) -> Response {
    let view = app!(web.app.screening_view(staff, cid).await);
    if view.course.patient_id != pid {
        return fail(AppError::NotFound);
    }
    let p = app!(web.app.patient(staff, pid).await);
    let tz = tz(web, staff).await;
    let off = &view.policy.precautions_off;
    render(
        status,
        &ScreeningPage {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            patient_id: pid.to_string(),
            patient_name: name(&p),
            course_id: cid.to_string(),
            conditions: CONDITIONS
                .iter()
                .filter(|c| c.kind == Kind::Hard || !off.iter().any(|o| o == c.id))
                .map(|c| ConditionRow {
                    id: c.id,
                    label: c.label,
                    hard: c.kind == Kind::Hard,
                    source: c.source,
                })
                .collect(),
            medications: med_rows(&view.medications),
            interactions: interaction_rows(&view.interactions),
            classes: DrugClass::IDS.to_vec(),
            pregnancy: PregnancyStatus::IDS.to_vec(),
            signed: view.screening.as_ref().map(|s| {
                format!(
                    "Decision: {} — signed {}; weight {} kg; {}",
                    s.input.decision.as_str().replace('_', " "),
                    local(s.signed_at, &tz),
                    s.input.weight_kg,
                    s.input.vitals.summary()
                )
            }),
            findings: view
                .screening
                .as_ref()
                .map(|s| {
                    s.input
                        .findings
                        .iter()
                        .filter(|f| f.present)
                        .map(|f| FindingRow {
                            label: screening::condition(&f.id)
                                .map_or(f.id.clone(), |c| c.label.into()),
                            reason: f.override_reason.clone().unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            can_sign: staff.role() == Role::Prescriber,
        },
    )
}

fn med_rows(meds: &[MedicationRecord]) -> Vec<MedRow> {
    meds.iter()
        .map(|m| MedRow {
            id: m.id.to_string(),
            name: m.medication.name.clone(),
            dose: m.medication.dose.clone().unwrap_or_default(),
            classes: m.medication.classes.join(", ").replace('_', " "),
            hold: m.medication.hold.clone().unwrap_or_default(),
        })
        .collect()
}

pub async fn screening_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, cid)): Path<(String, String)>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let cid: CourseId = page!(id(&cid));
    screening_response(&web, &staff, pid, cid, StatusCode::OK).await
}

pub async fn sign_screening(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, cid)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    let cid: CourseId = page!(id(&cid));
    let course = app!(web.app.course_record(&staff, pid, cid).await).course;
    let keys: Vec<(String, String)> = CONDITIONS
        .iter()
        .map(|c| (format!("c.{}", c.id), format!("r.{}", c.id)))
        .collect();
    let answers: Vec<(&str, &str, &str)> = CONDITIONS
        .iter()
        .zip(&keys)
        .filter(|(_, (c, _))| f.iter().any(|(k, _)| k == c))
        .map(|(cond, (c, r))| (cond.id, field(&f, c), field(&f, r)))
        .collect();
    let form = ScreeningForm {
        answers,
        pregnancy_status: field(&f, "pregnancy_status"),
        weight_kg: field(&f, "weight_kg"),
        vitals: VitalsInput {
            systolic: field(&f, "systolic"),
            diastolic: field(&f, "diastolic"),
            heart_rate: field(&f, "heart_rate"),
            spo2: field(&f, "spo2"),
            resp_rate: field(&f, "resp_rate"),
        },
        decision: field(&f, "decision"),
        notes: field(&f, "notes"),
    };
    match web.app.sign_screening(&staff, course.id, &form).await {
        Ok(_) => see_other(format!("/patients/{pid}/courses/{cid}/screening")),
        Err(e) => fail(e),
    }
}

/// Where to go back to after a medication change: a page of this patient, or the chart.
fn back(f: &Fields, pid: PatientId) -> String {
    let b = field(f, "back");
    let prefix = format!("/patients/{pid}/");
    if b.starts_with(&prefix)
        && !b.contains("//")
        && b.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_".contains(c))
    {
        b.to_string()
    } else {
        format!("/patients/{pid}")
    }
}

pub async fn add_medication(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    let classes = all(&f, "class");
    app!(
        web.app
            .add_medication(
                &staff,
                pid,
                field(&f, "name"),
                field(&f, "dose"),
                &classes,
                field(&f, "hold")
            )
            .await
    );
    see_other(back(&f, pid))
}

pub async fn stop_medication(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, mid)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    let mid: MedicationId = page!(id(&mid));
    app!(web.app.stop_medication(&staff, pid, mid).await);
    see_other(back(&f, pid))
}

// ---- Consent ----

pub async fn consents_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let consents = app!(web.app.consents(&staff, pid).await);
    let p = app!(web.app.patient(&staff, pid).await);
    let docs = app!(web.app.consent_documents(&staff).await);
    let tz = tz(&web, &staff).await;
    render(
        StatusCode::OK,
        &ConsentsPage {
            layout: web.layout(&staff).await,
            csrf: staff.session.csrf_token.clone(),
            patient_id: pid.to_string(),
            patient_name: name(&p),
            documents: docs
                .iter()
                .map(|d| {
                    (
                        d.id.to_string(),
                        format!("{} — version {}", d.title, d.version),
                    )
                })
                .collect(),
            consents: consents
                .iter()
                .map(|c| ConsentRow {
                    id: c.id.to_string(),
                    version: c.version.clone(),
                    signer: c.signer_name.clone(),
                    witness: c.witness_name.clone(),
                    signed_at: local(c.signed_at, &tz),
                    revoked: c.revoked_at.map(|t| {
                        format!(
                            "revoked {}: {}",
                            local(t, &tz),
                            c.revocation_reason.clone().unwrap_or_default()
                        )
                    }),
                })
                .collect(),
            now: input_value(Timestamp::now(), &tz),
        },
    )
}

pub async fn sign_consent(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    app!(
        web.app
            .sign_consent(
                &staff,
                pid,
                field(&f, "document"),
                field(&f, "signer_name"),
                field(&f, "witness_name"),
                field(&f, "signed_at"),
            )
            .await
    );
    see_other(format!("/patients/{pid}/consents"))
}

pub async fn revoke_consent(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, cid)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    let cid: ConsentId = page!(id(&cid));
    app!(
        web.app
            .revoke_consent(&staff, pid, cid, field(&f, "reason"))
            .await
    );
    see_other(format!("/patients/{pid}/consents"))
}

// ---- Encounters ----

/// The encounter page, with an optional message from a refused entry.
async fn encounter_response(
    web: &Shared,
    staff: &Staff,
    pid: PatientId,
    eid: EncounterId,
    error: Option<(StatusCode, String)>,
) -> Response {
    let rec = app!(web.app.encounter_record(staff, eid).await);
    if rec.encounter.patient_id != pid {
        return fail(AppError::NotFound);
    }
    let p = app!(web.app.patient(staff, pid).await);
    // The course, its eligibility decision (the weight), the medications with their interaction
    // notes, and the dosing rules — without the course's other encounters or the consents.
    let course = app!(web.app.screening_view(staff, rec.encounter.course_id).await);
    let policy = &course.policy;
    let tz = tz(web, staff).await;
    let now = Timestamp::now();
    let e = &rec.encounter;
    let route = rec
        .administrations
        .first()
        .map(|a| a.dose.route)
        .or(course.course.planned_route)
        .unwrap_or(Route::Sublingual);
    let weight = course
        .screening
        .as_ref()
        .map(|s| s.input.weight_kg.to_string())
        .unwrap_or_default();
    let names = app!(web.app.staff_names(staff).await);
    let who = |u: &UserId| names.get(u).cloned().unwrap_or_default();
    let dosing = (e.kind == EncounterKind::Dosing)
        .then(|| dosing_view(web, &rec, policy, route, now, &tz, &who));
    let (status, error) = match error {
        Some((s, m)) => (s, Some(m)),
        None => (StatusCode::OK, None),
    };
    let kind = match e.kind {
        EncounterKind::Preparation => "preparation",
        EncounterKind::Dosing => "dosing",
        EncounterKind::Integration => "integration",
        EncounterKind::FollowUp => "follow_up",
    };
    render(
        status,
        &EncounterPage {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            patient_id: pid.to_string(),
            patient_name: name(&p),
            encounter_id: eid.to_string(),
            course_id: e.course_id.to_string(),
            title: format!(
                "{} session {}",
                e.kind.as_str().replace('_', "-"),
                e.sequence
            ),
            kind,
            error,
            signed: rec
                .signed
                .map(|(u, t)| format!("{} by {}", local(t, &tz), who(&u))),
            note: rec
                .note
                .as_ref()
                .map(|n| n.body.clone())
                .unwrap_or_default(),
            preparation: rec
                .note
                .as_ref()
                .and_then(|n| n.preparation.clone())
                .unwrap_or_default(),
            addenda: rec
                .addenda
                .iter()
                .map(|a| AddendumRow {
                    by: who(&a.author_id),
                    when: local(a.created_at, &tz),
                    body: a.body.clone(),
                })
                .collect(),
            interactions: interaction_rows(&course.interactions),
            dosing,
            now: input_value(now, &tz),
            weight,
            routes: Route::IDS.to_vec(),
            drugs: Drug::IDS.to_vec(),
            formulations: Formulation::ALL
                .iter()
                .filter(|f| **f != Formulation::Unrecorded)
                .map(|f| f.as_str())
                .collect(),
            terms: AeTerm::IDS.to_vec(),
            severities: Severity::IDS.to_vec(),
            actions: AeAction::IDS.to_vec(),
            outcomes: AeOutcome::IDS.to_vec(),
            measures: Measure::IDS.to_vec(),
            planned_route: route.as_str(),
            planned_formulation: rec
                .administrations
                .last()
                .map(|a| a.dose.formulation)
                .or_else(|| Formulation::for_route(route).first().copied())
                .map_or("", |f| f.as_str()),
        },
    )
}

fn minutes_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().div_euclid(60)
}

fn dosing_view(
    web: &Shared,
    rec: &EncounterRecord,
    policy: &DosingPolicy,
    route: Route,
    now: Timestamp,
    tz: &TimeZone,
    who: &dyn Fn(&UserId) -> String,
) -> DosingView {
    let first = rec.administrations.first().map(|a| a.given_at);
    let given: Vec<(Timestamp, Route)> = rec
        .administrations
        .iter()
        .map(|a| (a.given_at, a.dose.route))
        .collect();
    let earliest = policy.earliest_discharge(&given);
    let session = rec.dosing.as_ref();
    let discharged = session.and_then(|s| s.discharged_at);
    let end = discharged.unwrap_or(now);
    let offset = |t: Timestamp| first.map_or(0, |f| minutes_between(f, t));
    let doses: Vec<i64> = rec
        .administrations
        .iter()
        .map(|a| offset(a.given_at))
        .collect();
    let clock_svg = clock_svg(
        route,
        &doses,
        first.map(|f| minutes_between(f, end)),
        first.zip(earliest).map(|(f, e)| minutes_between(f, e)),
    );
    let limits = policy.limits;
    DosingView {
        started: session.is_some(),
        started_at: session
            .map(|s| local(s.start.started_at, tz))
            .unwrap_or_default(),
        checklist: session
            .map(|s| {
                let c = &s.start.checklist;
                let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
                let mut rows = vec![
                    ("Fasting".to_string(), yes(c.fasting)),
                    ("Escort confirmed".into(), yes(c.escort_confirmed)),
                    ("Pre-dose vitals".into(), s.start.predose.summary()),
                    ("Eye mask".into(), yes(s.start.setting.eye_mask)),
                    ("Music".into(), yes(s.start.setting.music)),
                ];
                for (label, v) in [
                    ("Held medications", &c.held_medications),
                    ("Proceeding above the BP gate because", &c.bp_override),
                    ("Position", &s.start.setting.position),
                    ("Present", &s.start.setting.present),
                    ("Intention", &s.start.setting.intention),
                ] {
                    if let Some(v) = v {
                        rows.push((label.to_string(), v.clone()));
                    }
                }
                rows
            })
            .unwrap_or_default(),
        doses: rec
            .administrations
            .iter()
            .map(|a| DoseRow {
                by: a
                    .given_by
                    .as_ref()
                    .map_or_else(|| "not recorded".into(), who),
                time: local(a.given_at, tz),
                minutes: offset(a.given_at),
                what: format!(
                    "{} · {} · {}",
                    a.dose.drug.as_str().replace('_', " "),
                    a.dose.route.as_str().replace('_', " "),
                    a.dose.formulation.as_str().replace('_', " ")
                ),
                mg: format!(
                    "{} mg (weight used {} kg)",
                    a.dose.dose_mg, a.dose.weight_kg
                ),
                mg_per_kg: administration::format_mg_per_kg(a.dose.dose_mg, a.dose.weight_kg),
                lot: a.dose.lot.clone().unwrap_or_default(),
            })
            .collect(),
        vitals: rec
            .vitals
            .iter()
            .map(|v| {
                let o = |x: Option<i64>| x.map(|n| n.to_string()).unwrap_or_default();
                VitalRow {
                    time: local(v.taken_at, tz),
                    minutes: first
                        .map(|_| offset(v.taken_at).to_string())
                        .unwrap_or_default(),
                    bp: match (v.vitals.systolic, v.vitals.diastolic) {
                        (Some(s), Some(d)) => format!("{s}/{d}"),
                        _ => String::new(),
                    },
                    hr: o(v.vitals.heart_rate),
                    spo2: o(v.vitals.spo2),
                    rr: o(v.vitals.resp_rate),
                    over: !limits.breaches(&v.vitals).is_empty(),
                }
            })
            .collect(),
        observations: rec
            .observations
            .iter()
            .map(|o| ObservationRow {
                time: local(o.observed_at, tz),
                measure: o.measure.as_str().into(),
                value: o.value,
            })
            .collect(),
        events: rec
            .adverse_events
            .iter()
            .map(|a| EventRow {
                term: match &a.event.description {
                    Some(d) => format!("{} ({d})", a.event.term.replace('_', " ")),
                    None => a.event.term.replace('_', " "),
                },
                severity: a.event.severity.replace('_', " "),
                onset: a.event.onset_minutes,
                action: a.event.action.replace('_', " "),
                outcome: a.event.outcome.replace('_', " "),
                stopped: a.event.session_stopped,
            })
            .collect(),
        clock_svg,
        clock_note: pk::kinetics(route).source.to_string(),
        discharge_from: earliest.map(|t| local(t, tz)),
        discharge_wait: earliest
            .filter(|t| *t > now && discharged.is_none())
            .map(|t| (t.duration_since(now).as_secs() + 59) / 60),
        discharged: session.and_then(|s| {
            Some(format!(
                "{} — escort {}; criteria met; no-driving advice given",
                local(s.discharged_at?, tz),
                s.discharge.as_ref()?.escort_name
            ))
        }),
        esketamine: rec
            .administrations
            .iter()
            .any(|a| a.dose.drug == Drug::Esketamine),
        cadss: web
            .app
            .library()
            .get(SESSION_QUESTIONNAIRE)
            .map(|inst| {
                inst.items
                    .iter()
                    .map(|item| {
                        let options = match &item.answers {
                            AnswerSet::Options(o) => {
                                o.iter().map(|o| (o.value, o.label.clone())).collect()
                            }
                            AnswerSet::Range { min, max, .. } => {
                                (*min..=*max).map(|v| (v, v.to_string())).collect()
                            }
                        };
                        QuestionItem {
                            name: format!("item{}", item.number),
                            label: item.text.clone(),
                            options,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        questionnaires: rec
            .questionnaires
            .iter()
            .map(|q| {
                (
                    local(q.administered_at, tz),
                    web.app.library().short_name(&q.instrument),
                    q.total
                        .map_or_else(|| "incomplete".into(), |t| format!("total {t}")),
                )
            })
            .collect(),
        limits: format!(
            "BP {}–{}/{}–{} mmHg, HR {}–{}/min, SpO2 ≥ {} %, RR {}–{}/min",
            limits.systolic_min,
            limits.systolic_max,
            limits.diastolic_min,
            limits.diastolic_max,
            limits.heart_rate_min,
            limits.heart_rate_max,
            limits.spo2_min,
            limits.resp_rate_min,
            limits.resp_rate_max
        ),
    }
}

use kapstone_app::clinical::dosing::pk;

/// The questionnaire given during a dosing session.
const SESSION_QUESTIONNAIRE: &str = "cadss6";

pub async fn encounter_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, eid)): Path<(String, String)>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let eid: EncounterId = page!(id(&eid));
    encounter_response(&web, &staff, pid, eid, None).await
}

/// Every write to an encounter: one handler, so each path refuses a signed encounter the same
/// way (the store refuses; this only chooses the page to show).
pub async fn encounter_action(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, eid, action)): Path<(String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    let eid: EncounterId = page!(id(&eid));
    let e = app!(web.app.encounter_for(&staff, eid).await);
    if e.patient_id != pid {
        return fail(AppError::NotFound);
    }
    let done = apply(&web.app, &staff, &e, &action, &f).await;
    match done {
        Ok(()) => see_other(format!("/patients/{pid}/encounters/{eid}#record")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = if matches!(e, AppError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            encounter_response(&web, &staff, pid, eid, Some((status, e.to_string()))).await
        }
        Err(e) => fail(e),
    }
}

/// Applies one write to an encounter from named text fields (a form, or the API's JSON turned
/// into fields), so the page and the API share every write path.
pub(crate) async fn apply(
    app: &kapstone_app::App,
    staff: &Staff,
    e: &Encounter,
    action: &str,
    f: &Fields,
) -> Result<(), AppError> {
    let eid = e.id;
    let vitals = || VitalsInput {
        systolic: field(f, "systolic"),
        diastolic: field(f, "diastolic"),
        heart_rate: field(f, "heart_rate"),
        spo2: field(f, "spo2"),
        resp_rate: field(f, "resp_rate"),
    };
    match action {
        "note" => {
            let prep = (e.kind == EncounterKind::Preparation).then(|| Preparation {
                intentions: field(f, "intentions").into(),
                skills: field(f, "skills").into(),
                support_person: field(f, "support_person").into(),
                support_contact: field(f, "support_contact").into(),
                integration_plan: field(f, "integration_plan").into(),
            });
            app.save_note(staff, eid, field(f, "note"), prep.as_ref())
                .await
        }
        "sign" => app.sign_encounter(staff, eid).await,
        "addenda" => app
            .add_addendum(staff, eid, field(f, "addendum"))
            .await
            .map(drop),
        "start" => {
            let form = StartForm {
                started_at: field(f, "started_at"),
                fasting: ticked(f, "fasting"),
                escort_confirmed: ticked(f, "escort_confirmed"),
                held_medications: field(f, "held_medications"),
                bp_override: field(f, "bp_override"),
                predose: vitals(),
                eye_mask: ticked(f, "eye_mask"),
                music: ticked(f, "music"),
                position: field(f, "position"),
                present: field(f, "present"),
                intention: field(f, "intention"),
            };
            app.start_dosing(staff, eid, &form).await
        }
        "doses" => {
            let input = DoseInput {
                drug: field(f, "drug"),
                route: field(f, "route"),
                formulation: field(f, "formulation"),
                dose_mg: field(f, "dose_mg"),
                weight_kg: field(f, "weight_kg"),
                lot: field(f, "lot"),
            };
            app.add_administration(staff, eid, &input, field(f, "given_at"))
                .await
                .map(drop)
        }
        "vitals" => app
            .add_vitals(staff, eid, field(f, "taken_at"), &vitals())
            .await
            .map(drop),
        "observations" => app
            .add_observation(
                staff,
                eid,
                field(f, "observed_at"),
                field(f, "measure"),
                field(f, "value"),
            )
            .await
            .map(drop),
        "cadss6" => {
            let inst = app
                .library()
                .get(SESSION_QUESTIONNAIRE)
                .ok_or_else(|| AppError::Internal("cadss6 missing from the library".into()))?;
            let mut values = Vec::new();
            for item in &inst.items {
                let name = format!("item{}", item.number);
                let raw = field(f, &name).trim();
                values.push(if raw.is_empty() {
                    None
                } else {
                    Some(raw.parse::<i64>().map_err(|_| {
                        AppError::invalid(
                            name.clone(),
                            format!("'{raw}' is not one of the item's answers"),
                        )
                    })?)
                });
            }
            app.record_session_assessment(
                staff,
                eid,
                SESSION_QUESTIONNAIRE,
                &values,
                field(f, "administered_at"),
            )
            .await
            .map(drop)
        }
        "adverse-events" => {
            let input = AdverseEventInput {
                term: field(f, "term"),
                description: field(f, "description"),
                severity: field(f, "severity"),
                onset_minutes: field(f, "onset_minutes"),
                action: field(f, "action"),
                outcome: field(f, "outcome"),
                session_stopped: ticked(f, "session_stopped"),
                serious: ticked(f, "serious"),
            };
            app.add_adverse_event(staff, eid, &input).await.map(drop)
        }
        "discharge" => {
            app.discharge(
                staff,
                eid,
                field(f, "discharged_at"),
                ticked(f, "criteria_met"),
                field(f, "escort_name"),
                ticked(f, "no_driving_advice"),
            )
            .await
        }
        _ => Err(AppError::NotFound),
    }
}

/// The Spravato REMS patient monitoring form's fields, filled from the session record, to print.
pub async fn rems_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path((pid, eid)): Path<(String, String)>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let eid: EncounterId = page!(id(&eid));
    let rec = app!(web.app.encounter_record(&staff, eid).await);
    if rec.encounter.patient_id != pid {
        return fail(AppError::NotFound);
    }
    let p = app!(web.app.patient(&staff, pid).await);
    let meds = app!(web.app.medications(&staff, pid).await);
    let tz = tz(&web, &staff).await;
    let Some(session) = rec.dosing.as_ref() else {
        return fail(AppError::invalid(
            "dosing",
            "this session has no dosing record",
        ));
    };
    let has = |class: &str| {
        meds.iter()
            .any(|m| m.medication.classes.iter().any(|c| c == class))
    };
    let first = rec.administrations.first().map(|a| a.given_at);
    let bp_of = |v: &Vitals| match (v.systolic, v.diastolic) {
        (Some(s), Some(d)) => format!("{s}/{d} mmHg"),
        _ => "not recorded".into(),
    };
    let near = |target: Timestamp| {
        rec.vitals
            .iter()
            .filter(|v| v.vitals.systolic.is_some())
            .min_by_key(|v| v.taken_at.duration_since(target).as_secs().abs())
            .map(|v| format!("{} at {}", bp_of(&v.vitals), local(v.taken_at, &tz)))
            .unwrap_or_else(|| "not recorded".into())
    };
    let last_vitals = rec.vitals.last();
    let limits = app!(web.app.dosing_policy(&staff).await).limits;
    let total: f64 = rec
        .administrations
        .iter()
        .filter(|a| a.dose.drug == Drug::Esketamine)
        .map(|a| a.dose.dose_mg)
        .sum();
    let events: Vec<String> = rec
        .adverse_events
        .iter()
        .map(|a| {
            format!(
                "{} ({}), {} min after the first dose",
                a.event.term.replace('_', " "),
                a.event.severity,
                a.event.onset_minutes
            )
        })
        .collect();
    let term_seen = |terms: &[&str]| {
        if rec
            .adverse_events
            .iter()
            .any(|a| terms.contains(&a.event.term.as_str()))
        {
            "yes — see events".to_string()
        } else {
            "none recorded".to_string()
        }
    };
    render(
        StatusCode::OK,
        &RemsPage {
            layout: Layout::bare(web.synthetic),
            patient_name: name(&p),
            birth_date: p.details.birth_date.to_string(),
            sex: p.details.sex.as_str().into(),
            treatment_date: local(session.start.started_at, &tz),
            clinician: staff.user.display_name.clone(),
            setting: "Healthcare setting (outpatient)".into(),
            concomitant: vec![
                ("Benzodiazepines", has("benzodiazepine")),
                (
                    "Non-benzodiazepine sedative hypnotics",
                    has("cns_depressant"),
                ),
                ("Psychostimulants", has("psychostimulant")),
                ("MAOIs", has("maoi")),
            ],
            dose: match total as i64 {
                56 => "56 mg".into(),
                84 => "84 mg".into(),
                _ => format!("other: {total} mg"),
            },
            lots: rec
                .administrations
                .iter()
                .filter_map(|a| a.dose.lot.clone())
                .collect::<Vec<_>>()
                .join(", "),
            total_minutes: match (first, session.discharged_at) {
                (Some(f), Some(d)) => format!("{} minutes", minutes_between(f, d)),
                _ => "monitoring not ended".into(),
            },
            ready_to_leave: session
                .discharged_at
                .map_or_else(|| "not yet discharged".into(), |t| local(t, &tz)),
            bp_predose: bp_of(&session.start.predose),
            bp_40: first.map_or_else(
                || "no dose given".into(),
                |f| near(f + jiff::SignedDuration::from_mins(40)),
            ),
            bp_discharge: last_vitals.map_or_else(
                || "not recorded".into(),
                |v| format!("{} at {}", bp_of(&v.vitals), local(v.taken_at, &tz)),
            ),
            vitals_ok_predose: if limits.breaches(&session.start.predose).is_empty() {
                "yes"
            } else {
                "no"
            }
            .into(),
            vitals_ok_discharge: last_vitals
                .map_or("not recorded", |v| {
                    if limits.breaches(&v.vitals).is_empty() {
                        "yes"
                    } else {
                        "no"
                    }
                })
                .into(),
            sedation: term_seen(&["sedation", "loss_of_consciousness"]),
            dissociation: term_seen(&["dissociation"]),
            respiratory: term_seen(&["respiratory_depression", "desaturation"]),
            events,
        },
    )
}

// ---- Psychotherapy notes ----

pub async fn psychotherapy_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    let pid: PatientId = page!(id(&pid));
    let notes = app!(web.app.my_psychotherapy_notes(&staff, pid).await);
    let p = app!(web.app.patient(&staff, pid).await);
    let tz = tz(&web, &staff).await;
    let mut resp = render(
        StatusCode::OK,
        &PsychotherapyPage {
            layout: web.layout(&staff).await,
            csrf: staff.session.csrf_token.clone(),
            patient_id: pid.to_string(),
            patient_name: name(&p),
            notes: notes
                .iter()
                .map(|n| NoteRow {
                    written: local(n.written_at, &tz),
                    // The one place a psychotherapy note's text is revealed: its author's page.
                    body: n.body.reveal().to_string(),
                })
                .collect(),
        },
    );
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

pub async fn write_psychotherapy_note(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Path(pid): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let pid: PatientId = page!(id(&pid));
    app!(
        web.app
            .write_psychotherapy_note(&staff, pid, field(&f, "body"))
            .await
    );
    see_other(format!("/patients/{pid}/psychotherapy-notes"))
}

// ---- Admin: consent documents and the clinic's dosing rules ----

pub async fn clinical_settings_page(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
) -> Response {
    let staff = page!(signed_in(&web, &headers, &origin).await);
    clinical_settings_response(&web, &staff, None).await
}

async fn clinical_settings_response(
    web: &Shared,
    staff: &Staff,
    error: Option<String>,
) -> Response {
    app!(
        web.app
            .check(staff, kapstone_app::policy::Action::ManageSettings, None)
            .await
    );
    let docs = app!(web.app.consent_documents(staff).await);
    let policy = app!(web.app.dosing_policy(staff).await);
    let l = policy.limits;
    render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &ClinicalSettingsPage {
            layout: web.layout(staff).await,
            csrf: staff.session.csrf_token.clone(),
            error,
            documents: docs
                .iter()
                .map(|d| format!("{} — version {}", d.title, d.version))
                .collect(),
            numbers: vec![
                ("systolic_max", "Systolic maximum (mmHg)", l.systolic_max),
                ("systolic_min", "Systolic minimum (mmHg)", l.systolic_min),
                ("diastolic_max", "Diastolic maximum (mmHg)", l.diastolic_max),
                ("diastolic_min", "Diastolic minimum (mmHg)", l.diastolic_min),
                (
                    "heart_rate_max",
                    "Heart rate maximum (/min)",
                    l.heart_rate_max,
                ),
                (
                    "heart_rate_min",
                    "Heart rate minimum (/min)",
                    l.heart_rate_min,
                ),
                ("spo2_min", "SpO2 minimum (%)", l.spo2_min),
                (
                    "resp_rate_max",
                    "Respiratory rate maximum (/min)",
                    l.resp_rate_max,
                ),
                (
                    "resp_rate_min",
                    "Respiratory rate minimum (/min)",
                    l.resp_rate_min,
                ),
                (
                    "predose_systolic_max",
                    "Pre-dose gate, systolic (mmHg)",
                    policy.predose_systolic_max,
                ),
                (
                    "predose_diastolic_max",
                    "Pre-dose gate, diastolic (mmHg)",
                    policy.predose_diastolic_max,
                ),
            ],
            observation: Route::ALL
                .iter()
                .map(|r| (r.as_str(), policy.observation_minutes(*r)))
                .collect(),
            precautions: CONDITIONS
                .iter()
                .filter(|c| c.kind == Kind::Relative)
                .map(|c| {
                    (
                        c.id,
                        c.label,
                        !policy.precautions_off.iter().any(|o| o == c.id),
                    )
                })
                .collect(),
        },
    )
}

pub async fn save_dosing_rules(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    let mut policy = app!(web.app.dosing_policy(&staff).await);
    let number = |name: &str| -> Result<i64, AppError> {
        field(&f, name).trim().parse().map_err(|_| {
            AppError::invalid(name, format!("'{}' is not a whole number", field(&f, name)))
        })
    };
    let parsed = (|| -> Result<(), AppError> {
        let l = &mut policy.limits;
        l.systolic_max = number("systolic_max")?;
        l.systolic_min = number("systolic_min")?;
        l.diastolic_max = number("diastolic_max")?;
        l.diastolic_min = number("diastolic_min")?;
        l.heart_rate_max = number("heart_rate_max")?;
        l.heart_rate_min = number("heart_rate_min")?;
        l.spo2_min = number("spo2_min")?;
        l.resp_rate_max = number("resp_rate_max")?;
        l.resp_rate_min = number("resp_rate_min")?;
        policy.predose_systolic_max = number("predose_systolic_max")?;
        policy.predose_diastolic_max = number("predose_diastolic_max")?;
        policy.precautions_off = CONDITIONS
            .iter()
            .filter(|c| c.kind == Kind::Relative && !ticked(&f, &format!("screen.{}", c.id)))
            .map(|c| c.id.to_string())
            .collect();
        for r in Route::ALL {
            let key = format!("observation.{}", r.as_str());
            policy
                .observation_minutes
                .insert(r.as_str().into(), number(&key)?);
        }
        Ok(())
    })();
    let saved = match parsed {
        Ok(()) => web.app.save_dosing_policy(&staff, &policy).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => see_other("/admin/clinical".into()),
        Err(e @ AppError::Invalid { .. }) => {
            clinical_settings_response(&web, &staff, Some(e.to_string())).await
        }
        Err(e) => fail(e),
    }
}

pub async fn add_consent_document(
    State(web): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    Form(f): Form<Fields>,
) -> Response {
    let staff = page!(posted(&web, &headers, &origin, &f).await);
    match web
        .app
        .add_consent_document(
            &staff,
            field(&f, "version"),
            field(&f, "title"),
            field(&f, "body"),
        )
        .await
    {
        Ok(_) => see_other("/admin/clinical".into()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            clinical_settings_response(&web, &staff, Some(e.to_string())).await
        }
        Err(e) => fail(e),
    }
}
