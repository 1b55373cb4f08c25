//! Civil dates of many instants in one time zone. A cohort report turns millions of stored times
//! into clinic dates; asking the time zone for each one (a search of its rules and a `Zoned` per
//! point) cost more than reading the data. A zone's offset only changes at its transitions, so
//! the transitions between the earliest and latest instant are collected once, and each instant
//! then costs a binary search over a handful of them and some arithmetic.

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// How far past an uncovered instant the covered range is stretched, so that instants spread
/// over years cost a few rebuilds, not one per instant.
const MARGIN: SignedDuration = SignedDuration::from_hours(24 * 400);

pub(crate) struct LocalDates {
    tz: TimeZone,
    /// The covered range (empty until the first instant), its offset before the first
    /// transition, and each transition inside it: from this instant on, this offset.
    lo: Timestamp,
    hi: Timestamp,
    first: Offset,
    transitions: Vec<(Timestamp, Offset)>,
}

impl LocalDates {
    pub(crate) fn new(tz: TimeZone) -> LocalDates {
        LocalDates {
            tz,
            lo: Timestamp::MAX,
            hi: Timestamp::MIN,
            first: Offset::UTC,
            transitions: Vec::new(),
        }
    }

    /// The civil date of `at` in the time zone: exactly `at.to_zoned(tz).date()`.
    pub(crate) fn date(&mut self, at: Timestamp) -> Date {
        if at < self.lo || at > self.hi {
            self.cover(at);
        }
        let i = self.transitions.partition_point(|(t, _)| *t <= at);
        let offset = match i {
            0 => self.first,
            _ => self.transitions[i - 1].1,
        };
        offset.to_datetime(at).date()
    }

    fn cover(&mut self, at: Timestamp) {
        self.lo = self
            .lo
            .min(at.saturating_sub(MARGIN).unwrap_or(Timestamp::MIN));
        self.hi = self
            .hi
            .max(at.saturating_add(MARGIN).unwrap_or(Timestamp::MAX));
        self.first = self.tz.to_offset(self.lo);
        let hi = self.hi;
        self.transitions = self
            .tz
            .following(self.lo)
            .take_while(|t| t.timestamp() <= hi)
            .map(|t| (t.timestamp(), t.offset()))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zones with ordinary DST, none, a negative DST (Dublin), a half-hour DST (Lord Howe), an
    /// odd offset (Kathmandu) and a skipped day (Apia, end of 2011).
    const ZONES: &[&str] = &[
        "UTC",
        "America/Denver",
        "Europe/Dublin",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "Pacific/Apia",
        "America/St_Johns",
    ];

    #[test]
    fn agrees_with_the_time_zone_for_every_instant_tried() {
        // Every 17 minutes and 13 seconds over fifteen years, from the middle outwards so the
        // covered range grows both ways, plus the instants either side of each transition.
        let lo = Timestamp::from_second(1_262_304_000).expect("2010"); // 2010-01-01
        let hi = Timestamp::from_second(1_735_689_600).expect("2025"); // 2025-01-01
        for name in ZONES {
            let tz = TimeZone::get(name).expect("zone");
            let mut dates = LocalDates::new(tz.clone());
            let mut probes: Vec<Timestamp> = Vec::new();
            let mut s = lo.as_second() - 86_400 * 40;
            while s < hi.as_second() + 86_400 * 40 {
                probes.push(Timestamp::from_second(s).expect("valid"));
                s += 17 * 60 + 13;
            }
            for t in tz.following(lo).take_while(|t| t.timestamp() <= hi) {
                let at = t.timestamp();
                for d in [-1_000_001i64, -1, 0, 1, 999_999] {
                    probes
                        .push(Timestamp::from_microsecond(at.as_microsecond() + d).expect("valid"));
                }
            }
            for at in [lo, hi] {
                for d in [-1i64, 0, 1] {
                    probes
                        .push(Timestamp::from_microsecond(at.as_microsecond() + d).expect("valid"));
                }
            }
            let mid = (lo.as_second() + hi.as_second()) / 2;
            probes.sort_by_key(|t| (t.as_second() - mid).abs());
            probes.extend([Timestamp::MIN, Timestamp::MAX]);
            for at in probes {
                assert_eq!(
                    dates.date(at),
                    at.to_zoned(tz.clone()).date(),
                    "{name} at {at}"
                );
            }
        }
    }
}
