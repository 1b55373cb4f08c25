//! A backend-neutral description of a migrated schema, so the parity test can compare SQLite
//! with PostgreSQL line by line.

pub(crate) fn migration_names(m: &sqlx::migrate::Migrator) -> Vec<String> {
    m.iter()
        .map(|m| migration_name(m.version, &m.description))
        .collect()
}

/// One migration's name: the same spelling for the embedded and the applied lists, so
/// readiness can compare them.
pub(crate) fn migration_name(version: i64, description: &str) -> String {
    format!("{version:04}_{description}")
}

/// Logical type of a PostgreSQL column (`information_schema.columns.data_type`).
pub(crate) fn pg_type(ty: &str) -> String {
    match ty {
        "uuid" => "uuid",
        "timestamp with time zone" => "timestamp",
        "date" => "date",
        "text" => "text",
        "bigint" => "integer",
        "boolean" => "boolean",
        "double precision" => "real",
        other => return format!("UNMAPPED({other})"),
    }
    .to_string()
}

/// Logical type of an SQLite column (its declared type).
pub(crate) fn sqlite_type(ty: &str) -> String {
    match ty.to_ascii_uppercase().as_str() {
        "BLOB" => "uuid",
        "TIMESTAMP" => "timestamp",
        "DATE" => "date",
        "TEXT" => "text",
        "INTEGER" => "integer",
        "BOOLEAN" => "boolean",
        "REAL" => "real",
        other => return format!("UNMAPPED({other})"),
    }
    .to_string()
}

pub(crate) fn column_line(
    table: &str,
    position: i64,
    column: &str,
    ty: &str,
    nullable: bool,
) -> String {
    let null = if nullable { "null" } else { "not null" };
    format!("{table} column {position:02} {column} {ty} {null}")
}

/// `label` is the index name for explicitly created indexes, `None` for constraint indexes.
pub(crate) fn index_line(
    table: &str,
    label: Option<&str>,
    unique: bool,
    cols: &[String],
) -> String {
    let kind = if unique { "unique" } else { "index" };
    let name = label.map(|l| format!(" {l}")).unwrap_or_default();
    format!("{table} {kind}{name} ({})", cols.join(", "))
}

pub(crate) fn fk_line(table: &str, from: &[String], target: &str, to: &[String]) -> String {
    format!(
        "{table} foreign key ({}) references {target} ({})",
        from.join(", "),
        to.join(", ")
    )
}
