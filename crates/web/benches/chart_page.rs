//! Server time for the patient chart of a long history: 1,000 dosing sessions and 10,000
//! assessments, on SQLite (and PostgreSQL when KAPSTONE_TEST_PG_URL is set). Measures exactly
//! what a request does — authorization, the audited reads, building the view, the SVG charts
//! and the template — and prints min / median / p95.
//!
//! Run: `cargo bench -p kapstone-web --bench chart_page`

use jiff::{SignedDuration, Timestamp};
use kapstone_app::clinical::course::{
    CourseStatus, EncounterKind, EncounterStatus, Indication, Route,
};
use kapstone_app::clinical::instrument::Library;
use kapstone_app::clinical::vocab::{Role, Sex};
use kapstone_app::crypto::PasswordCost;
use kapstone_app::model::*;
use kapstone_app::{App, Config};
use kapstone_store::Store;
use std::sync::Arc;
use std::time::Instant;

const SESSIONS: usize = 1_000;
const ASSESSMENTS: usize = 10_000;
const RUNS: usize = 30;

async fn world(
    store: Arc<dyn Store>,
) -> (kapstone_web::Shared, kapstone_app::auth::Staff, PatientId) {
    let lib = Arc::new(Library::builtin().expect("library"));
    let app = App::new(
        store.clone(),
        lib.clone(),
        Config {
            public_url: "http://bench.test".into(),
            password_cost: PasswordCost {
                memory_kib: 256,
                iterations: 1,
            },
            mailer: None,
        },
    );
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: "Bench".into(),
                time_zone: "UTC".into(),
            },
            "bench",
        )
        .await
        .expect("clinic");
    let system = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "bench".into(),
    };
    store
        .save_settings(
            &system,
            &ClinicSettings {
                mfa_exempt_roles: vec![Role::Prescriber],
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    let team = store.create_team(&system, "T").await.expect("team");
    let (user, link) = app
        .add_staff(&system, "p@bench.test", "P", Role::Prescriber)
        .await
        .expect("staff");
    app.complete_setup(
        link.rsplit('/').next().expect("token"),
        "bench-password-123",
        "bench",
    )
    .await
    .expect("setup");
    store
        .add_team_member(&system, team.id, user.id)
        .await
        .expect("member");

    let t0 = Timestamp::from_second(1_700_000_000).expect("t0");
    let day = SignedDuration::from_hours(24);
    let encounters = (0..SESSIONS)
        .map(|i| ImportEncounter {
            kind: EncounterKind::Dosing,
            status: EncounterStatus::Completed,
            planned_for: t0 + day * i32::try_from(i).expect("small"),
            occurred_at: Some(t0 + day * i32::try_from(i).expect("small")),
            dose: None,
        })
        .collect();
    let instruments = ["phq9", "gad7", "pcl5"];
    let assessments = (0..ASSESSMENTS)
        .map(|i| {
            let id = instruments[i % 3];
            let inst = lib.get(id).expect("instrument");
            let v = i64::try_from(i % 3).expect("small");
            let answers: Vec<Option<i64>> = inst
                .items
                .iter()
                .map(|item| item.scored.then_some(v))
                .collect();
            ImportAssessment {
                result: ImportResult::Scored(Box::new(
                    inst.respond(inst.answers(&answers).expect("valid")),
                )),
                time_point: format!("week_{i}"),
                administered_at: t0
                    + SignedDuration::from_mins(144 * i64::try_from(i).expect("small")),
            }
        })
        .collect();
    store
        .import(
            &system,
            &[ImportPatient {
                mrn: None,
                details: PatientDetails {
                    given_name: "Long".into(),
                    family_name: "History".into(),
                    birth_date: jiff::civil::date(1970, 1, 1),
                    sex: Sex::Female,
                    email: None,
                    phone: None,
                    postal_code: None,
                },
                teams: vec![team.id],
                courses: vec![ImportCourse {
                    indication: Indication::Ptsd,
                    planned_route: Some(Route::Im),
                    protocol: "kap-6".into(),
                    opened_at: t0,
                    history: vec![
                        (CourseStatus::Screening, t0, None),
                        (CourseStatus::Preparation, t0, None),
                        (CourseStatus::Active, t0, None),
                    ],
                    encounters,
                    assessments,
                    dues: vec![],
                }],
            }],
            &ImportAlerts {
                acknowledged_before: t0,
                acknowledged_by: user.id,
                note: "bench".into(),
            },
            &|_| {},
        )
        .await
        .expect("import");
    let patient = store
        .find_patients(&system, Scope::Clinic, "history", 1)
        .await
        .expect("find")
        .first()
        .expect("patient")
        .id;
    let issued = app
        .sign_in("p@bench.test", "bench-password-123", "bench")
        .await
        .expect("sign in");
    let (staff, _) = app.session(&issued.token, "bench").await.expect("session");
    (kapstone_web::Web::new(app, false), staff, patient)
}

fn report(backend: &str, mut ms: Vec<f64>, bytes: usize) {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!(
        "chart page, {backend}: {SESSIONS} sessions, {ASSESSMENTS} assessments, {RUNS} runs, {bytes} bytes: \
         min {:.1} ms, median {:.1} ms, p95 {:.1} ms",
        ms[0],
        pct(0.5),
        pct(0.95)
    );
}

async fn measure(backend: &str, store: Arc<dyn Store>) {
    let (web, staff, patient) = world(store).await;
    let mut data_ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        web.app.chart(&staff, patient).await.expect("chart data");
        data_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    report(
        &format!("{backend}, the use case alone (audited reads)"),
        data_ms,
        0,
    );
    let ctx = staff.ctx();
    for (what, step) in [
        ("one audited patient read", 0),
        ("the full assessments query", 1),
        ("the chart assessments query", 3),
        ("the encounters query", 2),
    ] {
        let mut t = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            match step {
                0 => drop(web.app.store().patient(&ctx, patient).await.expect("read")),
                1 => drop(
                    web.app
                        .store()
                        .assessments_of(&ctx, patient)
                        .await
                        .expect("read"),
                ),
                3 => drop(
                    web.app
                        .store()
                        .chart_assessments(&ctx, patient, kapstone_app::clinic::CHART_RECENT)
                        .await
                        .expect("read"),
                ),
                _ => drop(
                    web.app
                        .store()
                        .patient_encounters(&ctx, patient)
                        .await
                        .expect("read"),
                ),
            }
            t.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        report(&format!("{backend}, {what}"), t, 0);
    }
    let mut ms = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let html = kapstone_web::chart_page_html(&web, &staff, patient)
            .await
            .expect("chart");
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        bytes = html.len();
    }
    report(backend, ms, bytes);
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "machine: {cpu}, {} logical cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        measure(
            "sqlite",
            Arc::new(kapstone_store::testing::sqlite_store().await),
        )
        .await;
        if std::env::var_os(kapstone_store::testing::PG_ENV).is_some() {
            measure(
                "postgres",
                Arc::new(kapstone_store::testing::postgres_store().await),
            )
            .await;
        }
    });
}
