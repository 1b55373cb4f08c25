//! Cohort outcomes for the dashboard and `kapstone report`: the store's snapshot as the
//! analysis's input, filtered by indication, route and first-dose date.

use crate::auth::Staff;
use crate::policy::Action;
use crate::{App, AppError};
use jiff::civil::Date;
use kapstone_outcomes::cohort::{CohortReport, CourseData, Definitions, Scored, report};
use kapstone_store::model::OutcomeSnapshot;

/// Which courses the figures cover; empty means all.
#[derive(Debug, Clone, Default)]
pub struct CohortFilter {
    pub indication: Option<String>,
    pub route: Option<String>,
    /// First dose on or after.
    pub from: Option<Date>,
    /// First dose on or before.
    pub to: Option<Date>,
}

impl CohortFilter {
    fn keeps(&self, c: &CourseData) -> bool {
        let d0 = c.doses.iter().min();
        self.indication.as_ref().is_none_or(|i| *i == c.indication)
            && self.route.as_ref().is_none_or(|r| *r == c.route)
            && self.from.is_none_or(|f| d0.is_some_and(|d| *d >= f))
            && self.to.is_none_or(|t| d0.is_some_and(|d| *d <= t))
    }
}

/// The dashboard's figures: the report, the definitions it used, and whether the data is
/// synthetic.
pub struct CohortView {
    pub report: CohortReport,
    pub definitions: Definitions,
    pub synthetic: bool,
}

impl App {
    pub async fn cohort(
        &self,
        staff: &Staff,
        filter: &CohortFilter,
        definitions: Definitions,
    ) -> Result<CohortView, AppError> {
        self.allow(staff, Action::ViewOutcomes, None).await?;
        let snapshot = self.store.outcome_snapshot(&staff.ctx()).await?;
        let synthetic = snapshot.synthetic;
        let courses: Vec<CourseData> = cohort_courses(snapshot)
            .into_iter()
            .filter(|c| filter.keeps(c))
            .collect();
        Ok(CohortView {
            report: report(&courses, &definitions),
            definitions,
            synthetic,
        })
    }
}

/// The analysis's input, moved out of the snapshot: a large clinic's snapshot holds millions
/// of points, and copying them cost a tenth of a report's time.
pub fn cohort_courses(snapshot: OutcomeSnapshot) -> Vec<CourseData> {
    let ace = snapshot.ace;
    snapshot
        .courses
        .into_iter()
        .map(|c| CourseData {
            ace: ace.get(&c.patient_id).copied(),
            indication: c.indication,
            route: c.route,
            sex: c.sex,
            doses: c.doses,
            assessments: c
                .assessments
                .into_iter()
                .map(|(instrument, date, total)| Scored {
                    instrument,
                    date,
                    total: Some(total),
                })
                .collect(),
        })
        .collect()
}
