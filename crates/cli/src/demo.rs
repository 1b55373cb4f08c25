//! `kapstone demo`: a synthetic clinic — staff, care teams and a seeded cohort with realistic
//! trajectories and loss to follow-up — written once, then served with a banner on every page.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kapstone_app::App;
use kapstone_app::clinical::course::EncounterKind;
use kapstone_app::clinical::instrument::Library;
use kapstone_app::clinical::protocol;
use kapstone_app::clinical::vocab::Role;
use kapstone_app::model::*;
use kapstone_demo::{Cohort, CohortSpec, SyntheticCourse};

pub const CLINIC_NAME: &str = "Synthetic Demo Clinic";
const TIME_ZONE: &str = "America/Los_Angeles";
/// Demo accounts share one password; the data behind them is synthetic.
pub const PASSWORD: &str = "synthetic-demo-only";

pub const STAFF: &[(&str, &str, Role)] = &[
    (
        "admin@demo.kapstone.example",
        "Avery Admin (demo)",
        Role::Admin,
    ),
    (
        "prescriber@demo.kapstone.example",
        "Dr. Priya Prescriber (demo)",
        Role::Prescriber,
    ),
    (
        "therapist@demo.kapstone.example",
        "Theo Therapist (demo)",
        Role::Therapist,
    ),
    (
        "nurse@demo.kapstone.example",
        "Nia Nurse (demo)",
        Role::Nurse,
    ),
    (
        "researcher@demo.kapstone.example",
        "Rey Researcher (demo)",
        Role::Researcher,
    ),
];

/// Whether the database already holds the demo clinic.
pub async fn existing(app: &App) -> Result<Option<Clinic>, String> {
    let clinics = app.store().clinics().await.map_err(|e| e.to_string())?;
    Ok(clinics.into_iter().find(|c| c.name == CLINIC_NAME))
}

