//! The conformance suite: one story per concern, run against SQLite and against PostgreSQL.
//! Both backends must behave identically; `conformance!` expands every case for each.

use jiff::Timestamp;
use jiff::civil::date;
use kapstone_clinical::course::{CourseStatus, EncounterKind, EncounterStatus, Indication, Route};
use kapstone_clinical::instrument::{Library, Response};
use kapstone_clinical::protocol::CoursePlan;
use kapstone_clinical::vocab::{Role, Sex};
use kapstone_store::dump::{DumpChunk, TableDigest};
use kapstone_store::model::*;
use kapstone_store::{Attempt, Dump, Store, StoreError};

struct World {
    clinic: Clinic,
    admin: AuditContext,
    user: UserId,
}

async fn world(store: &dyn Store) -> World {
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "Test Clinic".into(),
                time_zone: "America/Denver".into(),
            },
            "test",
        )
        .await
        .expect("clinic");
    let system = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let user = store
        .add_user(
            &system,
            &NewUser {
                email: "Prescriber@Example.org".into(),
                display_name: "Dr P".into(),
                role: Role::Prescriber,
            },
        )
        .await
        .expect("user");
    let admin = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::User(user.id),
        origin: "127.0.0.1".into(),
    };
    World {
        clinic,
        admin,
        user: user.id,
    }
}

fn details(given: &str, family: &str) -> PatientDetails {
    PatientDetails {
        given_name: given.into(),
        family_name: family.into(),
        birth_date: date(1985, 4, 2),
        sex: Sex::Female,
        email: Some("pat@example.org".into()),
        phone: None,
        postal_code: Some("80202".into()),
    }
}

async fn patient(store: &dyn Store, w: &World, given: &str, family: &str) -> Patient {
    store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: None,
                details: details(given, family),
            },
        )
        .await
        .expect("patient")
}

/// An MDD course on the default plan, no route planned.
async fn mdd_course(store: &dyn Store, w: &World, patient_id: PatientId) -> Course {
    store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id,
                indication: Indication::Mdd,
                planned_route: None,
                protocol: "kap-6".into(),
                plan: CoursePlan::default(),
            },
        )
        .await
        .expect("open")
}

fn response(id: &str, list: &str) -> Response {
    let lib = Library::builtin().expect("library");
    let inst = lib.get(id).expect("instrument");
    inst.respond(inst.parse_answers(list).expect("answers"))
}

async fn audit_count(store: &dyn Store, w: &World) -> usize {
    store
        .audit_events(
            w.clinic.id,
            &AuditFilter {
                limit: 10_000,
                ..Default::default()
            },
        )
        .await
        .expect("audit")
        .len()
}

async fn clinics_and_users(store: &dyn Store) {
    let w = world(store).await;
    assert_eq!(
        store.clinic(w.clinic.id).await.expect("read").name,
        "Test Clinic"
    );
    let u = store
        .user_by_email(w.clinic.id, "prescriber@example.ORG")
        .await
        .expect("lookup");
    assert_eq!(
        u.map(|u| (u.id, u.role, u.email)),
        Some((w.user, Role::Prescriber, "prescriber@example.org".into()))
    );
    let dup = store
        .add_user(
            &w.admin,
            &NewUser {
                email: "prescriber@example.org".into(),
                display_name: "X".into(),
                role: Role::Nurse,
            },
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref m)) if m.starts_with("email:")),
        "{dup:?}"
    );
    let bad_tz = store
        .create_clinic(
            &NewClinic {
                name: "X".into(),
                time_zone: "Mars/Olympus".into(),
            },
            "test",
        )
        .await;
    assert!(matches!(
        bad_tz,
        Err(StoreError::Invalid {
            field: "time_zone",
            ..
        })
    ));
}

async fn patients_are_kept_per_clinic_and_searchable(store: &dyn Store) {
    let w = world(store).await;
    let a = patient(store, &w, "Ada", "Lovelace").await;
    let b = patient(store, &w, "Grace", "Hopper").await;
    assert_eq!((a.mrn.as_str(), b.mrn.as_str()), ("K000001", "K000002"));
    assert_eq!(store.patient(&w.admin, a.id).await.expect("read"), a);

    let explicit = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: Some("MRN-77".into()),
                details: details("Mary", "Jackson"),
            },
        )
        .await
        .expect("explicit mrn");
    assert_eq!(explicit.mrn, "MRN-77");
    let dup = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: Some("MRN-77".into()),
                details: details("X", "Y"),
            },
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref m)) if m.starts_with("mrn:")),
        "{dup:?}"
    );

    let found = store
        .find_patients(&w.admin, Scope::Clinic, "LOVE", 10)
        .await
        .expect("search");
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [a.id]);
    let by_mrn = store
        .find_patients(&w.admin, Scope::Clinic, "k000002", 10)
        .await
        .expect("search");
    assert_eq!(by_mrn.iter().map(|p| p.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(
        store
            .find_patients(&w.admin, Scope::Clinic, "hopper, gr", 10)
            .await
            .expect("search")
            .len(),
        1
    );
    assert!(
        store
            .find_patients(&w.admin, Scope::Clinic, "%", 10)
            .await
            .expect("search")
            .is_empty(),
        "LIKE wildcards are literal"
    );

    let mut changed = a.details.clone();
    changed.phone = Some("+1 303 555 0100".into());
    let updated = store
        .update_patient(&w.admin, a.id, &changed)
        .await
        .expect("update");
    assert_eq!(updated.details.phone.as_deref(), Some("+1 303 555 0100"));
    assert!(updated.updated_at >= a.updated_at);

    // Another clinic sees none of it.
    let other = world(store).await;
    let cross = store.patient(&other.admin, a.id).await;
    assert!(matches!(
        cross,
        Err(StoreError::NotFound {
            entity: "patient",
            ..
        })
    ));
    assert!(
        store
            .find_patients(&other.admin, Scope::Clinic, "a", 50)
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        patient(store, &other, "Ada", "Lovelace").await.mrn,
        "K000001",
        "MRNs count per clinic"
    );
}

async fn bad_patient_input_is_refused_and_nothing_is_written(store: &dyn Store) {
    let w = world(store).await;
    let before = audit_count(store, &w).await;
    let mut d = details("  ", "Smith");
    let e = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: None,
                details: d.clone(),
            },
        )
        .await;
    assert!(
        matches!(&e, Err(StoreError::Field(f)) if f.field == "given_name"),
        "{e:?}"
    );
    // The store refuses what would display as something else, whoever calls it.
    d.given_name = "Ann\u{202E}".into();
    let e = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: None,
                details: d.clone(),
            },
        )
        .await;
    assert!(
        matches!(&e, Err(StoreError::Field(f)) if f.field == "given_name" && f.message.contains("U+202E")),
        "{e:?}"
    );
    d.given_name = "Ann".into();
    d.birth_date = date(2999, 1, 1);
    let e = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: None,
                details: d.clone(),
            },
        )
        .await;
    assert!(
        matches!(&e, Err(StoreError::Field(f)) if f.field == "birth_date" && f.message.starts_with("2999-01-01 is outside 1900-01-01 to ")),
        "{e:?}"
    );
    d.birth_date = date(1990, 1, 1);
    d.email = Some("not-an-email".into());
    assert!(matches!(
        store
            .create_patient(
                &w.admin,
                &NewPatient {
                    mrn: None,
                    details: d
                }
            )
            .await,
        Err(StoreError::Field(f)) if f.field == "email"
    ));
    assert!(
        store
            .find_patients(&w.admin, Scope::Clinic, "smith", 10)
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        audit_count(store, &w).await,
        before + 1,
        "only the search above was audited"
    );
    // The refused creations did not use up record numbers.
    assert_eq!(patient(store, &w, "Ann", "Smith").await.mrn, "K000001");
}

async fn courses_follow_the_status_machine(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let new = NewCourse {
        patient_id: p.id,
        indication: Indication::Ptsd,
        planned_route: Some(Route::Sublingual),
        protocol: "kap-6".into(),
        plan: CoursePlan::default(),
    };
    let c = store.open_course(&w.admin, &new).await.expect("open");
    assert_eq!(c.status, CourseStatus::Screening);
    ready_to_dose(store, &w, &c).await;
    assert_eq!(store.course(&w.admin, c.id).await.expect("read"), c);

    let jump = store
        .change_course_status(&w.admin, c.id, CourseStatus::Active, None)
        .await;
    assert_eq!(
        jump.map(|_| ()).map_err(|e| e.to_string()),
        Err("course status: cannot move from screening to active; allowed from screening: preparation, discontinued".into())
    );
    for to in [
        CourseStatus::Preparation,
        CourseStatus::Active,
        CourseStatus::Integration,
    ] {
        let moved = store
            .change_course_status(&w.admin, c.id, to, None)
            .await
            .expect("move");
        assert_eq!(moved.status, to);
    }
    let no_reason = store
        .change_course_status(&w.admin, c.id, CourseStatus::Discontinued, Some(" "))
        .await;
    assert!(matches!(no_reason, Err(StoreError::Transition(_))));
    let stopped = store
        .change_course_status(
            &w.admin,
            c.id,
            CourseStatus::Discontinued,
            Some("moved out of state"),
        )
        .await
        .expect("discontinue");
    assert_eq!(stopped.status_reason.as_deref(), Some("moved out of state"));
    assert!(stopped.closed_at.is_some());

    let history = store.course_history(&w.admin, c.id).await.expect("history");
    let steps: Vec<_> = history.iter().map(|h| (h.from, h.to)).collect();
    assert_eq!(
        steps,
        [
            (None, CourseStatus::Screening),
            (Some(CourseStatus::Screening), CourseStatus::Preparation),
            (Some(CourseStatus::Preparation), CourseStatus::Active),
            (Some(CourseStatus::Active), CourseStatus::Integration),
            (Some(CourseStatus::Integration), CourseStatus::Discontinued),
        ]
    );
    assert_eq!(history[4].changed_by, Some(w.user));
    let closed = store
        .add_encounter(
            &w.admin,
            &NewEncounter {
                course_id: c.id,
                kind: EncounterKind::Dosing,
                planned_for: None,
            },
        )
        .await;
    assert!(matches!(
        closed,
        Err(StoreError::Invalid {
            field: "course",
            ..
        })
    ));
    assert_eq!(
        store.courses_of(&w.admin, p.id).await.expect("list").len(),
        1
    );
}

