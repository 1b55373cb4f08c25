//! Clinical use cases for signed-in staff: patients, courses, the chart, alerts, settings and
//! the audit viewer. Each asks the policy first; a refusal is itself audited.

use crate::auth::Staff;
use crate::policy::{self, Action, Denied, Target};
use crate::{App, AppError};
use jiff::Timestamp;
use jiff::civil::Date;
use kapstone_clinical::bounds;
use kapstone_clinical::course::{CourseStatus, Indication, Route};
use kapstone_clinical::vocab::Role;
use kapstone_store::Owned;
use kapstone_store::model::*;

/// How many of the latest assessments the chart reads in full (for its timeline); the trend
/// charts draw every scored result from the compact series.
pub const CHART_RECENT: usize = 200;

/// Everything the patient chart shows.
#[derive(Debug, Clone)]
pub struct Chart {
    pub patient: Patient,
    pub courses: Vec<(Course, Vec<Encounter>)>,
    pub assessments: ChartAssessments,
    pub alerts: Vec<Alert>,
    pub dues: Vec<Due>,
}

/// An alert with whether it has waited past the clinic's limit.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: Alert,
    pub overdue: bool,
}

impl App {
    /// Asks the one policy function, auditing refusals. Unknown patients and patients outside
    /// the user's care teams look the same (not found), so a refusal reveals nothing.
    pub(crate) async fn allow(
        &self,
        staff: &Staff,
        action: Action,
        patient: Option<PatientId>,
    ) -> Result<(), AppError> {
        let target = match patient {
            None => Target::Clinic,
            Some(p) => {
                let clinic = staff.user.clinic_id;
                let in_care_team = self.store.in_care_team(clinic, staff.user.id, p).await?;
                let break_glass =
                    !in_care_team && self.store.has_break_glass(clinic, staff.user.id, p).await?;
                Target::Patient {
                    in_care_team,
                    break_glass,
                }
            }
        };
        match policy::authorize(staff.role(), action, target) {
            Ok(()) => Ok(()),
            Err(denied) => {
                self.store
                    .record(
                        &staff.ctx(),
                        "access.denied",
                        patient,
                        "policy",
                        None,
                        serde_json::json!({ "action": format!("{action:?}"), "reason": format!("{denied:?}") }),
                    )
                    .await?;
                Err(match (denied, patient) {
                    (Denied::Role, None) => AppError::Forbidden,
                    _ => AppError::NotFound,
                })
            }
        }
    }

    /// Asks the policy without doing anything else, for callers that must refuse before they
    /// even read a request body.
    pub async fn check(
        &self,
        staff: &Staff,
        action: Action,
        patient: Option<PatientId>,
    ) -> Result<(), AppError> {
        self.allow(staff, action, patient).await
    }

    fn scope(staff: &Staff) -> Scope {
        if staff.role() == Role::Admin {
            Scope::Clinic
        } else {
            Scope::CareTeamsOf(staff.user.id)
        }
    }

    pub async fn find_patients(
        &self,
        staff: &Staff,
        query: &str,
    ) -> Result<Vec<Patient>, AppError> {
        self.allow(staff, Action::ViewPatient, None).await?;
        let query = bounds::search_term("q", query)?;
        Ok(self
            .store
            .find_patients(&staff.ctx(), Self::scope(staff), &query, 100)
            .await?)
    }

