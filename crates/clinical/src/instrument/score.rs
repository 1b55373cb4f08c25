//! The scoring engine: interprets an instrument definition over checked answers.

use super::answers::Answers;
use super::condition::Truth;
use super::definition::{Band, Instrument, Method};
use std::fmt;

/// A total on the instrument's own scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    Sum(i64),
    /// Mean of `count` scored items; kept as a fraction so no rounding happens before display.
    Mean {
        sum: i64,
        count: u32,
    },
}

impl Total {
    #[allow(clippy::cast_precision_loss)] // totals are far below 2^52
    pub fn value(self) -> f64 {
        match self {
            Total::Sum(s) => s as f64,
            Total::Mean { sum, count } => sum as f64 / f64::from(count.max(1)),
        }
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Total::Sum(s) => write!(f, "{s}"),
            Total::Mean { .. } => write!(f, "{:.1}", self.value()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedFlag {
    pub id: String,
    pub label: String,
    pub alert: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub instrument: String,
    pub version: String,
    pub complete: bool,
    /// Items that had to be answered and were not (1-based).
    pub missing: Vec<u16>,
    pub total: Option<Total>,
    pub severity: Option<Band>,
    /// `None` when incomplete or when the instrument has no subscales.
    pub subscales: Option<Vec<(String, i64)>>,
    /// Raised from whatever was answered, complete or not.
    pub flags: Vec<RaisedFlag>,
    /// `Some` only for instruments with a screen threshold; inner `None` when incomplete.
    pub screen_positive: Option<Option<bool>>,
    /// `Some((key, result))` only for instruments with a provisional-diagnosis rule.
    pub provisional: Option<(String, Option<bool>)>,
    /// `Some` only for instruments with risk levels; inner `None` when undetermined.
    pub risk: Option<Option<String>>,
}

impl Score {
    pub fn has_alert(&self) -> bool {
        self.flags.iter().any(|f| f.alert)
    }
}

impl Instrument {
    pub fn score(&self, answers: &Answers) -> Score {
        debug_assert_eq!(answers.instrument(), self.id);
        let values = answers.values();
        let answer = |n: u16| values.get(usize::from(n) - 1).copied().flatten();

        let mut missing = Vec::new();
        let mut undetermined = false;
        for item in &self.items {
            let asked = item
                .asked_when
                .as_ref()
                .map_or(Truth::Yes, |c| c.eval(values));
            match asked {
                Truth::Yes if !item.optional && answer(item.number).is_none() => {
                    missing.push(item.number);
                }
                Truth::Unknown => undetermined = true,
                _ => {}
            }
        }
        let complete = missing.is_empty() && !undetermined;

        let flags = self
            .flags
            .iter()
            .filter(|f| f.when.eval(values) == Truth::Yes)
            .map(|f| RaisedFlag {
                id: f.id.clone(),
                label: f.label.clone(),
                alert: f.alert,
            })
            .collect();

        let scored: Vec<i64> = self
            .items
            .iter()
            .filter(|i| i.scored)
            .filter_map(|i| answer(i.number))
            .collect();
        let total = match (complete, self.method) {
            (true, Method::Sum) => Some(Total::Sum(scored.iter().sum())),
            (true, Method::Mean) => Some(Total::Mean {
                sum: scored.iter().sum(),
                count: u32::try_from(scored.len()).unwrap_or(u32::MAX),
            }),
            _ => None,
        };
        let severity = match total {
            Some(Total::Sum(t)) => self
                .bands
                .iter()
                .find(|b| (b.min..=b.max).contains(&t))
                .cloned(),
            _ => None,
        };
        let subscales = (complete && !self.subscales.is_empty()).then(|| {
            self.subscales
                .iter()
                .map(|s| {
                    let sum = s.items.iter().filter_map(|&n| answer(n)).sum();
                    (s.id.clone(), sum)
                })
                .collect()
        });
        let screen_positive = self
            .screen_positive_at_least
            .map(|cut| total.map(|t| t.value() >= cut as f64));
        let provisional = self.provisional.as_ref().map(|rule| {
            let met = complete.then(|| {
                rule.clusters.iter().all(|(sub_id, need)| {
                    self.subscales
                        .iter()
                        .find(|s| &s.id == sub_id)
                        .is_some_and(|s| {
                            let symptoms = s
                                .items
                                .iter()
                                .filter(|&&n| answer(n).is_some_and(|v| v >= rule.symptom_at_least))
                                .count();
                            symptoms >= *need
                        })
                })
            });
            (rule.key.clone(), met)
        });
        let risk = (!self.risk.is_empty()).then(|| {
            if !complete {
                return None;
            }
            self.risk
                .iter()
                .find(|l| l.when.eval(values) == Truth::Yes)
                .map(|l| l.id.clone())
        });

        Score {
            instrument: self.id.clone(),
            version: self.version.clone(),
            complete,
            missing,
            total,
            severity,
            subscales,
            flags,
            screen_positive,
            provisional,
            risk,
        }
    }
}

/// Checked answers together with the score the engine gave them. Only `Instrument::respond`
/// makes one, so a stored score always matches its answers and instrument version.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    answers: Answers,
    score: Score,
    rater: super::definition::Rater,
}

impl Response {
    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    pub fn score(&self) -> &Score {
        &self.score
    }

    pub fn rater(&self) -> super::definition::Rater {
        self.rater
    }
}

impl Instrument {
    pub fn respond(&self, answers: Answers) -> Response {
        let score = self.score(&answers);
        Response {
            answers,
            score,
            rater: self.rater,
        }
    }
}