async fn encounters_are_numbered_per_kind(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: p.id,
                indication: Indication::Trd,
                planned_route: None,
                protocol: "kap-6".into(),
                plan: CoursePlan::default(),
            },
        )
        .await
        .expect("open");
    let when = Timestamp::from_microsecond(1_800_000_000_123_456).expect("valid");
    let mut seqs = Vec::new();
    for kind in [
        EncounterKind::Preparation,
        EncounterKind::Dosing,
        EncounterKind::Dosing,
        EncounterKind::Integration,
        EncounterKind::Dosing,
    ] {
        let e = store
            .add_encounter(
                &w.admin,
                &NewEncounter {
                    course_id: c.id,
                    kind,
                    planned_for: Some(when),
                },
            )
            .await
            .expect("encounter");
        assert_eq!(e.planned_for, Some(when));
        seqs.push((kind, e.sequence));
    }
    assert_eq!(
        seqs,
        [
            (EncounterKind::Preparation, 1),
            (EncounterKind::Dosing, 1),
            (EncounterKind::Dosing, 2),
            (EncounterKind::Integration, 1),
            (EncounterKind::Dosing, 3),
        ]
    );
    let mut by_course = store.encounters(&w.admin, c.id).await.expect("list");
    assert_eq!(by_course.len(), 5);
    // The chart's compact read of the patient's encounters agrees field by field, microseconds
    // included, and includes an encounter without a planned time.
    let mut by_patient = store
        .patient_encounters(&w.admin, p.id)
        .await
        .expect("patient encounters");
    by_course.sort_by_key(|e| e.id);
    by_patient.sort_by_key(|e| e.id);
    assert_eq!(by_patient, by_course);
    let unplanned = store
        .add_encounter(
            &w.admin,
            &NewEncounter {
                course_id: c.id,
                kind: EncounterKind::FollowUp,
                planned_for: None,
            },
        )
        .await
        .expect("unplanned");
    let all = store
        .patient_encounters(&w.admin, p.id)
        .await
        .expect("patient encounters");
    assert!(all.contains(&unplanned) && all.len() == 6);

    // The chart's one read returns the same, and is one audit event.
    let before = audit_count(store, &w).await;
    let chart = store
        .patient_chart(&w.admin, p.id, 10)
        .await
        .expect("chart");
    assert_eq!(
        audit_count(store, &w).await,
        before + 1,
        "one chart.read event"
    );
    assert_eq!(chart.patient, p);
    assert_eq!(
        chart.courses,
        store.courses_of(&w.admin, p.id).await.expect("courses")
    );
    let mut chart_encounters = chart.encounters.clone();
    chart_encounters.sort_by_key(|e| e.id);
    let mut all = all;
    all.sort_by_key(|e| e.id);
    assert_eq!(chart_encounters, all);
    assert_eq!(chart.assessments.count, 0);
    let other = patient(store, &w, "No", "Sessions").await;
    assert!(
        store
            .patient_encounters(&w.admin, other.id)
            .await
            .expect("none")
            .is_empty()
    );
}

async fn assessments_keep_every_answer_and_raise_alerts(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let c = mdd_course(store, &w, p.id).await;
    let at = Timestamp::from_microsecond(1_790_000_000_123_456).expect("valid");
    let portal = AuditContext {
        clinic_id: w.clinic.id,
        actor: Actor::Patient(p.id),
        origin: "203.0.113.9".into(),
    };

    // Incomplete PHQ-9 with item 9 positive: no total, but the flag and its alert stand.
    let rec = store
        .record_assessment(
            &portal,
            &NewAssessment {
                patient_id: p.id,
                course_id: Some(c.id),
                encounter_id: None,
                response: response("phq9", "2,-,1,3,0,0,0,0,2"),
                time_point: "baseline".into(),
                administered_at: at,
            },
        )
        .await
        .expect("record");
    let a = &rec.assessment;
    assert_eq!(
        a.answers,
        vec![
            Some(2),
            None,
            Some(1),
            Some(3),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
            Some(2),
            None
        ]
    );
    assert!(!a.complete);
    assert_eq!((a.total, a.severity.clone()), (None, None));
    assert_eq!(a.flags, ["phq9_item9"]);
    assert_eq!(a.administered_at, at, "timestamps keep their microseconds");
    assert_eq!(rec.alerts.len(), 1);
    assert_eq!(rec.alerts[0].kind, "phq9_item9");

    // Complete PCL-5 keeps subscales and the DSM-rule result.
    let pcl = store
        .record_assessment(
            &w.admin,
            &NewAssessment {
                patient_id: p.id,
                course_id: Some(c.id),
                encounter_id: None,
                response: response("pcl5", "4,4,4,4,4,0,1,4,4,4,4,4,4,4,4,4,4,4,4,4"),
                time_point: "baseline".into(),
                administered_at: at,
            },
        )
        .await
        .expect("record");
    assert_eq!(pcl.assessment.total, Some(73.0));
    assert_eq!(
        pcl.assessment.subscales,
        Some(vec![
            ("B".into(), 20),
            ("C".into(), 1),
            ("D".into(), 28),
            ("E".into(), 24)
        ])
    );
    assert_eq!(
        pcl.assessment.interpretation,
        serde_json::json!({ "provisional_ptsd": false })
    );
    assert!(pcl.alerts.is_empty());

    // ASQ acute positive raises both of its alerting flags.
    let asq = store
        .record_assessment(
            &w.admin,
            &NewAssessment {
                patient_id: p.id,
                course_id: None,
                encounter_id: None,
                response: response("asq", "1,0,0,0,1"),
                time_point: "pre_dose_1".into(),
                administered_at: at,
            },
        )
        .await
        .expect("record");
    assert_eq!(asq.assessment.rater, "self");
    assert_eq!(
        asq.assessment.interpretation,
        serde_json::json!({ "risk": "acute_positive" })
    );
    assert_eq!(
        asq.alerts
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
        ["asq_positive", "asq_acute"]
    );

    let stored = store.assessments_of(&w.admin, p.id).await.expect("list");
    assert_eq!(stored.len(), 3);
    assert!(stored.contains(&rec.assessment) && stored.contains(&pcl.assessment));
    assert_eq!(
        store.alerts_of(&w.admin, p.id).await.expect("alerts").len(),
        3
    );

    // The chart's compact read agrees with the full one, field by field.
    let points = store
        .assessment_points(&w.admin, p.id)
        .await
        .expect("points");
    let projected: Vec<_> = stored
        .iter()
        .map(|a| {
            (
                a.id,
                a.course_id,
                a.instrument.clone(),
                a.time_point.clone(),
                a.complete,
                a.total,
                a.severity.clone(),
                a.flags.join(","),
                a.administered_at,
            )
        })
        .collect();
    let got: Vec<_> = points
        .iter()
        .map(|a| {
            (
                a.id,
                a.course_id,
                a.instrument.clone(),
                a.time_point.clone(),
                a.complete,
                a.total,
                a.severity.clone(),
                a.flags.clone(),
                a.administered_at,
            )
        })
        .collect();
    assert_eq!(got, projected);

    // The compact series holds every scored result; the full points are limited to the latest.
    let chart = store
        .chart_assessments(&w.admin, p.id, 2)
        .await
        .expect("chart");
    let scored: Vec<_> = stored
        .iter()
        .filter_map(|a| {
            Some((
                a.instrument.clone(),
                a.administered_at,
                a.total?,
                a.time_point.clone(),
            ))
        })
        .collect();
    let mut series: Vec<_> = chart
        .series
        .iter()
        .map(|s| {
            (
                s.instrument.clone(),
                s.administered_at,
                s.total,
                s.time_point.clone(),
            )
        })
        .collect();
    series.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut scored = scored;
    scored.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    assert!(!series.is_empty());
    assert_eq!(series, scored);
    assert_eq!(chart.count, 3);
    assert_eq!(chart.recent, points[1..].to_vec());
    let nobody = patient(store, &w, "No", "Answers").await;
    assert!(
        store
            .assessment_points(&w.admin, nobody.id)
            .await
            .expect("points")
            .is_empty()
    );
}

