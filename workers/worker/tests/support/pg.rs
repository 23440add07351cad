//! A throw-away database on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust
//! auth; PGHOST/PGPORT/PGUSER override), dropped when the test ends.

#![allow(dead_code)]

use std::process::Command;

pub struct TestDb {
    pub name: String,
}

/// A PostgreSQL client program with the test connection settings.
pub fn pg(cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    if std::env::var_os("PGHOST").is_none() {
        c.env("PGHOST", "127.0.0.1");
    }
    if std::env::var_os("PGUSER").is_none() {
        c.env("PGUSER", "postgres");
    }
    c
}

fn psql(db: &str, args: &[&str]) -> String {
    let out = pg("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-d", db])
        .args(args)
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "psql {args:?} on {db}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl TestDb {
    /// A new empty database with a unique name.
    pub fn empty() -> TestDb {
        let name = unique_name("tp_worker_test");
        psql("postgres", &["-c", &format!("CREATE DATABASE \"{name}\"")]);
        TestDb { name }
    }

    /// A new database with the given schema files (under tests/schema) loaded.
    pub fn with_schema(files: &[&str]) -> TestDb {
        let db = TestDb::empty();
        db.load(files);
        db
    }

    pub fn load(&self, files: &[&str]) {
        for f in files {
            let path = format!("{}/tests/schema/{f}", env!("CARGO_MANIFEST_DIR"));
            psql(&self.name, &["-f", &path]);
        }
    }

    pub fn url(&self) -> String {
        database_url(&self.name)
    }

    /// Runs SQL and returns psql's unaligned output (rows by line, columns by `|`).
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.name, &["-c", sql])
    }
}

/// A database name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// The URL of a database (that need not exist).
pub fn database_url(name: &str) -> String {
    let host = std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    format!("postgres://{user}@{host}:{port}/{name}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = pg("dropdb")
            .args(["--if-exists", "--force", &self.name])
            .status();
    }
}

impl TestDb {
    /// Creates the database `name` now (a test that pointed a worker at it first) with the
    /// given schema files; dropped like the others.
    pub fn adopt(name: &str, files: &[&str]) -> TestDb {
        psql("postgres", &["-c", &format!("CREATE DATABASE \"{name}\"")]);
        let db = TestDb {
            name: name.to_string(),
        };
        db.load(files);
        db
    }
}
