use super::*;
use kapstone_clinical::instrument::Library;
use proptest::prelude::*;

fn of(instrument: &str, baseline: f64, current: f64) -> Change {
    change(instrument, baseline, current).expect("a change")
}

#[test]
fn phq9_response_is_a_fall_of_half_the_baseline_or_more() {
    assert_eq!(of("phq9", 20.0, 10.0).response, Some(true));
    assert_eq!(of("phq9", 20.0, 11.0).response, Some(false));
    assert_eq!(of("phq9", 15.0, 7.5).response, Some(true));
    assert_eq!(of("phq9", 15.0, 8.0).response, Some(false));
}

#[test]
fn phq9_remission_is_a_total_below_5() {
    assert_eq!(of("phq9", 20.0, 5.0).remission, Some(false));
    assert_eq!(of("phq9", 20.0, 4.0).remission, Some(true));
}

#[test]
fn phq9_reliable_change_is_6_points_either_way() {
    assert_eq!(of("phq9", 12.0, 6.0).reliable_improvement, Some(true));
    assert_eq!(of("phq9", 12.0, 7.0).reliable_improvement, Some(false));
    assert_eq!(of("phq9", 6.0, 12.0).reliable_deterioration, Some(true));
    assert_eq!(of("phq9", 6.0, 11.0).reliable_deterioration, Some(false));
    assert_eq!(of("phq9", 6.0, 12.0).reliable_improvement, Some(false));
    assert_eq!(of("phq9", 12.0, 6.0).reliable_deterioration, Some(false));
}

#[test]
fn gad7_thresholds() {
    let c = of("gad7", 10.0, 6.0);
    assert_eq!(c.reliable_improvement, Some(true));
    assert_eq!(c.response, Some(false));
    assert_eq!(of("gad7", 10.0, 7.0).reliable_improvement, Some(false));
    assert_eq!(of("gad7", 10.0, 5.0).response, Some(true));
    assert_eq!(of("gad7", 10.0, 5.0).remission, Some(false));
    assert_eq!(of("gad7", 10.0, 4.0).remission, Some(true));
    assert_eq!(of("gad7", 6.0, 10.0).reliable_deterioration, Some(true));
    assert_eq!(of("gad7", 7.0, 10.0).reliable_deterioration, Some(false));
}

#[test]
fn pcl5_thresholds() {
    assert_eq!(of("pcl5", 50.0, 35.0).reliable_improvement, Some(true));
    assert_eq!(of("pcl5", 50.0, 36.0).reliable_improvement, Some(false));
    assert_eq!(of("pcl5", 35.0, 50.0).reliable_deterioration, Some(true));
    assert_eq!(of("pcl5", 36.0, 50.0).reliable_deterioration, Some(false));
    assert_eq!(of("pcl5", 50.0, 33.0).remission, Some(false));
    assert_eq!(of("pcl5", 50.0, 32.0).remission, Some(true));
    assert_eq!(of("pcl5", 50.0, 25.0).response, Some(true));
    assert_eq!(of("pcl5", 50.0, 26.0).response, Some(false));
}

#[test]
fn hama_has_response_and_remission_but_no_reliable_change() {
    let c = of("hama", 24.0, 7.0);
    assert_eq!(c.response, Some(true));
    assert_eq!(c.remission, Some(true));
    assert_eq!(c.reliable_improvement, None);
    assert_eq!(c.reliable_deterioration, None);
    assert_eq!(of("hama", 24.0, 8.0).remission, Some(false));
    assert_eq!(of("hama", 24.0, 13.0).response, Some(false));
}

#[test]
fn delta_and_percent_are_negative_when_better() {
    let c = of("phq9", 20.0, 10.0);
    assert_eq!((c.baseline, c.current), (20.0, 10.0));
    assert_eq!(c.delta, -10.0);
    assert_eq!(c.percent, Some(-50.0));
    let worse = of("gad7", 8.0, 10.0);
    assert_eq!(worse.delta, 2.0);
    assert_eq!(worse.percent, Some(25.0));
}

