//! Questionnaires: data-file definitions, checked answers and exact scoring.

mod answers;
mod condition;
mod definition;
mod file;
mod library;
mod score;

pub use answers::{AnswerError, Answers};
pub use condition::{Bound, Condition, Quantifier, Truth};
pub use definition::{
    AnswerOption, AnswerSet, Band, DefinitionError, Flag, Instrument, Item, Loinc, Method,
    ProvisionalRule, Rater, RiskLevel, Subscale, Wording,
};
pub use library::{Library, SourceFile};
pub use score::{RaisedFlag, Response, Score, Total};