    /// Registers a patient. A clinician's new patient joins the clinician's care teams, so the
    /// person who registered them can go on to treat them.
    pub async fn create_patient(
        &self,
        staff: &Staff,
        new: &NewPatient,
        team: Option<CareTeamId>,
    ) -> Result<Patient, AppError> {
        self.allow(staff, Action::CreatePatient, None).await?;
        let new = &NewPatient {
            mrn: new.mrn.clone(),
            details: new.details.cleaned(self.today(staff).await?)?,
        };
        let admin = staff.role() == Role::Admin;
        let allowed = if admin {
            self.store.teams(staff.user.clinic_id).await?
        } else {
            self.store
                .teams_of_user(staff.user.clinic_id, staff.user.id)
                .await?
        };
        let teams: Vec<CareTeamId> = match team {
            Some(t) if allowed.iter().any(|a| a.id == t) => vec![t],
            Some(_) => {
                return Err(AppError::invalid(
                    "care_team",
                    "choose one of your care teams",
                ));
            }
            None if admin => {
                return Err(AppError::invalid(
                    "care_team",
                    "choose the care team that will treat this patient (otherwise no clinician could see them)",
                ));
            }
            None => allowed.iter().map(|t| t.id).collect(),
        };
        if teams.is_empty() {
            return Err(AppError::invalid(
                "care_team",
                "you are not on a care team yet, so you could not see this patient; ask an admin to add you to one",
            ));
        }
        let p = self.store.create_patient(&staff.ctx(), new).await?;
        for t in teams {
            self.store.assign_patient(&staff.ctx(), t, p.id).await?;
        }
        Ok(p)
    }

    pub async fn patient(&self, staff: &Staff, id: PatientId) -> Result<Patient, AppError> {
        self.allow(staff, Action::ViewPatient, Some(id)).await?;
        Ok(self.store.patient(&staff.ctx(), id).await?)
    }

    pub async fn update_patient(
        &self,
        staff: &Staff,
        id: PatientId,
        details: &PatientDetails,
    ) -> Result<Patient, AppError> {
        self.allow(staff, Action::EditPatient, Some(id)).await?;
        let details = details.cleaned(self.today(staff).await?)?;
        Ok(self
            .store
            .update_patient(&staff.ctx(), id, &details)
            .await?)
    }

    pub async fn chart(&self, staff: &Staff, id: PatientId) -> Result<Chart, AppError> {
        self.allow(staff, Action::ViewChart, Some(id)).await?;
        let ctx = staff.ctx();
        let read = self.store.patient_chart(&ctx, id, CHART_RECENT).await?;
        let mut encounters = read.encounters;
        encounters.sort_by_key(|e| (e.occurred_at.or(e.planned_for), e.kind, e.sequence));
        let courses = read
            .courses
            .into_iter()
            .map(|c| {
                let mine = encounters
                    .iter()
                    .filter(|e| e.course_id == c.id)
                    .cloned()
                    .collect();
                (c, mine)
            })
            .collect();
        Ok(Chart {
            patient: read.patient,
            courses,
            assessments: read.assessments,
            alerts: read.alerts,
            dues: read.dues,
        })
    }

    /// Opens a course from a protocol template; the template plans its encounters and the
    /// assessment schedule from the intake date.
    pub async fn open_course(
        &self,
        staff: &Staff,
        patient: PatientId,
        indication: Indication,
        route: Option<Route>,
        template_id: &str,
        intake: Date,
    ) -> Result<Course, AppError> {
        self.allow(staff, Action::ManageCourse, Some(patient))
            .await?;
        let template = kapstone_clinical::protocol::template(template_id).ok_or_else(|| {
            let ids: Vec<&str> = kapstone_clinical::protocol::TEMPLATES
                .iter()
                .map(|t| t.id)
                .collect();
            AppError::invalid(
                "protocol",
                format!(
                    "'{template_id}' is not a protocol; allowed values: {}",
                    ids.join(", ")
                ),
            )
        })?;
        let intake = bounds::course_date("intake", intake, self.today(staff).await?)?;
        let plan = template.plan(indication, intake);
        Ok(self
            .store
            .open_course(
                &staff.ctx(),
                &NewCourse {
                    patient_id: patient,
                    indication,
                    planned_route: route,
                    protocol: template.id.into(),
                    plan,
                },
            )
            .await?)
    }

    pub async fn change_course_status(
        &self,
        staff: &Staff,
        course: CourseId,
        to: CourseStatus,
        reason: Option<&str>,
    ) -> Result<Course, AppError> {
        let c = self.course_for(staff, course).await?;
        self.allow(staff, Action::ManageCourse, Some(c.patient_id))
            .await?;
        Ok(self
            .store
            .change_course_status(&staff.ctx(), course, to, reason)
            .await?)
    }

