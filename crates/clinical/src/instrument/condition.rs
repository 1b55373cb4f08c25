//! Conditions over item answers, evaluated in three-valued logic: an unanswered item makes a
//! condition `Unknown`, never true, so a flag is raised only by answers a person actually gave.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Yes,
    No,
    Unknown,
}

impl Truth {
    fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::No, _) | (_, Truth::No) => Truth::No,
            (Truth::Yes, Truth::Yes) => Truth::Yes,
            _ => Truth::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// At least one of the items meets the bound.
    Any,
    /// Every one of the items meets the bound.
    All,
}

/// Inclusive bounds on an answer value; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub at_least: Option<i64>,
    pub at_most: Option<i64>,
}

impl Bound {
    fn holds(&self, value: i64) -> bool {
        self.at_least.is_none_or(|lo| value >= lo) && self.at_most.is_none_or(|hi| value <= hi)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub quantifier: Quantifier,
    /// 1-based item numbers.
    pub items: Vec<u16>,
    pub bound: Bound,
    pub and: Vec<Condition>,
}

impl Condition {
    /// `answers[i]` is the answer to item `i + 1`, `None` when unanswered.
    pub fn eval(&self, answers: &[Option<i64>]) -> Truth {
        let mut met = 0usize;
        let mut unknown = 0usize;
        for &number in &self.items {
            match answers
                .get(usize::from(number).wrapping_sub(1))
                .copied()
                .flatten()
            {
                Some(v) if self.bound.holds(v) => met += 1,
                Some(_) => {}
                None => unknown += 1,
            }
        }
        let failed = self.items.len() - met - unknown;
        let own = match self.quantifier {
            Quantifier::Any if met > 0 => Truth::Yes,
            Quantifier::Any if unknown == 0 => Truth::No,
            Quantifier::All if failed > 0 => Truth::No,
            Quantifier::All if unknown == 0 => Truth::Yes,
            _ => Truth::Unknown,
        };
        self.and.iter().fold(own, |acc, c| acc.and(c.eval(answers)))
    }

    /// Every item number this condition reads, including nested ones.
    pub fn items_read(&self) -> Vec<u16> {
        let mut all = self.items.clone();
        for c in &self.and {
            all.extend(c.items_read());
        }
        all
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self
            .items
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        match (self.quantifier, self.items.len()) {
            (_, 1) => write!(f, "item {list}")?,
            (Quantifier::Any, _) => write!(f, "any of items {list}")?,
            (Quantifier::All, _) => write!(f, "all of items {list}")?,
        }
        match (self.bound.at_least, self.bound.at_most) {
            (Some(lo), Some(hi)) if lo == hi => write!(f, " is {lo}")?,
            (Some(lo), Some(hi)) => write!(f, " is between {lo} and {hi}")?,
            (Some(lo), None) => write!(f, " is at least {lo}")?,
            (None, Some(hi)) => write!(f, " is at most {hi}")?,
            (None, None) => {}
        }
        for c in &self.and {
            write!(f, " and {c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(items: &[u16], at_least: i64) -> Condition {
        Condition {
            quantifier: Quantifier::Any,
            items: items.to_vec(),
            bound: Bound {
                at_least: Some(at_least),
                at_most: None,
            },
            and: vec![],
        }
    }

    #[test]
    fn any_is_yes_as_soon_as_one_answer_meets_it_even_with_gaps() {
        let c = any(&[1, 2, 3], 1);
        assert_eq!(c.eval(&[None, Some(1), None]), Truth::Yes);
        assert_eq!(c.eval(&[None, Some(0), None]), Truth::Unknown);
        assert_eq!(c.eval(&[Some(0), Some(0), Some(0)]), Truth::No);
    }

    #[test]
    fn all_is_no_as_soon_as_one_answer_fails_it() {
        let mut c = any(&[1, 2], 0);
        c.quantifier = Quantifier::All;
        c.bound = Bound {
            at_least: None,
            at_most: Some(0),
        };
        assert_eq!(c.eval(&[Some(1), None]), Truth::No);
        assert_eq!(c.eval(&[Some(0), None]), Truth::Unknown);
        assert_eq!(c.eval(&[Some(0), Some(0)]), Truth::Yes);
    }

    #[test]
    fn nested_and_uses_kleene_logic() {
        let mut c = any(&[1], 1);
        c.and.push(any(&[2], 1));
        assert_eq!(c.eval(&[Some(1), None]), Truth::Unknown);
        assert_eq!(c.eval(&[Some(1), Some(0)]), Truth::No);
        assert_eq!(c.eval(&[None, Some(0)]), Truth::No);
        assert_eq!(c.eval(&[Some(1), Some(1)]), Truth::Yes);
        assert_eq!(
            c.to_string(),
            "item 1 is at least 1 and item 2 is at least 1"
        );
    }
}
