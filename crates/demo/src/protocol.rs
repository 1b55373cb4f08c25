//! The `kap-6` protocol as dates, and where a course stands on a given day.
//!
//! Choices (kap-protocol.md §2.1 reports cadences, none standard; these sit inside them):
//! - Screening opens the course; the first preparation session follows at least 3 days later
//!   (3–30, depending on where the weekday of dose 1 falls).
//! - Dose 1 falls on a Monday or Tuesday, so the twice-weekly rhythm is Mon/Thu or Tue/Fri:
//!   doses on days 0, 3, 7, 10, 14 and 17 (six doses in two and a half weeks, like the IV trials'
//!   six infusions over 12–14 days and Spravato's twice-weekly induction).
//! - Two preparation sessions in the two weeks before dose 1: the first 11–14 days before, the
//!   second exactly 7 days before (it is also the baseline visit, see `crate::course`).
//! - An integration session the day after each dose.
//! - Follow-ups 1, 3 and 6 calendar months after the last dose.
//!
//! Status on a day follows the encounters that have taken place by then (the day itself
//! included): screening before any; preparation once a preparation session is done; active once
//! dose 1 is done; integration once the last dose is done; follow_up once the last integration
//! session is done; completed on the day of the 6-month follow-up, attended or not (the clinic
//! closes the course then). A discontinued course stops on its first missed encounter.

use crate::rng::SplitMix64;
use jiff::Span;
use jiff::civil::{Date, Weekday};
use kapstone_clinical::course::{CourseStatus, EncounterKind};

/// Days from dose 1 to each dose.
pub(crate) const DOSE_DAYS: [i64; 6] = [0, 3, 7, 10, 14, 17];
/// Months from the last dose to each follow-up.
pub(crate) const FOLLOW_UP_MONTHS: [i64; 3] = [1, 3, 6];
/// Encounters per course: 2 preparation + 6 dosing + 6 integration + 3 follow-up.
pub(crate) const ENCOUNTERS: usize = 17;
/// Index of the first follow-up in the encounter list.
pub(crate) const FIRST_FOLLOW_UP: usize = 14;
/// Index of dose 1.
pub(crate) const FIRST_DOSE: usize = 2;
/// Index of the last dose.
pub(crate) const LAST_DOSE: usize = 12;
/// Index of the last integration session.
pub(crate) const LAST_INTEGRATION: usize = 13;

pub(crate) fn add_days(d: Date, days: i64) -> Date {
    d.saturating_add(Span::new().days(days))
}

pub(crate) fn add_months(d: Date, months: i64) -> Date {
    d.saturating_add(Span::new().months(months))
}

/// Whole days from `a` to `b` (negative when `b` is earlier).
pub(crate) fn days_between(a: Date, b: Date) -> i64 {
    a.duration_until(b).as_secs() / 86_400
}

/// The planned dates of one course, in encounter order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub start: Date,
    /// Chronological, `ENCOUNTERS` long.
    pub dates: [Date; ENCOUNTERS],
}

/// The kind and per-kind sequence number of encounter `index`.
pub(crate) fn kind_of(index: usize) -> (EncounterKind, i64) {
    match index {
        0 | 1 => (EncounterKind::Preparation, index as i64 + 1),
        i if i < FIRST_FOLLOW_UP => {
            let n = (i - FIRST_DOSE) as i64;
            if n % 2 == 0 {
                (EncounterKind::Dosing, n / 2 + 1)
            } else {
                (EncounterKind::Integration, n / 2 + 1)
            }
        }
        i => (EncounterKind::FollowUp, (i - FIRST_FOLLOW_UP) as i64 + 1),
    }
}

impl Schedule {
    pub fn draw(rng: &mut SplitMix64, start: Date) -> Schedule {
        let prep1_earliest = add_days(start, rng.range(3, 21));
        // Dose 1: the first Monday or Tuesday at least 14 days after the earliest first
        // preparation day, so both preparation sessions fit in the two weeks before it and
        // after screening.
        let mut dose1 = add_days(prep1_earliest, 14);
        while !matches!(dose1.weekday(), Weekday::Monday | Weekday::Tuesday) {
            dose1 = add_days(dose1, 1);
        }
        let mut dates = [dose1; ENCOUNTERS];
        dates[0] = add_days(dose1, -rng.range(11, 14));
        dates[1] = add_days(dose1, -7);
        for (n, day) in DOSE_DAYS.iter().enumerate() {
            dates[FIRST_DOSE + 2 * n] = add_days(dose1, *day);
            dates[FIRST_DOSE + 2 * n + 1] = add_days(dose1, *day + 1);
        }
        let last_dose = dates[LAST_DOSE];
        for (m, months) in FOLLOW_UP_MONTHS.iter().enumerate() {
            dates[FIRST_FOLLOW_UP + m] = add_months(last_dose, *months);
        }
        Schedule { start, dates }
    }

