-- The clinic web app: settings, care teams, staff credentials and sessions, set-up links, the
-- assessment schedule and patient-portal links. (SQLite) Kept in step with ../postgres/0002_clinic_web.sql.
-- Every secret a person holds (session, set-up link, portal link, recovery code) is stored only as
-- its SHA-256 hash.

CREATE TABLE clinic_settings (
    clinic_id                BLOB NOT NULL PRIMARY KEY REFERENCES clinic (clinic_id),
    address                  TEXT NOT NULL,
    phone                    TEXT NOT NULL,
    crisis_line              TEXT NOT NULL,
    crisis_text              TEXT NOT NULL,
    answers_monitored_live   BOOLEAN NOT NULL,
    alert_overdue_minutes    INTEGER NOT NULL CHECK (alert_overdue_minutes > 0),
    portal_link_days         INTEGER NOT NULL CHECK (portal_link_days BETWEEN 1 AND 60),
    idle_timeout_minutes     INTEGER NOT NULL CHECK (idle_timeout_minutes BETWEEN 1 AND 240),
    absolute_timeout_hours   INTEGER NOT NULL CHECK (absolute_timeout_hours BETWEEN 1 AND 24),
    mfa_exempt_roles         TEXT NOT NULL,
    updated_at               TIMESTAMP NOT NULL
);

CREATE TABLE care_team (
    clinic_id   BLOB NOT NULL REFERENCES clinic (clinic_id),
    id          BLOB NOT NULL,
    name        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, name)
);

CREATE TABLE care_team_member (
    clinic_id  BLOB NOT NULL,
    team_id    BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    PRIMARY KEY (clinic_id, team_id, user_id),
    FOREIGN KEY (clinic_id, team_id) REFERENCES care_team (clinic_id, id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX care_team_member_user ON care_team_member (clinic_id, user_id);

CREATE TABLE care_team_patient (
    clinic_id   BLOB NOT NULL,
    team_id     BLOB NOT NULL,
    patient_id  BLOB NOT NULL,
    PRIMARY KEY (clinic_id, team_id, patient_id),
    FOREIGN KEY (clinic_id, team_id) REFERENCES care_team (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id)
);
CREATE INDEX care_team_patient_patient ON care_team_patient (clinic_id, patient_id);

CREATE TABLE staff_credential (
    clinic_id        BLOB NOT NULL,
    user_id          BLOB NOT NULL,
    password_hash    TEXT,
    totp_secret      TEXT,
    totp_confirmed   BOOLEAN NOT NULL,
    totp_last_step   INTEGER,
    failed_attempts  INTEGER NOT NULL,
    locked_until     TIMESTAMP,
    security_stamp   TEXT NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, user_id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id)
);

CREATE TABLE recovery_code (
    clinic_id  BLOB NOT NULL,
    id         BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    code_hash  TEXT NOT NULL,
    used_at    TIMESTAMP,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX recovery_code_user ON recovery_code (clinic_id, user_id);

CREATE TABLE setup_token (
    clinic_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (token_hash),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id)
);

CREATE TABLE staff_session (
    clinic_id       BLOB NOT NULL,
    id              BLOB NOT NULL,
    token_hash      TEXT NOT NULL,
    user_id         BLOB NOT NULL,
    mfa_verified    BOOLEAN NOT NULL,
    csrf_token      TEXT NOT NULL,
    security_stamp  TEXT NOT NULL,
    origin          TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (token_hash),
    FOREIGN KEY (clinic_id, user_id) REFERENCES app_user (clinic_id, id)
);

CREATE TABLE assessment_due (
    clinic_id      BLOB NOT NULL,
    id             BLOB NOT NULL,
    patient_id     BLOB NOT NULL,
    course_id      BLOB NOT NULL,
    instrument     TEXT NOT NULL,
    time_point     TEXT NOT NULL,
    due_on         DATE NOT NULL,
    window_days    INTEGER NOT NULL,
    assessment_id  BLOB,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, course_id, instrument, time_point),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id),
    FOREIGN KEY (clinic_id, assessment_id) REFERENCES assessment (clinic_id, id)
);
CREATE INDEX assessment_due_patient ON assessment_due (clinic_id, patient_id, due_on);

CREATE TABLE portal_link (
    clinic_id      BLOB NOT NULL,
    id             BLOB NOT NULL,
    token_hash     TEXT NOT NULL,
    patient_id     BLOB NOT NULL,
    due_id         BLOB NOT NULL,
    created_by     BLOB,
    created_at     TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    used_at        TIMESTAMP,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (token_hash),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, due_id) REFERENCES assessment_due (clinic_id, id)
);
CREATE INDEX portal_link_due ON portal_link (clinic_id, due_id);
