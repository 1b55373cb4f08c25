//! What typed input may be: names that display as what they say, dates in ranges a clinic can
//! mean, search terms of a searchable size. Each rule names its field and what is allowed, and
//! a clean value comes back normalised (Unicode NFC, trimmed) so that the same name typed on two
//! keyboards is stored and found as one.

use crate::dosing::FieldError;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use unicode_normalization::UnicodeNormalization;

/// Longest person name part.
pub const NAME_MAX: usize = 200;
/// Longest patient search term.
pub const SEARCH_MAX: usize = 100;
/// Earliest birth date accepted.
pub const BIRTH_DATE_MIN: Date = jiff::civil::date(1900, 1, 1);
/// A course's dates: from this many years before today…
pub const COURSE_YEARS_BACK: i16 = 30;
/// …to this many years ahead.
pub const COURSE_YEARS_AHEAD: i16 = 2;
/// An event of the dosing day (start, dose, vitals, signature) is recorded within this long
/// after it happened…
pub const EVENT_HOURS_BACK: i64 = 24;
/// …and is not later than this ahead of the server's clock (a device's clock may run ahead).
pub const EVENT_MINUTES_AHEAD: i64 = 60;

/// Characters that change how a name displays without being part of it: controls, bidirectional
/// embeddings, overrides, isolates and marks, zero-width characters and the byte-order mark.
/// Any of these can make a chart show one name while the record holds another.
pub fn hidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
                | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidirectional isolates
                | '\u{061C}' // Arabic letter mark
                | '\u{FEFF}' // byte-order mark, zero-width no-break space
                | '\u{00AD}' // soft hyphen
        )
}

