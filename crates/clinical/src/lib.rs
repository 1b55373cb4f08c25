//! kapstone's clinical domain: questionnaires and their scoring, and the course of care.
//! Pure: no I/O, no clock, no database.
#![forbid(unsafe_code)]

pub mod bounds;
pub mod course;
pub mod dosing;
pub mod instrument;
pub mod protocol;
pub mod vocab;
