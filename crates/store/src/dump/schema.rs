//! The tables to back up, read from the schema parity description (`Store::schema_description`)
//! so both backends describe them with one vocabulary, and put in an order that loads parents
//! before the rows that point at them.

use super::{Column, ColumnType, Table};
use crate::error::{Result, StoreError};
use std::collections::BTreeMap;

/// Tables from the description's `column`, `primary key` and `foreign key` lines.
pub(crate) fn tables(description: &[String]) -> Result<Vec<Table>> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut columns: BTreeMap<String, Vec<(u32, Column)>> = BTreeMap::new();
    let unexpected =
        |line: &str| StoreError::Corrupt(format!("schema line not understood: {line}"));
    for line in description {
        let mut words = line.split(' ');
        let (Some(table), Some(kind)) = (words.next(), words.next()) else {
            return Err(unexpected(line));
        };
        let entry = tables.entry(table.to_string()).or_insert_with(|| Table {
            name: table.to_string(),
            columns: vec![],
            primary_key: vec![],
            references: vec![],
        });
        match kind {
            "column" => {
                let parts: Vec<&str> = words.collect();
                let [position, name, ty, null @ ..] = parts.as_slice() else {
                    return Err(unexpected(line));
                };
                let position: u32 = position.parse().map_err(|_| unexpected(line))?;
                columns.entry(table.to_string()).or_default().push((
                    position,
                    Column {
                        name: name.to_string(),
                        ty: ColumnType::from_logical(ty)?,
                        nullable: null == ["null"],
                    },
                ));
            }
            "primary" => entry.primary_key = parenthesised(line).ok_or_else(|| unexpected(line))?,
            "foreign" => {
                let target = line
                    .split(" references ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .ok_or_else(|| unexpected(line))?;
                if target != table && !entry.references.iter().any(|r| r == target) {
                    entry.references.push(target.to_string());
                }
            }
            _ => {}
        }
    }
    for (name, mut cols) in columns {
        cols.sort_by_key(|(p, _)| *p);
        if let Some(t) = tables.get_mut(&name) {
            t.columns = cols.into_iter().map(|(_, c)| c).collect();
        }
    }
    tables.retain(|_, t| !t.columns.is_empty());
    for t in tables.values() {
        if t.primary_key.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "table {} has no primary key, so its rows have no stable order to back up",
                t.name
            )));
        }
    }
    Ok(tables.into_values().collect())
}

fn parenthesised(line: &str) -> Option<Vec<String>> {
    let inner = line.split_once('(')?.1.split_once(')')?.0;
    Some(inner.split(", ").map(str::to_string).collect())
}

/// The tables ordered so that every table comes after the tables it references (by name among
/// equals, so the order is the same on both backends).
pub(crate) fn load_order(mut tables: Vec<Table>) -> Result<Vec<Table>> {
    let mut ordered: Vec<Table> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            t.references
                .iter()
                .all(|r| ordered.iter().any(|o| &o.name == r))
        });
        match ready {
            Some(i) => ordered.push(tables.remove(i)),
            None => {
                let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
                return Err(StoreError::Corrupt(format!(
                    "foreign keys form a cycle among {}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

/// The schema's tables in load order.
pub(crate) fn ordered(description: &[String]) -> Result<Vec<Table>> {
    load_order(tables(description)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn parents_load_before_children_and_columns_keep_their_order() {
        let description = lines(
            "child column 02 parent_id uuid not null\n\
             child column 01 id uuid not null\n\
             child column 03 note text null\n\
             child primary key (id)\n\
             child foreign key (parent_id) references parent (id)\n\
             child index child_parent (parent_id)\n\
             parent column 01 id uuid not null\n\
             parent primary key (id)\n\
             parent trigger refuse_change",
        );
        let tables = ordered(&description).expect("tables");
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["parent", "child"]);
        let child = &tables[1];
        let cols: Vec<(&str, bool)> = child
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.nullable))
            .collect();
        assert_eq!(cols, [("id", false), ("parent_id", false), ("note", true)]);
        assert_eq!(child.primary_key, ["id"]);
    }

    #[test]
    fn a_cycle_is_named() {
        let description = lines(
            "a column 01 id uuid not null\na primary key (id)\na foreign key (id) references b (id)\n\
             b column 01 id uuid not null\nb primary key (id)\nb foreign key (id) references a (id)",
        );
        let e = ordered(&description).expect_err("cycle");
        assert!(e.to_string().contains("a, b"), "{e}");
    }
}
