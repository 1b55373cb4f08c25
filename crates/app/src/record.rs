//! Use cases of the clinical record: screening and eligibility, medications, consent, the
//! dosing session, encounter notes (sign, lock, addenda) and psychotherapy notes. Input arrives
//! as typed text and becomes domain values here; each use case asks the policy first.

use crate::auth::Staff;
use crate::policy::Action;
use crate::{App, AppError};
use jiff::Timestamp;
use kapstone_clinical::dosing::FieldError;
use kapstone_clinical::dosing::administration::DoseInput;
use kapstone_clinical::dosing::events::AdverseEventInput;
use kapstone_clinical::dosing::screening::{self, Interaction};
use kapstone_clinical::dosing::vitals::VitalsInput;
use kapstone_store::Owned;
use kapstone_store::model::*;

/// The screening form as typed.
#[derive(Debug, Clone, Default)]
pub struct ScreeningForm<'a> {
    /// (condition id, "yes" | "no", override reason)
    pub answers: Vec<(&'a str, &'a str, &'a str)>,
    pub pregnancy_status: &'a str,
    pub weight_kg: &'a str,
    pub vitals: VitalsInput<'a>,
    pub decision: &'a str,
    pub notes: &'a str,
}

/// The pre-dose checklist form as typed.
#[derive(Debug, Clone, Default)]
pub struct StartForm<'a> {
    pub started_at: &'a str,
    pub fasting: bool,
    pub escort_confirmed: bool,
    pub held_medications: &'a str,
    pub bp_override: &'a str,
    pub predose: VitalsInput<'a>,
    pub eye_mask: bool,
    pub music: bool,
    pub position: &'a str,
    pub present: &'a str,
    pub intention: &'a str,
}

/// What the screening page shows.
#[derive(Debug, Clone)]
pub struct ScreeningView {
    pub course: Course,
    pub screening: Option<Screening>,
    pub medications: Vec<MedicationRecord>,
    pub interactions: Vec<Interaction>,
    pub policy: DosingPolicy,
}

fn text(field: &str, raw: &str, max: usize) -> Result<Option<String>, AppError> {
    Ok(kapstone_clinical::dosing::optional_text(field, raw, max)?)
}

/// The interaction notes for a medication list, shown at screening and before every dose.
fn interactions(meds: &[MedicationRecord]) -> Vec<Interaction> {
    meds.iter()
        .flat_map(|m| m.medication.interactions())
        .collect()
}

impl App {
    async fn clinic_tz(&self, staff: &Staff) -> Result<jiff::tz::TimeZone, AppError> {
        let clinic = self.store.clinic(staff.user.clinic_id).await?;
        jiff::tz::TimeZone::get(&clinic.time_zone)
            .map_err(|e| AppError::Internal(format!("time zone: {e}")))
    }

    /// Today's date where the clinic is.
    pub(crate) async fn today(&self, staff: &Staff) -> Result<jiff::civil::Date, AppError> {
        Ok(now().to_zoned(self.clinic_tz(staff).await?).date())
    }

