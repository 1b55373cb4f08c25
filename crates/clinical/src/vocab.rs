//! Closed vocabularies stored as text: every one parses with an error naming the field and the
//! allowed values, and prints as the same id it parses from.

use std::fmt;

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: '{given}' is not allowed; allowed values: {}", allowed.join(", "))]
pub struct VocabError {
    pub field: &'static str,
    pub given: String,
    pub allowed: &'static [&'static str],
}

/// Defines a text enum with `as_str`, `parse`, `ALL` and `Display`.
macro_rules! vocab {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const IDS: &'static [&'static str] = &[$($text),+];
            pub const FIELD: &'static str = $field;

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Result<$name, $crate::vocab::VocabError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::vocab::VocabError { field: $field, given: s.to_string(), allowed: Self::IDS }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::vocab::VocabError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { $name::parse(s) }
        }
    };
}
pub(crate) use vocab;

vocab!(
    /// What a staff member may do is decided by role (and care team, in the app layer).
    Role, "role" {
        Admin = "admin",
        Prescriber = "prescriber",
        Therapist = "therapist",
        Nurse = "nurse",
        Researcher = "researcher",
    }
);

vocab!(
    /// Sex recorded for clinical purposes (reference ranges, pregnancy status), not gender identity.
    Sex, "sex" {
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
);

/// A non-empty, trimmed piece of text with a length limit, for names and similar fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("{field}: is {len} characters long; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

impl Text {
    pub fn parse(field: &'static str, s: &str, max: usize) -> Result<Text, TextError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(TextError::Empty { field });
        }
        let len = t.chars().count();
        if len > max {
            return Err(TextError::TooLong { field, len, max });
        }
        Ok(Text(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_round_trips_and_names_allowed_values() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(*r));
        }
        let e = Role::parse("doctor").expect_err("refused");
        assert_eq!(
            e.to_string(),
            "role: 'doctor' is not allowed; allowed values: admin, prescriber, therapist, nurse, researcher"
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            Text::parse("name", "  Ann ", 10).map(|t| t.into_string()),
            Ok("Ann".into())
        );
        assert_eq!(
            Text::parse("name", "   ", 10),
            Err(TextError::Empty { field: "name" })
        );
        assert!(matches!(
            Text::parse("name", "abcdef", 3),
            Err(TextError::TooLong { len: 6, .. })
        ));
    }
}
