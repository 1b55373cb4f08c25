//! The synthetic demo cohort. Pure and deterministic: the same seed gives the same clinic.
//!
//! [`generate`] invents a KAP clinic's patients, their courses on the `kap-6` protocol, every
//! encounter and every questionnaire answer, relative to a `today` the caller passes in (there is
//! no clock and no I/O here). Everything is fictional and tuned only to *look like* the published
//! cohorts in `shared/clinical/kap-protocol.md` §1: it must never be presented as evidence. Each
//! module's documentation states the numbers it uses and why:
//!
//! - `protocol`: the session calendar and how a course's status follows it;
//! - `course`: indication and route mix, discontinuation, questionnaire schedule, severity,
//!   response, relapse, loss to follow-up, PHQ-9 item 9;
//! - `forms`: turning a total into item answers, incomplete forms;
//! - `people`: names, ages, sex and contact details that reach no one;
//! - [`rng`]: the seeded generator.
//!
//! Cohort-level choices (the rest are per course):
//! - Each patient's first course opens on a day drawn uniformly from the 24 calendar months
//!   before `today` (inclusive), so the clinic has courses in every state.
//! - 40 % of patients whose first course relapsed come back for a second course of the same
//!   indication, opening 1–8 weeks after the first course's 6-month follow-up, if that is on or
//!   before `today`. There is no third course. The ACE is not asked again.
//! - Patient *i* draws from its own stream of the seed, so it does not depend on how many
//!   patients are generated.
#![forbid(unsafe_code)]

mod course;
mod forms;
mod model;
mod people;
mod protocol;
pub mod rng;

pub use course::LOSS_TO_FOLLOW_UP;
pub use model::{
    Cohort, CohortSpec, DEFAULT_PATIENTS, PROTOCOL, SyntheticAssessment, SyntheticCourse,
    SyntheticEncounter, SyntheticPatient,
};

use course::{CourseInput, PatientTraits};
use jiff::Span;
use protocol::{add_days, days_between};
use rng::SplitMix64;

/// Share of relapsed patients who return for a second course.
const RETURN_RATE: f64 = 0.40;

/// Invent the cohort `spec` describes.
pub fn generate(spec: &CohortSpec) -> Cohort {
    let today = spec.today;
    let window_start = today.saturating_sub(Span::new().months(24));
    let window = days_between(window_start, today).max(0);
    let patients = (0..spec.patients)
        .map(|i| {
            let mut rng = SplitMix64::stream(spec.seed, i as u64);
            let first_start = add_days(window_start, rng.range(0, window));
            let person = people::person(&mut rng, i + 1, first_start);
            let traits = PatientTraits::draw(&mut rng);
            let first = course::draw(
                &mut rng,
                &CourseInput {
                    start: first_start,
                    today,
                    indication: None,
                    first: true,
                    traits,
                },
            );
            let mut courses = Vec::with_capacity(2);
            let indication = first.course.indication;
            let again = first.relapsed && rng.chance(RETURN_RATE);
            let restart = add_days(first.last, rng.range(7, 56));
            courses.push(first.course);
            if again && restart <= today {
                let second = course::draw(
                    &mut rng,
                    &CourseInput {
                        start: restart,
                        today,
                        indication: Some(indication),
                        first: false,
                        traits,
                    },
                );
                courses.push(second.course);
            }
            SyntheticPatient {
                given_name: person.given_name,
                family_name: person.family_name,
                birth_date: person.birth_date,
                sex: person.sex,
                email: person.email,
                phone: person.phone,
                postal_code: person.postal_code,
                courses,
            }
        })
        .collect();
    Cohort {
        seed: spec.seed,
        today,
        patients,
    }
}
