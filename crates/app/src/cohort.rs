//! The store's outcome snapshot as the cohort analysis's input.

use kapstone_outcomes::cohort::{CourseData, Scored};
use kapstone_store::model::OutcomeSnapshot;

pub fn cohort_courses(snapshot: &OutcomeSnapshot) -> Vec<CourseData> {
    snapshot
        .courses
        .iter()
        .map(|c| CourseData {
            indication: c.indication.clone(),
            route: c.route.clone(),
            sex: c.sex.clone(),
            ace: snapshot.ace.get(&c.patient_id).copied(),
            doses: c.doses.clone(),
            assessments: c
                .assessments
                .iter()
                .map(|(instrument, date, total)| Scored {
                    instrument: instrument.clone(),
                    date: *date,
                    total: Some(*total),
                })
                .collect(),
        })
        .collect()
}
