//! View models of the clinical record pages (course, screening, consent, encounter, REMS form,
//! psychotherapy notes) and the dosing clock. Templates see only these values; askama escapes
//! them. The clock SVG is built here from numbers and fixed labels only.

use crate::views::Layout;
use askama::Template;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kapstone_app::clinical::course::Route;
use kapstone_app::clinical::dosing::pk;
use kapstone_app::model::*;

/// A time as clinic-local text for display.
pub fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A time as the value of a `datetime-local` input.
pub fn input_value(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

pub struct EncounterLink {
    pub href: String,
    pub label: String,
    pub status: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "course_record.html")]
pub struct CoursePage {
    pub layout: Layout,
    pub patient_id: String,
    pub patient_name: String,
    pub course_id: String,
    pub title: String,
    pub status: String,
    pub screening: Option<String>,
    pub consent: Option<String>,
    pub encounters: Vec<EncounterLink>,
}

pub struct ConditionRow {
    pub id: &'static str,
    pub label: &'static str,
    pub hard: bool,
    pub source: &'static str,
}

pub struct MedRow {
    pub id: String,
    pub name: String,
    pub dose: String,
    pub classes: String,
    pub hold: String,
}

pub struct InteractionRow {
    pub medication: String,
    pub class: String,
    pub note: &'static str,
    pub source: &'static str,
}

pub struct FindingRow {
    pub label: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "screening.html")]
pub struct ScreeningPage {
    pub layout: Layout,
    pub csrf: String,
    pub patient_id: String,
    pub patient_name: String,
    pub course_id: String,
    pub conditions: Vec<ConditionRow>,
    pub medications: Vec<MedRow>,
    pub interactions: Vec<InteractionRow>,
    pub classes: Vec<&'static str>,
    pub pregnancy: Vec<&'static str>,
    pub signed: Option<String>,
    pub findings: Vec<FindingRow>,
    pub can_sign: bool,
}

pub struct ConsentRow {
    pub id: String,
    pub version: String,
    pub signer: String,
    pub witness: String,
    pub signed_at: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "consents.html")]
pub struct ConsentsPage {
    pub layout: Layout,
    pub csrf: String,
    pub patient_id: String,
    pub patient_name: String,
    pub documents: Vec<(String, String)>,
    pub consents: Vec<ConsentRow>,
    pub now: String,
}

pub struct DoseRow {
    pub by: String,
    pub time: String,
    pub minutes: i64,
    pub what: String,
    pub mg: String,
    pub mg_per_kg: String,
    pub lot: String,
}

pub struct VitalRow {
    pub time: String,
    pub minutes: String,
    pub bp: String,
    pub hr: String,
    pub spo2: String,
    pub rr: String,
    pub over: bool,
}

pub struct ObservationRow {
    pub time: String,
    pub measure: String,
    pub value: i64,
}

pub struct EventRow {
    pub term: String,
    pub severity: String,
    pub onset: i64,
    pub action: String,
    pub outcome: String,
    pub stopped: bool,
}

pub struct AddendumRow {
    pub by: String,
    pub when: String,
    pub body: String,
}

/// One item of a questionnaire form: its field name, label and answer options.
pub struct QuestionItem {
    pub name: String,
    pub label: String,
    pub options: Vec<(i64, String)>,
}

/// The dosing part of the encounter page.
pub struct DosingView {
    pub started: bool,
    pub started_at: String,
    pub checklist: Vec<(String, String)>,
    pub doses: Vec<DoseRow>,
    pub vitals: Vec<VitalRow>,
    pub observations: Vec<ObservationRow>,
    pub events: Vec<EventRow>,
    pub clock_svg: String,
    pub clock_note: String,
    pub discharge_from: Option<String>,
    pub discharge_wait: Option<i64>,
    pub discharged: Option<String>,
    pub esketamine: bool,
    pub limits: String,
    /// The in-session questionnaire (CADSS-6).
    pub cadss: Vec<QuestionItem>,
    pub questionnaires: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "encounter.html")]
pub struct EncounterPage {
    pub layout: Layout,
    pub csrf: String,
    pub patient_id: String,
    pub patient_name: String,
    pub encounter_id: String,
    pub course_id: String,
    pub title: String,
    pub kind: &'static str,
    pub error: Option<String>,
    pub signed: Option<String>,
    pub note: String,
    pub preparation: Preparation,
    pub addenda: Vec<AddendumRow>,
    pub interactions: Vec<InteractionRow>,
    pub dosing: Option<DosingView>,
    pub now: String,
    pub weight: String,
    pub routes: Vec<&'static str>,
    pub drugs: Vec<&'static str>,
    pub formulations: Vec<&'static str>,
    pub terms: Vec<&'static str>,
    pub severities: Vec<&'static str>,
    pub actions: Vec<&'static str>,
    pub outcomes: Vec<&'static str>,
    pub measures: Vec<&'static str>,
    pub planned_route: &'static str,
    /// The last dose's formulation, or the route's first: what a booster most likely is.
    pub planned_formulation: &'static str,
}