    /// Finds a course's patient without reading the course for someone who may not see it.
    pub(crate) async fn course_for(
        &self,
        staff: &Staff,
        course: CourseId,
    ) -> Result<Course, AppError> {
        let patient = self
            .store
            .patient_of(staff.user.clinic_id, Owned::Course(course))
            .await?
            .ok_or(AppError::NotFound)?;
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.course(&staff.ctx(), course).await?)
    }

    /// A clinician enters a questionnaire (e.g. a clinician-rated HAM-A, or a form done on paper).
    /// The answers are checked against the instrument and scored; flags raise alerts.
    pub async fn record_assessment(
        &self,
        staff: &Staff,
        patient: PatientId,
        course: Option<CourseId>,
        instrument: &str,
        values: &[Option<i64>],
        time_point: &str,
    ) -> Result<RecordedAssessment, AppError> {
        self.allow(staff, Action::RecordAssessment, Some(patient))
            .await?;
        let inst = self.library.get(instrument).ok_or_else(|| {
            AppError::invalid(
                "instrument",
                format!(
                    "'{instrument}' is not in the library; allowed values: {}",
                    self.library.ids().join(", ")
                ),
            )
        })?;
        let answers = inst.answers(values).map_err(|e| match e.item() {
            Some(item) => AppError::invalid(format!("answers[{}]", item - 1), e.to_string()),
            None => AppError::invalid("answers", e.to_string()),
        })?;
        Ok(self
            .store
            .record_assessment(
                &staff.ctx(),
                &NewAssessment {
                    patient_id: patient,
                    course_id: course,
                    encounter_id: None,
                    response: inst.respond(answers),
                    time_point: time_point.to_string(),
                    administered_at: kapstone_store::model::now(),
                },
            )
            .await?)
    }

    pub async fn courses(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<Course>, AppError> {
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.courses_of(&staff.ctx(), patient).await?)
    }

    pub async fn assessment_points(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<AssessmentPoint>, AppError> {
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.assessment_points(&staff.ctx(), patient).await?)
    }

    /// Unacknowledged alerts the user may act on, oldest first, with overdue marked.
    pub async fn open_alerts(&self, staff: &Staff) -> Result<Vec<AlertView>, AppError> {
        self.allow(staff, Action::ViewAlertDashboard, None).await?;
        let alerts = self
            .store
            .open_alerts(&staff.ctx(), Self::scope(staff))
            .await?;
        let settings = self.store.settings(staff.user.clinic_id).await?;
        Ok(mark_overdue(
            alerts,
            settings.alert_overdue_minutes,
            kapstone_store::model::now(),
        ))
    }

    pub async fn acknowledge_alert(
        &self,
        staff: &Staff,
        patient: PatientId,
        alert: AlertId,
        note: &str,
    ) -> Result<Alert, AppError> {
        self.allow(staff, Action::AcknowledgeAlert, Some(patient))
            .await?;
        let alerts = self.store.alerts_of(&staff.ctx(), patient).await?;
        if !alerts.iter().any(|a| a.id == alert) {
            return Err(AppError::NotFound);
        }
        Ok(self
            .store
            .acknowledge_alert(&staff.ctx(), alert, note)
            .await?)
    }

    pub async fn overdue_minutes(&self, clinic: ClinicId) -> Result<i64, AppError> {
        Ok(self.store.settings(clinic).await?.alert_overdue_minutes)
    }

    pub async fn settings(&self, clinic: ClinicId) -> Result<ClinicSettings, AppError> {
        Ok(self.store.settings(clinic).await?)
    }

    pub async fn clinic(&self, clinic: ClinicId) -> Result<Clinic, AppError> {
        Ok(self.store.clinic(clinic).await?)
    }

    /// Saves the clinic's settings, name and time zone together. Every field is checked before
    /// anything is written, so one bad field leaves all of them as they were.
    pub async fn save_clinic_settings(
        &self,
        staff: &Staff,
        settings: &ClinicSettings,
        name: &str,
        time_zone: &str,
    ) -> Result<Clinic, AppError> {
        self.allow(staff, Action::ManageSettings, None).await?;
        let name = bounds::name("clinic_name", name)?;
        let time_zone = time_zone.trim();
        if jiff::tz::TimeZone::get(time_zone).is_err() {
            return Err(AppError::invalid(
                "time_zone",
                format!("'{time_zone}' is not an IANA time zone (e.g. America/New_York)"),
            ));
        }
        // The settings check their own fields before they write.
        self.store.save_settings(&staff.ctx(), settings).await?;
        Ok(self
            .store
            .update_clinic(&staff.ctx(), &name, time_zone)
            .await?)
    }

    pub async fn audit_events(
        &self,
        staff: &Staff,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, AppError> {
        self.allow(staff, Action::ViewAudit, None).await?;
        Ok(self
            .store
            .audit_events(staff.user.clinic_id, filter)
            .await?)
    }
}

