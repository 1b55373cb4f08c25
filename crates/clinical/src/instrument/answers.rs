//! A response's item answers, checked against its instrument. Only `Instrument::answers` and
//! `Instrument::parse_answers` make one, so every `Answers` in the program is valid for it.

use super::condition::Truth;
use super::definition::{AnswerSet, Instrument};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    instrument: String,
    /// `values[i]` answers item `i + 1`; `None` is unanswered. Always one entry per item.
    values: Vec<Option<i64>>,
}

impl Answers {
    pub fn instrument(&self) -> &str {
        &self.instrument
    }

    pub fn values(&self) -> &[Option<i64>] {
        &self.values
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error(
        "{instrument} expects {expected} answers, one per item in order ('-' for unanswered); got {got}"
    )]
    WrongCount {
        instrument: String,
        expected: String,
        got: usize,
    },
    #[error(
        "{instrument} item {item} ({text}): '{given}' is not a number; allowed values: {allowed}, or - for unanswered"
    )]
    NotANumber {
        instrument: String,
        item: u16,
        text: String,
        given: String,
        allowed: String,
    },
    #[error(
        "{instrument} item {item} ({text}): {given} is not an allowed answer; allowed values: {allowed}, or - for unanswered"
    )]
    OutOfRange {
        instrument: String,
        item: u16,
        text: String,
        given: i64,
        allowed: String,
    },
    #[error(
        "{instrument} item {item} ({text}) was answered, but it is asked only when {condition}; leave it unanswered (-)"
    )]
    NotAsked {
        instrument: String,
        item: u16,
        text: String,
        condition: String,
    },
}

impl AnswerError {
    /// The item the error is about, when there is one (for pointing at a form field).
    pub fn item(&self) -> Option<u16> {
        match self {
            AnswerError::WrongCount { .. } => None,
            AnswerError::NotANumber { item, .. }
            | AnswerError::OutOfRange { item, .. }
            | AnswerError::NotAsked { item, .. } => Some(*item),
        }
    }
}

/// Item text shortened for error messages.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{}…", cut.trim_end())
    }
}

struct Expected(usize, usize);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == self.1 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{} to {}", self.0, self.1)
        }
    }
}

fn allowed(set: &AnswerSet) -> String {
    set.to_string()
}

impl Instrument {
    /// Check item answers given in item order. A shorter list is padded with unanswered items
    /// only where the missing tail is optional or conditional.
    pub fn answers(&self, given: &[Option<i64>]) -> Result<Answers, AnswerError> {
        let (min, max) = self.answer_count_range();
        if given.len() < min || given.len() > max {
            return Err(AnswerError::WrongCount {
                instrument: self.id.clone(),
                expected: Expected(min, max).to_string(),
                got: given.len(),
            });
        }
        let mut values = given.to_vec();
        values.resize(self.items.len(), None);
        for (item, value) in self.items.iter().zip(&values) {
            if let Some(v) = *value
                && !item.answers.allows(v)
            {
                return Err(AnswerError::OutOfRange {
                    instrument: self.id.clone(),
                    item: item.number,
                    text: short(&item.text),
                    given: v,
                    allowed: allowed(&item.answers),
                });
            }
        }
        for (item, value) in self.items.iter().zip(&values) {
            if let (Some(cond), Some(_)) = (&item.asked_when, value)
                && cond.eval(&values) == Truth::No
            {
                return Err(AnswerError::NotAsked {
                    instrument: self.id.clone(),
                    item: item.number,
                    text: short(&item.text),
                    condition: cond.to_string(),
                });
            }
        }
        Ok(Answers {
            instrument: self.id.clone(),
            values,
        })
    }

    /// Parse the comma-separated list form: integers in item order, `-` for unanswered.
    pub fn parse_answers(&self, list: &str) -> Result<Answers, AnswerError> {
        let parts: Vec<&str> = list.split(',').map(str::trim).collect();
        let mut values = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if *part == "-" {
                values.push(None);
                continue;
            }
            match part.parse::<i64>() {
                Ok(v) => values.push(Some(v)),
                Err(_) => {
                    // Past the last item the count error is the clearer message.
                    let Some(item) = self.items.get(i) else {
                        break;
                    };
                    return Err(AnswerError::NotANumber {
                        instrument: self.id.clone(),
                        item: item.number,
                        text: short(&item.text),
                        given: (*part).to_string(),
                        allowed: allowed(&item.answers),
                    });
                }
            }
        }
        if values.len() != parts.len() {
            let (min, max) = self.answer_count_range();
            return Err(AnswerError::WrongCount {
                instrument: self.id.clone(),
                expected: Expected(min, max).to_string(),
                got: parts.len(),
            });
        }
        self.answers(&values)
    }
}
