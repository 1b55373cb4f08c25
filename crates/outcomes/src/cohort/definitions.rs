//! The default outcome definitions (kap-protocol.md §1.3 and the outcome-evidence issue), each
//! configurable, each printed in every report.

use serde::Serialize;

/// The thresholds of one instrument. Every instrument here scores higher = worse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstrumentRule {
    pub id: String,
    /// Eligible for analysis: baseline at or above this (caseness).
    pub caseness: f64,
    /// Remission: a score strictly below this.
    pub remission_below: f64,
    /// Minimal clinically important difference: improvement of at least this many points.
    pub mcid: Option<f64>,
    /// Reliable improvement: improvement of at least this many points.
    pub reliable_improvement: Option<f64>,
    pub source: String,
}

/// A follow-up window in days from D0, the first dose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub id: String,
    pub from: i64,
    pub to: i64,
    pub target: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definitions {
    /// `default`, or the preset's name.
    pub name: String,
    /// For a preset: the paper whose definitions it re-runs.
    pub citation: Option<String>,
    /// For a preset: where the clinic's data cannot match the study's design.
    pub design_notes: Vec<String>,
    /// D0 is the course's first dose date. The baseline is the latest scored assessment dated
    /// within [D0 − this many days, D0].
    pub baseline_days_before: i64,
    /// Response: (baseline − score) / baseline at least this.
    pub response_fraction: f64,
    pub windows: Vec<Window>,
    /// After the last dose, outcomes are looked for up to this many days later.
    pub last_dose_follow_days: i64,
    /// ACE total at or above this is the `ace_high` subgroup.
    pub ace_high_at: f64,
    /// The window the subgroups report.
    pub subgroup_window: String,
    pub instruments: Vec<InstrumentRule>,
    /// The definitions in words, as the report prints them.
    pub text: Vec<String>,
}

fn window(id: &str, from: i64, to: i64, target: i64) -> Window {
    Window {
        id: id.into(),
        from,
        to,
        target,
    }
}

fn rule(
    id: &str,
    caseness: f64,
    remission_below: f64,
    mcid: Option<f64>,
    reliable_improvement: Option<f64>,
    source: &str,
) -> InstrumentRule {
    InstrumentRule {
        id: id.into(),
        caseness,
        remission_below,
        mcid,
        reliable_improvement,
        source: source.into(),
    }
}

impl Default for Definitions {
    fn default() -> Self {
        Definitions {
            name: "default".into(),
            citation: None,
            design_notes: Vec::new(),
            baseline_days_before: 30,
            response_fraction: 0.5,
            windows: vec![
                window("1m", 15, 45, 30),
                window("3m", 60, 120, 90),
                window("6m", 150, 210, 180),
            ],
            last_dose_follow_days: 14,
            ace_high_at: 4.0,
            subgroup_window: "3m".into(),
            instruments: vec![
                rule("phq9", 10.0, 5.0, Some(5.0), Some(6.0), "caseness 10 (Kroenke 2001); remission < 5 (HEDIS DRR-E); MCID 5 = 2 × SEM (Löwe 2004, instruments.md [S6]); reliable improvement 6 (NHS Talking Therapies, [S14])"),
                rule("gad7", 10.0, 5.0, Some(4.0), Some(4.0), "caseness 10 (Spitzer 2006); remission < 5 (band edge); MCID 4 (Toussaint 2020, [S13]); reliable improvement 4 (NHS Talking Therapies, [S14])"),
                rule("pcl5", 33.0, 33.0, Some(10.0), Some(15.0), "caseness and remission 33 (probable-PTSD cut-off, Bovin 2016, [S19]); MCID 10 (NCPTSD guidance via secondary pages, kap-protocol.md [R29]); reliable improvement 15 (low end of Marx 2022's 15–18, [S20])"),
                rule("hama", 15.0, 8.0, None, None, "caseness 15 (the moderate band of Matza 2010, [S25]); remission ≤ 7 (pooled GAD trials, [S25]); no standard MCID or reliable-change value found (instruments.md §4)"),
            ],
            text: vec![
                "D0 = the course's first dose date; courses without a dose are not analysed.".into(),
                "Baseline for an instrument = its latest scored assessment dated within [D0 − 30 days, D0]; courses without one are not analysed for that instrument (with_baseline counts those that have one).".into(),
                "Eligible = baseline at or above caseness: PHQ-9 ≥ 10, GAD-7 ≥ 10, PCL-5 ≥ 33, HAM-A ≥ 15.".into(),
                "Windows from D0: 1m days 15–45 (target 30), 3m 60–120 (target 90), 6m 150–210 (target 180); the assessment closest to the target counts, the earlier on a tie; observed = eligible courses with one. Incomplete forms (no total) are never used.".into(),
                "Response = (baseline − score) / baseline ≥ 0.5. Remission = score below PHQ-9 5, GAD-7 5, PCL-5 33, HAM-A 8. MCID = improvement ≥ PHQ-9 5, GAD-7 4, PCL-5 10 points. Reliable improvement = improvement ≥ PHQ-9 6, GAD-7 4, PCL-5 15 points. HAM-A has neither of the last two.".into(),
                "Mean change = mean of (score − baseline) over observed courses; negative when patients improve.".into(),
                "After the Nth dose (eligible courses): the latest assessment dated after dose N and on or before dose N+1 (for the last dose, up to 14 days after it).".into(),
                "Durability (eligible courses): the first assessment after D0 that meets response starts the clock; the event is the first later assessment that no longer meets response; otherwise the course is censored at its last assessment of that instrument. Days between assessment dates; Kaplan–Meier curve; median = first day survival ≤ 0.5, null if never.".into(),
                "Rates carry Wilson 95 % intervals (fractions); a rate over 0 courses has rate and ci95 null.".into(),
                "Subgroups (3m): ACE total ≥ 4 vs < 4 (the patient's latest ACE; patients without one are in neither), indication, route, sex.".into(),
            ],
        }
    }
}