async fn a_refused_assessment_writes_nothing(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let q = patient(store, &w, "Grace", "Hopper").await;
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: q.id,
                indication: Indication::Gad,
                planned_route: None,
                protocol: "kap-6".into(),
                plan: CoursePlan::default(),
            },
        )
        .await
        .expect("open");
    let before = audit_count(store, &w).await;
    let e = store
        .record_assessment(
            &w.admin,
            &NewAssessment {
                patient_id: p.id,
                course_id: Some(c.id),
                encounter_id: None,
                response: response("phq9", "3,3,3,3,3,3,3,3,3"),
                time_point: "baseline".into(),
                administered_at: Timestamp::from_second(1_790_000_000).expect("valid"),
            },
        )
        .await;
    assert!(
        matches!(
            e,
            Err(StoreError::Invalid {
                field: "course_id",
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        audit_count(store, &w).await,
        before,
        "no audit event for a refused write"
    );
    assert!(
        store
            .open_alerts(&w.admin, Scope::Clinic)
            .await
            .expect("alerts")
            .is_empty(),
        "no alert from a refused write"
    );
    assert!(
        store
            .assessments_of(&w.admin, p.id)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn alerts_close_only_with_a_named_clinician_and_a_note(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let rec = store
        .record_assessment(
            &w.admin,
            &NewAssessment {
                patient_id: p.id,
                course_id: None,
                encounter_id: None,
                response: response("phq9", "0,0,0,0,0,0,0,0,1"),
                time_point: "week_1".into(),
                administered_at: Timestamp::from_second(1_790_000_000).expect("valid"),
            },
        )
        .await
        .expect("record");
    let alert = rec.alerts.first().expect("an alert").clone();
    let open = store
        .open_alerts(&w.admin, Scope::Clinic)
        .await
        .expect("open");
    assert_eq!(open.iter().map(|a| a.id).collect::<Vec<_>>(), [alert.id]);

    let system = AuditContext {
        clinic_id: w.clinic.id,
        actor: Actor::System,
        origin: "cli".into(),
    };
    assert!(matches!(
        store.acknowledge_alert(&system, alert.id, "done").await,
        Err(StoreError::Invalid { field: "actor", .. })
    ));
    assert!(matches!(
        store.acknowledge_alert(&w.admin, alert.id, "   ").await,
        Err(StoreError::Invalid {
            field: "action_note",
            ..
        })
    ));
    let closed = store
        .acknowledge_alert(
            &w.admin,
            alert.id,
            "Called patient; safety plan reviewed; no current intent.",
        )
        .await
        .expect("ack");
    assert_eq!(closed.acknowledged_by, Some(w.user));
    assert!(closed.acknowledged_at.is_some());
    assert!(matches!(
        store.acknowledge_alert(&w.admin, alert.id, "again").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .open_alerts(&w.admin, Scope::Clinic)
            .await
            .expect("open")
            .is_empty()
    );
    let other = world(store).await;
    assert!(matches!(
        store
            .acknowledge_alert(&other.admin, alert.id, "not mine")
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn every_read_and_write_is_audited_in_an_intact_chain(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    store.patient(&w.admin, p.id).await.expect("read");
    store.patient(&w.admin, p.id).await.expect("read again");
    let events = store
        .audit_events(
            w.clinic.id,
            &AuditFilter {
                patient_id: Some(p.id),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("events");
    let actions: Vec<_> = events.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["patient.create", "patient.read", "patient.read"]);
    assert!(
        events
            .iter()
            .all(|e| e.actor_id == Some(w.user.0) && e.origin == "127.0.0.1")
    );
    let all = store
        .audit_events(
            w.clinic.id,
            &AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("all");
    let seqs: Vec<i64> = all.iter().rev().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=all.len() as i64).collect::<Vec<_>>());
    assert_eq!(all.last().map(|e| e.action.as_str()), Some("clinic.create"));
    let by_actor = store
        .audit_events(
            w.clinic.id,
            &AuditFilter {
                actor_id: Some(w.user.0),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("by actor");
    assert_eq!(by_actor.len(), 3);

    let report = store.verify_audit_chain().await.expect("verify");
    assert_eq!(report.broken, None);
    assert_eq!(report.events, all.len() as i64);
}

async fn concurrent_writers_never_fork_the_chain(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let tasks = (0..24).map(|i| {
        let w = &w;
        async move {
            if i % 3 == 0 {
                store
                    .create_patient(
                        &w.admin,
                        &NewPatient {
                            mrn: None,
                            details: details("P", &format!("N{i}")),
                        },
                    )
                    .await
                    .map(|_| ())
            } else {
                store.patient(&w.admin, p.id).await.map(|_| ())
            }
        }
    });
    for r in futures_util::future::join_all(tasks).await {
        r.expect("concurrent call");
    }
    let report = store.verify_audit_chain().await.expect("verify");
    assert_eq!(report.broken, None);
    // world: clinic.create + user.add; then 1 + 24 patient events.
    assert_eq!(report.events, 2 + 1 + 24);
    let mrns: std::collections::BTreeSet<String> = store
        .find_patients(&w.admin, Scope::Clinic, "K0", 100)
        .await
        .expect("search")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    assert_eq!(mrns.len(), 9, "every concurrently assigned MRN is distinct");
}

async fn settings_default_to_988_and_are_checked(store: &dyn Store) {
    let w = world(store).await;
    let s = store.settings(w.clinic.id).await.expect("settings");
    assert_eq!(s.crisis_line, "988");
    assert!(
        !s.answers_monitored_live,
        "the portal never implies live monitoring by default"
    );
    assert!(
        s.mfa_exempt_roles.is_empty(),
        "MFA for every role by default"
    );
    let mut changed = s.clone();
    changed.crisis_line = "1-800-273-8255".into();
    changed.address = "1 Main St".into();
    changed.mfa_exempt_roles = vec![Role::Researcher];
    store.save_settings(&w.admin, &changed).await.expect("save");
    assert_eq!(
        store.settings(w.clinic.id).await.expect("settings"),
        changed
    );
    let mut bad = changed.clone();
    bad.portal_link_days = 0;
    let e = store.save_settings(&w.admin, &bad).await;
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("portal_link_days: 0 is outside the allowed range 1-60".to_string())
    );
    assert_eq!(
        store.settings(w.clinic.id).await.expect("settings"),
        changed,
        "nothing half-written"
    );
}

async fn care_teams_scope_what_a_clinician_sees(store: &dyn Store) {
    let w = world(store).await;
    let mine = patient(store, &w, "Ada", "Lovelace").await;
    let theirs = patient(store, &w, "Grace", "Hopper").await;
    let team = store.create_team(&w.admin, "Team A").await.expect("team");
    assert!(matches!(
        store.create_team(&w.admin, "Team A").await,
        Err(StoreError::Conflict(_))
    ));
    store
        .add_team_member(&w.admin, team.id, w.user)
        .await
        .expect("member");
    store
        .assign_patient(&w.admin, team.id, mine.id)
        .await
        .expect("assign");
    store
        .assign_patient(&w.admin, team.id, mine.id)
        .await
        .expect("assigning twice is harmless");
    let of_patient = store
        .teams_of_patient(w.clinic.id, mine.id)
        .await
        .expect("teams");
    assert_eq!(
        of_patient.iter().map(|t| t.id).collect::<Vec<_>>(),
        [team.id]
    );
    assert!(
        store
            .teams_of_patient(w.clinic.id, theirs.id)
            .await
            .expect("teams")
            .is_empty()
    );
    let staff = store.users(w.clinic.id).await.expect("users");
    assert_eq!(staff.iter().map(|u| u.id).collect::<Vec<_>>(), [w.user]);
    assert!(
        store
            .in_care_team(w.clinic.id, w.user, mine.id)
            .await
            .expect("check")
    );
    assert!(
        !store
            .in_care_team(w.clinic.id, w.user, theirs.id)
            .await
            .expect("check")
    );
    let scope = Scope::CareTeamsOf(w.user);
    let seen = store
        .find_patients(&w.admin, scope, "", 50)
        .await
        .expect("search");
    assert_eq!(seen.iter().map(|p| p.id).collect::<Vec<_>>(), [mine.id]);
    assert_eq!(
        store
            .find_patients(&w.admin, Scope::Clinic, "", 50)
            .await
            .expect("search")
            .len(),
        2
    );
    for p in [&mine, &theirs] {
        store
            .record_assessment(
                &w.admin,
                &NewAssessment {
                    patient_id: p.id,
                    course_id: None,
                    encounter_id: None,
                    response: response("phq9", "0,0,0,0,0,0,0,0,2"),
                    time_point: "week_1".into(),
                    administered_at: Timestamp::from_second(1_790_000_000).expect("valid"),
                },
            )
            .await
            .expect("record");
    }
    let alerts = store.open_alerts(&w.admin, scope).await.expect("alerts");
    assert_eq!(
        alerts.iter().map(|a| a.patient_id).collect::<Vec<_>>(),
        [mine.id]
    );
    assert_eq!(
        store
            .teams_of_user(w.clinic.id, w.user)
            .await
            .expect("teams"),
        [team]
    );
}

async fn credentials_sessions_and_one_time_tokens(store: &dyn Store) {
    let w = world(store).await;
    let found = store
        .users_by_email(" PRESCRIBER@example.org ")
        .await
        .expect("lookup");
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [w.user]);
    assert_eq!(
        store.credential(w.clinic.id, w.user).await.expect("cred"),
        None
    );
    let cred = Credential {
        clinic_id: w.clinic.id,
        user_id: w.user,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
        totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
        totp_confirmed: false,
        totp_last_step: None,
        failed_attempts: 0,
        locked_until: None,
        security_stamp: "s1".into(),
    };
    store.save_credential(&w.admin, &cred).await.expect("save");
    assert_eq!(
        store.credential(w.clinic.id, w.user).await.expect("cred"),
        Some(cred.clone())
    );
    // Two attempts allowed: the second locks until `lock`, a third is refused unchecked, and
    // once the lock has run out the count starts again.
    let t0 = Timestamp::from_second(1_900_000_000).expect("valid");
    let lock = Timestamp::from_second(2_000_000_000).expect("valid");
    let mut taken = Vec::new();
    for at in [t0, t0, t0] {
        taken.push(
            store
                .take_sign_in_attempt(w.clinic.id, w.user, at, 2, lock)
                .await
                .expect("attempt"),
        );
    }
    assert_eq!(
        taken,
        [Attempt::Counted(1), Attempt::Counted(2), Attempt::Refused]
    );
    let locked = store
        .credential(w.clinic.id, w.user)
        .await
        .expect("cred")
        .expect("some");
    assert_eq!(
        (locked.failed_attempts, locked.locked_until),
        (2, Some(lock))
    );
    let after = lock + jiff::SignedDuration::from_secs(1);
    assert_eq!(
        store
            .take_sign_in_attempt(w.clinic.id, w.user, after, 2, after)
            .await
            .expect("attempt"),
        Attempt::Counted(1),
        "a lock that ran out starts the count again"
    );
    store
        .clear_sign_in_failures(w.clinic.id, w.user)
        .await
        .expect("clear");
    let cleared = store
        .credential(w.clinic.id, w.user)
        .await
        .expect("cred")
        .expect("some");
    assert_eq!((cleared.failed_attempts, cleared.locked_until), (0, None));
    assert_eq!(
        cleared.password_hash, cred.password_hash,
        "nothing else moved"
    );
    // A TOTP step is used once, and an older one not at all.
    for (step, fresh) in [(100, true), (100, false), (99, false), (101, true)] {
        assert_eq!(
            store
                .use_totp_step(w.clinic.id, w.user, step)
                .await
                .expect("step"),
            fresh,
            "step {step}"
        );
    }

    let future = kapstone_store::model::now() + jiff::SignedDuration::from_hours(1);
    let past = kapstone_store::model::now() - jiff::SignedDuration::from_hours(1);
    store
        .create_setup_token(&w.admin, w.user, "hash-live", future)
        .await
        .expect("token");
    store
        .create_setup_token(&w.admin, w.user, "hash-old", past)
        .await
        .expect("token");
    assert_eq!(
        store.peek_setup_token("hash-live").await.expect("peek"),
        Some((w.clinic.id, w.user))
    );
    assert_eq!(
        store.consume_setup_token("hash-live").await.expect("use"),
        Some((w.clinic.id, w.user))
    );
    assert_eq!(
        store.consume_setup_token("hash-live").await.expect("reuse"),
        None,
        "single use"
    );
    assert_eq!(
        store.consume_setup_token("hash-old").await.expect("old"),
        None,
        "expired"
    );
    assert_eq!(store.peek_setup_token("nope").await.expect("peek"), None);

    store
        .replace_recovery_codes(&w.admin, w.user, &["r1".into(), "r2".into()])
        .await
        .expect("codes");
    assert!(
        store
            .use_recovery_code(&w.admin, w.user, "r1")
            .await
            .expect("use")
    );
    assert!(
        !store
            .use_recovery_code(&w.admin, w.user, "r1")
            .await
            .expect("reuse")
    );
    assert!(
        !store
            .use_recovery_code(&w.admin, w.user, "zz")
            .await
            .expect("unknown")
    );

    let at = kapstone_store::model::now();
    let session = StaffSession {
        id: SessionId::new(),
        clinic_id: w.clinic.id,
        user_id: w.user,
        mfa_verified: true,
        csrf_token: "csrf".into(),
        security_stamp: "s1".into(),
        origin: "127.0.0.1".into(),
        created_at: at,
        last_seen_at: at,
        expires_at: future,
    };
    store
        .create_session(&session, "session-hash")
        .await
        .expect("session");
    assert_eq!(
        store.session_by_token("session-hash").await.expect("find"),
        Some(session.clone())
    );
    let later = at + jiff::SignedDuration::from_mins(5);
    store
        .touch_session(w.clinic.id, session.id, later)
        .await
        .expect("touch");
    assert_eq!(
        store
            .session_by_token("session-hash")
            .await
            .expect("find")
            .map(|s| s.last_seen_at),
        Some(later)
    );
    store
        .delete_session(w.clinic.id, session.id)
        .await
        .expect("delete");
    assert_eq!(
        store.session_by_token("session-hash").await.expect("find"),
        None
    );
}

async fn a_course_plan_writes_encounters_and_the_schedule(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let template = kapstone_clinical::protocol::template("kap-6").expect("template");
    let plan = template.plan(Indication::Ptsd, date(2026, 1, 5));
    let (n_enc, n_due) = (plan.encounters.len(), plan.assessments.len());
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: p.id,
                indication: Indication::Ptsd,
                planned_route: None,
                protocol: "kap-6".into(),
                plan,
            },
        )
        .await
        .expect("open");
    let encounters = store.encounters(&w.admin, c.id).await.expect("encounters");
    assert_eq!(encounters.len(), n_enc);
    let first_dose = encounters
        .iter()
        .find(|e| e.kind == EncounterKind::Dosing && e.sequence == 1)
        .expect("dose 1");
    // 09:00 in America/Denver on 2026-01-19 is 16:00 UTC.
    assert_eq!(
        first_dose.planned_for.map(|t| t.to_string()),
        Some("2026-01-19T16:00:00Z".into())
    );
    let dues = store.dues_of(&w.admin, p.id).await.expect("dues");
    assert_eq!(dues.len(), n_due);
    assert_eq!(dues[0].due_on, date(2026, 1, 5));
    assert!(
        dues.iter()
            .all(|d| d.assessment_id.is_none() && d.course_id == c.id)
    );
}

async fn portal_links_are_single_use_and_expire(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let plan = kapstone_clinical::protocol::template("kap-6")
        .expect("template")
        .plan(Indication::Mdd, date(2026, 1, 5));
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: p.id,
                indication: Indication::Mdd,
                planned_route: None,
                protocol: "kap-6".into(),
                plan,
            },
        )
        .await
        .expect("open");
    let dues = store.dues_of(&w.admin, p.id).await.expect("dues");
    let phq = dues
        .iter()
        .find(|d| d.instrument == "phq9")
        .expect("phq9 due")
        .clone();
    let gad = dues
        .iter()
        .find(|d| d.instrument == "gad7")
        .expect("gad7 due")
        .clone();
    let future = kapstone_store::model::now() + jiff::SignedDuration::from_hours(24 * 7);
    let past = kapstone_store::model::now() - jiff::SignedDuration::from_secs(1);
    let link = store
        .create_portal_link(&w.admin, phq.id, "tok-phq", future)
        .await
        .expect("link");
    assert_eq!(link.created_by, Some(w.user));
    store
        .create_portal_link(&w.admin, gad.id, "tok-old", past)
        .await
        .expect("link");

    assert_eq!(
        store
            .open_portal_link("tok-old", "198.51.100.7")
            .await
            .expect("open"),
        None,
        "expired"
    );
    assert_eq!(
        store
            .open_portal_link("nope", "198.51.100.7")
            .await
            .expect("open"),
        None
    );
    let (opened, due) = store
        .open_portal_link("tok-phq", "198.51.100.7")
        .await
        .expect("open")
        .expect("live");
    assert_eq!((opened.id, due.id), (link.id, phq.id));
    assert_eq!(
        store
            .answered_portal_link("tok-phq")
            .await
            .expect("answered"),
        None,
        "live, not answered"
    );

    // The wrong instrument is refused and the link stays usable.
    let wrong = store
        .submit_portal_response("tok-phq", "198.51.100.7", &|_: &Due| {
            Ok(response("gad7", "0,0,0,0,0,0,0"))
        })
        .await;
    assert!(
        matches!(
            wrong,
            Err(StoreError::Invalid {
                field: "instrument",
                ..
            })
        ),
        "{wrong:?}"
    );
    // Answers refused by the caller's check leave the link live and store nothing.
    let refused = store
        .submit_portal_response("tok-phq", "198.51.100.7", &|due: &Due| {
            Err(StoreError::Field(
                kapstone_clinical::dosing::FieldError::new(
                    "item 9",
                    format!("please answer question 9 of {}", due.instrument),
                ),
            ))
        })
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Field(f)) if f.field == "item 9"),
        "{refused:?}"
    );
    let rec = store
        .submit_portal_response("tok-phq", "198.51.100.7", &|_: &Due| {
            Ok(response("phq9", "1,1,1,1,1,1,1,1,1"))
        })
        .await
        .expect("submit")
        .expect("accepted");
    assert_eq!(rec.assessment.course_id, Some(c.id));
    assert_eq!(rec.assessment.time_point, "baseline");
    assert_eq!(rec.alerts.len(), 1, "item 9 raised an alert");
    let again = store
        .submit_portal_response("tok-phq", "198.51.100.7", &|_: &Due| {
            Ok(response("phq9", "0,0,0,0,0,0,0,0,0"))
        })
        .await
        .expect("submit");
    assert_eq!(again, None, "single use");
    assert_eq!(
        store
            .answered_portal_link("tok-phq")
            .await
            .expect("answered"),
        Some(w.clinic.id),
        "a used link knows its answers are stored"
    );
    for unanswered in ["tok-old", "nope"] {
        assert_eq!(
            store
                .answered_portal_link(unanswered)
                .await
                .expect("answered"),
            None,
            "{unanswered}"
        );
    }
    assert_eq!(
        store.open_portal_link("tok-phq", "x").await.expect("open"),
        None
    );
    let done = store.due(&w.admin, phq.id).await.expect("due");
    assert_eq!(done.assessment_id, Some(rec.assessment.id));
    assert!(matches!(
        store
            .create_portal_link(&w.admin, phq.id, "tok-2", future)
            .await,
        Err(StoreError::Invalid { field: "due", .. })
    ));
    let events = store
        .audit_events(
            w.clinic.id,
            &AuditFilter {
                patient_id: Some(p.id),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("audit");
    let by_patient: Vec<&str> = events
        .iter()
        .filter(|e| e.actor_kind == "patient")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        by_patient,
        ["alert.raise", "assessment.record", "portal.open"]
    );
    assert!(
        events
            .iter()
            .filter(|e| e.actor_kind == "patient")
            .all(|e| e.origin == "198.51.100.7")
    );
}

async fn imports_are_all_or_nothing(store: &dyn Store) {
    let w = world(store).await;
    let team = store.create_team(&w.admin, "Imported").await.expect("team");
    let t0 = Timestamp::from_second(1_780_000_000).expect("valid");
    let day = jiff::SignedDuration::from_hours(24);
    let plan = kapstone_clinical::protocol::template("kap-6")
        .expect("t")
        .plan(Indication::Ptsd, date(2026, 5, 29));
    let course = |history: Vec<(CourseStatus, Timestamp, Option<String>)>| ImportCourse {
        indication: Indication::Ptsd,
        planned_route: Some(Route::Im),
        protocol: "kap-6".into(),
        opened_at: t0,
        history,
        encounters: vec![ImportEncounter {
            kind: EncounterKind::Dosing,
            status: kapstone_clinical::course::EncounterStatus::Completed,
            planned_for: t0 + day * 14,
            occurred_at: Some(t0 + day * 14),
            dose: None,
        }],
        assessments: vec![
            ImportAssessment {
                result: ImportResult::Scored(Box::new(response("phq9", "2,2,2,2,2,2,2,2,1"))),
                time_point: "baseline".into(),
                administered_at: t0,
            },
            ImportAssessment {
                result: ImportResult::Scored(Box::new(response("phq9", "1,1,1,1,1,1,1,1,1"))),
                time_point: "month_1".into(),
                administered_at: t0 + day * 60,
            },
        ],
        dues: plan.assessments.clone(),
    };
    let good = ImportPatient {
        mrn: Some("LEGACY-1".into()),
        details: details("Ada", "Lovelace"),
        teams: vec![team.id],
        courses: vec![course(vec![
            (CourseStatus::Screening, t0, None),
            (CourseStatus::Preparation, t0 + day, None),
            (CourseStatus::Active, t0 + day * 14, None),
        ])],
    };
    let policy = ImportAlerts {
        acknowledged_before: t0 + day * 30,
        acknowledged_by: w.user,
        note: "reviewed at the time".into(),
    };
    // A second patient whose course skips a status: the whole import is refused.
    let mut bad = good.clone();
    bad.mrn = Some("LEGACY-2".into());
    bad.courses = vec![course(vec![
        (CourseStatus::Screening, t0, None),
        (CourseStatus::Active, t0 + day, None),
    ])];
    let before = audit_count(store, &w).await;
    let refused = store
        .import(&w.admin, &[good.clone(), bad], &policy, &|_| {})
        .await;
    assert!(
        matches!(refused, Err(StoreError::Transition(_))),
        "{refused:?}"
    );
    assert_eq!(audit_count(store, &w).await, before, "nothing written");
    assert!(
        store
            .find_patients(&w.admin, Scope::Clinic, "", 10)
            .await
            .expect("search")
            .is_empty()
    );

    let heard = std::sync::Mutex::new(Vec::new());
    let counts = store
        .import(&w.admin, &[good], &policy, &|n| {
            heard.lock().expect("lock").push(n)
        })
        .await
        .expect("import");
    assert_eq!(
        *heard.lock().expect("lock"),
        [1],
        "progress after each patient"
    );
    assert_eq!(
        counts,
        ImportCounts {
            patients: 1,
            courses: 1,
            encounters: 1,
            assessments: 2,
            alerts: 2
        }
    );
    let p = store
        .find_patients(&w.admin, Scope::CareTeamsOf(w.user), "", 10)
        .await
        .expect("search");
    assert!(p.is_empty(), "imported into a team the user is not on");
    let p = store
        .find_patients(&w.admin, Scope::Clinic, "legacy-1", 10)
        .await
        .expect("search");
    let p = p.first().expect("imported");
    let alerts = store.alerts_of(&w.admin, p.id).await.expect("alerts");
    let acked: Vec<bool> = alerts.iter().map(|a| a.acknowledged_at.is_some()).collect();
    assert_eq!(
        acked,
        [true, false],
        "the old flag arrives acknowledged, the recent one open"
    );
    let chart = store
        .chart_assessments(&w.admin, p.id, 10)
        .await
        .expect("chart");
    let series: Vec<_> = chart
        .series
        .iter()
        .map(|s| (s.administered_at, s.total, s.time_point.as_str()))
        .collect();
    assert_eq!(
        series,
        [(t0, 17.0, "baseline"), (t0 + day * 60, 9.0, "month_1")],
        "the import writes the chart's series too"
    );
    let dues = store.dues_of(&w.admin, p.id).await.expect("dues");
    assert_eq!(
        dues.iter().filter(|d| d.assessment_id.is_some()).count(),
        2,
        "baseline and month 1 PHQ-9 completed"
    );
    let courses = store.courses_of(&w.admin, p.id).await.expect("courses");
    assert_eq!(courses[0].status, CourseStatus::Active);
    assert_eq!(
        store
            .course_history(&w.admin, courses[0].id)
            .await
            .expect("history")
            .len(),
        3
    );
    assert_eq!(
        store.verify_audit_chain().await.expect("verify").broken,
        None
    );
}

/// Enough patients for several of the import's writes and a statistics refresh (after 32), then
/// record numbers already used, within the import and in the clinic: refused, nothing written.
async fn large_imports_are_written_in_order_and_still_all_or_nothing(store: &dyn Store) {
    let w = world(store).await;
    let t0 = Timestamp::from_second(1_780_000_000).expect("valid");
    let day = jiff::SignedDuration::from_hours(24);
    let patient = |mrn: String| ImportPatient {
        mrn: Some(mrn),
        details: details("Grace", "Hopper"),
        teams: vec![],
        courses: vec![ImportCourse {
            indication: Indication::Mdd,
            planned_route: Some(Route::Iv),
            protocol: "imported".into(),
            opened_at: t0,
            history: vec![
                (CourseStatus::Screening, t0, None),
                (CourseStatus::Preparation, t0 + day, None),
            ],
            encounters: vec![ImportEncounter {
                kind: EncounterKind::Dosing,
                status: EncounterStatus::Completed,
                planned_for: t0 + day * 7,
                occurred_at: Some(t0 + day * 7),
                dose: None,
            }],
            assessments: vec![ImportAssessment {
                result: ImportResult::Scored(Box::new(response("phq9", "2,2,2,2,2,2,2,2,1"))),
                time_point: "baseline".into(),
                administered_at: t0,
            }],
            dues: vec![],
        }],
    };
    let policy = ImportAlerts {
        acknowledged_before: t0,
        acknowledged_by: w.user,
        note: "reviewed at the time".into(),
    };
    let first: Vec<ImportPatient> = (1..=70).map(|i| patient(format!("BATCH-{i}"))).collect();
    let heard = std::sync::Mutex::new(Vec::new());
    let before = audit_count(store, &w).await;
    let counts = store
        .import(&w.admin, &first, &policy, &|n| {
            heard.lock().expect("lock").push(n)
        })
        .await
        .expect("import");
    assert_eq!(
        *heard.lock().expect("lock"),
        (1..=70).collect::<Vec<_>>(),
        "progress after each patient, in order"
    );
    assert_eq!(
        counts,
        ImportCounts {
            patients: 70,
            courses: 70,
            encounters: 70,
            assessments: 70,
            alerts: 70
        }
    );
    assert_eq!(
        audit_count(store, &w).await,
        before + 70,
        "one event per patient"
    );
    assert_eq!(
        store.verify_audit_chain().await.expect("verify").broken,
        None
    );
    let last = store
        .find_patients(&w.admin, Scope::Clinic, "batch-70", 10)
        .await
        .expect("search");
    let last = last.first().expect("the last write");
    let chart = store
        .chart_assessments(&w.admin, last.id, 10)
        .await
        .expect("chart");
    assert_eq!(chart.series.len(), 1, "its series");
    assert_eq!(
        store
            .alerts_of(&w.admin, last.id)
            .await
            .expect("alerts")
            .len(),
        1
    );

    let after = audit_count(store, &w).await;
    let mut again: Vec<ImportPatient> = (71..=110).map(|i| patient(format!("BATCH-{i}"))).collect();
    again[35] = patient("BATCH-3".into());
    let refused = store.import(&w.admin, &again, &policy, &|_| {}).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("BATCH-3")),
        "{refused:?}"
    );
    let mut twice: Vec<ImportPatient> = (71..=110).map(|i| patient(format!("BATCH-{i}"))).collect();
    twice[5] = patient("BATCH-71".into());
    let refused = store.import(&w.admin, &twice, &policy, &|_| {}).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(audit_count(store, &w).await, after, "nothing written");
    assert!(
        store
            .find_patients(&w.admin, Scope::Clinic, "batch-71", 10)
            .await
            .expect("search")
            .is_empty()
    );
}

