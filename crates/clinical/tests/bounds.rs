//! Property tests for `kapstone_clinical::bounds`: arbitrary strings and dates never panic, an
//! accepted name is clean (normalised, trimmed, no hidden character, within length), and every
//! refusal names the field it was given.

use jiff::civil::Date;
use kapstone_clinical::bounds::{self, hidden_in_name};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

fn any_date() -> impl Strategy<Value = Date> {
    (-9999i16..=9999, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| jiff::civil::date(y, m, d))
}

proptest! {
    #[test]
    fn a_name_is_clean_or_refused_by_field(raw in any::<String>()) {
        match bounds::name("family_name", &raw) {
            Ok(n) => {
                prop_assert_eq!(n.nfc().collect::<String>(), n.clone());
                prop_assert_eq!(n.trim(), n.as_str());
                prop_assert!(!n.is_empty() && n.chars().count() <= bounds::NAME_MAX);
                prop_assert!(!n.chars().any(hidden_in_name));
            }
            Err(e) => prop_assert_eq!(e.field, "family_name"),
        }
    }

    #[test]
    fn a_search_term_is_bounded_or_refused_by_field(raw in any::<String>()) {
        match bounds::search_term("q", &raw) {
            Ok(t) => prop_assert!(t.chars().count() <= bounds::SEARCH_MAX),
            Err(e) => prop_assert_eq!(e.field, "q"),
        }
    }

    #[test]
    fn dates_are_in_range_or_refused_by_field(d in any_date(), today in any_date()) {
        match bounds::birth_date("birth_date", d, today) {
            Ok(b) => prop_assert!(b >= bounds::BIRTH_DATE_MIN && b <= today),
            Err(e) => prop_assert_eq!(e.field, "birth_date"),
        }
        if let Err(e) = bounds::course_date("intake", d, today) {
            prop_assert_eq!(e.field, "intake");
        }
    }

    #[test]
    fn event_times_are_recent_or_refused_by_field(secs in -100_000_000_000i64..100_000_000_000, now in 0i64..4_000_000_000) {
        let at = jiff::Timestamp::from_second(secs).expect("in range");
        let now = jiff::Timestamp::from_second(now).expect("in range");
        match bounds::event_time("started_at", at, now) {
            Ok(t) => prop_assert!((t.as_second() - now.as_second()).abs() <= 24 * 3600),
            Err(e) => prop_assert_eq!(e.field, "started_at"),
        }
    }
}
