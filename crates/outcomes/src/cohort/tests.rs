//! Each definition pinned on a small hand-built cohort.

use super::*;
use jiff::civil::date;

const D0: Date = date(2026, 3, 1);

fn day(n: i64) -> Date {
    D0.checked_add(jiff::Span::new().days(n)).expect("date")
}

fn phq(n: i64, total: f64) -> Scored {
    Scored {
        instrument: "phq9".into(),
        date: day(n),
        total: Some(total),
    }
}

fn course(doses: &[i64], assessments: Vec<Scored>) -> CourseData {
    CourseData {
        indication: "mdd".into(),
        route: "sublingual".into(),
        sex: "female".into(),
        ace: None,
        doses: doses.iter().map(|n| day(*n)).collect(),
        assessments,
    }
}

fn phq9(courses: &[CourseData]) -> InstrumentReport {
    let defs = Definitions::default();
    report(courses, &defs)
        .instruments
        .into_iter()
        .find(|r| r.instrument == "phq9")
        .expect("phq9")
}

fn window<'a>(r: &'a InstrumentReport, id: &str) -> &'a Measures {
    &r.windows.iter().find(|(w, _)| w == id).expect("window").1
}

#[test]
fn baseline_is_the_latest_within_thirty_days_before_d0() {
    let r = phq9(&[
        // D0 − 31: outside; no baseline.
        course(&[0], vec![phq(-31, 20.0), phq(30, 4.0)]),
        // D0 − 30: the edge, inside.
        course(&[0], vec![phq(-30, 20.0), phq(30, 10.0)]),
        // On D0 (before the dose, same day) and earlier: the latest, on D0, counts.
        course(&[0], vec![phq(-10, 12.0), phq(0, 16.0), phq(30, 8.0)]),
        // The day after D0 is not a baseline.
        course(&[0], vec![phq(1, 20.0), phq(30, 4.0)]),
    ]);
    assert_eq!(r.with_baseline, 2);
    assert_eq!(r.eligible, 2);
    let m = window(&r, "1m");
    assert_eq!(m.observed, 2);
    // Changes: 10 − 20 = −10 and 8 − 16 = −8.
    assert_eq!(m.mean_change, Some(-9.0));
    assert_eq!(
        m.response,
        Rate::new(2, 2),
        "10/20 and 8/16 are exactly 50 % falls"
    );
}

#[test]
fn only_baselines_at_caseness_are_eligible_and_incomplete_forms_are_never_used() {
    let incomplete = Scored {
        instrument: "phq9".into(),
        date: day(90),
        total: None,
    };
    let r = phq9(&[
        course(&[0], vec![phq(-1, 9.0), phq(90, 2.0)]),
        course(&[0], vec![phq(-1, 10.0), incomplete.clone()]),
        course(&[], vec![phq(-1, 20.0), phq(90, 2.0)]),
    ]);
    assert_eq!(r.with_baseline, 2, "a course without a dose has no D0");
    assert_eq!(r.eligible, 1, "PHQ-9 9 is below caseness");
    assert_eq!(
        window(&r, "3m").observed,
        0,
        "an incomplete form has no total"
    );
    assert_eq!(window(&r, "3m").response, Rate::new(0, 0));
    assert_eq!(window(&r, "3m").response.rate, None);
}

#[test]
fn the_window_takes_the_closest_to_target_and_the_earlier_on_a_tie() {
    let r = phq9(&[
        course(&[0], vec![phq(-1, 20.0), phq(80, 4.0), phq(100, 18.0)]),
        course(&[0], vec![phq(-1, 20.0), phq(59, 4.0), phq(121, 4.0)]),
        course(
            &[0],
            vec![phq(-1, 20.0), phq(60, 12.0), phq(120, 4.0), phq(95, 14.0)],
        ),
    ]);
    let m = window(&r, "3m");
    assert_eq!(m.observed, 2, "days 59 and 121 are outside 60–120");
    // Course 1: 80 and 100 tie (10 days from 90): the earlier, 4, counts. Course 3: day 95.
    assert_eq!(m.mean_change, Some(((4.0 - 20.0) + (14.0 - 20.0)) / 2.0));
    assert_eq!(m.response.n, 1);
    assert_eq!(m.remission, Rate::new(1, 2), "4 < 5");
    assert_eq!(
        m.mcid.expect("phq9 has an MCID"),
        Rate::new(2, 2),
        "falls of 16 and 6 ≥ 5"
    );
    assert_eq!(
        m.reliable_improvement.expect("phq9 has one"),
        Rate::new(2, 2),
        "falls of 16 and 6 ≥ 6"
    );
    assert_eq!(window(&r, "6m").observed, 0);
}