    /// A local date-time of the dosing day as typed (`YYYY-MM-DDTHH:MM`, the clinic's time
    /// zone), within `bounds::event_time` of now; empty is now.
    pub async fn parse_local_time(
        &self,
        staff: &Staff,
        field: &str,
        raw: &str,
    ) -> Result<Timestamp, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(now());
        }
        let tz = self.clinic_tz(staff).await?;
        let dt: jiff::civil::DateTime = raw.parse().map_err(|_| {
            AppError::invalid(
                field,
                format!("'{raw}' is not a date and time; use YYYY-MM-DDTHH:MM (clinic time)"),
            )
        })?;
        let at = dt
            .to_zoned(tz)
            .map(|z| z.timestamp())
            .map_err(|e| AppError::invalid(field, e.to_string()))?;
        Ok(kapstone_clinical::bounds::event_time(field, at, now())?)
    }

    /// The encounter, for a user who may see its patient's chart.
    pub async fn encounter_for(
        &self,
        staff: &Staff,
        encounter: EncounterId,
    ) -> Result<Encounter, AppError> {
        // Whose it is first, unaudited: a refusal is then the only thing logged.
        let patient = self
            .store
            .patient_of(staff.user.clinic_id, Owned::Encounter(encounter))
            .await?
            .ok_or(AppError::NotFound)?;
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.encounter(&staff.ctx(), encounter).await?)
    }

    async fn encounter_may(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        action: Action,
    ) -> Result<Encounter, AppError> {
        let e = self.encounter_for(staff, encounter).await?;
        self.allow(staff, action, Some(e.patient_id)).await?;
        Ok(e)
    }

    pub async fn screening_view(
        &self,
        staff: &Staff,
        course: CourseId,
    ) -> Result<ScreeningView, AppError> {
        let ctx = staff.ctx();
        let c = self.course_for(staff, course).await?;
        let medications = self.store.medications(&ctx, c.patient_id).await?;
        Ok(ScreeningView {
            screening: self.store.screening(&ctx, course).await?,
            interactions: interactions(&medications),
            medications,
            policy: self.store.dosing_policy(&ctx).await?,
            course: c,
        })
    }

    pub async fn sign_screening(
        &self,
        staff: &Staff,
        course: CourseId,
        form: &ScreeningForm<'_>,
    ) -> Result<Screening, AppError> {
        let ctx = staff.ctx();
        let c = self.course_for(staff, course).await?;
        self.allow(staff, Action::SignEligibility, Some(c.patient_id))
            .await?;
        let policy = self.store.dosing_policy(&ctx).await?;
        let pregnancy = screening::PregnancyStatus::parse(form.pregnancy_status.trim())
            .map_err(FieldError::from)?;
        let decision =
            screening::Decision::parse(form.decision.trim()).map_err(FieldError::from)?;
        let findings =
            screening::check_decision(&form.answers, &policy.precautions_off, pregnancy, decision)?;
        let weight_kg = kapstone_clinical::dosing::administration::parse_weight(form.weight_kg)?;
        let vitals = Vitals::parse(&form.vitals)?;
        Ok(self
            .store
            .sign_screening(
                &ctx,
                course,
                &ScreeningInput {
                    findings,
                    pregnancy_status: pregnancy,
                    weight_kg,
                    vitals,
                    decision,
                    notes: text("notes", form.notes, 5000)?,
                },
            )
            .await?)
    }

    pub async fn medications(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<MedicationRecord>, AppError> {
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.medications(&staff.ctx(), patient).await?)
    }

    pub async fn add_medication(
        &self,
        staff: &Staff,
        patient: PatientId,
        name: &str,
        dose: &str,
        classes: &[&str],
        hold: &str,
    ) -> Result<MedicationRecord, AppError> {
        self.allow(staff, Action::RecordMedication, Some(patient))
            .await?;
        let m = Medication::parse(name, dose, classes, hold)?;
        Ok(self.store.add_medication(&staff.ctx(), patient, &m).await?)
    }

    pub async fn stop_medication(
        &self,
        staff: &Staff,
        patient: PatientId,
        id: MedicationId,
    ) -> Result<(), AppError> {
        self.allow(staff, Action::RecordMedication, Some(patient))
            .await?;
        let current = self.store.medications(&staff.ctx(), patient).await?;
        if !current.iter().any(|m| m.id == id) {
            return Err(AppError::NotFound);
        }
        Ok(self.store.stop_medication(&staff.ctx(), id).await?)
    }

    pub async fn consent_documents(&self, staff: &Staff) -> Result<Vec<ConsentDocument>, AppError> {
        Ok(self.store.consent_documents(&staff.ctx()).await?)
    }

    pub async fn add_consent_document(
        &self,
        staff: &Staff,
        version: &str,
        title: &str,
        body: &str,
    ) -> Result<ConsentDocument, AppError> {
        self.allow(staff, Action::ManageSettings, None).await?;
        Ok(self
            .store
            .add_consent_document(&staff.ctx(), version, title, body)
            .await?)
    }

    pub async fn consents(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<Consent>, AppError> {
        self.allow(staff, Action::ViewChart, Some(patient)).await?;
        Ok(self.store.consents(&staff.ctx(), patient).await?)
    }

    pub async fn sign_consent(
        &self,
        staff: &Staff,
        patient: PatientId,
        document: &str,
        signer: &str,
        witness: &str,
        signed_at: &str,
    ) -> Result<Consent, AppError> {
        self.allow(staff, Action::RecordConsent, Some(patient))
            .await?;
        let document_id = document
            .trim()
            .parse()
            .map(ConsentDocumentId)
            .map_err(|_| AppError::invalid("document", "choose a consent document version"))?;
        let signed_at = self.parse_local_time(staff, "signed_at", signed_at).await?;
        Ok(self
            .store
            .sign_consent(
                &staff.ctx(),
                &NewConsent {
                    patient_id: patient,
                    document_id,
                    signer_name: signer.to_string(),
                    witness_name: witness.to_string(),
                    signed_at,
                },
            )
            .await?)
    }

    pub async fn revoke_consent(
        &self,
        staff: &Staff,
        patient: PatientId,
        consent: ConsentId,
        reason: &str,
    ) -> Result<Consent, AppError> {
        self.allow(staff, Action::RecordConsent, Some(patient))
            .await?;
        let mine = self.store.consents(&staff.ctx(), patient).await?;
        if !mine.iter().any(|c| c.id == consent) {
            return Err(AppError::NotFound);
        }
        Ok(self
            .store
            .revoke_consent(&staff.ctx(), consent, reason)
            .await?)
    }

    pub async fn encounter_record(
        &self,
        staff: &Staff,
        encounter: EncounterId,
    ) -> Result<EncounterRecord, AppError> {
        self.encounter_for(staff, encounter).await?;
        Ok(self.store.encounter_record(&staff.ctx(), encounter).await?)
    }

    pub async fn save_note(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        body: &str,
        preparation: Option<&Preparation>,
    ) -> Result<(), AppError> {
        self.encounter_may(staff, encounter, Action::WriteNote)
            .await?;
        if let Some(p) = preparation {
            for (field, value) in [
                ("intentions", &p.intentions),
                ("skills", &p.skills),
                ("support_person", &p.support_person),
                ("support_contact", &p.support_contact),
                ("integration_plan", &p.integration_plan),
            ] {
                text(field, value, 5000)?;
            }
        }
        Ok(self
            .store
            .save_note(&staff.ctx(), encounter, body, preparation)
            .await?)
    }

    pub async fn sign_encounter(
        &self,
        staff: &Staff,
        encounter: EncounterId,
    ) -> Result<(), AppError> {
        self.encounter_may(staff, encounter, Action::WriteNote)
            .await?;
        Ok(self.store.sign_encounter(&staff.ctx(), encounter).await?)
    }

    pub async fn add_addendum(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        body: &str,
    ) -> Result<Addendum, AppError> {
        self.encounter_may(staff, encounter, Action::WriteNote)
            .await?;
        Ok(self
            .store
            .add_addendum(&staff.ctx(), encounter, body)
            .await?)
    }

    pub async fn start_dosing(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        form: &StartForm<'_>,
    ) -> Result<(), AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let predose = Vitals::parse(&form.predose)?;
        if predose.systolic.is_none() {
            return Err(AppError::invalid(
                "systolic",
                "a pre-dose blood pressure is required",
            ));
        }
        let started_at = self
            .parse_local_time(staff, "started_at", form.started_at)
            .await?;
        let start = DosingStart {
            started_at,
            checklist: Checklist {
                fasting: form.fasting,
                escort_confirmed: form.escort_confirmed,
                consent_current: true,
                held_medications: text("held_medications", form.held_medications, 1000)?,
                bp_override: text("bp_override", form.bp_override, 1000)?,
            },
            setting: Setting {
                eye_mask: form.eye_mask,
                music: form.music,
                position: text("position", form.position, 200)?,
                present: text("present", form.present, 500)?,
                intention: text("intention", form.intention, 2000)?,
            },
            predose,
        };
        Ok(self
            .store
            .start_dosing(&staff.ctx(), encounter, &start)
            .await?)
    }

    pub async fn add_administration(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        input: &DoseInput<'_>,
        given_at: &str,
    ) -> Result<Administration, AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let dose = Dose::parse(input)?;
        let at = self.parse_local_time(staff, "given_at", given_at).await?;
        Ok(self
            .store
            .add_administration(&staff.ctx(), encounter, &dose, at)
            .await?)
    }

    pub async fn add_vitals(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        taken_at: &str,
        input: &VitalsInput<'_>,
    ) -> Result<(VitalSign, Vec<Alert>), AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let vitals = Vitals::parse(input)?;
        let at = self.parse_local_time(staff, "taken_at", taken_at).await?;
        Ok(self
            .store
            .add_vitals(&staff.ctx(), encounter, at, &vitals)
            .await?)
    }

    pub async fn add_observation(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        observed_at: &str,
        measure: &str,
        value: &str,
    ) -> Result<Observation, AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let measure = Measure::parse(measure.trim()).map_err(FieldError::from)?;
        let value = measure.parse_value(value)?;
        let at = self
            .parse_local_time(staff, "observed_at", observed_at)
            .await?;
        Ok(self
            .store
            .add_observation(&staff.ctx(), encounter, at, measure, value)
            .await?)
    }

    /// A questionnaire given in the session (CADSS-6), linked to the encounter so it is locked
    /// with it.
    pub async fn record_session_assessment(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        instrument: &str,
        values: &[Option<i64>],
        administered_at: &str,
    ) -> Result<RecordedAssessment, AppError> {
        let e = self
            .encounter_may(staff, encounter, Action::RecordAssessment)
            .await?;
        let inst = self.library.get(instrument).ok_or_else(|| {
            AppError::invalid(
                "instrument",
                format!("'{instrument}' is not in the library"),
            )
        })?;
        let answers = inst.answers(values).map_err(|err| match err.item() {
            Some(item) => AppError::invalid(format!("item{item}"), err.to_string()),
            None => AppError::invalid("answers", err.to_string()),
        })?;
        let at = self
            .parse_local_time(staff, "administered_at", administered_at)
            .await?;
        Ok(self
            .store
            .record_assessment(
                &staff.ctx(),
                &NewAssessment {
                    patient_id: e.patient_id,
                    course_id: Some(e.course_id),
                    encounter_id: Some(encounter),
                    response: inst.respond(answers),
                    time_point: format!("{}_{}", e.kind.as_str(), e.sequence),
                    administered_at: at,
                },
            )
            .await?)
    }

    /// Staff display names by id, to say who recorded what (not patient data).
    pub async fn staff_names(
        &self,
        staff: &Staff,
    ) -> Result<std::collections::HashMap<UserId, String>, AppError> {
        Ok(self
            .store
            .users(staff.user.clinic_id)
            .await?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect())
    }

    pub async fn add_adverse_event(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        input: &AdverseEventInput<'_>,
    ) -> Result<AdverseEventRecord, AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let event = AdverseEvent::parse(input)?;
        Ok(self
            .store
            .add_adverse_event(&staff.ctx(), encounter, &event)
            .await?)
    }

    pub async fn discharge(
        &self,
        staff: &Staff,
        encounter: EncounterId,
        at: &str,
        criteria_met: bool,
        escort: &str,
        no_driving: bool,
    ) -> Result<(), AppError> {
        self.encounter_may(staff, encounter, Action::RecordDosing)
            .await?;
        let attestation = Discharge::parse(criteria_met, escort, no_driving)?;
        let at = self.parse_local_time(staff, "discharged_at", at).await?;
        Ok(self
            .store
            .discharge(&staff.ctx(), encounter, at, &attestation)
            .await?)
    }

    pub async fn dosing_policy(&self, staff: &Staff) -> Result<DosingPolicy, AppError> {
        Ok(self.store.dosing_policy(&staff.ctx()).await?)
    }

    pub async fn save_dosing_policy(
        &self,
        staff: &Staff,
        policy: &DosingPolicy,
    ) -> Result<(), AppError> {
        self.allow(staff, Action::ManageSettings, None).await?;
        Ok(self.store.save_dosing_policy(&staff.ctx(), policy).await?)
    }

    pub async fn write_psychotherapy_note(
        &self,
        staff: &Staff,
        patient: PatientId,
        body: &str,
    ) -> Result<PsychotherapyNoteId, AppError> {
        self.allow(staff, Action::PsychotherapyNotes, Some(patient))
            .await?;
        Ok(self
            .store
            .write_psychotherapy_note(&staff.ctx(), patient, &SealedText::new(body.to_string()))
            .await?)
    }

    /// The user's own psychotherapy notes about the patient; the store returns no one else's.
    pub async fn my_psychotherapy_notes(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<PsychotherapyNote>, AppError> {
        self.allow(staff, Action::PsychotherapyNotes, Some(patient))
            .await?;
        Ok(self
            .store
            .my_psychotherapy_notes(&staff.ctx(), patient)
            .await?)
    }
}

/// What the course page shows: the course, its encounters, its eligibility decision and the
/// patient's consents.
#[derive(Debug, Clone)]
pub struct CourseRecord {
    pub course: Course,
    pub encounters: Vec<Encounter>,
    pub screening: Option<Screening>,
    pub consents: Vec<Consent>,
}

impl App {
    pub async fn course_record(
        &self,
        staff: &Staff,
        patient: PatientId,
        course: CourseId,
    ) -> Result<CourseRecord, AppError> {
        let c = self.course_for(staff, course).await?;
        if c.patient_id != patient {
            return Err(AppError::NotFound);
        }
        let ctx = staff.ctx();
        Ok(CourseRecord {
            encounters: self.store.encounters(&ctx, course).await?,
            screening: self.store.screening(&ctx, course).await?,
            consents: self.store.consents(&ctx, patient).await?,
            course: c,
        })
    }
}