#[test]
fn a_baseline_of_0_has_no_response_or_percent_but_the_other_rules_apply() {
    let c = of("phq9", 0.0, 0.0);
    assert_eq!(c.response, None);
    assert_eq!(c.percent, None);
    assert_eq!(c.remission, Some(true));
    assert_eq!(c.reliable_improvement, Some(false));
    let c = of("phq9", 0.0, 7.0);
    assert_eq!(c.delta, 7.0);
    assert_eq!(c.reliable_deterioration, Some(true));
    assert_eq!(c.response, None);
}

#[test]
fn instruments_without_a_definition_have_no_change() {
    for id in ["phq2", "gad2", "asq", "ace", "cadss6", "ebi", "madrs", ""] {
        assert_eq!(definition(id), None, "{id}");
        assert_eq!(change(id, 10.0, 5.0), None, "{id}");
    }
}

#[test]
fn impossible_totals_have_no_change() {
    assert_eq!(change("phq9", f64::NAN, 5.0), None);
    assert_eq!(change("phq9", 10.0, f64::INFINITY), None);
    assert_eq!(change("phq9", -1.0, 5.0), None);
    assert_eq!(change("phq9", 10.0, -0.5), None);
}

#[test]
fn the_change_carries_the_definition_it_was_judged_by() {
    let c = of("pcl5", 50.0, 30.0);
    assert_eq!(Some(c.definition), definition("pcl5"));
    let rule = c.definition.reliable_improvement.expect("a rule");
    assert!(rule.source.contains("Marx"));
}

fn rules(d: &ChangeDefinition) -> [(&str, Option<ChangeRule>); 4] {
    [
        ("Response", d.response),
        ("Remission", d.remission),
        ("Reliable improvement", d.reliable_improvement),
        ("Reliable deterioration", d.reliable_deterioration),
    ]
}

#[test]
fn every_sentence_names_its_rule_and_states_its_threshold() {
    for d in &DEFINITIONS {
        for (name, rule) in rules(d) {
            let Some(rule) = rule else { continue };
            assert!(
                rule.text.starts_with(name),
                "{}: {}",
                d.instrument_id,
                rule.text
            );
            let number = match name {
                "Response" => format!("by {}% or more", rule.threshold * 100.0),
                "Remission" => format!("below {}", rule.threshold),
                _ => format!("by {} points or more", rule.threshold),
            };
            assert!(
                rule.text.contains(&number),
                "{}: '{}' should state {number}",
                d.instrument_id,
                rule.text
            );
            assert!(rule.text.ends_with('.') && !rule.source.is_empty());
        }
    }
}

#[test]
fn every_definition_is_for_a_builtin_instrument_and_remission_matches_its_bands() {
    let library = Library::builtin().expect("the built-in library loads");
    for d in &DEFINITIONS {
        let instrument = library.get(d.instrument_id).expect("a built-in instrument");
        let (lo, hi) = instrument.total_range().expect("a total");
        let remission = d
            .remission
            .expect("every definition has remission")
            .threshold;
        assert!((lo as f64) < remission && remission <= hi as f64);
        // Where the instrument has bands, remission is exactly "inside the lowest band".
        if let Some(lowest) = instrument.bands.iter().min_by_key(|b| b.min) {
            assert_eq!(remission, (lowest.max + 1) as f64, "{}", d.instrument_id);
        }
        assert!(definition(d.instrument_id).is_some());
    }
}

proptest! {
    #[test]
    fn improvement_and_deterioration_exclude_each_other(
        id in prop::sample::select(vec!["phq9", "gad7", "pcl5", "hama"]),
        baseline in 0u8..=80,
        current in 0u8..=80,
    ) {
        let c = of(id, f64::from(baseline), f64::from(current));
        prop_assert_eq!(c.delta, f64::from(current) - f64::from(baseline));
        prop_assert!(!(c.reliable_improvement == Some(true) && c.reliable_deterioration == Some(true)));
        if c.response == Some(true) {
            prop_assert!(c.delta < 0.0);
        }
        prop_assert_eq!(c.response.is_none(), baseline == 0);
    }
}
