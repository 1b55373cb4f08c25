//! When a long import refreshes PostgreSQL's planner statistics, and for which tables.
//!
//! PostgreSQL plans each foreign-key check once per connection and keeps that plan until the
//! referenced table's statistics change, whatever the table's size by then. On a fresh database
//! the tables have no statistics, and while they hold a few rows every index whose first column
//! is `clinic_id` looks as cheap as the primary key: the checks measured on the benchmark import
//! used `(clinic_id, mrn)` for `patient` and `(clinic_id, patient_id, administered_at, id)` for
//! `assessment`, so each check read every row of the clinic and the import grew with the square
//! of its size. Autovacuum cannot correct this while the import's rows are uncommitted, but
//! `ANALYZE` inside the import's transaction sees them, and new statistics make the connection
//! plan its checks again.
//!
//! One refresh is not enough: on tables of a few pages a scan rightly beats the primary key, and
//! that plan is kept as the tables grow. Refreshing each time the import's patients double
//! replaces such a plan before it has cost more than the rows written since, and keeps the
//! number of refreshes to the logarithm of the import's size.

/// The first refresh: before it the tables are too small for any plan to cost much.
const FIRST_AFTER_PATIENTS: usize = 32;

/// Whether the import refreshes statistics after writing patients `before + 1 ..= after`: when
/// that passes 32, 64, 128, …
pub(crate) fn refresh_after(before: usize, after: usize) -> bool {
    (before + 1..=after).any(|n| n >= FIRST_AFTER_PATIENTS && n.is_power_of_two())
}

/// The tables the import writes that its own later rows refer to by foreign key, and the columns
/// those checks look up (statistics for the others are left to autovacuum after the commit).
pub(crate) const REFERENCED: &str = "patient (clinic_id, id), treatment_course (clinic_id, id), \
                                     encounter (clinic_id, id), assessment (clinic_id, id)";

#[cfg(test)]
mod tests {
    use super::refresh_after;

    #[test]
    fn refreshes_each_time_the_patients_double() {
        let at: Vec<usize> = (1..=1000).filter(|&n| refresh_after(n - 1, n)).collect();
        assert_eq!(at, [32, 64, 128, 256, 512]);
        assert!(refresh_after(500, 700));
        assert!(!refresh_after(520, 1000));
    }
}
