-- kapstone foundation schema (SQLite). Kept in step with ../postgres/0001_foundation.sql:
-- same tables, columns, order, nullability, keys and indexes; the parity test checks it.
-- SQLite types: BLOB holds a UUID, TIMESTAMP holds fixed-width UTC RFC 3339 text, DATE holds
-- YYYY-MM-DD text (neither is a numeric literal, so NUMERIC affinity leaves them as text).
-- Every table carries clinic_id and keys on (clinic_id, id) so rows can never cross clinics and
-- the schema can later be distributed by clinic.

CREATE TABLE clinic (
    clinic_id   BLOB NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    mrn_counter INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE app_user (
    clinic_id     BLOB NOT NULL REFERENCES clinic (clinic_id),
    id            BLOB NOT NULL,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'prescriber', 'therapist', 'nurse', 'researcher')),
    active        BOOLEAN NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, email)
);

CREATE TABLE patient (
    clinic_id    BLOB NOT NULL REFERENCES clinic (clinic_id),
    id           BLOB NOT NULL,
    mrn          TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    family_name  TEXT NOT NULL,
    birth_date   DATE NOT NULL,
    sex          TEXT NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    email        TEXT,
    phone        TEXT,
    postal_code  TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, mrn)
);

CREATE TABLE treatment_course (
    clinic_id      BLOB NOT NULL,
    id             BLOB NOT NULL,
    patient_id     BLOB NOT NULL,
    indication     TEXT NOT NULL CHECK (indication IN ('gad', 'ptsd', 'mdd', 'trd', 'other')),
    planned_route  TEXT CHECK (planned_route IN ('iv', 'im', 'sc', 'sublingual', 'oral', 'intranasal_esketamine')),
    protocol       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('screening', 'preparation', 'active', 'integration', 'follow_up', 'completed', 'discontinued')),
    status_reason  TEXT,
    opened_at      TIMESTAMP NOT NULL,
    closed_at      TIMESTAMP,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id)
);
CREATE INDEX treatment_course_patient ON treatment_course (clinic_id, patient_id);

CREATE TABLE course_status_change (
    clinic_id    BLOB NOT NULL,
    id           BLOB NOT NULL,
    course_id    BLOB NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    reason       TEXT,
    changed_at   TIMESTAMP NOT NULL,
    changed_by   BLOB,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id)
);
CREATE INDEX course_status_change_course ON course_status_change (clinic_id, course_id);

CREATE TABLE encounter (
    clinic_id    BLOB NOT NULL,
    id           BLOB NOT NULL,
    patient_id   BLOB NOT NULL,
    course_id    BLOB NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('preparation', 'dosing', 'integration', 'follow_up')),
    status       TEXT NOT NULL CHECK (status IN ('planned', 'completed', 'cancelled')),
    sequence     INTEGER NOT NULL,
    planned_for  TIMESTAMP,
    occurred_at  TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, course_id, kind, sequence),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id)
);

CREATE TABLE assessment (
    clinic_id           BLOB NOT NULL,
    id                  BLOB NOT NULL,
    patient_id          BLOB NOT NULL,
    course_id           BLOB,
    encounter_id        BLOB,
    instrument          TEXT NOT NULL,
    instrument_version  TEXT NOT NULL,
    rater               TEXT NOT NULL CHECK (rater IN ('self', 'clinician')),
    answers             TEXT NOT NULL,
    complete            BOOLEAN NOT NULL,
    total               REAL,
    severity            TEXT,
    subscales           TEXT,
    flags               TEXT NOT NULL,
    interpretation      TEXT NOT NULL,
    time_point          TEXT NOT NULL,
    administered_at     TIMESTAMP NOT NULL,
    recorded_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    CHECK (complete OR total IS NULL)
);
CREATE INDEX assessment_patient_time ON assessment (clinic_id, patient_id, administered_at);

CREATE TABLE alert (
    clinic_id        BLOB NOT NULL,
    id               BLOB NOT NULL,
    patient_id       BLOB NOT NULL,
    course_id        BLOB,
    assessment_id    BLOB,
    kind             TEXT NOT NULL,
    message          TEXT NOT NULL,
    raised_at        TIMESTAMP NOT NULL,
    acknowledged_at  TIMESTAMP,
    acknowledged_by  BLOB,
    action_note      TEXT,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, assessment_id) REFERENCES assessment (clinic_id, id),
    FOREIGN KEY (clinic_id, acknowledged_by) REFERENCES app_user (clinic_id, id),
    CHECK ((acknowledged_at IS NULL AND acknowledged_by IS NULL AND action_note IS NULL)
        OR (acknowledged_at IS NOT NULL AND acknowledged_by IS NOT NULL AND action_note IS NOT NULL))
);
CREATE INDEX alert_open ON alert (clinic_id, acknowledged_at, raised_at);
CREATE INDEX alert_patient ON alert (clinic_id, patient_id);

-- The audit log: append-only and hash-chained per clinic. audit_head holds each chain's tip so
-- appends are serialised by a row lock and a truncated tail is detectable.
CREATE TABLE audit_event (
    clinic_id    BLOB NOT NULL,
    id           BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    occurred_at  TIMESTAMP NOT NULL,
    actor_kind   TEXT NOT NULL CHECK (actor_kind IN ('user', 'patient', 'system')),
    actor_id     BLOB,
    action       TEXT NOT NULL,
    patient_id   BLOB,
    entity       TEXT NOT NULL,
    entity_id    BLOB,
    origin       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, seq)
);
CREATE INDEX audit_event_patient ON audit_event (clinic_id, patient_id, seq);
CREATE INDEX audit_event_actor ON audit_event (clinic_id, actor_id, seq);

CREATE TABLE audit_head (
    clinic_id  BLOB NOT NULL PRIMARY KEY,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TRIGGER audit_event_append_only BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;
CREATE TRIGGER audit_event_append_only_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;
