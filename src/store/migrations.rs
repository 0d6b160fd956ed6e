//! Embedded, forward-only schema migrations, applied in name order.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Every migration ever shipped, oldest first. Never edit or remove one.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[
    ("20261124000000_initial", include_str!("migrations/20261124000000_initial.sql")),
    ("20261124120000_finding_lifecycle", include_str!("migrations/20261124120000_finding_lifecycle.sql")),
    ("20261124180000_snapshot_attributes", include_str!("migrations/20261124180000_snapshot_attributes.sql")),
    ("20261202000000_coverage_statuses", include_str!("migrations/20261202000000_coverage_statuses.sql")),
    ("20261202120000_retired_scopes", include_str!("migrations/20261202120000_retired_scopes.sql")),
    ("20261202180000_actors", include_str!("migrations/20261202180000_actors.sql")),
    ("20261203000000_share_verification", include_str!("migrations/20261203000000_share_verification.sql")),
    ("20261204000000_streamed_scans", include_str!("migrations/20261204000000_streamed_scans.sql")),
    ("20261207000000_remedies", include_str!("migrations/20261207000000_remedies.sql")),
];

/// Bring the schema up to date. A database carrying a migration this build
/// does not know was written by a newer snapaudit and is left untouched.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let sql = |source| StoreError::Sqlite { path: path.to_owned(), source };
    let has_table: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql)?;
    let table_count: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(sql)?;
    if has_table.is_none() && table_count > 0 {
        return Err(StoreError::NotOurs { path: path.to_owned() });
    }

    let tx = conn.transaction().map_err(sql)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .map_err(sql)?;
    let applied: Vec<String> = {
        let mut stmt = tx.prepare("SELECT version FROM schema_migrations ORDER BY version").map_err(sql)?;
        stmt.query_map([], |r| r.get(0)).map_err(sql)?.collect::<Result<_, _>>().map_err(sql)?
    };
    if let Some(unknown) = applied.iter().find(|v| !MIGRATIONS.iter().any(|(name, _)| name == v)) {
        return Err(StoreError::NewerSchema { path: path.to_owned(), version: unknown.clone() });
    }
    for (name, body) in MIGRATIONS {
        if applied.iter().any(|v| v == name) {
            continue;
        }
        tx.execute_batch(body).map_err(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![name, jiff::Timestamp::now().to_string()],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn migrations_are_timestamp_named_and_in_order() {
        let names: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in names {
            let (stamp, rest) = name.split_at(14);
            assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "{name}");
            assert!(rest.starts_with('_'), "{name}");
        }
    }

    #[test]
    fn every_migration_file_is_listed() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations");
        let mut files: Vec<String> =
            std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|(name, _)| format!("{name}.sql")).collect();
        assert_eq!(files, listed, "a migration file that is not in MIGRATIONS would never run");
    }
}