macro_rules! conformance {
    ($backend:ident, $make:path; $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $make().await;
                    super::$case(&store).await;
                }
            )+
        }
    };
}

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        conformance!(sqlite, kapstone_store::testing::sqlite_store; $($case),+);
        conformance!(postgres, kapstone_store::testing::postgres_store; $($case),+);
    };
}

both_backends!(
    clinics_and_users,
    patients_are_kept_per_clinic_and_searchable,
    bad_patient_input_is_refused_and_nothing_is_written,
    courses_follow_the_status_machine,
    encounters_are_numbered_per_kind,
    assessments_keep_every_answer_and_raise_alerts,
    a_refused_assessment_writes_nothing,
    alerts_close_only_with_a_named_clinician_and_a_note,
    every_read_and_write_is_audited_in_an_intact_chain,
    concurrent_writers_never_fork_the_chain,
    settings_default_to_988_and_are_checked,
    care_teams_scope_what_a_clinician_sees,
    credentials_sessions_and_one_time_tokens,
    a_course_plan_writes_encounters_and_the_schedule,
    portal_links_are_single_use_and_expire,
    imports_are_all_or_nothing,
    large_imports_are_written_in_order_and_still_all_or_nothing,
    a_course_activates_only_after_eligibility_and_consent,
    a_dosing_day_is_recorded_and_locks_when_signed,
    psychotherapy_notes_reach_only_their_author,
    the_course_series_agrees_with_the_rows,
    dumps_carry_every_row_to_either_backend,
    a_cut_short_load_writes_nothing,
    sign_in_attempts_sent_together_are_counted_one_by_one,
    a_second_admin_approves_new_staff,
);

