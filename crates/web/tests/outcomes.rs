//! The outcomes dashboard on both backends: researchers and admins see aggregate figures as
//! "k of n (x %)" with intervals and definitions; clinicians do not; no patient is named.

mod support;

use axum::http::StatusCode;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::import::{ImportFiles, parse};
use kapstone_app::model::*;
use kapstone_store::Store;
use std::sync::Arc;
use support::*;

const PATIENTS: &str = "patient_id,given_name,family_name,birth_date,sex,postal_code,email,phone
L-1,Ada,Lovelace,1985-12-10,female,80202,,
L-2,Grace,Hopper,1979-02-01,female,80203,,
L-3,Alan,Turing,1972-06-23,male,80204,,
";
const COURSES: &str = "course_id,patient_id,indication,route,start_date
C-1,L-1,mdd,sublingual,2025-01-06
C-2,L-2,mdd,im,2025-01-06
C-3,L-3,ptsd,sublingual,2025-01-06
";
const DOSES: &str = "course_id,date,route,dose_mg,weight_kg
C-1,2025-01-13,sublingual,100,70
C-2,2025-01-13,im,40,80
C-3,2025-01-13,sublingual,100,90
";
const ASSESSMENTS: &str = "course_id,date,instrument,answers,total
C-1,2025-01-10,phq9,,20
C-1,2025-04-13,phq9,,6
C-2,2025-01-10,phq9,,16
C-2,2025-04-13,phq9,,15
C-3,2025-01-10,phq9,,18
";

async fn outcomes_for_researchers_only(store: Arc<dyn Store>) {
    let w = World::new(store).await;
    let mut researcher = w
        .member("res@clinic.test", "R Searcher", Role::Researcher, None)
        .await;
    let clinic = w.app.clinic(w.clinic).await.expect("clinic");
    let tz = jiff::tz::TimeZone::get(&clinic.time_zone).expect("tz");
    let parsed = parse(
        &ImportFiles {
            patients: PATIENTS.into(),
            courses: COURSES.into(),
            doses: DOSES.into(),
            assessments: ASSESSMENTS.into(),
        },
        w.app.library(),
        &tz,
        None,
        &|_| {},
    )
    .expect("valid files");
    let admin_id = w
        .store()
        .user_by_email(w.clinic, "res@clinic.test")
        .await
        .expect("user")
        .expect("exists")
        .id;
    w.store()
        .import(
            &w.system,
            &parsed.patients,
            &ImportAlerts {
                acknowledged_before: now(),
                acknowledged_by: admin_id,
                note: "imported".into(),
            },
            &|_| {},
        )
        .await
        .expect("import");

    let page = researcher.client.get("/outcomes").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // PHQ-9: three eligible, two observed at 3 months, one response (20 → 6).
    assert!(
        page.body
            .contains("eligible (baseline at or above caseness): 3"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>2 of 3</td>"),
        "observed of eligible at 3m"
    );
    assert!(
        page.body.contains("1 of 2 (50 %)"),
        "response as k of n (x %)"
    );
    assert!(
        page.body.contains("title=\"95 % CI 9–91 % (Wilson)\""),
        "the interval on hover"
    );
    assert!(page.body.contains("id=\"definitions\""));
    assert!(
        page.body
            .contains("Waterfall: percent change from baseline at 3m, one bar per course (n = 2)"),
        "the waterfall has the two observed courses"
    );
    assert!(
        page.body.contains("2 of 3 (67 %) eligible"),
        "the funnel states observed at 3m against eligible"
    );
    for name in ["Lovelace", "Hopper", "Turing", "L-1"] {
        assert!(!page.body.contains(name), "aggregates only: {name}");
    }
    let filtered = researcher.client.get("/outcomes?indication=ptsd").await;
    assert!(
        filtered
            .body
            .contains("eligible (baseline at or above caseness): 1"),
        "{}",
        filtered.body
    );
    let bad = researcher.client.get("/outcomes?route=nasal").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let preset = researcher.client.get("/outcomes?preset=yermus-2023").await;
    assert!(
        preset
            .body
            .contains("Where this clinic&#x27;s data cannot match the study")
            || preset
                .body
                .contains("Where this clinic's data cannot match the study")
    );

    let team = w.team("T").await;
    let mut doc = w
        .member("doc@clinic.test", "Dr Doc", Role::Prescriber, Some(team))
        .await;
    let r = doc.client.get("/outcomes").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

macro_rules! backend {
    ($backend:ident, $make:path; $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store: std::sync::Arc<dyn kapstone_store::Store> =
                        std::sync::Arc::new($make().await);
                    super::$case(store).await;
                }
            )+
        }
    };
}

backend!(sqlite, kapstone_store::testing::sqlite_store; outcomes_for_researchers_only);
backend!(postgres, kapstone_store::testing::postgres_store; outcomes_for_researchers_only);
