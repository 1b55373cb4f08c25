//! Page view-models: the only values templates see. Askama escapes every `{{ }}` by default;
//! the one `|safe` is the trend chart SVG, which escapes its own text.

use askama::Template;

#[derive(Debug, Clone)]
pub struct Nav {
    pub clinic_name: String,
    pub user_name: String,
    pub role: String,
    pub csrf: String,
    pub admin: bool,
    pub clinician: bool,
    /// Admins and researchers see the cohort outcomes.
    pub outcomes: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub synthetic: bool,
    pub nav: Option<Nav>,
    /// For admins, when no recent backup exists: what is wrong, in one sentence.
    pub backup_warning: Option<String>,
}

impl Layout {
    pub fn bare(synthetic: bool) -> Layout {
        Layout {
            synthetic,
            nav: None,
            backup_warning: None,
        }
    }
}

/// One row of the backups page.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "backups.html")]
pub struct Backups {
    pub layout: Layout,
    pub scheduled: bool,
    pub rows: Vec<BackupRow>,
    pub last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub layout: Layout,
    pub heading: String,
    pub body: String,
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignIn {
    pub layout: Layout,
    pub error: Option<String>,
    pub email: String,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct Mfa {
    pub layout: Layout,
    pub error: Option<String>,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "enrol.html")]
pub struct Enrol {
    pub layout: Layout,
    pub error: Option<String>,
    pub csrf: String,
    pub secret: String,
    pub uri: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodes {
    pub layout: Layout,
    pub codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct Setup {
    pub layout: Layout,
    pub error: Option<String>,
    pub token: String,
    pub name: String,
    pub email: String,
}

pub struct AlertRow {
    pub patient_id: String,
    pub patient_name: String,
    pub message: String,
    pub raised_at: String,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    pub layout: Layout,
    pub alerts: Vec<AlertRow>,
    pub overdue_minutes: i64,
}

pub struct PatientRow {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub mrn: String,
    pub birth_date: String,
}

#[derive(Template)]
#[template(path = "patients.html")]
pub struct Patients {
    pub layout: Layout,
    pub csrf: String,
    pub query: String,
    pub patients: Vec<PatientRow>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PatientFormData {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub postal_code: String,
    /// The care team that will treat the patient; empty means all of the user's teams.
    #[serde(default)]
    pub care_team: String,
}

#[derive(Template)]
#[template(path = "patient_form.html")]
pub struct PatientForm {
    pub layout: Layout,
    pub heading: String,
    pub action: String,
    pub csrf: String,
    pub error: Option<String>,
    pub form: PatientFormData,
    pub sexes: Vec<(&'static str, bool)>,
    /// (id, name, selected); empty when editing.
    pub teams: Vec<(String, String, bool)>,
    /// Admins must choose a team; clinicians may leave it to all of theirs.
    pub team_required: bool,
}

pub struct OpenAlert {
    pub id: String,
    pub message: String,
    pub raised_at: String,
    pub overdue: bool,
}

pub struct ClosedAlert {
    pub message: String,
    pub raised_at: String,
    pub acknowledged: String,
    pub note: String,
}

pub struct Badge {
    pub label: String,
    pub class: &'static str,
    pub definition: String,
}

pub struct ChangeView {
    pub baseline: String,
    pub latest: String,
    pub delta: String,
    pub badges: Vec<Badge>,
}

pub struct ChartView {
    pub title: String,
    pub svg: String,
    pub change: Option<ChangeView>,
}

pub struct DueRow {
    pub id: String,
    pub due_on: String,
    pub instrument: String,
    pub time_point: String,
    pub status: &'static str,
    /// The link can be e-mailed (a mail server is configured and the patient has an address).
    pub email: bool,
}

pub struct CourseView {
    pub id: String,
    pub indication: String,
    pub protocol: String,
    pub status: String,
    pub reason: Option<String>,
    pub next: Vec<&'static str>,
}

pub struct TimelineEntry {
    pub when: String,
    pub what: String,
}

#[derive(Template)]
#[template(path = "chart.html")]
pub struct ChartPage {
    pub layout: Layout,
    pub csrf: String,
    pub id: String,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub sex: String,
    pub open_alerts: Vec<OpenAlert>,
    pub closed_alerts: Vec<ClosedAlert>,
    pub charts: Vec<ChartView>,
    pub dues: Vec<DueRow>,
    pub courses: Vec<CourseView>,
    pub timeline: Vec<TimelineEntry>,
    pub timeline_total: usize,
    /// Opened through break-glass, not care-team membership.
    pub emergency: bool,
    pub indications: Vec<&'static str>,
    pub routes: Vec<&'static str>,
    pub templates: Vec<(&'static str, &'static str)>,
    pub today: String,
}

#[derive(Template)]
#[template(path = "link.html")]
pub struct LinkPage {
    pub layout: Layout,
    pub patient_id: String,
    pub patient_name: String,
    pub instrument: String,
    pub url: String,
    pub expires: String,
}

pub struct Question {
    pub number: u16,
    pub text: String,
    pub optional: bool,
    pub conditional: bool,
    pub range: bool,
    pub min: i64,
    pub max: i64,
    pub min_label: String,
    pub max_label: String,
    pub value: String,
    /// (value, label, checked)
    pub options: Vec<(i64, String, bool)>,
    pub error: bool,
}

#[derive(Template)]
#[template(path = "portal_form.html")]
pub struct PortalForm {
    pub layout: Layout,
    pub token: String,
    pub clinic_name: String,
    pub name: String,
    pub short_name: String,
    pub instructions: String,
    pub questions: Vec<Question>,
    /// (item number, message)
    pub errors: Vec<(u16, String)>,
}

#[derive(Template)]
#[template(path = "portal_done.html")]
pub struct PortalDone {
    pub layout: Layout,
    pub o: kapstone_app::portal::PortalOutcome,
}

#[derive(Template)]
#[template(path = "portal_received.html")]
pub struct PortalReceived {
    pub layout: Layout,
    pub r: kapstone_app::portal::PortalReceived,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct Settings {
    pub layout: Layout,
    pub csrf: String,
    pub error: Option<String>,
    pub saved: bool,
    pub clinic_name: String,
    pub time_zone: String,
    pub s: kapstone_app::model::ClinicSettings,
    pub roles: Vec<(&'static str, bool)>,
}

pub struct AuditRow {
    pub seq: i64,
    pub occurred_at: String,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub patient: String,
    pub origin: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct Audit {
    pub layout: Layout,
    /// (when, who, patient, reason, until)
    pub break_glass: Vec<(String, String, String, String, String)>,
    pub patient: String,
    pub actor: String,
    pub events: Vec<AuditRow>,
}

/// One staff member on the staff page.
pub struct StaffRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub teams: String,
    pub active: bool,
    /// The admin looking at the page (who may not deactivate themselves).
    pub is_me: bool,
    /// Waiting for a second admin: the name of the admin who asked for the account.
    pub awaiting: Option<String>,
    /// Whether the admin looking may approve it (anyone but the one who asked).
    pub may_approve: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
pub struct StaffPage {
    pub layout: Layout,
    pub csrf: String,
    pub error: Option<String>,
    /// (who was added, their set-up link), right after adding someone.
    pub link: Option<(String, String)>,
    pub staff: Vec<StaffRow>,
    pub roles: Vec<&'static str>,
    /// (id, name)
    pub teams: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin_patient.html")]
pub struct AdminPatient {
    pub layout: Layout,
    pub csrf: String,
    pub id: String,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub teams: Vec<String>,
    pub all_teams: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "emergency.html")]
pub struct Emergency {
    pub layout: Layout,
    pub csrf: String,
    pub error: Option<String>,
    pub mrn: String,
    pub reason: String,
    pub minutes: i64,
}