// ---- The clinical record ----

fn minutes(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

fn all_clear() -> ScreeningInput {
    let answers: Vec<(&str, &str, &str)> = kapstone_clinical::dosing::screening::CONDITIONS
        .iter()
        .map(|c| (c.id, "no", ""))
        .collect();
    ScreeningInput {
        findings: kapstone_clinical::dosing::screening::check_decision(
            &answers,
            &[],
            PregnancyStatus::NotPregnant,
            Decision::Eligible,
        )
        .expect("valid"),
        pregnancy_status: PregnancyStatus::NotPregnant,
        weight_kg: 80.0,
        vitals: Vitals {
            systolic: Some(122),
            diastolic: Some(78),
            heart_rate: Some(70),
            ..Default::default()
        },
        decision: Decision::Eligible,
        notes: None,
    }
}

/// Signs an eligible screening and a consent, so the course may become active.
async fn ready_to_dose(store: &dyn Store, w: &World, course: &Course) -> Consent {
    store
        .sign_screening(&w.admin, course.id, &all_clear())
        .await
        .expect("screening");
    let doc = match store
        .consent_documents(&w.admin)
        .await
        .expect("docs")
        .into_iter()
        .next()
    {
        Some(d) => d,
        None => store
            .add_consent_document(
                &w.admin,
                "2026-1",
                "KAP consent",
                "Off-label use of ketamine…",
            )
            .await
            .expect("document"),
    };
    store
        .sign_consent(
            &w.admin,
            &NewConsent {
                patient_id: course.patient_id,
                document_id: doc.id,
                signer_name: "Ada Lovelace".into(),
                witness_name: "Nurse N".into(),
                signed_at: now() - minutes(600),
            },
        )
        .await
        .expect("consent")
}

/// An active course with one dosing encounter.
async fn dosing_encounter(store: &dyn Store, w: &World, p: &Patient) -> (Course, Encounter) {
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: p.id,
                indication: Indication::Ptsd,
                planned_route: Some(Route::Sublingual),
                protocol: "kap-6".into(),
                plan: CoursePlan::default(),
            },
        )
        .await
        .expect("open");
    ready_to_dose(store, w, &c).await;
    for to in [CourseStatus::Preparation, CourseStatus::Active] {
        store
            .change_course_status(&w.admin, c.id, to, None)
            .await
            .expect("move");
    }
    let e = store
        .add_encounter(
            &w.admin,
            &NewEncounter {
                course_id: c.id,
                kind: EncounterKind::Dosing,
                planned_for: Some(now()),
            },
        )
        .await
        .expect("encounter");
    (c, e)
}

fn checklist() -> Checklist {
    Checklist {
        fasting: true,
        escort_confirmed: true,
        consent_current: true,
        held_medications: None,
        bp_override: None,
    }
}

fn sublingual(mg: f64) -> Dose {
    Dose::parse(&kapstone_clinical::dosing::administration::DoseInput {
        drug: "racemic_ketamine",
        route: "sublingual",
        formulation: "rapid_dissolving_tablet",
        dose_mg: &mg.to_string(),
        weight_kg: "80",
        lot: "LOT-1",
    })
    .expect("dose")
}

fn bp(s: i64, d: i64) -> Vitals {
    Vitals {
        systolic: Some(s),
        diastolic: Some(d),
        heart_rate: Some(80),
        spo2: Some(98),
        resp_rate: Some(14),
    }
}

async fn a_course_activates_only_after_eligibility_and_consent(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let c = store
        .open_course(
            &w.admin,
            &NewCourse {
                patient_id: p.id,
                indication: Indication::Gad,
                planned_route: None,
                protocol: "kap-6".into(),
                plan: CoursePlan::default(),
            },
        )
        .await
        .expect("open");
    store
        .change_course_status(&w.admin, c.id, CourseStatus::Preparation, None)
        .await
        .expect("prep");
    let refused = store
        .change_course_status(&w.admin, c.id, CourseStatus::Active, None)
        .await
        .expect_err("no screening");
    assert!(refused.to_string().starts_with("screening:"), "{refused}");

    store
        .sign_screening(&w.admin, c.id, &all_clear())
        .await
        .expect("sign");
    let again = store.sign_screening(&w.admin, c.id, &all_clear()).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let refused = store
        .change_course_status(&w.admin, c.id, CourseStatus::Active, None)
        .await
        .expect_err("no consent");
    assert!(refused.to_string().starts_with("consent:"), "{refused}");

    let consent = ready_consent(store, &w, &p).await;
    store
        .revoke_consent(&w.admin, consent.id, "patient withdrew")
        .await
        .expect("revoke");
    assert!(
        store
            .change_course_status(&w.admin, c.id, CourseStatus::Active, None)
            .await
            .is_err(),
        "a revoked consent does not count"
    );
    ready_consent(store, &w, &p).await;
    store
        .change_course_status(&w.admin, c.id, CourseStatus::Active, None)
        .await
        .expect("active");
    let consents = store.consents(&w.admin, p.id).await.expect("consents");
    assert_eq!(consents.len(), 2);
    assert_eq!(
        consents[0].revocation_reason.as_deref(),
        Some("patient withdrew")
    );
    assert_eq!(consents[1].version, "v1");
}

async fn ready_consent(store: &dyn Store, w: &World, p: &Patient) -> Consent {
    let doc = match store
        .consent_documents(&w.admin)
        .await
        .expect("docs")
        .first()
    {
        Some(d) => d.clone(),
        None => store
            .add_consent_document(&w.admin, "v1", "Consent", "Text")
            .await
            .expect("doc"),
    };
    store
        .sign_consent(
            &w.admin,
            &NewConsent {
                patient_id: p.id,
                document_id: doc.id,
                signer_name: "Ada Lovelace".into(),
                witness_name: "Nurse N".into(),
                signed_at: now(),
            },
        )
        .await
        .expect("consent")
}