#[test]
fn after_the_nth_dose_takes_the_latest_up_to_the_next_dose() {
    let r = phq9(&[course(
        &[0, 7, 14],
        vec![
            phq(-1, 20.0),
            phq(0, 19.0), // on dose 1's day: not after it
            phq(3, 16.0), // after dose 1 …
            phq(7, 12.0), // … the latest on or before dose 2: counts for dose 1
            phq(10, 9.0), // after dose 2
            phq(28, 8.0), // 14 days after the last dose: counts for dose 3
            phq(29, 2.0), // 15 days after: too late
        ],
    )]);
    let scores: Vec<Option<f64>> = r.after_dose.iter().map(|(_, m)| m.mean_change).collect();
    assert_eq!(
        scores,
        [Some(12.0 - 19.0), Some(9.0 - 19.0), Some(8.0 - 19.0)]
    );
    let r = phq9(&[course(&[0, 7], vec![phq(-1, 20.0), phq(3, 9.0)])]);
    assert_eq!(r.after_dose.len(), 2);
    assert_eq!(r.after_dose[1].1.observed, 0, "nothing after dose 2");
    assert_eq!(r.after_dose[1].1.response.of, 0);
}

#[test]
fn durability_starts_at_first_response_and_censors_at_the_last_assessment() {
    let r = phq9(&[
        // Responds on day 30 (10 ≤ 50 % of 20), loses it on day 60: event at 30 days.
        course(
            &[0],
            vec![
                phq(-1, 20.0),
                phq(14, 15.0),
                phq(30, 10.0),
                phq(45, 8.0),
                phq(60, 12.0),
            ],
        ),
        // Responds on day 20 and keeps it to day 80: censored at 60 days.
        course(&[0], vec![phq(-1, 20.0), phq(20, 6.0), phq(80, 9.0)]),
        // Never responds: not in the durability analysis.
        course(&[0], vec![phq(-1, 20.0), phq(30, 15.0)]),
    ]);
    let d = &r.durability;
    assert_eq!((d.events, d.censored), (1, 1));
    // Two at risk at day 30, one event: survival 0.5, so the median is 30 days.
    assert_eq!(d.km, vec![[0.0, 1.0], [30.0, 0.5]]);
    assert_eq!(d.median_days, Some(30));

    let only_censored = phq9(&[course(&[0], vec![phq(-1, 20.0), phq(20, 6.0)])]);
    assert_eq!(
        only_censored.durability.median_days, None,
        "survival never reaches 0.5"
    );
    assert_eq!(only_censored.durability.censored, 1);
}

#[test]
fn wilson_intervals_at_zero_and_at_n() {
    assert_eq!(wilson(0, 0), None);
    let none = wilson(0, 10).expect("interval");
    assert_eq!(none[0], 0.0);
    assert!((none[1] - 0.277_532).abs() < 1e-5, "{none:?}");
    let all = wilson(10, 10).expect("interval");
    assert_eq!(all[1], 1.0);
    assert!((all[0] - 0.722_468).abs() < 1e-5, "{all:?}");
    let half = wilson(5, 10).expect("interval");
    assert!(
        (half[0] - 0.236_593).abs() < 1e-5 && (half[1] - 0.763_407).abs() < 1e-5,
        "{half:?}"
    );
    assert_eq!(Rate::new(0, 0).ci95, None);
}

#[test]
fn subgroups_split_three_month_responses_and_print_as_json() {
    let mut high = course(&[0], vec![phq(-1, 20.0), phq(90, 8.0)]);
    high.ace = Some(5.0);
    high.route = "iv".into();
    let mut low = course(&[0], vec![phq(-1, 20.0), phq(90, 15.0)]);
    low.ace = Some(1.0);
    let unknown = course(&[0], vec![phq(-1, 20.0), phq(90, 15.0)]);
    let defs = Definitions::default();
    let rep = report(&[high, low, unknown], &defs);
    let r = rep
        .instruments
        .iter()
        .find(|r| r.instrument == "phq9")
        .expect("phq9");
    assert_eq!(r.ace_high.response, Rate::new(1, 1));
    assert_eq!(r.ace_low.response, Rate::new(0, 1));
    assert_eq!(r.route["iv"].observed, 1);
    assert_eq!(r.route["sublingual"].observed, 2);
    assert_eq!(r.sex["female"].observed, 3);

    let json = to_json(&rep, &defs, true);
    assert_eq!(json["synthetic"], true);
    let phq = &json["instruments"]["phq9"];
    assert_eq!(phq["windows"]["3m"]["response"]["n"], 1);
    assert_eq!(phq["windows"]["3m"]["response"]["of"], 3);
    assert_eq!(phq["windows"]["1m"]["response"]["rate"], Value::Null);
    assert_eq!(phq["subgroups"]["ace_high"]["observed"], 1);
    assert_eq!(phq["subgroups"]["route"]["iv"]["response"]["n"], 1);
    assert_eq!(
        json["instruments"]["hama"]["windows"]["3m"]["mcid"],
        Value::Null
    );
    assert!(
        json["definitions"]["text"]
            .as_array()
            .is_some_and(|t| t.len() >= 8)
    );
    assert_eq!(json["definitions"]["windows"][1]["target"], 90);
}