fn at(tz: &TimeZone, date: Date, hour: i8) -> Result<Timestamp, String> {
    date.at(hour, 0, 0, 0)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// The demo clinic's consent document: the elements of kap-protocol.md §4.1 in outline.
/// Synthetic text for the demo, not legal advice and not a clinic's real form.
const DEMO_CONSENT: &str = "SYNTHETIC DEMO TEXT — not a real consent form.\n\
Ketamine is a Schedule III drug used off-label for depression, anxiety and PTSD; no ketamine \
product is FDA-approved for psychiatric use (esketamine nasal spray is, for treatment-resistant \
depression). Expected effects include dissociation. Risks include raised blood pressure and heart \
rate, nausea, dizziness, blurred vision, emergence reactions, misuse, and bladder and liver harm \
with repeated use. Alternatives were discussed. You may withdraw at any time, except once a dose \
has been taken. Follow the fasting and medication-hold instructions. Do not drive until the next \
day after restful sleep; a responsible adult takes you home.";

/// Creates the demo clinic with its staff and cohort; returns how much was written.
pub async fn create(app: &App, patients: usize, seed: u64) -> Result<ImportCounts, String> {
    let store = app.store();
    let err = |e: kapstone_app::AppError| e.to_string();
    let clinic = store
        .create_clinic(
            &NewClinic {
                name: CLINIC_NAME.into(),
                time_zone: TIME_ZONE.into(),
            },
            "cli",
        )
        .await
        .map_err(|e| e.to_string())?;
    let system = AuditContext {
        clinic_id: clinic.id,
        actor: Actor::System,
        origin: "cli".into(),
    };
    let settings = ClinicSettings {
        address: "Synthetic demo — not a real clinic".into(),
        phone: "+1 503-555-0100".into(),
        // So that a visitor can look around within a minute; a real clinic keeps MFA for everyone.
        mfa_exempt_roles: Role::ALL.to_vec(),
        ..ClinicSettings::default()
    };
    store
        .save_settings(&system, &settings)
        .await
        .map_err(|e| e.to_string())?;
    store
        .mark_synthetic(&system)
        .await
        .map_err(|e| e.to_string())?;
    store
        .add_consent_document(
            &system,
            "demo-1",
            "Ketamine-assisted psychotherapy consent (synthetic demo text)",
            DEMO_CONSENT,
        )
        .await
        .map_err(|e| e.to_string())?;
    let north = store
        .create_team(&system, "Team North")
        .await
        .map_err(|e| e.to_string())?;
    let south = store
        .create_team(&system, "Team South")
        .await
        .map_err(|e| e.to_string())?;
    let mut prescriber = None;
    for (email, name, role) in STAFF {
        let (user, link) = app
            .add_staff(&system, email, name, *role)
            .await
            .map_err(err)?;
        let token = link.rsplit('/').next().unwrap_or_default().to_string();
        app.complete_setup(&token, PASSWORD, "cli")
            .await
            .map_err(err)?;
        let teams: &[&CareTeam] = match role {
            Role::Prescriber | Role::Therapist => &[&north, &south],
            Role::Nurse => &[&north],
            _ => &[],
        };
        for t in teams {
            store
                .add_team_member(&system, t.id, user.id)
                .await
                .map_err(|e| e.to_string())?;
        }
        if *role == Role::Prescriber {
            prescriber = Some(user.id);
        }
    }
    let prescriber = prescriber.ok_or("no prescriber account")?;

    let tz = TimeZone::get(TIME_ZONE).map_err(|e| e.to_string())?;
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let cohort = kapstone_demo::generate(&CohortSpec {
        patients,
        seed,
        today,
    });
    let library = app.library();
    let batch = to_import(&cohort, library, &tz, [north.id, south.id])?;
    let alerts = ImportAlerts {
        acknowledged_before: at(&tz, today, 0)? - SignedDuration::from_hours(24 * 3),
        acknowledged_by: prescriber,
        note: "Synthetic demo: patient called the same day; safety plan reviewed.".into(),
    };
    store
        .import(&system, &batch, &alerts, &|_| {})
        .await
        .map_err(|e| e.to_string())
}

fn to_import(
    cohort: &Cohort,
    library: &Library,
    tz: &TimeZone,
    teams: [CareTeamId; 2],
) -> Result<Vec<ImportPatient>, String> {
    let template = protocol::template(kapstone_demo::PROTOCOL).ok_or("unknown demo protocol")?;
    cohort
        .patients
        .iter()
        .enumerate()
        .map(|(i, sp)| {
            let courses = sp
                .courses
                .iter()
                .map(|c| course(c, cohort.today, library, tz, template))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(ImportPatient {
                mrn: None,
                details: PatientDetails {
                    given_name: sp.given_name.clone(),
                    family_name: sp.family_name.clone(),
                    birth_date: sp.birth_date,
                    sex: sp.sex,
                    email: sp.email.clone(),
                    phone: sp.phone.clone(),
                    postal_code: sp.postal_code.clone(),
                },
                teams: vec![teams[i % 2]],
                courses,
            })
        })
        .collect()
}

fn course(
    c: &SyntheticCourse,
    today: Date,
    library: &Library,
    tz: &TimeZone,
    template: &protocol::Template,
) -> Result<ImportCourse, String> {
    let first_dose = c
        .encounters
        .iter()
        .find(|e| e.kind == EncounterKind::Dosing)
        .map_or(c.start, |e| e.date);
    let intake = first_dose
        .checked_sub(jiff::Span::new().days(14))
        .unwrap_or(c.start);
    let history = c
        .history
        .iter()
        .enumerate()
        .map(|(i, (status, date))| {
            let reason = (i + 1 == c.history.len())
                .then(|| c.discontinued_reason.clone())
                .flatten();
            Ok((*status, at(tz, *date, 8)?, reason))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let encounters = c
        .encounters
        .iter()
        .map(|e| {
            let when = at(tz, e.date, 9)?;
            let status = c.encounter_status(e, today);
            Ok(ImportEncounter {
                kind: e.kind,
                status,
                planned_for: when,
                occurred_at: (status == kapstone_app::clinical::course::EncounterStatus::Completed)
                    .then_some(when),
                dose: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let assessments = c
        .assessments
        .iter()
        .map(|a| {
            let inst = library
                .get(a.instrument)
                .ok_or_else(|| format!("unknown instrument {}", a.instrument))?;
            let answers = inst.answers(&a.answers).map_err(|e| e.to_string())?;
            Ok(ImportAssessment {
                result: ImportResult::Scored(Box::new(inst.respond(answers))),
                time_point: a.time_point.clone(),
                administered_at: at(tz, a.date, 8)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ImportCourse {
        indication: c.indication,
        planned_route: Some(c.route),
        protocol: c.protocol.to_string(),
        opened_at: at(tz, c.start, 8)?,
        history,
        encounters,
        assessments,
        dues: template.plan(c.indication, intake).assessments,
    })
}