async fn a_dosing_day_is_recorded_and_locks_when_signed(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let (_, e) = dosing_encounter(store, &w, &p).await;
    let t0 = now() - minutes(170);
    let write_before = store
        .add_vitals(&w.admin, e.id, t0, &bp(120, 80))
        .await
        .expect_err("not started");
    assert!(
        write_before.to_string().starts_with("dosing:"),
        "{write_before}"
    );

    // The pre-dose gate: 150/95 needs a written reason.
    let high = DosingStart {
        started_at: t0,
        checklist: checklist(),
        setting: Setting::default(),
        predose: bp(150, 95),
    };
    let gate = store
        .start_dosing(&w.admin, e.id, &high)
        .await
        .expect_err("gate");
    assert!(gate.to_string().starts_with("bp_override:"), "{gate}");
    let start = DosingStart {
        predose: bp(128, 84),
        ..high
    };
    store
        .start_dosing(&w.admin, e.id, &start)
        .await
        .expect("start");

    store
        .add_administration(&w.admin, e.id, &sublingual(100.0), t0 + minutes(10))
        .await
        .expect("dose");
    let early = store
        .add_vitals(&w.admin, e.id, t0 - minutes(5), &bp(120, 80))
        .await
        .expect_err("before start");
    assert!(early.to_string().starts_with("taken_at:"), "{early}");
    let mut raised = Vec::new();
    for i in 0..10 {
        let v = if i == 4 { bp(172, 96) } else { bp(124, 80) };
        let (_, alerts) = store
            .add_vitals(&w.admin, e.id, t0 + minutes(10 + 10 * i), &v)
            .await
            .expect("vitals");
        raised.extend(alerts);
    }
    assert_eq!(raised.len(), 1, "one reading over the limit");
    assert_eq!(raised[0].kind, "vitals_systolic_high");
    assert!(
        store
            .open_alerts(&w.admin, Scope::Clinic)
            .await
            .expect("open")
            .iter()
            .any(|a| a.id == raised[0].id)
    );
    // A booster 20 minutes after the first dose restarts the observation clock.
    store
        .add_administration(&w.admin, e.id, &sublingual(50.0), t0 + minutes(30))
        .await
        .expect("booster");
    store
        .add_observation(&w.admin, e.id, t0 + minutes(50), Measure::Moaas, 4)
        .await
        .expect("observation");
    let event = AdverseEvent::parse(&kapstone_clinical::dosing::events::AdverseEventInput {
        term: "nausea",
        severity: "mild",
        onset_minutes: "35",
        action: "observed",
        outcome: "resolved",
        ..Default::default()
    })
    .expect("ae");
    store
        .add_adverse_event(&w.admin, e.id, &event)
        .await
        .expect("ae");

    let attest = Discharge::parse(true, "Sam (partner)", true).expect("attest");
    let too_soon = store
        .discharge(&w.admin, e.id, t0 + minutes(140), &attest)
        .await
        .expect_err("timer");
    assert!(
        too_soon.to_string().starts_with("discharged_at:"),
        "{too_soon}"
    );
    assert!(too_soon.to_string().contains("10 min early"), "{too_soon}");
    let unsigned = store
        .sign_encounter(&w.admin, e.id)
        .await
        .expect_err("no note");
    assert!(unsigned.to_string().starts_with("note:"), "{unsigned}");
    store
        .save_note(&w.admin, e.id, "Calm session; nausea settled.", None)
        .await
        .expect("note");
    let undischarged = store
        .sign_encounter(&w.admin, e.id)
        .await
        .expect_err("no discharge");
    assert!(
        undischarged.to_string().starts_with("discharge:"),
        "{undischarged}"
    );
    store
        .discharge(&w.admin, e.id, t0 + minutes(150), &attest)
        .await
        .expect("discharge");
    let after = store
        .add_vitals(&w.admin, e.id, t0 + minutes(155), &bp(120, 80))
        .await
        .expect_err("discharged");
    assert!(matches!(after, StoreError::Locked(_)), "{after:?}");
    assert!(
        store
            .add_addendum(&w.admin, e.id, "too early")
            .await
            .is_err(),
        "an addendum needs a signed encounter"
    );
    store.sign_encounter(&w.admin, e.id).await.expect("sign");

    let record = store
        .encounter_record(&w.admin, e.id)
        .await
        .expect("record");
    assert_eq!(record.vitals.len(), 10);
    assert_eq!(record.administrations.len(), 2);
    assert_eq!(record.administrations[0].dose.mg_per_kg(), 1.25);
    assert_eq!(record.observations.len(), 1);
    assert_eq!(record.adverse_events.len(), 1);
    assert!(record.signed.is_some());
    assert_eq!(
        record.encounter.status,
        kapstone_clinical::course::EncounterStatus::Completed
    );
    let d = record.dosing.expect("session");
    assert_eq!(d.discharge.expect("discharge").escort_name, "Sam (partner)");

    // Every write path refuses a signed encounter, and nothing changes.
    let before = audit_count(store, &w).await;
    let lib = Library::builtin().expect("library");
    let cadss = lib.get("cadss6").expect("cadss6");
    let refusals = [
        store
            .save_note(&w.admin, e.id, "rewritten", None)
            .await
            .err(),
        store.sign_encounter(&w.admin, e.id).await.err(),
        store.start_dosing(&w.admin, e.id, &start).await.err(),
        store
            .add_administration(&w.admin, e.id, &sublingual(50.0), t0 + minutes(60))
            .await
            .err(),
        store
            .add_vitals(&w.admin, e.id, t0 + minutes(60), &bp(120, 80))
            .await
            .err(),
        store
            .add_observation(&w.admin, e.id, t0 + minutes(60), Measure::Nausea, 1)
            .await
            .err(),
        store.add_adverse_event(&w.admin, e.id, &event).await.err(),
        store
            .discharge(&w.admin, e.id, t0 + minutes(160), &attest)
            .await
            .err(),
        store
            .record_assessment(
                &w.admin,
                &NewAssessment {
                    patient_id: p.id,
                    course_id: None,
                    encounter_id: Some(e.id),
                    response: cadss.respond(cadss.parse_answers("1,1,1,1,1,1").expect("answers")),
                    time_point: "in_session".into(),
                    administered_at: t0 + minutes(40),
                },
            )
            .await
            .err(),
    ];
    for (i, r) in refusals.iter().enumerate() {
        assert!(
            matches!(r, Some(StoreError::Locked(_))),
            "write path {i}: {r:?}"
        );
    }
    assert_eq!(audit_count(store, &w).await, before, "nothing written");
    assert_eq!(
        store
            .encounter_record(&w.admin, e.id)
            .await
            .expect("record")
            .note
            .expect("note")
            .body,
        "Calm session; nausea settled."
    );
    let add = store
        .add_addendum(&w.admin, e.id, "Patient called next day: well.")
        .await
        .expect("addendum");
    let record = store
        .encounter_record(&w.admin, e.id)
        .await
        .expect("record");
    assert_eq!(record.addenda, [add]);
    assert_eq!(
        store.verify_audit_chain().await.expect("verify").broken,
        None
    );
}

async fn psychotherapy_notes_reach_only_their_author(store: &dyn Store) {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let (_, e) = dosing_encounter(store, &w, &p).await;
    let marker = "PSYNOTE-MARKER-7f3a9c";
    let id = store
        .write_psychotherapy_note(
            &w.admin,
            p.id,
            &SealedText::new(format!("Session content {marker}")),
        )
        .await
        .expect("write");
    let mine = store
        .my_psychotherapy_notes(&w.admin, p.id)
        .await
        .expect("mine");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, id);
    assert!(mine[0].body.reveal().contains(marker));
    assert!(
        !format!("{mine:?}").contains(marker),
        "Debug does not print the text"
    );

    let system = AuditContext {
        clinic_id: w.clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let other = store
        .add_user(
            &system,
            &NewUser {
                email: "therapist@example.org".into(),
                display_name: "T".into(),
                role: Role::Therapist,
            },
        )
        .await
        .expect("user");
    let theirs = AuditContext {
        actor: Actor::User(other.id),
        ..w.admin.clone()
    };
    assert!(
        store
            .my_psychotherapy_notes(&theirs, p.id)
            .await
            .expect("none")
            .is_empty()
    );
    assert!(store.my_psychotherapy_notes(&system, p.id).await.is_err());

    // Nothing else the store returns about the patient carries it.
    store
        .save_note(&w.admin, e.id, "Ordinary note", None)
        .await
        .expect("note");
    let mut seen = String::new();
    seen += &format!(
        "{:?}",
        store.patient(&w.admin, p.id).await.expect("patient")
    );
    seen += &format!(
        "{:?}",
        store
            .encounter_record(&w.admin, e.id)
            .await
            .expect("record")
    );
    seen += &format!(
        "{:?}",
        store
            .chart_assessments(&w.admin, p.id, 100)
            .await
            .expect("chart")
    );
    seen += &format!(
        "{:?}",
        store.alerts_of(&w.admin, p.id).await.expect("alerts")
    );
    seen += &format!(
        "{:?}",
        store.consents(&w.admin, p.id).await.expect("consents")
    );
    seen += &format!(
        "{:?}",
        store
            .audit_events(
                w.clinic.id,
                &AuditFilter {
                    limit: 10_000,
                    ..Default::default()
                }
            )
            .await
            .expect("audit")
    );
    assert!(seen.contains("Ordinary note"), "the scan reads real output");
    assert!(!seen.contains(marker));
}

// ---- The course outcome series (migration 0006) ----

type CourseOutcomes = std::collections::BTreeMap<
    CourseId,
    (
        Vec<jiff::civil::Date>,
        Vec<(std::sync::Arc<str>, jiff::civil::Date, f64)>,
    ),
>;

/// Every course's completed doses and scored questionnaires worked out from the encounter and
/// assessment rows, as the outcome snapshot must give them: dates in the clinic's time zone,
/// scores ordered by date, then instrument, time and total.
async fn outcomes_from_rows(store: &dyn Store, w: &World) -> CourseOutcomes {
    let tz = jiff::tz::TimeZone::get(&w.clinic.time_zone).expect("zone");
    let day = |t: Timestamp| t.to_zoned(tz.clone()).date();
    let mut out = CourseOutcomes::new();
    let patients = store
        .find_patients(&w.admin, Scope::Clinic, "", 1_000)
        .await
        .expect("patients");
    for p in &patients {
        for c in store.courses_of(&w.admin, p.id).await.expect("courses") {
            out.insert(c.id, (Vec::new(), Vec::new()));
        }
        for e in store
            .patient_encounters(&w.admin, p.id)
            .await
            .expect("encounters")
        {
            if let (EncounterKind::Dosing, EncounterStatus::Completed, Some(at)) =
                (e.kind, e.status, e.occurred_at)
            {
                out.get_mut(&e.course_id).expect("course").0.push(day(at));
            }
        }
        let mut scored: Vec<_> = store
            .assessments_of(&w.admin, p.id)
            .await
            .expect("assessments")
            .into_iter()
            .filter_map(|a| Some((a.course_id?, a.instrument, a.administered_at, a.total?)))
            .collect();
        scored.sort_by(|a, b| {
            (day(a.2), &a.1, a.2)
                .cmp(&(day(b.2), &b.1, b.2))
                .then(a.3.total_cmp(&b.3))
        });
        for (course, instrument, at, total) in scored {
            out.get_mut(&course)
                .expect("course")
                .1
                .push((instrument.into(), day(at), total));
        }
    }
    for (doses, _) in out.values_mut() {
        doses.sort();
    }
    out
}

/// The snapshot, read from the course series, against the rows; and each patient's latest ACE.
async fn series_agree_with_rows(store: &dyn Store, w: &World) {
    let snapshot = store.outcome_snapshot(&w.admin).await.expect("snapshot");
    let got: CourseOutcomes = snapshot
        .courses
        .iter()
        .map(|c| (c.course_id, (c.doses.clone(), c.assessments.clone())))
        .collect();
    assert_eq!(got, outcomes_from_rows(store, w).await);
    let mut ace = std::collections::HashMap::new();
    for p in store
        .find_patients(&w.admin, Scope::Clinic, "", 1_000)
        .await
        .expect("patients")
    {
        let mut rows = store.assessments_of(&w.admin, p.id).await.expect("rows");
        rows.retain(|a| a.instrument == "ace" && a.total.is_some());
        if let Some(last) = rows.iter().max_by_key(|a| (a.administered_at, a.id)) {
            ace.insert(p.id, last.total.expect("total"));
        }
    }
    assert_eq!(snapshot.ace, ace);
}

async fn sign_with_note(store: &dyn Store, w: &World, e: EncounterId) {
    store
        .save_note(&w.admin, e, "Seen.", None)
        .await
        .expect("note");
    store.sign_encounter(&w.admin, e).await.expect("sign");
}