#[test]
fn presets_restate_a_study_and_say_where_the_data_cannot_match() {
    let yermus = Definitions::preset("yermus-2023").expect("preset");
    let ids: Vec<&str> = yermus.instruments.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["phq9", "gad7"]);
    assert!(
        yermus
            .instruments
            .iter()
            .all(|r| r.remission_below == r.caseness),
        "case reduction"
    );
    assert!(
        yermus
            .citation
            .as_deref()
            .is_some_and(|c| c.contains("Yermus"))
    );
    assert!(
        yermus
            .design_notes
            .iter()
            .any(|n| n.contains("intention to treat"))
    );
    // A course that falls from 12 to 7 is a case reduction under the preset, not a remission by default.
    let c = course(&[0], vec![phq(-1, 12.0), phq(90, 7.0)]);
    let by_preset = report(std::slice::from_ref(&c), &yermus);
    assert_eq!(
        by_preset.instruments[0].windows[1].1.remission,
        Rate::new(1, 1)
    );
    assert_eq!(window(&phq9(&[c]), "3m").remission, Rate::new(0, 1));

    let dore = Definitions::preset("dore-2019").expect("preset");
    assert_eq!(dore.instruments.len(), 1);
    assert_eq!(dore.instruments[0].caseness, 0.0);
    assert!(Definitions::preset("nope").is_none());
    for p in PRESETS {
        assert!(Definitions::preset(p).is_some(), "{p}");
    }
}

#[test]
fn the_waterfall_is_each_observed_courses_percent_change_at_three_months_worst_first() {
    let r = phq9(&[
        course(&[0], vec![phq(-1, 20.0), phq(90, 5.0)]),
        course(&[0], vec![phq(-1, 10.0), phq(90, 12.0)]),
        // Not eligible (baseline under 10): not in the waterfall.
        course(&[0], vec![phq(-1, 8.0), phq(90, 0.0)]),
        // Eligible but not observed at 3m.
        course(&[0], vec![phq(-1, 16.0), phq(30, 8.0)]),
    ]);
    assert_eq!(r.waterfall, vec![20.0, -75.0]);
    let fig = charts::waterfall(&r, "3m", 0.5);
    let bars: Vec<&crate::figure::Ink> = fig
        .marks
        .iter()
        .filter_map(|m| match m {
            crate::figure::Mark::Rect { ink, .. } => Some(ink),
            _ => None,
        })
        .collect();
    assert_eq!(
        bars,
        [&crate::figure::Ink::Worse, &crate::figure::Ink::Improved],
        "a worsened course, then a responder"
    );
}

#[test]
fn a_large_waterfall_draws_quantiles_keeping_both_ends() {
    let mut r = phq9(&[]);
    r.waterfall = (0..10_000).map(|i| 100.0 - f64::from(i) / 50.0).collect();
    let fig = charts::waterfall(&r, "3m", 0.5);
    let bars: Vec<String> = fig
        .marks
        .iter()
        .filter_map(|m| match m {
            crate::figure::Mark::Rect { title, .. } => title.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(bars.len(), charts::WATERFALL_BARS);
    assert_eq!(bars.first().map(String::as_str), Some("+100 %"));
    assert_eq!(bars.last().map(String::as_str), Some("-100 %"));
    assert!(fig.title.contains("each a quantile of the 10000 courses"));
    let svg = fig.svg();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
}

#[test]
fn the_funnel_states_each_step_against_its_denominator() {
    let r = phq9(&[
        course(&[0], vec![phq(-1, 20.0), phq(90, 5.0)]),
        course(&[0], vec![phq(-1, 4.0), phq(90, 2.0)]),
    ]);
    let svg = charts::funnel(&r).svg();
    assert!(svg.contains("1 of 2 (50 %) with a baseline"), "{svg}");
    assert!(svg.contains("1 of 1 (100 %) eligible"), "{svg}");
    assert!(svg.contains("0 of 1 (0 %) eligible"), "{svg}");
}

#[test]
fn day_numbers_count_the_same_days_as_the_calendar() {
    let epoch = date(1970, 1, 1);
    let mut d = date(1899, 12, 25);
    while d <= date(2101, 3, 5) {
        let days = i64::from(epoch.until(d).expect("span").get_days());
        assert_eq!(day_number(d), days, "{d}");
        d = d.tomorrow().expect("tomorrow");
    }
}
