//! The patient portal: a scheduled assessment gets a single-use, expiring link whose token is
//! stored only as a hash; the patient opens it without an account, answers, and sees a
//! thank-you page — with the clinic's crisis instructions at once if an answer raised a flag.

use crate::auth::Staff;
use crate::crypto::{random_token, token_hash};
use crate::policy::Action;
use crate::{App, AppError};
use jiff::SignedDuration;
use kapstone_clinical::dosing::FieldError;
use kapstone_clinical::instrument::{Instrument, Response};
use kapstone_store::StoreError;
use kapstone_store::model::*;

/// What the portal form needs: the instrument to render, and the clinic's name. No patient data.
#[derive(Debug, Clone)]
pub struct PortalForm {
    pub instrument: Instrument,
    pub clinic_name: String,
}

/// What the thank-you page needs.
#[derive(Debug, Clone)]
pub struct PortalOutcome {
    /// An answer raised a safety flag: show the crisis instructions now.
    pub flagged: bool,
    pub clinic_name: String,
    pub crisis_line: String,
    pub crisis_text: String,
    pub clinic_phone: String,
    /// Only when true may the page say someone reads answers as they arrive.
    pub answers_monitored_live: bool,
}

/// What the page for an already-answered link needs: nothing about the answers, so the crisis
/// line is offered to everyone alike (a patient whose reply was lost never saw it).
#[derive(Debug, Clone)]
pub struct PortalReceived {
    pub clinic_name: String,
    pub crisis_line: String,
    pub clinic_phone: String,
}

/// A link ready to copy or send.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub url: String,
    pub expires_at: jiff::Timestamp,
    /// The instrument the link is for (an id of the library).
    pub instrument: String,
}

impl App {
    /// Creates a portal link for a scheduled assessment.
    pub async fn send_portal_link(
        &self,
        staff: &Staff,
        patient: PatientId,
        due: DueId,
    ) -> Result<IssuedLink, AppError> {
        self.allow(staff, Action::SendPortalLink, Some(patient))
            .await?;
        let d = self.store.due(&staff.ctx(), due).await?;
        if d.patient_id != patient {
            return Err(AppError::NotFound);
        }
        let settings = self.store.settings(staff.user.clinic_id).await?;
        let token = random_token();
        let expires_at = kapstone_store::model::now()
            + SignedDuration::from_hours(24 * settings.portal_link_days);
        self.store
            .create_portal_link(&staff.ctx(), due, &token_hash(&token), expires_at)
            .await?;
        Ok(IssuedLink {
            url: format!("{}/p/{token}", self.config.public_url.trim_end_matches('/')),
            expires_at,
            instrument: d.instrument,
        })
    }

    /// Creates a portal link and e-mails it to the patient's address on file. The e-mail names
    /// neither the questionnaire nor anything else about the patient's care.
    pub async fn email_portal_link(
        &self,
        staff: &Staff,
        patient: PatientId,
        due: DueId,
    ) -> Result<String, AppError> {
        // Authorization first: an outsider learns nothing, not even how the clinic is set up.
        self.allow(staff, Action::SendPortalLink, Some(patient))
            .await?;
        if self.store.due(&staff.ctx(), due).await?.patient_id != patient {
            return Err(AppError::NotFound);
        }
        let mailer = self.config.mailer.as_ref().ok_or_else(|| {
            AppError::invalid(
                "email",
                "this clinic has no mail server configured; copy the link instead",
            )
        })?;
        let p = self.store.patient(&staff.ctx(), patient).await?;
        let to = p.details.email.clone().ok_or_else(|| {
            AppError::invalid("email", "the patient has no e-mail address on file")
        })?;
        let link = self.send_portal_link(staff, patient, due).await?;
        let clinic = self.store.clinic(staff.user.clinic_id).await?;
        let (subject, body) = crate::mail::portal_link_message(
            &clinic.name,
            &link.url,
            &link.expires_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        );
        mailer
            .send(&to, &subject, body)
            .await
            .map_err(AppError::Internal)?;
        self.store
            .record(
                &staff.ctx(),
                "portal_link.email",
                Some(patient),
                "assessment_due",
                Some(due.0),
                serde_json::json!({}),
            )
            .await?;
        Ok(to)
    }

