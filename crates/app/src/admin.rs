//! Running the clinic: staff accounts, care teams and which team treats which patient.

use crate::auth::Staff;
use crate::policy::Action;
use crate::{App, AppError};
use kapstone_clinical::vocab::Role;
use kapstone_store::model::*;
use kapstone_store::{PendingGrant, StaffChange};

impl App {
    /// The clinic's staff with the care teams each is on.
    pub async fn staff_list(&self, staff: &Staff) -> Result<Vec<(User, Vec<CareTeam>)>, AppError> {
        self.allow(staff, Action::ManageUsers, None).await?;
        let clinic = staff.user.clinic_id;
        let mut out = Vec::new();
        for u in self.store.users(clinic).await? {
            let teams = self.store.teams_of_user(clinic, u.id).await?;
            out.push((u, teams));
        }
        Ok(out)
    }

    /// An admin deactivates or reactivates a colleague, resets their second factor, or signs
    /// them out everywhere (see `StaffLifecycle`). The clinic's last active admin cannot be
    /// deactivated, and no one deactivates themselves (another admin does, or the CLI).
    pub async fn change_staff(
        &self,
        staff: &Staff,
        user: UserId,
        change: StaffChange,
    ) -> Result<User, AppError> {
        self.allow(staff, Action::ManageUsers, None).await?;
        self.apply_staff_change(&staff.ctx(), user, change).await
    }

    /// `change_staff` for an operator at the command line (`ctx` names the system actor).
    pub async fn apply_staff_change(
        &self,
        ctx: &AuditContext,
        user: UserId,
        change: StaffChange,
    ) -> Result<User, AppError> {
        let target = self.store.user(ctx.clinic_id, user).await?;
        if change == StaffChange::Reactivate
            && self
                .store
                .pending_grants(ctx.clinic_id)
                .await?
                .iter()
                .any(|g| g.user == user)
        {
            return Err(AppError::invalid(
                "user",
                "this account waits for a second admin's approval; reactivating cannot skip it",
            ));
        }
        if change == StaffChange::Deactivate {
            if ctx.actor == Actor::User(user) {
                return Err(AppError::invalid(
                    "user",
                    "you cannot deactivate your own account; another admin can",
                ));
            }
            let other_admins = self
                .store
                .users(ctx.clinic_id)
                .await?
                .iter()
                .filter(|u| u.active && u.role == Role::Admin && u.id != user)
                .count();
            if target.role == Role::Admin && other_admins == 0 {
                return Err(AppError::invalid(
                    "user",
                    "this is the clinic's last active admin; make another admin first",
                ));
            }
        }
        self.store
            .change_staff(ctx, user, change, &crate::crypto::random_token())
            .await?;
        Ok(self.store.user(ctx.clinic_id, user).await?)
    }

    /// "Sign out everywhere" for oneself: every session ends, this one too.
    pub async fn sign_out_everywhere(&self, staff: &Staff) -> Result<(), AppError> {
        self.store
            .change_staff(
                &staff.ctx(),
                staff.user.id,
                StaffChange::EndSessions,
                &crate::crypto::random_token(),
            )
            .await?;
        Ok(())
    }

    /// Adds a staff member (optionally to a care team); returns their one-time set-up link.
    pub async fn invite_staff(
        &self,
        staff: &Staff,
        email: &str,
        name: &str,
        role: Role,
        team: Option<CareTeamId>,
    ) -> Result<(User, String), AppError> {
        self.allow(staff, Action::ManageUsers, None).await?;
        if let Some(t) = team
            && !self
                .store
                .teams(staff.user.clinic_id)
                .await?
                .iter()
                .any(|x| x.id == t)
        {
            return Err(AppError::invalid("team", "no such care team"));
        }
        let (user, link) = self.add_staff(&staff.ctx(), email, name, role).await?;
        if let Some(t) = team {
            self.store.add_team_member(&staff.ctx(), t, user.id).await?;
        }
        // The account stays inactive until a second admin approves it (`StaffGrants`).
        self.store.request_grant(&staff.ctx(), user.id).await?;
        Ok((user, link))
    }

    /// The clinic's accounts waiting for a second admin.
    pub async fn pending_grants(&self, staff: &Staff) -> Result<Vec<PendingGrant>, AppError> {
        self.allow(staff, Action::ManageUsers, None).await?;
        Ok(self.store.pending_grants(staff.user.clinic_id).await?)
    }

    /// A second admin approves an account another admin asked for.
    pub async fn approve_staff(&self, staff: &Staff, user: UserId) -> Result<User, AppError> {
        self.allow(staff, Action::ManageUsers, None).await?;
        self.store.approve_grant(&staff.ctx(), user).await?;
        Ok(self.store.user(staff.user.clinic_id, user).await?)
    }

    pub async fn teams(&self, staff: &Staff) -> Result<Vec<CareTeam>, AppError> {
        self.allow(staff, Action::CreatePatient, None).await?;
        if staff.role() == Role::Admin {
            Ok(self.store.teams(staff.user.clinic_id).await?)
        } else {
            Ok(self
                .store
                .teams_of_user(staff.user.clinic_id, staff.user.id)
                .await?)
        }
    }

    pub async fn create_team(&self, staff: &Staff, name: &str) -> Result<CareTeam, AppError> {
        self.allow(staff, Action::ManageTeams, None).await?;
        Ok(self.store.create_team(&staff.ctx(), name).await?)
    }

    pub async fn patient_teams(
        &self,
        staff: &Staff,
        patient: PatientId,
    ) -> Result<Vec<CareTeam>, AppError> {
        self.allow(staff, Action::ViewPatient, Some(patient))
            .await?;
        Ok(self
            .store
            .teams_of_patient(staff.user.clinic_id, patient)
            .await?)
    }

    /// Puts a patient in a care team's care: its clinicians can then see and treat them.
    pub async fn assign_team(
        &self,
        staff: &Staff,
        patient: PatientId,
        team: CareTeamId,
    ) -> Result<(), AppError> {
        self.allow(staff, Action::ManageTeams, Some(patient))
            .await?;
        if !self
            .store
            .teams(staff.user.clinic_id)
            .await?
            .iter()
            .any(|x| x.id == team)
        {
            return Err(AppError::invalid("team", "no such care team"));
        }
        Ok(self
            .store
            .assign_patient(&staff.ctx(), team, patient)
            .await?)
    }
}
