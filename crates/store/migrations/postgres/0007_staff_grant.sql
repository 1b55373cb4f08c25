-- A clinician account an admin creates waits, inactive, until a second admin approves it
-- (staff_grants.rs): one admin alone cannot make an account that reads charts.
CREATE TABLE staff_grant (
    clinic_id     UUID NOT NULL,
    user_id       UUID NOT NULL,
    requested_by  UUID NOT NULL,
    requested_at  TIMESTAMPTZ NOT NULL,
    approved_by   UUID,
    approved_at   TIMESTAMPTZ,
    PRIMARY KEY (clinic_id, user_id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id),
    FOREIGN KEY (clinic_id, requested_by) REFERENCES app_user (clinic_id, id),
    FOREIGN KEY (clinic_id, approved_by) REFERENCES app_user (clinic_id, id)
);
