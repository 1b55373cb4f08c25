-- Each course's outcome series: what the cohort report reads, as one short row per course
-- instead of every assessment and encounter row (a large clinic has millions; reading them was
-- what made `kapstone report` slow, see docs/performance.md). `scores` holds the course's scored
-- questionnaires as `instrument U+001F time U+001F total`, `doses` the times of its completed
-- dosing sessions; points are separated by U+001E and times are microseconds since the epoch
-- (RFC 3339 text where a stored time is not in the usual fixed-width form). Written in the same
-- transaction as each scored assessment of a course and each dosing session that becomes
-- completed, and once per course by imports; the assessment and encounter rows stay the
-- record, and the conformance suite checks the two agree. A course has a row once it has a
-- point. Kept in step with ../postgres/0006_course_series.sql.
CREATE TABLE course_series (
    clinic_id  BLOB NOT NULL,
    course_id  BLOB NOT NULL,
    scores     TEXT NOT NULL,
    doses      TEXT NOT NULL,
    PRIMARY KEY (clinic_id, course_id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id)
);

INSERT INTO course_series (clinic_id, course_id, scores, doses)
SELECT clinic_id, id, scores, doses FROM (
    SELECT c.clinic_id, c.id,
           COALESCE((SELECT group_concat(a.instrument || char(31) || CASE WHEN length(a.administered_at) = 27
                         THEN CAST(strftime('%s', substr(a.administered_at, 1, 19)) AS INTEGER) * 1000000
                              + CAST(substr(a.administered_at, 21, 6) AS INTEGER)
                         ELSE a.administered_at END || char(31) || printf('%!.17g', a.total), char(30))
                     FROM assessment a
                     WHERE a.clinic_id = c.clinic_id AND a.course_id = c.id AND a.total IS NOT NULL), '') AS scores,
           COALESCE((SELECT group_concat(CASE WHEN length(e.occurred_at) = 27
                         THEN CAST(strftime('%s', substr(e.occurred_at, 1, 19)) AS INTEGER) * 1000000
                              + CAST(substr(e.occurred_at, 21, 6) AS INTEGER)
                         ELSE e.occurred_at END, char(30))
                     FROM encounter e
                     WHERE e.clinic_id = c.clinic_id AND e.course_id = c.id AND e.kind = 'dosing'
                       AND e.status = 'completed' AND e.occurred_at IS NOT NULL), '') AS doses
    FROM treatment_course c
) AS s
WHERE scores <> '' OR doses <> '';

-- Nothing reads assessments by course any more: the report reads the series above.
DROP INDEX assessment_course_scores;

-- The report's one remaining read of assessment rows, each patient's latest ACE total: without
-- this it scans every assessment of the clinic. Partial, so only ACE rows pay for it.
CREATE INDEX assessment_ace ON assessment (clinic_id, administered_at, id, patient_id, total)
    WHERE instrument = 'ace';
