-- The clinical record of a course: screening and eligibility, medications, consent, the
-- dosing session (checklist, administrations, vitals, observations, adverse events, discharge),
-- encounter notes with sign/lock and addenda, and psychotherapy notes kept apart.
-- Kept in step with the other backend's file of the same name.

-- Signing an encounter locks it and everything recorded in it; later changes are addenda.
ALTER TABLE encounter ADD COLUMN signed_at TIMESTAMP;
-- Cohort reports read every course's scores in course order; this index holds all they read.
CREATE INDEX assessment_course_scores ON assessment (clinic_id, course_id, instrument, administered_at, total);

-- The chart reads a patient's encounters in one go.
CREATE INDEX encounter_patient ON encounter (clinic_id, patient_id);

ALTER TABLE encounter ADD COLUMN signed_by BLOB;

-- A clinic made by `kapstone demo`: every report of its data says "synthetic".
ALTER TABLE clinic ADD COLUMN synthetic BOOLEAN NOT NULL DEFAULT FALSE;

-- The clinic's dosing rules (JSON: vital limits, pre-dose gate, observation minutes); NULL
-- means kapstone's defaults.
ALTER TABLE clinic_settings ADD COLUMN dosing_policy TEXT;

CREATE TABLE screening (
    clinic_id         BLOB NOT NULL,
    course_id         BLOB NOT NULL,
    patient_id        BLOB NOT NULL,
    findings          TEXT NOT NULL,
    pregnancy_status  TEXT NOT NULL,
    weight_kg         REAL NOT NULL,
    vitals            TEXT NOT NULL,
    decision          TEXT NOT NULL CHECK (decision IN ('eligible', 'not_eligible')),
    notes             TEXT,
    signed_by         BLOB NOT NULL,
    signed_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, course_id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, signed_by) REFERENCES app_user (clinic_id, id)
);

CREATE TABLE medication (
    clinic_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    patient_id  BLOB NOT NULL,
    name        TEXT NOT NULL,
    dose        TEXT,
    classes     TEXT NOT NULL,
    hold        TEXT,
    added_by    BLOB NOT NULL,
    added_at    TIMESTAMP NOT NULL,
    stopped_at  TIMESTAMP,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, added_by) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX medication_patient ON medication (clinic_id, patient_id);

CREATE TABLE consent_document (
    clinic_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    version     TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    UNIQUE (clinic_id, version)
);

CREATE TABLE consent (
    clinic_id          BLOB NOT NULL,
    id                 BLOB NOT NULL,
    patient_id         BLOB NOT NULL,
    document_id        BLOB NOT NULL,
    signer_name        TEXT NOT NULL,
    witness_name       TEXT NOT NULL,
    signed_at          TIMESTAMP NOT NULL,
    recorded_by        BLOB NOT NULL,
    revoked_at         TIMESTAMP,
    revoked_by         BLOB,
    revocation_reason  TEXT,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, document_id) REFERENCES consent_document (clinic_id, id),
    FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_user (clinic_id, id),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX consent_patient ON consent (clinic_id, patient_id);

-- The medical-record note of an encounter (preparation, dosing, integration) and, for a
-- preparation encounter, its structured fields (JSON).
CREATE TABLE encounter_note (
    clinic_id     BLOB NOT NULL,
    encounter_id  BLOB NOT NULL,
    body          TEXT NOT NULL,
    fields        TEXT NOT NULL,
    updated_by    BLOB NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, encounter_id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id)
);

CREATE TABLE addendum (
    clinic_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    encounter_id  BLOB NOT NULL,
    author_id     BLOB NOT NULL,
    body          TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    FOREIGN KEY (clinic_id, author_id) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX addendum_encounter ON addendum (clinic_id, encounter_id);

CREATE TABLE dosing_session (
    clinic_id      BLOB NOT NULL,
    encounter_id   BLOB NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    checklist      TEXT NOT NULL,
    setting        TEXT NOT NULL,
    predose        TEXT NOT NULL,
    discharged_at  TIMESTAMP,
    discharge      TEXT,
    PRIMARY KEY (clinic_id, encounter_id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id)
);

-- given_by is empty only for doses imported from records that did not say who gave them.
CREATE TABLE administration (
    clinic_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    encounter_id  BLOB NOT NULL,
    drug          TEXT NOT NULL,
    route         TEXT NOT NULL,
    formulation   TEXT NOT NULL,
    dose_mg       REAL NOT NULL CHECK (dose_mg > 0),
    weight_kg     REAL NOT NULL CHECK (weight_kg > 0),
    lot           TEXT,
    given_at      TIMESTAMP NOT NULL,
    given_by      BLOB,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    FOREIGN KEY (clinic_id, given_by) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX administration_encounter ON administration (clinic_id, encounter_id, given_at);

CREATE TABLE vital_sign (
    clinic_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    encounter_id  BLOB NOT NULL,
    taken_at      TIMESTAMP NOT NULL,
    systolic      INTEGER,
    diastolic     INTEGER,
    heart_rate    INTEGER,
    spo2          INTEGER,
    resp_rate     INTEGER,
    recorded_by   BLOB NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_user (clinic_id, id),
    CHECK ((systolic IS NULL) = (diastolic IS NULL))
);
CREATE INDEX vital_sign_encounter ON vital_sign (clinic_id, encounter_id, taken_at);

CREATE TABLE observation (
    clinic_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    encounter_id  BLOB NOT NULL,
    observed_at   TIMESTAMP NOT NULL,
    measure       TEXT NOT NULL,
    value         INTEGER NOT NULL,
    recorded_by   BLOB NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX observation_encounter ON observation (clinic_id, encounter_id, observed_at);

CREATE TABLE adverse_event (
    clinic_id        BLOB NOT NULL,
    id               BLOB NOT NULL,
    encounter_id     BLOB NOT NULL,
    term             TEXT NOT NULL,
    description      TEXT,
    severity         TEXT NOT NULL,
    onset_minutes    INTEGER NOT NULL,
    action           TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    session_stopped  BOOLEAN NOT NULL,
    serious          BOOLEAN NOT NULL,
    recorded_by      BLOB NOT NULL,
    recorded_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, encounter_id) REFERENCES encounter (clinic_id, id),
    FOREIGN KEY (clinic_id, recorded_by) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX adverse_event_encounter ON adverse_event (clinic_id, encounter_id);

-- Psychotherapy notes (45 CFR 164.501): a separate record, readable only by its author. No
-- other table refers to it and no query outside the psychotherapy-note store methods reads it.
CREATE TABLE psychotherapy_note (
    clinic_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    patient_id    BLOB NOT NULL,
    author_id     BLOB NOT NULL,
    body          TEXT NOT NULL,
    written_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (clinic_id, id),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
    FOREIGN KEY (clinic_id, author_id) REFERENCES app_user (clinic_id, id)
);
CREATE INDEX psychotherapy_note_author ON psychotherapy_note (clinic_id, author_id, patient_id);
