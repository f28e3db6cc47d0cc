//! Failed writes on demand, for the tests that check that no failed write is half-applied:
//! SQLite triggers, made from a second connection, that abort every insert, update and
//! delete on every table of a data directory's database. Reached from outside the crate as
//! `fixtures::{refuse_writes, allow_writes}` (hidden from the docs).

use std::path::Path;

use rusqlite::Connection;

use super::FILE_NAME;

/// Every table of the database.
const TABLES: [&str; 5] = ["meta", "users", "threads", "messages", "idempotency"];

/// Makes every write to the database in `dir` fail, until [`allow_writes`] is called with the
/// connection returned. Panics (failing the calling test) when the database cannot be opened
/// or a trigger made.
pub fn refuse_writes(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join(FILE_NAME)).expect("second connection");
    for table in TABLES {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            conn.execute_batch(&format!(
                "CREATE TRIGGER refuse_{op}_{table} BEFORE {op} ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'injected write failure'); END;"
            ))
            .expect("create a refusing trigger");
        }
    }
    conn
}

/// Lets writes through again: drops the triggers [`refuse_writes`] made.
pub fn allow_writes(conn: &Connection) {
    for table in TABLES {
        for op in ["INSERT", "UPDATE", "DELETE"] {
            conn.execute_batch(&format!("DROP TRIGGER refuse_{op}_{table}"))
                .expect("drop a refusing trigger");
        }
    }
}
