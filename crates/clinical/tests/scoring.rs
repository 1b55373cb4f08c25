//! Scoring agrees with the published rules (shared/clinical/instruments.md) on every built-in
//! instrument: floors and ceilings, every band edge, incomplete forms, ASQ branches, PCL-5 clusters.

use kapstone_clinical::instrument::{AnswerError, Library, Score, Total};
use proptest::prelude::*;

fn lib() -> Library {
    Library::builtin().expect("built-in instruments are valid")
}

fn score(id: &str, list: &str) -> Score {
    let lib = lib();
    let inst = lib.get(id).expect("instrument exists");
    let answers = inst.parse_answers(list).expect("answers are valid");
    inst.score(&answers)
}

fn err(id: &str, list: &str) -> AnswerError {
    let lib = lib();
    lib.get(id)
        .expect("instrument exists")
        .parse_answers(list)
        .expect_err("answers must be refused")
}

fn repeat(v: &str, n: usize) -> String {
    vec![v; n].join(",")
}

/// A list of `n` answers that sums to `total`, filling items in order up to `max` each.
fn answers_for_total(n: usize, max: i64, total: i64) -> String {
    let mut left = total;
    (0..n)
        .map(|_| {
            let v = left.min(max);
            left -= v;
            v.to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn band(s: &Score) -> Option<&str> {
    s.severity.as_ref().map(|b| b.id.as_str())
}

fn flags(s: &Score) -> Vec<&str> {
    s.flags.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn the_library_holds_the_ten_instruments_the_clinic_needs() {
    assert_eq!(
        lib().ids(),
        [
            "phq9", "phq2", "gad7", "gad2", "pcl5", "hama", "asq", "ace", "cadss6", "ebi"
        ]
    );
    for inst in lib().iter() {
        assert!(
            !inst.source.is_empty() && !inst.licence.is_empty(),
            "{}",
            inst.id
        );
    }
}

#[test]
fn item_counts_and_ranges_match_the_published_instruments() {
    let lib = lib();
    let shape = |id: &str| {
        let i = lib.get(id).expect("exists");
        (i.items.len(), i.answer_count_range(), i.total_range())
    };
    assert_eq!(shape("phq9"), (10, (9, 10), Some((0, 27))));
    assert_eq!(shape("phq2"), (2, (2, 2), Some((0, 6))));
    assert_eq!(shape("gad7"), (8, (7, 8), Some((0, 21))));
    assert_eq!(shape("gad2"), (2, (2, 2), Some((0, 6))));
    assert_eq!(shape("pcl5"), (20, (20, 20), Some((0, 80))));
    assert_eq!(shape("hama"), (14, (14, 14), Some((0, 56))));
    assert_eq!(shape("asq"), (5, (4, 5), None));
    assert_eq!(shape("ace"), (10, (10, 10), Some((0, 10))));
    assert_eq!(shape("cadss6"), (6, (6, 6), Some((0, 24))));
    assert_eq!(shape("ebi"), (6, (6, 6), Some((0, 100))));
}

#[test]
fn loinc_codes_distinguish_panel_from_total() {
    let lib = lib();
    let l = |id: &str| {
        let i = lib.get(id).expect("exists");
        (i.loinc.panel.clone(), i.loinc.total.clone())
    };
    let s = |a: &str, b: &str| (Some(a.to_string()), Some(b.to_string()));
    assert_eq!(l("phq9"), s("44249-1", "44261-6"));
    assert_eq!(l("gad7"), s("69737-5", "70274-6"));
    assert_eq!(l("pcl5"), s("101697-1", "101698-9"));
    assert_eq!(l("phq2"), s("55757-9", "55758-7"));
    let phq9 = lib.get("phq9").expect("exists");
    assert_eq!(
        phq9.item(9).and_then(|i| i.loinc.as_deref()),
        Some("44260-8")
    );
}

#[test]
fn phq9_floor_ceiling_and_every_band_edge() {
    assert_eq!(score("phq9", &repeat("0", 9)).total, Some(Total::Sum(0)));
    let max = score("phq9", &repeat("3", 9));
    assert_eq!(max.total, Some(Total::Sum(27)));
    assert_eq!(band(&max), Some("severe"));
    let edges = [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ];
    for (total, expected) in edges {
        // Fill from item 1 so item 9 stays 0 until the total needs it.
        let s = score("phq9", &answers_for_total(9, 3, total));
        assert_eq!(s.total, Some(Total::Sum(total)));
        assert_eq!(band(&s), Some(expected), "PHQ-9 total {total}");
        assert!(s.complete && s.subscales.is_none());
    }
}

#[test]
fn phq9_item10_is_optional_and_never_scored() {
    let without = score("phq9", "1,1,1,1,1,1,1,1,0");
    let with = score("phq9", "1,1,1,1,1,1,1,1,0,3");
    assert_eq!(without.total, Some(Total::Sum(8)));
    assert_eq!(with.total, Some(Total::Sum(8)));
    assert!(without.complete && with.complete);
    let blank10 = score("phq9", "1,1,1,1,1,1,1,1,0,-");
    assert!(blank10.complete);
}

#[test]
fn phq9_item9_is_flagged_even_on_an_incomplete_form() {
    let s = score("phq9", "2,-,1,-,0,0,0,0,1");
    assert!(!s.complete);
    assert_eq!(s.missing, vec![2, 4]);
    assert_eq!(s.total, None);
    assert_eq!(s.severity, None);
    assert_eq!(flags(&s), ["phq9_item9"]);
    assert!(s.has_alert());
    assert!(flags(&score("phq9", "0,0,0,0,0,0,0,0,0")).is_empty());
    assert_eq!(flags(&score("phq9", "0,0,0,0,0,0,0,0,3")), ["phq9_item9"]);
    assert!(flags(&score("phq9", "3,3,3,3,3,3,3,3,-")).is_empty());
}

#[test]
fn gad7_bands_and_optional_difficulty_item() {
    for (total, expected) in [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ] {
        let s = score("gad7", &answers_for_total(7, 3, total));
        assert_eq!(
            (s.total, band(&s)),
            (Some(Total::Sum(total)), Some(expected))
        );
    }
    assert_eq!(score("gad7", "3,3,3,3,3,3,3,2").total, Some(Total::Sum(21)));
    let anchors = lib().get("gad7").expect("exists").items[0]
        .answers
        .to_string();
    assert!(
        anchors.starts_with("0 (Not at all), 1 (Several days)"),
        "{anchors}"
    );
}

#[test]
fn phq2_and_gad2_screen_positive_at_three() {
    for id in ["phq2", "gad2"] {
        let at = |list: &str| score(id, list).screen_positive;
        assert_eq!(at("0,0"), Some(Some(false)));
        assert_eq!(at("1,1"), Some(Some(false)));
        assert_eq!(at("2,1"), Some(Some(true)));
        assert_eq!(at("3,3"), Some(Some(true)));
        assert_eq!(at("3,-"), Some(None), "incomplete screens are undetermined");
        assert_eq!(score(id, "3,3").severity, None, "no bands");
    }
}

#[test]
fn pcl5_clusters_and_the_dsm_rule() {
    let zero = score("pcl5", &repeat("0", 20));
    assert_eq!(zero.total, Some(Total::Sum(0)));
    assert_eq!(
        zero.provisional,
        Some(("provisional_ptsd".into(), Some(false)))
    );
    assert_eq!(zero.severity, None, "PCL-5 has no bands");

    let max = score("pcl5", &repeat("4", 20));
    assert_eq!(max.total, Some(Total::Sum(80)));
    assert_eq!(
        max.subscales,
        Some(vec![
            ("B".into(), 20),
            ("C".into(), 8),
            ("D".into(), 28),
            ("E".into(), 24)
        ])
    );
    assert_eq!(
        max.provisional,
        Some(("provisional_ptsd".into(), Some(true)))
    );

    // Minimum that meets the rule: one B, one C, two D, two E at 2.
    let minimal = "2,0,0,0,0, 2,0, 2,2,0,0,0,0,0, 2,2,0,0,0,0";
    let s = score("pcl5", minimal);
    assert_eq!(s.total, Some(Total::Sum(12)));
    assert_eq!(s.provisional, Some(("provisional_ptsd".into(), Some(true))));

    // Items rated 1 are not symptoms.
    let ones = score("pcl5", &repeat("1", 20));
    assert_eq!(
        ones.provisional,
        Some(("provisional_ptsd".into(), Some(false)))
    );

    // A high total (68, well above the 31-33 cut-off) that fails cluster C.
    let no_c = "4,4,4,4,4, 0,1, 4,4,4,4,4,4,4, 4,4,4,4,4,4";
    let s = score("pcl5", no_c);
    assert_eq!(s.total, Some(Total::Sum(73)));
    assert_eq!(
        s.provisional,
        Some(("provisional_ptsd".into(), Some(false)))
    );
    // And one that has only one E symptom.
    let one_e = "4,4,4,4,4, 4,4, 4,4,4,4,4,4,4, 4,1,1,1,1,1";
    let s = score("pcl5", one_e);
    assert_eq!(
        s.provisional,
        Some(("provisional_ptsd".into(), Some(false)))
    );
    assert_eq!(s.subscales.as_ref().map(|v| v[3].1), Some(9));

    let incomplete = score("pcl5", &format!("-,{}", repeat("4", 19)));
    assert_eq!(incomplete.total, None);
    assert_eq!(incomplete.subscales, None);
    assert_eq!(
        incomplete.provisional,
        Some(("provisional_ptsd".into(), None))
    );
}

#[test]
fn hama_subscales_and_matza_bands() {
    // Psychic items 1-6 and 14 at 2, somatic items 7-13 at 1.
    let s = score("hama", "2,2,2,2,2,2,1,1,1,1,1,1,1,2");
    assert_eq!(s.total, Some(Total::Sum(21)));
    assert_eq!(
        s.subscales,
        Some(vec![("psychic".into(), 14), ("somatic".into(), 7)])
    );
    for (total, expected) in [
        (0, "minimal"),
        (7, "minimal"),
        (8, "mild"),
        (14, "mild"),
        (15, "moderate"),
        (23, "moderate"),
        (24, "severe"),
        (56, "severe"),
    ] {
        let s = score("hama", &answers_for_total(14, 4, total));
        assert_eq!(band(&s), Some(expected), "HAM-A total {total}");
    }
}

#[test]
fn asq_every_branch() {
    let negative = score("asq", "0,0,0,0");
    assert!(negative.complete);
    assert_eq!(negative.risk, Some(Some("negative".into())));
    assert!(negative.flags.is_empty());
    assert_eq!(negative.total, None);

    let acute = score("asq", "0,1,0,0,1");
    assert_eq!(acute.risk, Some(Some("acute_positive".into())));
    assert_eq!(flags(&acute), ["asq_positive", "asq_acute"]);

    let non_acute = score("asq", "0,0,0,1,0");
    assert_eq!(non_acute.risk, Some(Some("non_acute_positive".into())));
    assert_eq!(flags(&non_acute), ["asq_positive"]);

    // Positive without the acuity answer: incomplete, yet the positive flag stands.
    for list in ["1,0,0,0", "1,0,0,0,-", "1,-,-,-"] {
        let s = score("asq", list);
        assert!(!s.complete, "{list}");
        assert_eq!(s.risk, Some(None));
        assert_eq!(flags(&s), ["asq_positive"], "{list}");
        assert!(s.has_alert());
    }
    // Unanswered screening items with no yes: undetermined, no flag.
    let partial = score("asq", "0,-,0,0");
    assert!(!partial.complete);
    assert_eq!(partial.risk, Some(None));
    assert!(partial.flags.is_empty());
}

#[test]
fn asq_acuity_item_is_refused_after_four_noes() {
    let e = err("asq", "0,0,0,0,1");
    assert_eq!(e.item(), Some(5));
    assert!(
        e.to_string()
            .contains("asked only when any of items 1, 2, 3, 4 is at least 1"),
        "{e}"
    );
}

#[test]
fn ace_counts_categories_with_bands() {
    for (total, expected) in [
        (0, "low"),
        (1, "intermediate"),
        (3, "intermediate"),
        (4, "high"),
        (10, "high"),
    ] {
        let s = score("ace", &answers_for_total(10, 1, total));
        assert_eq!(
            (s.total, band(&s)),
            (Some(Total::Sum(total)), Some(expected))
        );
    }
}

#[test]
fn cadss6_and_ebi() {
    assert_eq!(score("cadss6", &repeat("4", 6)).total, Some(Total::Sum(24)));
    assert_eq!(score("cadss6", &repeat("0", 6)).severity, None);
    let ebi = score("ebi", "100,50,0,0,0,1");
    assert_eq!(ebi.total, Some(Total::Mean { sum: 151, count: 6 }));
    assert_eq!(ebi.total.map(|t| t.to_string()), Some("25.2".into()));
    assert_eq!(
        score("ebi", &repeat("100", 6)).total.map(Total::value),
        Some(100.0)
    );
}

#[test]
fn bad_answers_name_the_item_and_the_allowed_values() {
    let e = err("phq9", "0,0,4,0,0,0,0,0,0");
    assert_eq!(e.item(), Some(3));
    assert_eq!(
        e.to_string(),
        "phq9 item 3 (Trouble falling or staying asleep, or sleeping too much): 4 is not an allowed answer; \
         allowed values: 0 (Not at all), 1 (Several days), 2 (More than half the days), 3 (Nearly every day), or - for unanswered"
    );
    let e = err("phq9", "0,0,0,x,0,0,0,0,0");
    assert_eq!(e.item(), Some(4));
    assert!(e.to_string().contains("'x' is not a number"), "{e}");
    let e = err("phq9", "0,0,0");
    assert_eq!(
        e.to_string(),
        "phq9 expects 9 to 10 answers, one per item in order ('-' for unanswered); got 3"
    );
    assert!(matches!(
        err("gad2", "0,0,0"),
        AnswerError::WrongCount { got: 3, .. }
    ));
    assert!(matches!(
        err("phq9", ""),
        AnswerError::NotANumber { item: 1, .. }
    ));
    assert!(
        err("ebi", "0,0,0,0,0,101")
            .to_string()
            .contains("an integer from 0 to 100")
    );
    assert!(
        err("phq9", "-1,0,0,0,0,0,0,0,0")
            .to_string()
            .contains("-1 is not an allowed answer")
    );
}

/// An instrument index and answers for it: each item answered in range or left blank.
fn instrument_and_answers() -> impl Strategy<Value = (usize, Vec<Option<i64>>)> {
    (0usize..10).prop_flat_map(|pick| {
        let lib = lib();
        let inst = lib.iter().nth(pick).expect("ten instruments");
        let per_item: Vec<_> = inst
            .items
            .iter()
            .map(|i| proptest::option::weighted(0.85, i.answers.min()..=i.answers.max()))
            .collect();
        (Just(pick), per_item)
    })
}

proptest! {
    #[test]
    fn totals_stay_in_range_and_a_missing_item_never_yields_a_total(
        (pick, values) in instrument_and_answers()
    ) {
        let lib = lib();
        let inst = lib.iter().nth(pick).expect("ten instruments");
        // Conditional items answered when not asked are refused; that path has its own test.
        if let Ok(answers) = inst.answers(&values) {
            let s = inst.score(&answers);
            let missing_required = inst.items.iter().zip(answers.values()).any(|(item, v)| {
                v.is_none() && !item.optional && item.asked_when.is_none()
            });
            if missing_required {
                prop_assert!(!s.complete);
                prop_assert!(s.total.is_none() && s.severity.is_none() && s.subscales.is_none());
            }
            if let (Some(t), Some((lo, hi))) = (s.total, inst.total_range()) {
                prop_assert!(t.value() >= lo as f64 && t.value() <= hi as f64);
            }
            if s.complete && inst.total_range().is_some() {
                prop_assert!(s.total.is_some());
                prop_assert_eq!(s.severity.is_some(), !inst.bands.is_empty());
            }
        }
    }

    #[test]
    fn answering_more_items_never_removes_a_flag(values in proptest::collection::vec(proptest::option::of(0i64..=3), 9)) {
        let lib = lib();
        let phq9 = lib.get("phq9").expect("exists");
        let partial = phq9.score(&phq9.answers(&values).expect("valid"));
        let filled: Vec<Option<i64>> = values.iter().map(|v| Some(v.unwrap_or(0))).collect();
        let full = phq9.score(&phq9.answers(&filled).expect("valid"));
        for f in &partial.flags {
            prop_assert!(full.flags.iter().any(|g| g.id == f.id));
        }
        prop_assert_eq!(partial.flags.is_empty(), values[8].is_none_or(|v| v == 0));
    }
}

/// (id, all-minimum answers, all-maximum answers, expected (min, max) totals, expected bands)
type FloorCeiling<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<(f64, f64)>,
    Option<(&'a str, &'a str)>,
);

#[test]
fn every_instrument_at_its_floor_and_ceiling() {
    let cases: [FloorCeiling; 10] = [
        (
            "phq9",
            "0,0,0,0,0,0,0,0,0",
            "3,3,3,3,3,3,3,3,3,3",
            Some((0.0, 27.0)),
            Some(("minimal", "severe")),
        ),
        ("phq2", "0,0", "3,3", Some((0.0, 6.0)), None),
        (
            "gad7",
            "0,0,0,0,0,0,0",
            "3,3,3,3,3,3,3,3",
            Some((0.0, 21.0)),
            Some(("minimal", "severe")),
        ),
        ("gad2", "0,0", "3,3", Some((0.0, 6.0)), None),
        (
            "pcl5",
            &repeat("0", 20),
            &repeat("4", 20),
            Some((0.0, 80.0)),
            None,
        ),
        (
            "hama",
            &repeat("0", 14),
            &repeat("4", 14),
            Some((0.0, 56.0)),
            Some(("minimal", "severe")),
        ),
        ("asq", "0,0,0,0", "1,1,1,1,1", None, None),
        (
            "ace",
            &repeat("0", 10),
            &repeat("1", 10),
            Some((0.0, 10.0)),
            Some(("low", "high")),
        ),
        (
            "cadss6",
            &repeat("0", 6),
            &repeat("4", 6),
            Some((0.0, 24.0)),
            None,
        ),
        (
            "ebi",
            &repeat("0", 6),
            &repeat("100", 6),
            Some((0.0, 100.0)),
            None,
        ),
    ];
    for (id, lo, hi, totals, bands) in cases {
        let (min, max) = (score(id, lo), score(id, hi));
        assert!(min.complete && max.complete, "{id}");
        assert_eq!(
            min.total.map(Total::value).zip(max.total.map(Total::value)),
            totals,
            "{id} totals"
        );
        assert_eq!(band(&min).zip(band(&max)), bands, "{id} bands");
    }
    assert_eq!(
        score("asq", "1,1,1,1,1").risk,
        Some(Some("acute_positive".into()))
    );
    assert_eq!(score("phq2", "3,3").screen_positive, Some(Some(true)));
    assert_eq!(score("phq9", "3,3,3,3,3,3,3,3,3").flags.len(), 1);
}
