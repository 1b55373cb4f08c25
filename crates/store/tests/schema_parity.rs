//! The two migration folders describe the same schema: same migrations by name, and the same
//! tables, columns (order, logical type, nullability), keys, indexes, foreign keys and triggers.

use kapstone_store::Store;
use kapstone_store::testing::{postgres_store, sqlite_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let lite = sqlite_store().await;
    let pg = postgres_store().await;
    assert_eq!(lite.migration_names(), pg.migration_names());
    assert!(!lite.migration_names().is_empty());

    let a = lite.schema_description().await.expect("sqlite schema");
    let b = pg.schema_description().await.expect("postgres schema");
    let unmapped: Vec<_> = a
        .iter()
        .chain(&b)
        .filter(|l| l.contains("UNMAPPED"))
        .collect();
    assert!(
        unmapped.is_empty(),
        "column types without a logical mapping: {unmapped:#?}"
    );
    let only_sqlite: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_pg: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "schemas differ\nonly in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_pg:#?}"
    );
    // The description is not empty by accident: it covers every table and the audit trigger.
    for needle in [
        "audit_event trigger audit_event_append_only",
        "assessment column 09 answers text not null",
        "patient unique (clinic_id, mrn)",
        "alert foreign key (clinic_id, patient_id) references patient (clinic_id, id)",
        "treatment_course primary key (clinic_id, id)",
    ] {
        assert!(a.iter().any(|l| l == needle), "missing: {needle}\n{a:#?}");
    }
    assert_eq!(a.len(), b.len());
    if std::env::var_os("KAPSTONE_PRINT_SCHEMA").is_some() {
        println!("{}", a.join("\n"));
    }
}