/// Alerts older than the clinic's limit are overdue.
pub fn mark_overdue(alerts: Vec<Alert>, overdue_minutes: i64, at: Timestamp) -> Vec<AlertView> {
    alerts
        .into_iter()
        .map(|alert| {
            let overdue = alert.acknowledged_at.is_none()
                && at.duration_since(alert.raised_at)
                    >= jiff::SignedDuration::from_mins(overdue_minutes);
            AlertView { alert, overdue }
        })
        .collect()
}

/// Patient details as a person types them (form or API): dates as `YYYY-MM-DD`, sex as one of
/// its ids, blank optional fields as absent. Names are checked by the store.
pub struct PatientInput<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub birth_date: &'a str,
    pub sex: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub postal_code: Option<&'a str>,
}

impl PatientInput<'_> {
    pub fn parse(&self) -> Result<PatientDetails, AppError> {
        let birth_date = self
            .birth_date
            .trim()
            .parse::<jiff::civil::Date>()
            .map_err(|_| AppError::invalid("birth_date", "enter a date as YYYY-MM-DD"))?;
        let sex = kapstone_clinical::vocab::Sex::parse(self.sex.trim())
            .map_err(|e| AppError::invalid("sex", e.to_string()))?;
        let opt = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(PatientDetails {
            given_name: self.given_name.to_string(),
            family_name: self.family_name.to_string(),
            birth_date,
            sex,
            email: opt(self.email),
            phone: opt(self.phone),
            postal_code: opt(self.postal_code),
        })
    }
}

/// How long emergency access lasts.
pub const BREAK_GLASS_MINUTES: i64 = 60;

impl App {
    /// Break-glass: a clinician opens the record of a patient outside their care teams, found
    /// by exact record number, with a typed reason. The grant expires, is audited, and is listed
    /// for admins.
    pub async fn break_glass(
        &self,
        staff: &Staff,
        mrn: &str,
        reason: &str,
    ) -> Result<PatientId, AppError> {
        self.allow(staff, Action::EmergencyAccess, None).await?;
        let mrn = mrn.trim();
        if mrn.is_empty() {
            return Err(AppError::invalid(
                "mrn",
                "enter the patient's record number exactly",
            ));
        }
        let found = self
            .store
            .find_patients(&staff.ctx(), Scope::Clinic, mrn, 10)
            .await?;
        let patient = found
            .iter()
            .find(|p| p.mrn.eq_ignore_ascii_case(mrn))
            .ok_or_else(|| AppError::invalid("mrn", "no patient has that record number"))?;
        let expires =
            kapstone_store::model::now() + jiff::SignedDuration::from_mins(BREAK_GLASS_MINUTES);
        self.store
            .grant_break_glass(&staff.ctx(), patient.id, reason, expires)
            .await?;
        Ok(patient.id)
    }

    /// The user's live emergency access to a patient, if any (for the chart's banner).
    pub async fn break_glass_active(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<bool, AppError> {
        let clinic = staff.user.clinic_id;
        Ok(!self
            .store
            .in_care_team(clinic, staff.user.id, patient)
            .await?
            && self
                .store
                .has_break_glass(clinic, staff.user.id, patient)
                .await?)
    }

    /// Every emergency access, newest first, for admins.
    pub async fn break_glass_log(&self, staff: &Staff) -> Result<Vec<BreakGlass>, AppError> {
        self.allow(staff, Action::ViewAudit, None).await?;
        Ok(self
            .store
            .break_glass_log(staff.user.clinic_id, 500)
            .await?)
    }
}
