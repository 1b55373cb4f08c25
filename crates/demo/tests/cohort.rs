//! The generated cohort against the library, the protocol and the stated targets.

use jiff::civil::{Date, date};
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::instrument::{Library, Total};
use kapstone_demo::{
    Cohort, CohortSpec, DEFAULT_PATIENTS, LOSS_TO_FOLLOW_UP, SyntheticCourse, generate,
};
use std::collections::BTreeMap;

const TODAY: Date = date(2026, 11, 26);

fn cohort(seed: u64) -> Cohort {
    generate(&CohortSpec::new(seed, TODAY))
}

fn courses(c: &Cohort) -> impl Iterator<Item = &SyntheticCourse> {
    c.patients.iter().flat_map(|p| &p.courses)
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

fn phq9_total(lib: &Library, answers: &[Option<i64>]) -> Option<i64> {
    let inst = lib.get("phq9").expect("phq9");
    let a = inst.answers(answers).expect("valid");
    match inst.score(&a).total {
        Some(Total::Sum(t)) => Some(t),
        _ => None,
    }
}

#[test]
fn the_same_spec_gives_the_same_cohort_and_seeds_differ() {
    let a = cohort(7);
    assert_eq!(a.patients.len(), DEFAULT_PATIENTS);
    assert_eq!(a, cohort(7));
    let b = cohort(8);
    assert_ne!(a, b);
    let same_names = a
        .patients
        .iter()
        .zip(&b.patients)
        .filter(|(x, y)| x.given_name == y.given_name && x.family_name == y.family_name)
        .count();
    assert!(
        same_names < 100,
        "{same_names} patients share a name across seeds"
    );
}

#[test]
fn patient_i_does_not_depend_on_the_cohort_size() {
    let small = generate(&CohortSpec {
        patients: 50,
        seed: 3,
        today: TODAY,
    });
    let large = generate(&CohortSpec {
        patients: 120,
        seed: 3,
        today: TODAY,
    });
    assert_eq!(small.patients[..], large.patients[..50]);
    assert!(
        generate(&CohortSpec {
            patients: 0,
            seed: 3,
            today: TODAY
        })
        .patients
        .is_empty()
    );
}

#[test]
fn every_answer_vector_is_valid_for_its_instrument() {
    let lib = Library::builtin().expect("library");
    let c = cohort(1);
    let mut forms = 0usize;
    let mut incomplete = 0usize;
    for a in courses(&c).flat_map(|k| &k.assessments) {
        let inst = lib.get(a.instrument).expect("instrument in the library");
        let answers = inst.answers(&a.answers).unwrap_or_else(|e| {
            panic!("{} {}: {e}", a.instrument, a.time_point);
        });
        assert_eq!(a.answers.len(), inst.items.len());
        let score = inst.score(&answers);
        forms += 1;
        if !score.complete {
            incomplete += 1;
            assert_eq!(score.missing.len(), 1, "one unanswered item");
            if a.instrument == "phq9" {
                assert!(a.answers[8].is_some(), "item 9 is always answered");
            }
        }
    }
    let rate = share(incomplete, forms);
    assert!((0.01..=0.03).contains(&rate), "incomplete {rate}");
}

#[test]
fn nothing_after_today_is_measured_or_done() {
    let c = cohort(2);
    for k in courses(&c) {
        assert!(k.start <= TODAY);
        for a in &k.assessments {
            assert!(a.date <= TODAY, "assessment on {}", a.date);
            assert!(a.date > k.start);
        }
        for e in &k.encounters {
            if e.completed {
                assert!(e.date <= TODAY, "completed encounter on {}", e.date);
            }
            assert!(e.date > k.start);
        }
        assert!(k.assessments.windows(2).all(|w| w[0].date <= w[1].date));
        assert!(k.encounters.windows(2).all(|w| w[0].date < w[1].date));
    }
}

#[test]
fn statuses_follow_the_encounter_dates() {
    let c = cohort(3);
    let mut seen = BTreeMap::new();
    for k in courses(&c) {
        *seen.entry(k.status).or_insert(0usize) += 1;
        let past = |kind: EncounterKind| -> (usize, usize) {
            let of: Vec<_> = k.encounters.iter().filter(|e| e.kind == kind).collect();
            (of.iter().filter(|e| e.date <= TODAY).count(), of.len())
        };
        let (prep, _) = past(EncounterKind::Preparation);
        let (dosed, doses) = past(EncounterKind::Dosing);
        let (integrated, integrations) = past(EncounterKind::Integration);
        let (followed, follow_ups) = past(EncounterKind::FollowUp);
        assert_eq!((doses, integrations, follow_ups), (6, 6, 3));
        let missed_before_follow_up = k
            .encounters
            .iter()
            .any(|e| e.kind != EncounterKind::FollowUp && e.date <= TODAY && !e.completed);
        assert_eq!(
            k.status == CourseStatus::Discontinued,
            missed_before_follow_up,
            "a past visit is missed exactly when the course was discontinued"
        );
        assert_eq!(
            k.discontinued_reason.is_some(),
            k.status == CourseStatus::Discontinued
        );
        let expected = if missed_before_follow_up {
            CourseStatus::Discontinued
        } else if prep == 0 {
            CourseStatus::Screening
        } else if dosed == 0 {
            CourseStatus::Preparation
        } else if dosed < doses {
            CourseStatus::Active
        } else if integrated < integrations {
            CourseStatus::Integration
        } else if followed < follow_ups {
            CourseStatus::FollowUp
        } else {
            CourseStatus::Completed
        };
        assert_eq!(k.status, expected, "course starting {}", k.start);
        if k.status == CourseStatus::Discontinued {
            let first_missed = k
                .encounters
                .iter()
                .position(|e| !e.completed)
                .expect("a missed visit");
            assert!(k.encounters[first_missed..].iter().all(|e| !e.completed));
            assert!(
                k.encounters
                    .iter()
                    .all(|e| e.kind != EncounterKind::FollowUp || !e.completed)
            );
        }
        for e in &k.encounters {
            let s = k.encounter_status(e, TODAY);
            match s {
                EncounterStatus::Completed => assert!(e.completed),
                EncounterStatus::Planned => assert!(e.date > TODAY),
                EncounterStatus::Cancelled => assert!(!e.completed),
            }
        }
    }
    for s in CourseStatus::ALL {
        assert!(seen.contains_key(s), "no course is {s}: {seen:?}");
    }
}

#[test]
fn status_history_is_a_legal_walk_ending_in_the_status() {
    let c = cohort(4);
    for k in courses(&c) {
        assert_eq!(k.history.first(), Some(&(CourseStatus::Screening, k.start)));
        assert_eq!(k.history.last().map(|h| h.0), Some(k.status));
        for w in k.history.windows(2) {
            let ((from, d0), (to, d1)) = (w[0], w[1]);
            assert!(d0 <= d1 && d1 <= TODAY);
            assert_eq!(
                from.transition(to, k.discontinued_reason.as_deref()),
                Ok(to)
            );
        }
    }
}

#[test]
fn loss_to_follow_up_is_near_the_targets() {
    let c = cohort(5);
    for (m, label) in ["month_1", "month_3", "month_6"].iter().enumerate() {
        let (mut due, mut missing) = (0usize, 0usize);
        for k in courses(&c).filter(|k| k.status != CourseStatus::Discontinued) {
            let fu = k
                .encounters
                .iter()
                .filter(|e| e.kind == EncounterKind::FollowUp)
                .nth(m)
                .expect("follow-up");
            if fu.date > TODAY {
                continue;
            }
            due += 1;
            let has = k
                .assessments
                .iter()
                .any(|a| a.instrument == "phq9" && a.time_point == *label);
            assert_eq!(
                has, fu.completed,
                "a follow-up is attended exactly when measured"
            );
            if !has {
                missing += 1;
            }
        }
        assert!(due > 300, "{label}: only {due} due");
        let rate = share(missing, due);
        let target = LOSS_TO_FOLLOW_UP[m];
        assert!(
            (rate - target).abs() <= 0.10,
            "{label}: {rate:.3} missing, target {target}"
        );
    }
}

#[test]
fn baseline_severity_response_and_safety_flags_look_clinical() {
    let lib = Library::builtin().expect("library");
    let c = cohort(6);
    let (mut baseline_sum, mut baseline_n, mut item9_baseline) = (0i64, 0usize, 0usize);
    let (mut later, mut item9_later) = (0usize, 0usize);
    let (mut paired, mut responders) = (0usize, 0usize);
    for k in courses(&c) {
        let phq: Vec<_> = k
            .assessments
            .iter()
            .filter(|a| a.instrument == "phq9")
            .collect();
        for w in phq.windows(2) {
            let gap = w[0].date.duration_until(w[1].date).as_secs() / 86_400;
            assert!(gap >= 7, "PHQ-9 {gap} days apart");
        }
        let base = phq.iter().find(|a| a.time_point == "baseline");
        if let Some(b) = base {
            item9_baseline += usize::from(b.answers[8].unwrap_or(0) >= 1);
            if let Some(t) = phq9_total(&lib, &b.answers) {
                baseline_sum += t;
                baseline_n += 1;
            }
        }
        for a in phq.iter().filter(|a| a.time_point != "baseline") {
            later += 1;
            item9_later += usize::from(a.answers[8].unwrap_or(0) >= 1);
        }
        let month1 = phq.iter().find(|a| a.time_point == "month_1");
        if let (Some(b), Some(m)) = (base, month1)
            && let (Some(b), Some(m)) = (phq9_total(&lib, &b.answers), phq9_total(&lib, &m.answers))
            && b > 0
        {
            paired += 1;
            responders += usize::from(m * 2 <= b);
        }
    }
    let mean = baseline_sum as f64 / baseline_n as f64;
    assert!((14.0..=20.0).contains(&mean), "baseline PHQ-9 mean {mean}");
    let base_rate = share(item9_baseline, baseline_n);
    assert!(
        (0.05..=0.15).contains(&base_rate),
        "item 9 at baseline {base_rate}"
    );
    let later_rate = share(item9_later, later);
    assert!(
        item9_later > 0 && later_rate < base_rate,
        "item 9 later {later_rate}"
    );
    // Completers only, so a little above the latent ~50 %: loss to follow-up is not at random.
    let response = share(responders, paired);
    assert!(
        (0.40..=0.70).contains(&response),
        "response at 1 month {response}"
    );
}

#[test]
fn ace_is_asked_once_and_skewed() {
    let lib = Library::builtin().expect("library");
    let ace = lib.get("ace").expect("ace");
    let c = cohort(9);
    let (mut asked, mut high) = (0usize, 0usize);
    for p in &c.patients {
        let aces: Vec<_> = p
            .courses
            .iter()
            .flat_map(|k| &k.assessments)
            .filter(|a| a.instrument == "ace")
            .collect();
        assert!(aces.len() <= 1, "ACE asked {} times", aces.len());
        if let Some(a) = aces.first() {
            assert_eq!(a.time_point, "baseline");
            assert!(
                p.courses[0]
                    .assessments
                    .iter()
                    .any(|x| x.instrument == "ace")
            );
            let total = match ace.score(&ace.answers(&a.answers).expect("valid")).total {
                Some(Total::Sum(t)) => t,
                _ => continue,
            };
            asked += 1;
            high += usize::from(total >= 4);
        }
    }
    let rate = share(high, asked);
    assert!((0.24..=0.36).contains(&rate), "ACE >= 4: {rate}");
}

#[test]
fn high_ace_patients_improve_a_little_more_on_average() {
    let lib = Library::builtin().expect("library");
    let ace = lib.get("ace").expect("ace");
    // Mean relative PHQ-9 drop from baseline to before dose 5, by ACE < 4 and ACE >= 4.
    let mut groups = [(0.0f64, 0usize); 2];
    for seed in [12, 13] {
        let c = cohort(seed);
        for k in courses(&c) {
            let find = |tp: &str, inst: &str| {
                k.assessments
                    .iter()
                    .find(|a| a.time_point == tp && a.instrument == inst)
            };
            let (Some(a), Some(b), Some(d5)) = (
                find("baseline", "ace"),
                find("baseline", "phq9"),
                find("pre_dose_5", "phq9"),
            ) else {
                continue;
            };
            let Some(Total::Sum(ace_total)) =
                ace.score(&ace.answers(&a.answers).expect("valid")).total
            else {
                continue;
            };
            if let (Some(b), Some(d5)) =
                (phq9_total(&lib, &b.answers), phq9_total(&lib, &d5.answers))
                && b > 0
            {
                let g = &mut groups[usize::from(ace_total >= 4)];
                g.0 += (b - d5) as f64 / b as f64;
                g.1 += 1;
            }
        }
    }
    let [low, high] = groups.map(|(sum, n)| sum / n as f64);
    assert!(high > low + 0.02, "ACE >= 4 {high:.3} vs ACE < 4 {low:.3}");
    assert!(
        high < low + 0.15,
        "the effect should be slight: {high:.3} vs {low:.3}"
    );
}

#[test]
fn indication_and_route_mix() {
    let c = cohort(10);
    let firsts: Vec<_> = c.patients.iter().map(|p| &p.courses[0]).collect();
    let n = firsts.len();
    let of = |ind: Indication| share(firsts.iter().filter(|k| k.indication == ind).count(), n);
    for (ind, target) in [
        (Indication::Mdd, 0.30),
        (Indication::Trd, 0.25),
        (Indication::Ptsd, 0.25),
        (Indication::Gad, 0.15),
        (Indication::Other, 0.05),
    ] {
        assert!((of(ind) - target).abs() < 0.04, "{ind}: {}", of(ind));
    }
    let route = |r: Route| share(firsts.iter().filter(|k| k.route == r).count(), n);
    assert!(route(Route::Sublingual) > route(Route::Iv));
    assert!(route(Route::Im) > route(Route::IntranasalEsketamine));
    assert!((0.02..0.10).contains(&route(Route::Oral)));
    assert_eq!(route(Route::Sc), 0.0);
    for k in &firsts {
        if k.route == Route::IntranasalEsketamine {
            assert!(matches!(k.indication, Indication::Trd | Indication::Mdd));
        }
        assert_eq!(k.protocol, "kap-6");
    }
    let discontinued = share(
        courses(&c)
            .filter(|k| k.status == CourseStatus::Discontinued)
            .count(),
        courses(&c).count(),
    );
    assert!(
        (0.03..=0.10).contains(&discontinued),
        "discontinued {discontinued}"
    );
    let second = c.patients.iter().filter(|p| p.courses.len() == 2).count();
    assert!(second > 0 && c.patients.iter().all(|p| p.courses.len() <= 2));
    for p in c.patients.iter().filter(|p| p.courses.len() == 2) {
        assert_eq!(p.courses[0].indication, p.courses[1].indication);
        assert_eq!(p.courses[0].status, CourseStatus::Completed);
        assert!(p.courses[1].start > p.courses[0].encounters[16].date);
    }
}

#[test]
fn people_are_adults_and_unreachable() {
    let c = cohort(11);
    for (i, p) in c.patients.iter().enumerate() {
        let first = p.courses[0].start;
        let age_then = p.birth_date.until(first).expect("span").get_days() / 365;
        assert!(p.birth_date.saturating_add(jiff::Span::new().years(18)) <= first);
        assert!(p.birth_date.saturating_add(jiff::Span::new().years(81)) > TODAY);
        assert!(age_then < 80);
        assert!(!p.given_name.is_empty() && !p.family_name.is_empty());
        if let Some(e) = &p.email {
            assert!(e.ends_with("@example.org"), "{e}");
            assert!(e.contains(&format!(".{}@", i + 1)));
            assert!(e.is_ascii());
        }
        if let Some(ph) = &p.phone {
            let tail = ph.strip_prefix("+1 503-555-01").expect("fictional range");
            assert!(tail.len() == 2 && tail.chars().all(|ch| ch.is_ascii_digit()));
        }
        if let Some(z) = &p.postal_code {
            assert!(z.len() == 5 && z.starts_with("972"));
        }
    }
    let starts: Vec<Date> = c.patients.iter().map(|p| p.courses[0].start).collect();
    let earliest = starts.iter().min().copied().expect("patients");
    assert!(earliest >= date(2024, 11, 26) && earliest < date(2025, 1, 1));
    assert!(starts.iter().any(|s| *s > date(2026, 11, 1)));
}
