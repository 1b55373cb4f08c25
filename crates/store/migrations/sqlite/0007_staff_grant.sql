-- A clinician account an admin creates waits, inactive, until a second admin approves it
-- (staff_grants.rs): one admin alone cannot make an account that reads charts.
CREATE TABLE staff_grant (
    clinic_id     BLOB NOT NULL,
    user_id       BLOB NOT NULL,
    requested_by  BLOB NOT NULL,
    requested_at  TIMESTAMP NOT NULL,
    approved_by   BLOB,
    approved_at   TIMESTAMP,
    PRIMARY KEY (clinic_id, user_id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id),
    FOREIGN KEY (clinic_id, requested_by) REFERENCES app_user (clinic_id, id),
    FOREIGN KEY (clinic_id, approved_by) REFERENCES app_user (clinic_id, id)
);
