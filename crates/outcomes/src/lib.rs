//! Outcome measures: change from baseline, trend charts, and cohort outcomes with their
//! denominators. Pure: no I/O, no clock.
#![forbid(unsafe_code)]

pub mod change;
pub mod cohort;
pub mod figure;
pub mod pdf;
mod svg;
pub mod trend;
#[cfg(test)]
mod xml_check;

pub use change::{Change, ChangeDefinition, ChangeRule, change, definition};
pub use svg::{Escaped, escape};
pub use trend::{
    CIRCLES_UP_TO, DoseMarker, ReferenceLine, SeverityBand, TrendChart, TrendPoint, XTick,
};
