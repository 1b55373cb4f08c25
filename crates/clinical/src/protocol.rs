//! Protocol templates: a course's planned encounters and its assessment schedule, generated from
//! the intake date. The default schedule is kapstone's proposal from instruments.md §12, not a
//! published standard; clinics can change it.

use crate::course::{EncounterKind, Indication};
use jiff::ToSpan;
use jiff::civil::Date;

/// A course protocol a clinic can open a course with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub preparation_sessions: u32,
    pub dosing_sessions: u32,
    /// Days from the first dose to each dose.
    pub dose_offsets: &'static [i64],
    /// Days from the last dose to each follow-up.
    pub follow_up_days: &'static [(i64, &'static str)],
}

pub const TEMPLATES: &[Template] = &[
    Template {
        id: "kap-6",
        name: "KAP induction: 6 dosing sessions over 3 weeks",
        description: "Two preparation sessions a week apart, then six dosing sessions twice a week, \
                      an integration session the day after each, and follow-ups 1, 3 and 6 months \
                      after the last dose.",
        preparation_sessions: 2,
        dosing_sessions: 6,
        dose_offsets: &[0, 3, 7, 10, 14, 17],
        follow_up_days: &[(30, "month_1"), (90, "month_3"), (180, "month_6")],
    },
    Template {
        id: "kap-3",
        name: "KAP short course: 3 weekly dosing sessions",
        description: "One preparation session, three weekly dosing sessions with integration the \
                      day after each, and follow-ups 1, 3 and 6 months after the last dose.",
        preparation_sessions: 1,
        dosing_sessions: 3,
        dose_offsets: &[0, 7, 14],
        follow_up_days: &[(30, "month_1"), (90, "month_3"), (180, "month_6")],
    },
];

pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEncounter {
    pub kind: EncounterKind,
    pub date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAssessment {
    pub instrument: &'static str,
    /// `baseline`, `pre_dose_N`, `month_N`.
    pub time_point: String,
    pub due_on: Date,
    /// Days after `due_on` before the assessment counts as overdue.
    pub window_days: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoursePlan {
    pub encounters: Vec<PlannedEncounter>,
    pub assessments: Vec<PlannedAssessment>,
}

/// PHQ-9 and GAD-7 recall two weeks, so before dosing they are given at most weekly
/// (instruments.md §12); the PCL-5 every other week during dosing for PTSD courses.
const WEEKLY: i64 = 7;
const FORTNIGHTLY: i64 = 14;

impl Template {
    /// The plan for a course whose intake is `intake`. Intake-day baseline measures; the first
    /// dose two weeks later, after the preparation sessions.
    pub fn plan(&self, indication: Indication, intake: Date) -> CoursePlan {
        let mut plan = CoursePlan::default();
        for i in 0..self.preparation_sessions {
            plan.encounters.push(PlannedEncounter {
                kind: EncounterKind::Preparation,
                date: add_days(intake, 7 * i64::from(i)),
            });
        }
        let first_dose = add_days(intake, 14);
        let doses: Vec<Date> = self
            .dose_offsets
            .iter()
            .map(|&d| add_days(first_dose, d))
            .collect();
        for &d in &doses {
            plan.encounters.push(PlannedEncounter {
                kind: EncounterKind::Dosing,
                date: d,
            });
            plan.encounters.push(PlannedEncounter {
                kind: EncounterKind::Integration,
                date: add_days(d, 1),
            });
        }
        let last_dose = doses.last().copied().unwrap_or(first_dose);
        for &(days, _) in self.follow_up_days {
            plan.encounters.push(PlannedEncounter {
                kind: EncounterKind::FollowUp,
                date: add_days(last_dose, days),
            });
        }

        let ptsd = indication == Indication::Ptsd;
        for instrument in ["phq9", "gad7", "pcl5", "ace"] {
            plan.assessments.push(PlannedAssessment {
                instrument,
                time_point: "baseline".into(),
                due_on: intake,
                window_days: 7,
            });
        }
        let mut last_weekly = intake;
        let mut last_pcl = intake;
        for (n, &d) in doses.iter().enumerate() {
            let time_point = format!("pre_dose_{}", n + 1);
            if days_between(last_weekly, d) >= WEEKLY {
                for instrument in ["phq9", "gad7"] {
                    plan.assessments.push(PlannedAssessment {
                        instrument,
                        time_point: time_point.clone(),
                        due_on: d,
                        window_days: 0,
                    });
                }
                last_weekly = d;
            }
            if ptsd && days_between(last_pcl, d) >= FORTNIGHTLY {
                plan.assessments.push(PlannedAssessment {
                    instrument: "pcl5",
                    time_point: time_point.clone(),
                    due_on: d,
                    window_days: 0,
                });
                last_pcl = d;
            }
        }
        for &(days, label) in self.follow_up_days {
            for instrument in ["phq9", "gad7", "pcl5"] {
                plan.assessments.push(PlannedAssessment {
                    instrument,
                    time_point: label.into(),
                    due_on: add_days(last_dose, days),
                    window_days: 14,
                });
            }
        }
        plan
    }
}

fn add_days(d: Date, days: i64) -> Date {
    d.checked_add(days.days()).unwrap_or(d)
}

fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map_or(0, |s| i64::from(s.get_days()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn points(plan: &CoursePlan, instrument: &str) -> Vec<(String, Date)> {
        plan.assessments
            .iter()
            .filter(|a| a.instrument == instrument)
            .map(|a| (a.time_point.clone(), a.due_on))
            .collect()
    }

    #[test]
    fn kap6_plans_encounters_and_the_default_schedule() {
        let t = template("kap-6").expect("exists");
        let plan = t.plan(Indication::Ptsd, date(2026, 1, 5));
        let kinds = |k| plan.encounters.iter().filter(|e| e.kind == k).count();
        assert_eq!(kinds(EncounterKind::Preparation), 2);
        assert_eq!(kinds(EncounterKind::Dosing), 6);
        assert_eq!(kinds(EncounterKind::Integration), 6);
        assert_eq!(kinds(EncounterKind::FollowUp), 3);

        // PHQ-9 at intake, before doses 1, 3 and 5 (weekly at most), then 1, 3, 6 months.
        assert_eq!(
            points(&plan, "phq9"),
            [
                ("baseline".to_string(), date(2026, 1, 5)),
                ("pre_dose_1".into(), date(2026, 1, 19)),
                ("pre_dose_3".into(), date(2026, 1, 26)),
                ("pre_dose_5".into(), date(2026, 2, 2)),
                ("month_1".into(), date(2026, 3, 7)),
                ("month_3".into(), date(2026, 5, 6)),
                ("month_6".into(), date(2026, 8, 4)),
            ]
        );
        // PCL-5 every other week during dosing for PTSD.
        let pcl: Vec<String> = points(&plan, "pcl5").into_iter().map(|p| p.0).collect();
        assert_eq!(
            pcl,
            [
                "baseline",
                "pre_dose_1",
                "pre_dose_5",
                "month_1",
                "month_3",
                "month_6"
            ]
        );
        assert_eq!(points(&plan, "ace").len(), 1, "ACE once, at intake");
    }

    #[test]
    fn non_ptsd_courses_get_pcl5_only_at_baseline_and_follow_up() {
        let plan = template("kap-6")
            .expect("exists")
            .plan(Indication::Mdd, date(2026, 1, 5));
        let pcl: Vec<String> = points(&plan, "pcl5").into_iter().map(|p| p.0).collect();
        assert_eq!(pcl, ["baseline", "month_1", "month_3", "month_6"]);
    }
}