/// The presets `kapstone report --preset` accepts.
pub const PRESETS: &[&str] = &["yermus-2023", "dore-2019"];

impl Definitions {
    /// A published study's definitions, re-run on the clinic's data, or None for an unknown name.
    pub fn preset(name: &str) -> Option<Definitions> {
        let base = Definitions::default();
        match name {
            "default" => Some(base),
            "yermus-2023" => Some(Definitions {
                name: name.into(),
                citation: Some("Yermus R, et al. Field Trip Health retrospective cohort of ketamine-assisted psychotherapy, 11 clinics, 2020–2022 (medRxiv 2023; Psychedelic Medicine, DOI 10.1089/psymed.2023.0021; NCT05604794). kap-protocol.md §1.2 [R1][R2][R3].".into()),
                design_notes: vec![
                    "Yermus analysed everyone enrolled with mixed linear / growth-curve models (intention to treat); kapstone counts observed courses in each window, with the denominators shown. Only 346 of 1,806 (3 months) and 94 (6 months) were evaluable in the study.".into(),
                    "The study's MCID and case cut-offs are not published in what we could retrieve (UNCONFIRMED); this preset uses MCID PHQ-9 5 / GAD-7 4 and 'case' = at or above 10 on either.".into(),
                    "Here 'remission' is the study's case reduction: a course at or above the cut-off at baseline that is below it (under 10) at follow-up.".into(),
                    "The study used the PCL-6, which kapstone does not hold; PTSD outcomes are not part of this preset.".into(),
                    "The study's exact window edges are not published; kapstone's 1/3/6-month windows are used.".into(),
                ],
                instruments: base
                    .instruments
                    .iter()
                    .filter(|r| r.id == "phq9" || r.id == "gad7")
                    .map(|r| InstrumentRule {
                        remission_below: r.caseness,
                        ..r.clone()
                    })
                    .collect(),
                ..base
            }),
            "dore-2019" => Some(Definitions {
                name: name.into(),
                citation: Some("Dore J, Turnipseed B, Dwyer S, et al. Ketamine assisted psychotherapy (KAP): patient demographics, clinical data and outcomes in three large practices administering ketamine with psychotherapy. J Psychoactive Drugs 2019;51(2):189-198. DOI 10.1080/02791072.2019.1587556. kap-protocol.md §1.2 [R5][R6].".into()),
                design_notes: vec![
                    "Dore reported the mean fall in HAM-A (5.5 points) and BDI (11.24 points) over treatment; the BDI is not in kapstone's library, so only the HAM-A is re-run.".into(),
                    "Dore's follow-up timing, routes and session counts are UNCONFIRMED (full text not retrieved); compare mean_change in the windows and after each dose.".into(),
                    "Dore did not restrict the analysis to patients above a cut-off: this preset analyses every course with a HAM-A baseline (caseness 0).".into(),
                ],
                instruments: base
                    .instruments
                    .iter()
                    .filter(|r| r.id == "hama")
                    .map(|r| InstrumentRule {
                        caseness: 0.0,
                        ..r.clone()
                    })
                    .collect(),
                ..base
            }),
            _ => None,
        }
    }
}
