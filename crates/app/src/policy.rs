//! Authorization, in one place. Every use case asks `authorize` before it touches the store, and
//! the web layer cannot reach the store any other way (it does not depend on it).
//!
//! The rule: a role decides *what* a staff member may do; care-team membership decides *for
//! whom*. Clinicians (prescriber, therapist, nurse) act only for patients of their care teams.
//! Admins run the clinic (users, teams, settings, audit, registering patients) but do not read
//! clinical records. Researchers have no access to identifiable records.

use kapstone_clinical::vocab::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Register a new patient.
    CreatePatient,
    /// See the patient list and demographics.
    ViewPatient,
    EditPatient,
    /// Courses, encounters, assessments, alerts, the schedule: the clinical record.
    ViewChart,
    ManageCourse,
    RecordAssessment,
    SendPortalLink,
    AcknowledgeAlert,
    /// The clinic-wide alert dashboard (filtered to the user's patients for clinicians).
    ViewAlertDashboard,
    ManageUsers,
    ManageTeams,
    ManageSettings,
    ViewAudit,
    /// The server's backup status (operations, no patient data).
    ViewBackups,
    /// Open a record outside one's care teams in an emergency, with a reason (break-glass).
    EmergencyAccess,
    /// Sign the eligibility decision of a course (screening).
    SignEligibility,
    /// Keep the patient's medication list.
    RecordMedication,
    /// Record that the patient signed (or revoked) a consent.
    RecordConsent,
    /// Draft and sign encounter notes, add addenda.
    WriteNote,
    /// The dosing session: checklist, doses, vitals, observations, adverse events, discharge.
    RecordDosing,
    /// Write and read one's own psychotherapy notes (the store returns only the author's).
    PsychotherapyNotes,
    /// Cohort outcome figures: aggregates only, no names.
    ViewOutcomes,
}

/// What the caller knows about the patient the action is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Not about one patient.
    Clinic,
    /// About one patient: whether the user is on one of the patient's care teams, and whether
    /// they hold unexpired emergency (break-glass) access to this patient.
    Patient {
        in_care_team: bool,
        break_glass: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The role may not do this at all.
    Role,
    /// The role may, but not for this patient.
    NotInCareTeam,
}

fn is_clinician(role: Role) -> bool {
    matches!(role, Role::Prescriber | Role::Therapist | Role::Nurse)
}

