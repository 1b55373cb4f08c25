//! The dosing day as data: screening (contraindications, medications and their interactions),
//! the pre-dose checklist, administrations with mg/kg, vitals and their limits, in-session
//! observations, adverse events, the PK clock and the observation minimum before discharge.
//! Facts and sources: ../shared/clinical/kap-protocol.md §2–3. kapstone records what clinicians
//! decide; these types only refuse what cannot be true or what the clinic's rules forbid.

pub mod administration;
pub mod events;
pub mod pk;
pub mod policy;
pub mod screening;
pub mod vitals;

/// Bad input for one field, with what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<crate::vocab::VocabError> for FieldError {
    fn from(e: crate::vocab::VocabError) -> FieldError {
        FieldError::new(
            e.field,
            format!(
                "'{}' is not allowed; allowed values: {}",
                e.given,
                e.allowed.join(", ")
            ),
        )
    }
}

/// Parses an optional whole number within a range; empty means absent.
pub(crate) fn optional_number(
    field: &str,
    raw: &str,
    min: i64,
    max: i64,
    unit: &str,
) -> Result<Option<i64>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let n: i64 = raw.parse().map_err(|_| {
        FieldError::new(
            field,
            format!("'{raw}' is not a whole number; allowed: {min}–{max} {unit}"),
        )
    })?;
    if !(min..=max).contains(&n) {
        return Err(FieldError::new(
            field,
            format!("{n} {unit} is outside the allowed range {min}–{max} {unit}"),
        ));
    }
    Ok(Some(n))
}

/// Parses an optional decimal within a range; empty means absent.
pub(crate) fn optional_decimal(
    field: &str,
    raw: &str,
    min: f64,
    max: f64,
    unit: &str,
) -> Result<Option<f64>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let n: f64 = raw
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("'{raw}' is not a number; allowed: {min}–{max} {unit}"),
            )
        })?;
    if !(min..=max).contains(&n) {
        return Err(FieldError::new(
            field,
            format!("{n} {unit} is outside the allowed range {min}–{max} {unit}"),
        ));
    }
    Ok(Some(n))
}

/// A required, trimmed, bounded piece of free text.
pub fn required_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    optional_text(field, t, max).map(|t| t.unwrap_or_default())
}

/// Optional free text: trimmed, bounded, empty means absent.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    let t = raw.trim();
    let len = t.chars().count();
    if len > max {
        return Err(FieldError::new(
            field,
            format!("is {len} characters long; at most {max} are allowed"),
        ));
    }
    Ok((!t.is_empty()).then(|| t.to_string()))
}