/// Writes through every path that adds to a course's series, checking the series against the
/// rows after each: recorded assessments with and without a course or a total, dosing and
/// other sessions signed, an import, and imported sessions signed afterwards.
async fn course_series_story(store: &dyn Store) -> World {
    let w = world(store).await;
    let p = patient(store, &w, "Ada", "Lovelace").await;
    let c = mdd_course(store, &w, p.id).await;
    // 23:30 in Denver on 7 March 2026 is already the 8th in UTC.
    let late = Timestamp::from_second(1_772_951_400).expect("valid");
    let hour = jiff::SignedDuration::from_hours(1);
    let recorded = [
        (Some(c.id), "phq9", "2,2,2,2,2,2,2,2,1", late),
        (Some(c.id), "gad7", "1,1,1,1,1,1,1", late - hour),
        (Some(c.id), "phq9", "2,-,1,3,0,0,0,0,0", late + hour), // no total
        (None, "gad7", "3,3,3,3,3,3,3", late),                  // no course
        (None, "ace", "1,0,1,0,0,0,0,0,0,0", late),
        (Some(c.id), "ace", "1,1,1,0,0,0,0,0,0,0", late + hour * 24),
    ];
    for (course_id, id, answers, at) in recorded {
        let new = NewAssessment {
            patient_id: p.id,
            course_id,
            encounter_id: None,
            response: response(id, answers),
            time_point: "baseline".into(),
            administered_at: at,
        };
        store
            .record_assessment(&w.admin, &new)
            .await
            .expect("record");
    }
    series_agree_with_rows(store, &w).await;

    let (_, dosing) = dosing_encounter(store, &w, &p).await;
    let prep = store
        .add_encounter(
            &w.admin,
            &NewEncounter {
                course_id: dosing.course_id,
                kind: EncounterKind::Preparation,
                planned_for: Some(now()),
            },
        )
        .await
        .expect("preparation");
    sign_with_note(store, &w, prep.id).await;
    sign_with_note(store, &w, dosing.id).await;
    series_agree_with_rows(store, &w).await;
    assert_eq!(
        store
            .outcome_snapshot(&w.admin)
            .await
            .expect("snapshot")
            .courses
            .iter()
            .map(|c| c.doses.len())
            .sum::<usize>(),
        1,
        "the signed dosing session and nothing else"
    );

    let t0 = late - jiff::SignedDuration::from_hours(24 * 30);
    let day = jiff::SignedDuration::from_hours(24);
    let session = |status, occurred_at| ImportEncounter {
        kind: EncounterKind::Dosing,
        status,
        planned_for: t0 + day * 7,
        occurred_at,
        dose: None,
    };
    let total_only = |instrument: &str, total: f64, at| ImportAssessment {
        result: ImportResult::TotalOnly {
            instrument: instrument.into(),
            version: "1".into(),
            rater: "self".into(),
            total,
            severity: None,
        },
        time_point: "week_1".into(),
        administered_at: at,
    };
    let imported = ImportPatient {
        mrn: Some("LEGACY-9".into()),
        details: details("Grace", "Hopper"),
        teams: vec![],
        courses: vec![ImportCourse {
            indication: Indication::Ptsd,
            planned_route: Some(Route::Im),
            protocol: "kap-6".into(),
            opened_at: t0,
            history: vec![
                (CourseStatus::Screening, t0, None),
                (CourseStatus::Preparation, t0 + day, None),
                (CourseStatus::Active, t0 + day * 2, None),
            ],
            encounters: vec![
                session(EncounterStatus::Completed, Some(t0 + day * 7 + hour * 6)),
                session(EncounterStatus::Completed, None),
                session(EncounterStatus::Planned, None),
                ImportEncounter {
                    kind: EncounterKind::Integration,
                    ..session(EncounterStatus::Completed, Some(t0 + day * 8))
                },
            ],
            assessments: vec![
                ImportAssessment {
                    result: ImportResult::Scored(Box::new(response("phq9", "1,1,1,1,1,1,1,1,1"))),
                    time_point: "baseline".into(),
                    administered_at: t0,
                },
                // Totals whose shortest text has many digits must come back exactly.
                total_only("gad7", 0.1 + 0.2, t0 + day * 6),
                total_only("pcl5", 1.0 / 3.0, t0 + day * 6),
                ImportAssessment {
                    result: ImportResult::Scored(Box::new(response("phq9", "1,-,1,1,1,1,1,1,1"))),
                    time_point: "week_1".into(),
                    administered_at: t0 + day * 6,
                },
            ],
            dues: vec![],
        }],
    };
    let policy = ImportAlerts {
        acknowledged_before: t0,
        acknowledged_by: w.user,
        note: "reviewed".into(),
    };
    store
        .import(&w.admin, &[imported], &policy, &|_| {})
        .await
        .expect("import");
    series_agree_with_rows(store, &w).await;

    // Signing imported sessions: one already counted (completed, with a time) must not count
    // twice; one completed without a time gains the signing time and now counts.
    let grace = store
        .find_patients(&w.admin, Scope::Clinic, "legacy-9", 10)
        .await
        .expect("search");
    let grace = grace.first().expect("imported");
    for e in store
        .patient_encounters(&w.admin, grace.id)
        .await
        .expect("encounters")
    {
        if e.status == EncounterStatus::Completed {
            sign_with_note(store, &w, e.id).await;
        }
    }
    series_agree_with_rows(store, &w).await;
    w
}

async fn the_course_series_agrees_with_the_rows(store: &dyn Store) {
    course_series_story(store).await;
}

/// Migration 0006's back-fill, replayed: the course series emptied and filled again from the
/// rows by the migration's own statement must give the same snapshot.
macro_rules! backfill_case {
    ($name:ident, $make:path, $file:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let concrete = $make().await;
            let store: &dyn Store = &concrete;
            let w = course_series_story(store).await;
            let before = store.outcome_snapshot(&w.admin).await.expect("snapshot");
            let migration = include_str!($file);
            let start = migration
                .find("INSERT INTO course_series")
                .expect("the back-fill statement");
            let end = start + migration[start..].find(";\n").expect("its end");
            sqlx::query("DELETE FROM course_series")
                .execute(concrete.pool())
                .await
                .expect("empty");
            sqlx::query(&migration[start..end])
                .execute(concrete.pool())
                .await
                .expect("back-fill");
            series_agree_with_rows(store, &w).await;
            let after = store.outcome_snapshot(&w.admin).await.expect("snapshot");
            assert_eq!(after.courses, before.courses);
        }
    };
}

backfill_case!(
    sqlite_backfill_agrees_with_the_rows,
    kapstone_store::testing::sqlite_store,
    "../migrations/sqlite/0006_course_series.sql"
);
backfill_case!(
    postgres_backfill_agrees_with_the_rows,
    kapstone_store::testing::postgres_store,
    "../migrations/postgres/0006_course_series.sql"
);

// ---- Backups: every row, to either backend ----

/// Reads every table of `store` through a snapshot, returning each table's digest.
async fn digests(store: &dyn Store) -> std::collections::BTreeMap<String, TableDigest> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let reading = async {
        let mut found = std::collections::BTreeMap::new();
        let mut table = String::new();
        while let Some(chunk) = rx.recv().await {
            match chunk {
                DumpChunk::Table(t) => table = t.name,
                DumpChunk::TableEnd(d) => {
                    found.insert(table.clone(), d);
                }
                _ => {}
            }
        }
        found
    };
    let (snapshot, found) = tokio::join!(store.snapshot(tx), reading);
    snapshot.expect("snapshot");
    found
}

/// Copies `from` into `to` through a snapshot and a load, as a backup and restore do.
async fn copy(from: &dyn Store, to: &dyn Store) -> std::collections::BTreeMap<String, TableDigest> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (snapshot, loaded) = tokio::join!(from.snapshot(tx), to.load(rx));
    snapshot.expect("snapshot");
    loaded.expect("load")
}

async fn dumps_carry_every_row_to_either_backend(store: &dyn Store) {
    // Several stories in one database: several clinics, and a row in every table.
    credentials_sessions_and_one_time_tokens(store).await;
    care_teams_scope_what_a_clinician_sees(store).await;
    portal_links_are_single_use_and_expire(store).await;
    alerts_close_only_with_a_named_clinician_and_a_note(store).await;
    settings_default_to_988_and_are_checked(store).await;
    imports_are_all_or_nothing(store).await;
    a_dosing_day_is_recorded_and_locks_when_signed(store).await;
    psychotherapy_notes_reach_only_their_author(store).await;
    course_series_story(store).await;
    a_second_admin_approves_new_staff(store).await;
    // What no story leaves behind: a live session, a medication, an emergency access grant.
    let w = world(store).await;
    let p = patient(store, &w, "Grace", "Hopper").await;
    let at = kapstone_store::model::now();
    let session = StaffSession {
        id: SessionId::new(),
        clinic_id: w.clinic.id,
        user_id: w.user,
        mfa_verified: true,
        csrf_token: "csrf".into(),
        security_stamp: "s1".into(),
        origin: "127.0.0.1".into(),
        created_at: at,
        last_seen_at: at,
        expires_at: at + jiff::SignedDuration::from_hours(1),
    };
    store
        .create_session(&session, "live-session-hash")
        .await
        .expect("session");
    let medication = kapstone_clinical::dosing::screening::Medication {
        name: "sertraline".into(),
        dose: Some("50 mg daily".into()),
        classes: vec!["ssri".into()],
        hold: None,
    };
    store
        .add_medication(&w.admin, p.id, &medication)
        .await
        .expect("medication");
    store
        .grant_break_glass(
            &w.admin,
            p.id,
            "covering on call",
            at + jiff::SignedDuration::from_hours(1),
        )
        .await
        .expect("break glass");

    let source = digests(store).await;
    let empty: Vec<&String> = source
        .iter()
        .filter(|(_, d)| d.rows == 0)
        .map(|(t, _)| t)
        .collect();
    assert!(
        empty.is_empty(),
        "the stories leave these tables empty, so their backup is untested: {empty:?}"
    );
    assert_eq!(
        store.applied_migrations().await.expect("migrations"),
        store.migration_names()
    );

    let sqlite = kapstone_store::testing::sqlite_store().await;
    let postgres = kapstone_store::testing::postgres_store().await;
    for target in [&sqlite as &dyn Store, &postgres as &dyn Store] {
        assert!(target.occupied_tables().await.expect("occupied").is_empty());
        let loaded = copy(store, target).await;
        assert_eq!(loaded, source, "{} → {}", store.backend(), target.backend());
        assert_eq!(digests(target).await, source);
        let report = target.verify_audit_chain().await.expect("verify");
        assert_eq!(report.broken, None);
        assert_eq!(report, store.verify_audit_chain().await.expect("verify"));
        // A second load into a database that now holds rows is refused by the unique keys
        // and leaves it as it was.
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (_, again) = tokio::join!(store.snapshot(tx), target.load(rx));
        assert!(again.is_err(), "loading twice must fail");
        assert_eq!(digests(target).await, source);
    }
}

/// A load that stops before the end of its stream (a cut-short backup) writes nothing.
async fn a_cut_short_load_writes_nothing(store: &dyn Store) {
    let w = world(store).await;
    patient(store, &w, "Ada", "Lovelace").await;
    let target = kapstone_store::testing::sqlite_store().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (forward_tx, forward_rx) = tokio::sync::mpsc::channel(16);
    let forward = async move {
        // Pass everything on except the end.
        while let Some(chunk) = rx.recv().await {
            if !matches!(chunk, DumpChunk::End) {
                forward_tx.send(chunk).await.expect("forward");
            }
        }
    };
    let (snapshot, (), loaded) = tokio::join!(store.snapshot(tx), forward, target.load(forward_rx));
    snapshot.expect("snapshot");
    let e = loaded.expect_err("a stream without its end is refused");
    assert!(e.to_string().contains("stops before its end"), "{e}");
    assert!(target.occupied_tables().await.expect("occupied").is_empty());
}

// ---- Encryption at rest ----