/// A person's name part: NFC, trimmed, 1 to `NAME_MAX` characters, none hidden.
pub fn name(field: &str, raw: &str) -> Result<String, FieldError> {
    let clean: String = raw.nfc().collect::<String>().trim().to_string();
    let len = clean.chars().count();
    if len == 0 {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if len > NAME_MAX {
        return Err(FieldError::new(
            field,
            format!("is {len} characters; at most {NAME_MAX} are allowed"),
        ));
    }
    if let Some(c) = clean.chars().find(|&c| hidden_in_name(c)) {
        return Err(FieldError::new(
            field,
            format!(
                "contains the invisible character U+{:04X}, which would show the name differently from what is stored; remove it",
                u32::from(c)
            ),
        ));
    }
    Ok(clean)
}

/// A birth date from 1900-01-01 to today.
pub fn birth_date(field: &str, d: Date, today: Date) -> Result<Date, FieldError> {
    if d < BIRTH_DATE_MIN || d > today {
        return Err(FieldError::new(
            field,
            format!("{d} is outside {BIRTH_DATE_MIN} to {today} (today)"),
        ));
    }
    Ok(d)
}

/// A date of a course of care (its start, a planned session): within `COURSE_YEARS_BACK` years
/// before today and `COURSE_YEARS_AHEAD` years after.
pub fn course_date(field: &str, d: Date, today: Date) -> Result<Date, FieldError> {
    let first = today
        .checked_sub(COURSE_YEARS_BACK.years())
        .unwrap_or(Date::MIN);
    let last = today
        .checked_add(COURSE_YEARS_AHEAD.years())
        .unwrap_or(Date::MAX);
    if d < first || d > last {
        return Err(FieldError::new(
            field,
            format!("{d} is outside {first} to {last}"),
        ));
    }
    Ok(d)
}

/// The time of an event of the dosing day, recorded at most `EVENT_HOURS_BACK` hours later and
/// not more than `EVENT_MINUTES_AHEAD` minutes ahead of now.
pub fn event_time(field: &str, at: Timestamp, now: Timestamp) -> Result<Timestamp, FieldError> {
    let first = now - SignedDuration::from_hours(EVENT_HOURS_BACK);
    let last = now + SignedDuration::from_mins(EVENT_MINUTES_AHEAD);
    if at < first || at > last {
        return Err(FieldError::new(
            field,
            format!(
                "must be within the last {EVENT_HOURS_BACK} hours (and not more than {EVENT_MINUTES_AHEAD} minutes ahead); an older event belongs in a note or an addendum"
            ),
        ));
    }
    Ok(at)
}

/// A patient search term: NFC, trimmed, at most `SEARCH_MAX` characters, no control characters.
pub fn search_term(field: &str, raw: &str) -> Result<String, FieldError> {
    let clean: String = raw.nfc().collect::<String>().trim().to_string();
    let len = clean.chars().count();
    if len > SEARCH_MAX {
        return Err(FieldError::new(
            field,
            format!("is {len} characters; search with at most {SEARCH_MAX}"),
        ));
    }
    if clean.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "contains control characters; search with letters, digits or a record number",
        ));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn names_are_normalised_and_hidden_characters_refused() {
        // "é" typed as e + combining acute is stored as the one character.
        assert_eq!(
            name("given_name", " Jose\u{301} ").expect("accepted"),
            "Jos\u{e9}"
        );
        assert_eq!(
            name("given_name", "O'Brien-Smith").expect("accepted"),
            "O'Brien-Smith"
        );
        assert_eq!(name("given_name", "王 小明").expect("accepted"), "王 小明");
        for bad in [
            "Ada\u{202E}ecalevol",
            "A\u{200B}da",
            "Ada\u{0}",
            "Ada\u{2067}x",
            "\u{FEFF}Ada",
            "Ad\u{00AD}a",
            "Ada\nLovelace",
        ] {
            let e = name("family_name", bad).expect_err("refused");
            assert_eq!(e.field, "family_name");
            assert!(
                e.message.contains("invisible character U+"),
                "{bad:?}: {e:?}"
            );
        }
        assert!(name("given_name", "   ").is_err());
        assert!(name("given_name", &"a".repeat(NAME_MAX)).is_ok());
        let long = name("given_name", &"a".repeat(NAME_MAX + 1)).expect_err("refused");
        assert!(long.message.contains("at most 200"), "{long:?}");
    }

    #[test]
    fn dates_stay_in_clinical_ranges() {
        let today = date(2026, 12, 3);
        assert!(birth_date("birth_date", date(1900, 1, 1), today).is_ok());
        assert!(birth_date("birth_date", today, today).is_ok());
        for bad in [date(1899, 12, 31), date(2026, 12, 4), Date::MIN] {
            let e = birth_date("birth_date", bad, today).expect_err("refused");
            assert!(e.message.contains("1900-01-01 to 2026-12-03"), "{e:?}");
        }
        assert!(course_date("start", date(1996, 12, 3), today).is_ok());
        assert!(course_date("start", date(2028, 12, 3), today).is_ok());
        for bad in [
            date(1, 1, 1),
            date(1996, 12, 2),
            date(2028, 12, 4),
            date(9999, 1, 1),
        ] {
            assert_eq!(
                course_date("start", bad, today).expect_err("refused").field,
                "start"
            );
        }
    }

    #[test]
    fn dosing_day_events_are_recent() {
        let now: Timestamp = "2026-12-03T10:00:00Z".parse().expect("accepted");
        let at = |s: &str| s.parse::<Timestamp>().expect("accepted");
        assert!(event_time("started_at", at("2026-12-02T10:00:00Z"), now).is_ok());
        assert!(event_time("started_at", at("2026-12-03T11:00:00Z"), now).is_ok());
        for bad in [
            "1990-01-01T09:00:00Z",
            "0001-01-01T00:00:00Z",
            "2026-12-02T09:59:59Z",
            "2026-12-03T11:00:01Z",
        ] {
            let e = event_time("started_at", at(bad), now).expect_err("refused");
            assert_eq!(e.field, "started_at");
        }
    }

    #[test]
    fn search_terms_are_bounded() {
        assert_eq!(search_term("q", "  Love ").expect("accepted"), "Love");
        assert!(search_term("q", &"x".repeat(SEARCH_MAX)).is_ok());
        let e = search_term("q", &"x".repeat(50_001)).expect_err("refused");
        assert!(e.message.contains("at most 100"), "{e:?}");
        assert!(search_term("q", "a\u{0}b").is_err());
    }
}
