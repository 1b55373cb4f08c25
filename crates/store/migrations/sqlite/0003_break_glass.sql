-- Break-glass access: a clinician outside a patient's care teams opens the record in an
-- emergency, with a typed reason and an expiry. Every grant is kept and shown to admins.
-- (SQLite) Kept in step with ../postgres/0003_break_glass.sql.
CREATE TABLE break_glass (
    clinic_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    patient_id  BLOB NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    CHECK (expires_at > created_at)
);
CREATE INDEX break_glass_user_patient ON break_glass (clinic_id, user_id, patient_id, expires_at);