/// Writes a distinct marker into every encrypted field of the record; returns the markers.
async fn write_markers(store: &dyn Store) -> Vec<String> {
    use kapstone_clinical::dosing::screening::{CONDITIONS, Kind};
    let mark = |what: &str| format!("qz{what}mark{}", uuid::Uuid::now_v7().simple());
    let markers: Vec<String> = [
        "email",
        "phone",
        "postal",
        "totp",
        "reason",
        "screennote",
        "note",
        "intentions",
        "addendum",
        "adverse",
        "therapy",
    ]
    .iter()
    .map(|w| mark(w))
    .collect();
    let [
        email,
        phone,
        postal,
        totp,
        reason,
        screen_note,
        note,
        intentions,
        addendum,
        adverse,
        therapy,
    ] = markers.as_slice()
    else {
        unreachable!("eleven markers");
    };
    let w = world(store).await;
    let p = store
        .create_patient(
            &w.admin,
            &NewPatient {
                mrn: None,
                details: PatientDetails {
                    email: Some(format!("{email}@example.org")),
                    phone: Some(phone.clone()),
                    postal_code: Some(postal.clone()),
                    ..details("Marie", "Curie")
                },
            },
        )
        .await
        .expect("patient");
    store
        .save_credential(
            &w.admin,
            &Credential {
                clinic_id: w.clinic.id,
                user_id: w.user,
                password_hash: Some("$argon2id$placeholder".into()),
                totp_secret: Some(totp.clone()),
                totp_confirmed: true,
                totp_last_step: None,
                failed_attempts: 0,
                locked_until: None,
                security_stamp: "s".into(),
            },
        )
        .await
        .expect("credential");

    // Screening with a relative precaution and its written reason.
    let relative = CONDITIONS
        .iter()
        .find(|c| c.kind == Kind::Relative)
        .expect("a relative precaution");
    let answers: Vec<(&str, &str, &str)> = CONDITIONS
        .iter()
        .map(|c| {
            if c.id == relative.id {
                (c.id, "yes", reason.as_str())
            } else {
                (c.id, "no", "")
            }
        })
        .collect();
    let course = mdd_course(store, &w, p.id).await;
    let input = ScreeningInput {
        findings: kapstone_clinical::dosing::screening::check_decision(
            &answers,
            &[],
            PregnancyStatus::NotPregnant,
            Decision::Eligible,
        )
        .expect("valid"),
        notes: Some(screen_note.clone()),
        ..all_clear()
    };
    store
        .sign_screening(&w.admin, course.id, &input)
        .await
        .expect("screening");

    // A preparation note with its fields, signed, then an addendum.
    let prep = store
        .add_encounter(
            &w.admin,
            &NewEncounter {
                course_id: course.id,
                kind: EncounterKind::Preparation,
                planned_for: Some(now()),
            },
        )
        .await
        .expect("preparation");
    let fields = Preparation {
        intentions: intentions.clone(),
        skills: "breathing".into(),
        support_person: "Pierre".into(),
        support_contact: "555-0100".into(),
        integration_plan: "weekly".into(),
    };
    store
        .save_note(&w.admin, prep.id, note, Some(&fields))
        .await
        .expect("note");
    store.sign_encounter(&w.admin, prep.id).await.expect("sign");
    store
        .add_addendum(&w.admin, prep.id, addendum)
        .await
        .expect("addendum");

    // An adverse event with its description, in a dosing session.
    let p2 = patient(store, &w, "Rosalind", "Franklin").await;
    let (_, e) = dosing_encounter(store, &w, &p2).await;
    let start = DosingStart {
        started_at: now() - minutes(30),
        checklist: checklist(),
        setting: Setting::default(),
        predose: bp(124, 80),
    };
    store
        .start_dosing(&w.admin, e.id, &start)
        .await
        .expect("start");
    let event = AdverseEvent::parse(&kapstone_clinical::dosing::events::AdverseEventInput {
        term: "nausea",
        description: adverse,
        severity: "mild",
        onset_minutes: "10",
        action: "observed",
        outcome: "resolved",
        ..Default::default()
    })
    .expect("ae");
    store
        .add_adverse_event(&w.admin, e.id, &event)
        .await
        .expect("ae");
    store
        .write_psychotherapy_note(&w.admin, p.id, &SealedText::new(therapy.clone()))
        .await
        .expect("psychotherapy note");

    // Every marker reads back through the store.
    let read = store.patient(&w.admin, p.id).await.expect("read");
    assert_eq!(read.details.phone.as_deref(), Some(phone.as_str()));
    let record = store
        .encounter_record(&w.admin, prep.id)
        .await
        .expect("record");
    assert_eq!(record.note.expect("note").body, *note);
    assert_eq!(record.addenda[0].body, *addendum);
    let totp_back = store
        .credential(w.clinic.id, w.user)
        .await
        .expect("credential")
        .expect("some");
    assert_eq!(totp_back.totp_secret.as_deref(), Some(totp.as_str()));
    markers
}

/// Every file below `dir` (recursively) changed since `since` that holds any of `markers`.
/// A file that disappears while the scan runs (a recycled WAL segment) is passed over.
fn files_holding(
    dir: &std::path::Path,
    since: std::time::SystemTime,
    markers: &[String],
) -> Vec<String> {
    let finders: Vec<memchr::memmem::Finder> = markers
        .iter()
        .map(|m| memchr::memmem::Finder::new(m.as_bytes()))
        .collect();
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| {
            panic!(
                "cannot read {} (run the tests as root, as CI does): {e}",
                d.display()
            )
        });
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if !fresh {
                continue;
            }
            for (m, f) in markers.iter().zip(&finders) {
                if f.find(&bytes).is_some() {
                    found.push(format!("{} holds {m}", path.display()));
                }
            }
        }
    }
    found
}

/// No marker in any row a backup would carry.
async fn snapshot_holds_no_marker(store: &dyn Store, markers: &[String]) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let reading = async {
        let mut hits = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if let DumpChunk::Rows(rows) = chunk {
                for row in rows {
                    let line = kapstone_store::dump::canonical_row(&row);
                    hits.extend(
                        markers
                            .iter()
                            .filter(|m| line.contains(m.as_str()))
                            .cloned(),
                    );
                }
            }
        }
        hits
    };
    let (snapshot, hits) = tokio::join!(store.snapshot(tx), reading);
    snapshot.expect("snapshot");
    assert!(
        hits.is_empty(),
        "a backup would carry {hits:?} in the clear"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_encrypted_fields_never_reach_the_files_in_the_clear() {
    let store = kapstone_store::testing::sqlite_store().await;
    let markers = write_markers(&store).await;
    snapshot_holds_no_marker(&store, &markers).await;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(store.pool())
            .await
            .expect("file");
    let file = std::path::PathBuf::from(file);
    let mut holding = Vec::new();
    for suffix in ["", "-wal", "-journal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        if let Ok(bytes) = std::fs::read(&path) {
            for m in &markers {
                if memchr::memmem::find(&bytes, m.as_bytes()).is_some() {
                    holding.push(format!("{} holds {m}", path.display()));
                }
            }
        }
    }
    assert!(
        std::fs::metadata(format!("{}-wal", file.display())).is_ok(),
        "the WAL was read"
    );
    // A control: the clinic's name, stored in the clear, is found, so the scan sees rows.
    let wal = std::fs::read(format!("{}-wal", file.display())).expect("wal");
    let main = std::fs::read(&file).expect("file");
    assert!(
        [wal, main]
            .iter()
            .any(|b| memchr::memmem::find(b, b"Test Clinic").is_some()),
        "the scan sees plain rows"
    );
    assert!(holding.is_empty(), "{holding:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_encrypted_fields_never_reach_the_files_in_the_clear() {
    // File times can be coarse: a second's margin.
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let store = kapstone_store::testing::postgres_store().await;
    let markers = write_markers(&store).await;
    snapshot_holds_no_marker(&store, &markers).await;
    // Written through to the table files (pg_checkpoint role), then the database's own files
    // and the server's WAL are read raw.
    sqlx::query("CHECKPOINT")
        .execute(store.pool())
        .await
        .expect("CHECKPOINT (scripts/test.sh grants the test role pg_checkpoint)");
    let data: String =
        sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
            .fetch_one(store.pool())
            .await
            .expect("data directory (scripts/test.sh grants the test role pg_read_all_settings)");
    let oid: i64 = sqlx::query_scalar(
        "SELECT oid::bigint FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(store.pool())
    .await
    .expect("oid");
    let base = std::path::Path::new(&data)
        .join("base")
        .join(oid.to_string());
    // A control: the clinic's name, stored in the clear, is found, so the scan can see rows.
    let control = vec!["Test Clinic".to_string()];
    assert!(
        !files_holding(&base, since, &control).is_empty(),
        "the scan sees plain rows"
    );
    let mut holding = files_holding(&base, since, &markers);
    holding.extend(files_holding(
        &std::path::Path::new(&data).join("pg_wal"),
        since,
        &markers,
    ));
    assert!(holding.is_empty(), "{holding:?}");
}

/// A burst of attempts sent at the same moment gets no more checks than attempts one after
/// another (14 sent together used to be checked 14 times with no lockout), and one TOTP time
/// step sent from ten sessions at once is used once.
async fn sign_in_attempts_sent_together_are_counted_one_by_one(store: &dyn Store) {
    let w = world(store).await;
    store
        .save_credential(
            &w.admin,
            &Credential {
                clinic_id: w.clinic.id,
                user_id: w.user,
                password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
                totp_secret: None,
                totp_confirmed: false,
                totp_last_step: None,
                failed_attempts: 0,
                locked_until: None,
                security_stamp: "s1".into(),
            },
        )
        .await
        .expect("save");
    let at = kapstone_store::model::now();
    let lock = at + jiff::SignedDuration::from_mins(15);
    let burst = (0..14).map(|_| store.take_sign_in_attempt(w.clinic.id, w.user, at, 5, lock));
    let taken: Vec<Attempt> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.expect("attempt"))
        .collect();
    let mut counted: Vec<i64> = taken
        .iter()
        .filter_map(|a| match a {
            Attempt::Counted(n) => Some(*n),
            Attempt::Refused => None,
        })
        .collect();
    counted.sort();
    assert_eq!(counted, [1, 2, 3, 4, 5], "{taken:?}");
    let cred = store
        .credential(w.clinic.id, w.user)
        .await
        .expect("cred")
        .expect("some");
    assert_eq!((cred.failed_attempts, cred.locked_until), (5, Some(lock)));

    let same_code = (0..10).map(|_| store.use_totp_step(w.clinic.id, w.user, 58_000_000));
    let used = futures_util::future::join_all(same_code)
        .await
        .into_iter()
        .map(|r| r.expect("step"))
        .filter(|fresh| *fresh)
        .count();
    assert_eq!(used, 1);
}

/// An account an admin asks for stays inactive until a different admin approves it; the admin
/// who asked cannot, and nothing waits twice.
async fn a_second_admin_approves_new_staff(store: &dyn Store) {
    let w = world(store).await;
    let system = AuditContext {
        clinic_id: w.clinic.id,
        actor: Actor::System,
        origin: "test".into(),
    };
    let add = |email: &'static str, role| {
        let system = system.clone();
        async move {
            store
                .add_user(
                    &system,
                    &NewUser {
                        email: email.into(),
                        display_name: email.into(),
                        role,
                    },
                )
                .await
                .expect("user")
        }
    };
    let first = add("first.admin@example.org", Role::Admin).await;
    let second = add("second.admin@example.org", Role::Admin).await;
    let newcomer = add("new.doc@example.org", Role::Prescriber).await;
    let as_admin = |u: &User| AuditContext {
        clinic_id: w.clinic.id,
        actor: Actor::User(u.id),
        origin: "test".into(),
    };
    store
        .request_grant(&as_admin(&first), newcomer.id)
        .await
        .expect("request");
    assert!(
        !store
            .user(w.clinic.id, newcomer.id)
            .await
            .expect("user")
            .active
    );
    let pending = store.pending_grants(w.clinic.id).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].user, pending[0].requested_by),
        (newcomer.id, first.id)
    );
    let own = store.approve_grant(&as_admin(&first), newcomer.id).await;
    assert!(
        matches!(&own, Err(StoreError::Invalid { field: "user", .. })),
        "{own:?}"
    );
    assert!(
        !store
            .user(w.clinic.id, newcomer.id)
            .await
            .expect("user")
            .active
    );
    store
        .approve_grant(&as_admin(&second), newcomer.id)
        .await
        .expect("approve");
    assert!(
        store
            .user(w.clinic.id, newcomer.id)
            .await
            .expect("user")
            .active
    );
    assert!(
        store
            .pending_grants(w.clinic.id)
            .await
            .expect("pending")
            .is_empty()
    );
    assert!(matches!(
        store.approve_grant(&as_admin(&second), newcomer.id).await,
        Err(StoreError::NotFound { .. })
    ));
}