    #[cfg(test)]
    pub fn dose(&self, n: usize) -> Date {
        self.dates[FIRST_DOSE + 2 * (n - 1)]
    }

    #[cfg(test)]
    pub fn follow_up(&self, m: usize) -> Date {
        self.dates[FIRST_FOLLOW_UP + m]
    }

    pub fn last(&self) -> Date {
        self.dates[ENCOUNTERS - 1]
    }

    /// The statuses entered, with their days, up to `today`, for a course whose first missed
    /// encounter (if discontinued) is `stop`. A `stop` after `today` has not happened yet.
    pub fn history(&self, today: Date, stop: Option<usize>) -> Vec<(CourseStatus, Date)> {
        let stop = stop.filter(|&k| self.dates[k] <= today);
        let steps = [
            (CourseStatus::Preparation, 0),
            (CourseStatus::Active, FIRST_DOSE),
            (CourseStatus::Integration, LAST_DOSE),
            (CourseStatus::FollowUp, LAST_INTEGRATION),
            (CourseStatus::Completed, ENCOUNTERS - 1),
        ];
        let mut history = vec![(CourseStatus::Screening, self.start)];
        for (status, index) in steps {
            if self.dates[index] > today || stop.is_some_and(|k| index >= k) {
                break;
            }
            history.push((status, self.dates[index]));
        }
        if let Some(k) = stop {
            history.push((CourseStatus::Discontinued, self.dates[k]));
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_schedule_follows_the_protocol() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..200 {
            let start = add_days(date(2025, 1, 1), rng.range(0, 700));
            let s = Schedule::draw(&mut rng, start);
            let d1 = s.dose(1);
            assert!(matches!(d1.weekday(), Weekday::Monday | Weekday::Tuesday));
            assert!(s.start < s.dates[0]);
            assert!((11..=14).contains(&days_between(s.dates[0], d1)));
            assert_eq!(days_between(s.dates[1], d1), 7);
            for n in 1..=6 {
                assert_eq!(days_between(d1, s.dose(n)), DOSE_DAYS[n - 1]);
            }
            assert!(s.dates.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(s.follow_up(2), add_months(s.dose(6), 6));
        }
    }

    #[test]
    fn encounter_kinds_and_sequences() {
        let kinds: Vec<_> = (0..ENCOUNTERS).map(kind_of).collect();
        assert_eq!(kinds[0], (EncounterKind::Preparation, 1));
        assert_eq!(kinds[1], (EncounterKind::Preparation, 2));
        assert_eq!(kinds[2], (EncounterKind::Dosing, 1));
        assert_eq!(kinds[3], (EncounterKind::Integration, 1));
        assert_eq!(kinds[LAST_DOSE], (EncounterKind::Dosing, 6));
        assert_eq!(kinds[LAST_INTEGRATION], (EncounterKind::Integration, 6));
        assert_eq!(kinds[16], (EncounterKind::FollowUp, 3));
    }

    #[test]
    fn history_walks_legal_steps() {
        let s = Schedule::draw(&mut SplitMix64::new(1), date(2025, 3, 3));
        let full = s.history(date(2030, 1, 1), None);
        assert_eq!(full.len(), 6);
        assert_eq!(full.last().map(|h| h.0), Some(CourseStatus::Completed));
        let stopped = s.history(date(2030, 1, 1), Some(5));
        assert_eq!(
            stopped.iter().map(|h| h.0).collect::<Vec<_>>(),
            [
                CourseStatus::Screening,
                CourseStatus::Preparation,
                CourseStatus::Active,
                CourseStatus::Discontinued
            ]
        );
        assert_eq!(s.history(s.start, None).len(), 1);
    }
}
