-- Each course's outcome series: what the cohort report reads, as one short row per course
-- instead of every assessment and encounter row (a large clinic has millions; reading them was
-- what made `kapstone report` slow, see docs/performance.md). `scores` holds the course's scored
-- questionnaires as `instrument U+001F time U+001F total`, `doses` the times of its completed
-- dosing sessions; points are separated by U+001E and times are microseconds since the epoch.
-- Written in the same transaction as each scored assessment of a course and each dosing session
-- that becomes completed, and once per course by imports; the assessment and encounter rows
-- stay the record, and the conformance suite checks the two agree. A course has a row once it
-- has a point. Kept in step with ../sqlite/0006_course_series.sql.
CREATE TABLE course_series (
    clinic_id  UUID NOT NULL,
    course_id  UUID NOT NULL,
    scores     TEXT NOT NULL,
    doses      TEXT NOT NULL,
    PRIMARY KEY (clinic_id, course_id),
    FOREIGN KEY (clinic_id, course_id) REFERENCES treatment_course (clinic_id, id)
);

INSERT INTO course_series (clinic_id, course_id, scores, doses)
SELECT clinic_id, id, scores, doses FROM (
    SELECT c.clinic_id, c.id,
           COALESCE((SELECT string_agg(concat_ws(chr(31), a.instrument,
                                                 (extract(epoch FROM a.administered_at) * 1000000)::bigint,
                                                 a.total::text), chr(30))
                     FROM assessment a
                     WHERE a.clinic_id = c.clinic_id AND a.course_id = c.id AND a.total IS NOT NULL), '') AS scores,
           COALESCE((SELECT string_agg(((extract(epoch FROM e.occurred_at) * 1000000)::bigint)::text, chr(30))
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