#[derive(Template)]
#[template(path = "rems.html")]
pub struct RemsPage {
    pub layout: Layout,
    pub patient_name: String,
    pub birth_date: String,
    pub sex: String,
    pub treatment_date: String,
    pub clinician: String,
    pub setting: String,
    pub concomitant: Vec<(&'static str, bool)>,
    pub dose: String,
    pub lots: String,
    pub total_minutes: String,
    pub ready_to_leave: String,
    pub bp_predose: String,
    pub bp_40: String,
    pub bp_discharge: String,
    pub vitals_ok_predose: String,
    pub vitals_ok_discharge: String,
    pub sedation: String,
    pub dissociation: String,
    pub respiratory: String,
    pub events: Vec<String>,
}

pub struct NoteRow {
    pub written: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "psychotherapy.html")]
pub struct PsychotherapyPage {
    pub layout: Layout,
    pub csrf: String,
    pub patient_id: String,
    pub patient_name: String,
    pub notes: Vec<NoteRow>,
}

/// The session clock: minutes from the first dose on the x axis, the route's typical peak and
/// recovery windows as shaded bands labelled "typical, varies widely", each dose as a tick and
/// "now" as a line. Fixed text and numbers only, so no escaping is needed.
pub fn clock_svg(
    route: Route,
    doses: &[i64],
    elapsed: Option<i64>,
    observe_until: Option<i64>,
) -> String {
    let k = pk::kinetics(route);
    let span = [
        240,
        i64::from(k.recovery.to) + 30,
        elapsed.unwrap_or(0) + 30,
        observe_until.unwrap_or(0) + 30,
    ]
    .into_iter()
    .max()
    .unwrap_or(240);
    let (w, left, right) = (640.0_f64, 10.0_f64, 24.0_f64);
    #[allow(clippy::cast_precision_loss)] // minutes are small
    let x = |m: i64| left + (w - left - right) * (m as f64) / (span as f64);
    let mut s = format!(
        "<svg viewBox=\"0 0 {w} 112\" role=\"img\" aria-labelledby=\"clock-t\" class=\"clock\"><title id=\"clock-t\">Minutes since the first dose, with the {route} route's typical peak and recovery windows ({})</title>",
        pk::LABEL
    );
    // Each band's label on its own line above the bands, so neighbouring bands never overlap.
    let band = |s: &mut String, from: u32, to: u32, class: &str, label: &str, y: u32| {
        let (a, b) = (x(i64::from(from)), x(i64::from(to)));
        s.push_str(&format!(
            "<rect class=\"{class}\" x=\"{a:.1}\" y=\"26\" width=\"{:.1}\" height=\"36\"/><text x=\"{a:.1}\" y=\"{y}\" class=\"band-label\">{label} {from}–{to} min</text>",
            (b - a).max(1.0)
        ));
    };
    band(&mut s, k.peak.from, k.peak.to, "peak", "typical peak", 10);
    let (from, to) = (k.recovery.from, k.recovery.to);
    band(&mut s, from, to, "recovery", "typical recovery", 22);
    s.push_str(&format!(
        "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"62\" y2=\"62\" class=\"axis\"/>",
        x(0),
        x(span)
    ));
    let mut t = 0;
    while t <= span {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"76\" class=\"tick\">{t}</text>",
            x(t)
        ));
        t += 30;
    }
    for d in doses {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"28\" y2=\"62\" class=\"dose\"/>",
            x(*d)
        ));
    }
    if let Some(o) = observe_until {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"26\" y2=\"66\" class=\"observe\"/><text x=\"{0:.1}\" y=\"104\" class=\"tick\">observation minimum</text>",
            x(o)
        ));
    }
    if let Some(e) = elapsed {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"26\" y2=\"66\" class=\"now\"/><text x=\"{0:.1}\" y=\"90\" class=\"tick\">now {e} min</text>",
            x(e.min(span))
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"10\" class=\"tick\" text-anchor=\"end\">{}</text></svg>",
        x(span),
        pk::LABEL
    ));
    s
}

#[derive(Template)]
#[template(path = "clinical_settings.html")]
pub struct ClinicalSettingsPage {
    pub layout: Layout,
    pub csrf: String,
    pub error: Option<String>,
    pub documents: Vec<String>,
    pub numbers: Vec<(&'static str, &'static str, i64)>,
    pub observation: Vec<(&'static str, i64)>,
    /// Relative precautions: (id, label, screened).
    pub precautions: Vec<(&'static str, &'static str, bool)>,
}
