//! The course of care: a treatment course's indication, route, status machine, and encounters.

use crate::vocab::vocab;

vocab!(
    /// What the course treats. Ids match the historical-import format.
    Indication, "indication" {
        Gad = "gad",
        Ptsd = "ptsd",
        Mdd = "mdd",
        /// Treatment-resistant depression.
        Trd = "trd",
        Other = "other",
    }
);

vocab!(
    /// How ketamine is given (kap-protocol.md §2.2).
    Route, "route" {
        Iv = "iv",
        Im = "im",
        Sc = "sc",
        Sublingual = "sublingual",
        Oral = "oral",
        IntranasalEsketamine = "intranasal_esketamine",
    }
);

vocab!(
    EncounterKind, "encounter kind" {
        Preparation = "preparation",
        Dosing = "dosing",
        Integration = "integration",
        FollowUp = "follow_up",
    }
);

vocab!(
    EncounterStatus, "encounter status" {
        Planned = "planned",
        Completed = "completed",
        Cancelled = "cancelled",
    }
);

vocab!(
    /// DESIGN.md §2: screening → preparation → active → integration → follow_up → completed,
    /// or discontinued (with a reason) from any open state.
    CourseStatus, "course status" {
        Screening = "screening",
        Preparation = "preparation",
        Active = "active",
        Integration = "integration",
        FollowUp = "follow_up",
        Completed = "completed",
        Discontinued = "discontinued",
    }
);

/// A refused status change, with the moves that are allowed from where the course is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("course status: cannot move from {from} to {to}; allowed from {from}: {}", allowed_list(.allowed))]
    Illegal {
        from: CourseStatus,
        to: CourseStatus,
        allowed: Vec<CourseStatus>,
    },
    #[error("reason: discontinuing a course needs a reason")]
    ReasonRequired,
}

fn allowed_list(allowed: &[CourseStatus]) -> String {
    if allowed.is_empty() {
        "nothing (the course is closed)".to_string()
    } else {
        allowed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl CourseStatus {
    pub fn is_closed(self) -> bool {
        matches!(self, CourseStatus::Completed | CourseStatus::Discontinued)
    }

    /// The statuses a course may move to from this one.
    pub fn next(self) -> Vec<CourseStatus> {
        use CourseStatus::*;
        let forward = match self {
            Screening => Some(Preparation),
            Preparation => Some(Active),
            Active => Some(Integration),
            Integration => Some(FollowUp),
            FollowUp => Some(Completed),
            Completed | Discontinued => None,
        };
        match forward {
            Some(f) => vec![f, Discontinued],
            None => vec![],
        }
    }

    /// Check a move; `reason` is required (non-blank) to discontinue.
    pub fn transition(
        self,
        to: CourseStatus,
        reason: Option<&str>,
    ) -> Result<CourseStatus, TransitionError> {
        if !self.next().contains(&to) {
            return Err(TransitionError::Illegal {
                from: self,
                to,
                allowed: self.next(),
            });
        }
        if to == CourseStatus::Discontinued && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(TransitionError::ReasonRequired);
        }
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::CourseStatus::*;
    use super::*;

    #[test]
    fn the_course_walks_forward_one_step_at_a_time() {
        let path = [
            Screening,
            Preparation,
            Active,
            Integration,
            FollowUp,
            Completed,
        ];
        for w in path.windows(2) {
            assert_eq!(w[0].transition(w[1], None), Ok(w[1]));
        }
    }

    #[test]
    fn skipping_or_going_back_is_refused_with_the_allowed_moves() {
        let e = Screening.transition(Active, None).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "course status: cannot move from screening to active; allowed from screening: preparation, discontinued"
        );
        assert!(Active.transition(Preparation, None).is_err());
        let closed = Completed.transition(FollowUp, None).expect_err("refused");
        assert!(
            closed
                .to_string()
                .contains("nothing (the course is closed)")
        );
        assert!(Discontinued.transition(Screening, None).is_err());
    }

    #[test]
    fn discontinuing_needs_a_reason_from_any_open_state() {
        for s in [Screening, Preparation, Active, Integration, FollowUp] {
            assert_eq!(
                s.transition(Discontinued, Some("  ")),
                Err(TransitionError::ReasonRequired)
            );
            assert_eq!(
                s.transition(Discontinued, Some("moved away")),
                Ok(Discontinued)
            );
        }
    }
}