/// The one authorization function: role × action × target.
pub fn authorize(role: Role, action: Action, target: Target) -> Result<(), Denied> {
    use Action::*;
    let role_may = match action {
        CreatePatient => role == Role::Admin || is_clinician(role),
        ViewPatient | EditPatient => role == Role::Admin || is_clinician(role),
        ViewChart | RecordAssessment | SendPortalLink | AcknowledgeAlert | ViewAlertDashboard
        | EmergencyAccess => is_clinician(role),
        ManageCourse => matches!(role, Role::Prescriber | Role::Therapist),
        SignEligibility => role == Role::Prescriber,
        RecordMedication | RecordDosing => matches!(role, Role::Prescriber | Role::Nurse),
        RecordConsent | WriteNote => is_clinician(role),
        // Mental-health professionals write psychotherapy notes; nurses do not.
        PsychotherapyNotes => matches!(role, Role::Prescriber | Role::Therapist),
        ViewOutcomes => matches!(role, Role::Admin | Role::Researcher),
        ManageUsers | ManageTeams | ManageSettings | ViewAudit | ViewBackups => role == Role::Admin,
    };
    if !role_may {
        return Err(Denied::Role);
    }
    match target {
        Target::Clinic => Ok(()),
        // Admins register patients and assign them to teams, so they see demographics clinic-wide.
        Target::Patient { .. } if role == Role::Admin => Ok(()),
        Target::Patient {
            in_care_team: true, ..
        } => Ok(()),
        // Emergency access opens the record to a clinician, for the time it was granted.
        Target::Patient {
            break_glass: true, ..
        } if is_clinician(role) => Ok(()),
        Target::Patient { .. } => Err(Denied::NotInCareTeam),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    const ALL: [Action; 22] = [
        CreatePatient,
        ViewPatient,
        EditPatient,
        ViewChart,
        ManageCourse,
        RecordAssessment,
        SendPortalLink,
        AcknowledgeAlert,
        ViewAlertDashboard,
        ManageUsers,
        ManageTeams,
        ManageSettings,
        ViewAudit,
        ViewBackups,
        EmergencyAccess,
        SignEligibility,
        RecordMedication,
        RecordConsent,
        WriteNote,
        RecordDosing,
        PsychotherapyNotes,
        ViewOutcomes,
    ];

    #[test]
    fn clinicians_never_act_for_patients_outside_their_care_teams() {
        for role in [
            Role::Prescriber,
            Role::Therapist,
            Role::Nurse,
            Role::Researcher,
        ] {
            for action in ALL {
                assert!(
                    authorize(
                        role,
                        action,
                        Target::Patient {
                            in_care_team: false,
                            break_glass: false
                        }
                    )
                    .is_err(),
                    "{role:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn admins_run_the_clinic_but_do_not_read_the_clinical_record() {
        for action in [
            ViewChart,
            RecordAssessment,
            SendPortalLink,
            AcknowledgeAlert,
            ManageCourse,
            SignEligibility,
            RecordDosing,
            WriteNote,
            PsychotherapyNotes,
        ] {
            assert_eq!(
                authorize(
                    Role::Admin,
                    action,
                    Target::Patient {
                        in_care_team: true,
                        break_glass: false
                    }
                ),
                Err(Denied::Role)
            );
        }
        for action in [
            ManageUsers,
            ManageTeams,
            ManageSettings,
            ViewAudit,
            ViewBackups,
            CreatePatient,
        ] {
            assert_eq!(authorize(Role::Admin, action, Target::Clinic), Ok(()));
        }
        assert_eq!(
            authorize(
                Role::Admin,
                ViewPatient,
                Target::Patient {
                    in_care_team: false,
                    break_glass: false
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn break_glass_opens_the_record_to_clinicians_only() {
        let emergency = Target::Patient {
            in_care_team: false,
            break_glass: true,
        };
        for role in [Role::Prescriber, Role::Therapist, Role::Nurse] {
            assert_eq!(authorize(role, ViewChart, emergency), Ok(()), "{role:?}");
        }
        assert!(authorize(Role::Researcher, ViewPatient, emergency).is_err());
        assert_eq!(
            authorize(Role::Admin, ViewChart, emergency),
            Err(Denied::Role)
        );
        assert_eq!(
            authorize(Role::Nurse, ManageCourse, emergency),
            Err(Denied::Role),
            "roles still apply"
        );
    }

    #[test]
    fn researchers_have_no_identifiable_access() {
        assert_eq!(
            authorize(Role::Researcher, ViewOutcomes, Target::Clinic),
            Ok(())
        );
        assert_eq!(
            authorize(Role::Prescriber, ViewOutcomes, Target::Clinic),
            Err(Denied::Role)
        );
        for action in ALL.into_iter().filter(|a| *a != ViewOutcomes) {
            assert!(
                authorize(Role::Researcher, action, Target::Clinic).is_err(),
                "{action:?}"
            );
        }
    }

    #[test]
    fn nurses_monitor_but_do_not_manage_courses() {
        let mine = Target::Patient {
            in_care_team: true,
            break_glass: false,
        };
        assert_eq!(authorize(Role::Nurse, RecordAssessment, mine), Ok(()));
        assert_eq!(authorize(Role::Nurse, AcknowledgeAlert, mine), Ok(()));
        assert_eq!(
            authorize(Role::Nurse, ManageCourse, mine),
            Err(Denied::Role)
        );
        assert_eq!(authorize(Role::Prescriber, ManageCourse, mine), Ok(()));
        assert_eq!(authorize(Role::Nurse, RecordDosing, mine), Ok(()));
        assert_eq!(
            authorize(Role::Nurse, SignEligibility, mine),
            Err(Denied::Role),
            "only a prescriber signs eligibility"
        );
        assert_eq!(
            authorize(Role::Nurse, PsychotherapyNotes, mine),
            Err(Denied::Role)
        );
        assert_eq!(authorize(Role::Therapist, PsychotherapyNotes, mine), Ok(()));
        assert_eq!(
            authorize(Role::Therapist, RecordDosing, mine),
            Err(Denied::Role)
        );
    }
}