    /// The form behind a live link; `NotFound` for unknown, used or expired links alike.
    pub async fn portal_form(&self, token: &str, origin: &str) -> Result<PortalForm, AppError> {
        let (link, due) = self
            .store
            .open_portal_link(&token_hash(token), origin)
            .await?
            .ok_or(AppError::NotFound)?;
        let instrument = self
            .library
            .get(&due.instrument)
            .cloned()
            .ok_or(AppError::NotFound)?;
        let clinic = self.store.clinic(link.clinic_id).await?;
        Ok(PortalForm {
            instrument,
            clinic_name: clinic.name,
        })
    }

    /// For a link that no longer opens: `Some` when it was used and its answers are stored (the
    /// patient may be retrying after a reply lost to a crash or a dropped connection), `None`
    /// when it is unknown, expired or otherwise dead.
    pub async fn portal_received(&self, token: &str) -> Result<Option<PortalReceived>, AppError> {
        let Some(clinic_id) = self.store.answered_portal_link(&token_hash(token)).await? else {
            return Ok(None);
        };
        let settings = self.store.settings(clinic_id).await?;
        let clinic = self.store.clinic(clinic_id).await?;
        Ok(Some(PortalReceived {
            clinic_name: clinic.name,
            crisis_line: settings.crisis_line,
            clinic_phone: settings.phone,
        }))
    }

    /// Checks and stores the answers; the link is used up only when they are stored.
    /// `values[i]` answers item `i + 1`.
    pub async fn portal_submit(
        &self,
        token: &str,
        origin: &str,
        values: &[Option<i64>],
    ) -> Result<PortalOutcome, AppError> {
        // One transaction: the link is looked up, the answers checked against the scheduled
        // instrument and stored, and the link used up together.
        let library = &self.library;
        let respond = |due: &Due| -> Result<Response, StoreError> {
            let instrument = library
                .get(&due.instrument)
                .ok_or_else(|| StoreError::NotFound {
                    entity: "instrument",
                    id: due.instrument.clone(),
                })?;
            // Items past the questionnaire's last are not its answers; unanswered ones are blank.
            let mut values = values.to_vec();
            values.resize(instrument.items.len(), None);
            let answers = instrument.answers(&values).map_err(|e| match e.item() {
                Some(item) => FieldError::new(format!("item {item}"), e.to_string()),
                None => FieldError::new("answers", e.to_string()),
            })?;
            let response = instrument.respond(answers);
            // The portal asks every required item; a blank one is named rather than stored.
            if let Some(&missing) = response.score().missing.first() {
                let text = instrument
                    .item(missing)
                    .map(|i| i.text.clone())
                    .unwrap_or_default();
                return Err(FieldError::new(
                    format!("item {missing}"),
                    format!("please answer question {missing}: {text}"),
                )
                .into());
            }
            Ok(response)
        };
        let recorded = self
            .store
            .submit_portal_response(&token_hash(token), origin, &respond)
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => AppError::NotFound,
                e => e.into(),
            })?
            .ok_or(AppError::NotFound)?;
        let clinic_id = recorded.assessment.clinic_id;
        let settings = self.store.settings(clinic_id).await?;
        let clinic = self.store.clinic(clinic_id).await?;
        Ok(PortalOutcome {
            flagged: !recorded.assessment.flags.is_empty() || !recorded.alerts.is_empty(),
            clinic_name: clinic.name,
            crisis_line: settings.crisis_line,
            crisis_text: settings.crisis_text,
            clinic_phone: settings.phone,
            answers_monitored_live: settings.answers_monitored_live,
        })
    }
}
