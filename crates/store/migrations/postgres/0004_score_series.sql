-- Each patient's scored questionnaires per instrument as one compact text: the points of the
-- trend chart. A chart of 10,000 assessments then reads three short rows instead of 10,000
-- rows. Written in the same transaction as each assessment (appended) and by imports; the
-- assessment rows stay the record. Points are separated by U+001E, the fields of a point
-- (time, total, time point) by U+001F. Kept in step with ../sqlite/0004_score_series.sql.
CREATE TABLE score_series (
    clinic_id   UUID NOT NULL,
    patient_id  UUID NOT NULL,
    instrument  TEXT NOT NULL,
    points      TEXT NOT NULL,
    PRIMARY KEY (clinic_id, patient_id, instrument),
    FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id)
);

INSERT INTO score_series (clinic_id, patient_id, instrument, points)
SELECT clinic_id, patient_id, instrument,
       string_agg((extract(epoch FROM administered_at) * 1000000)::bigint || chr(31) || total || chr(31)
                  || replace(replace(time_point, chr(30), ' '), chr(31), ' '), chr(30))
FROM assessment WHERE total IS NOT NULL
GROUP BY clinic_id, patient_id, instrument;

-- The chart's timeline reads the latest assessments in (time, id) order; with the id in the
-- index that is a walk down the index rather than a sort of the patient's whole history.
DROP INDEX assessment_patient_time;
CREATE INDEX assessment_patient_time ON assessment (clinic_id, patient_id, administered_at, id);
