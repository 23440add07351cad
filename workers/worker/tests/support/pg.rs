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

/// A database name no other test uses: the process, a counter for the tests running in it
/// (two of them once read the same nanosecond and raced to create one database), and the
/// time for earlier runs' leftovers.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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
    /// given schema files, appearing whole as a migrated database does (built under another
    /// name, then renamed); dropped like the others.
    pub fn adopt(name: &str, files: &[&str]) -> TestDb {
        let building = TestDb::with_schema(files);
        building.admin(&format!(
            "ALTER DATABASE \"{}\" RENAME TO \"{name}\"",
            building.name
        ));
        // The old name is gone: nothing for the builder's drop to remove.
        std::mem::forget(building);
        TestDb {
            name: name.to_string(),
        }
    }
}

impl TestDb {
    /// Runs SQL on the server's `postgres` database (for statements about this database).
    pub fn admin(&self, sql: &str) -> String {
        psql("postgres", &["-c", sql])
    }

    /// Refuses new connections to this database and ends the open ones (PostgreSQL away, for
    /// this database only), or lets them in again.
    pub fn set_reachable(&self, yes: bool) {
        self.admin(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {yes}",
            self.name
        ));
        if !yes {
            self.admin(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.name
            ));
        }
    }
}

/// A table held locked by another session, so a job writing to it waits mid-statement until
/// `release`. Released (and the session ended) on drop too.
pub struct TableLock {
    table: String,
    session: std::process::Child,
    input: Option<std::process::ChildStdin>,
}

impl TableLock {
    pub fn take(db: &TestDb, table: &str) -> TableLock {
        use std::io::Write;
        let mut session = pg("psql")
            .args(["-X", "-q", "-d", &db.name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("psql");
        let mut input = session.stdin.take().expect("stdin");
        writeln!(
            input,
            r#"BEGIN; LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE;"#
        )
        .expect("lock");
        input.flush().expect("flush");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while db.sql(&format!(
            r#"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               WHERE c.relname = '{table}' AND l.granted AND l.mode = 'AccessExclusiveLock'"#
        )) != "1"
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock on {table} was not taken"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TableLock {
            table: table.to_string(),
            session,
            input: Some(input),
        }
    }

    /// Waits (up to 60 s) until a statement of another session waits for the lock.
    pub fn wait_for_waiter(&self, db: &TestDb) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while db.sql(&format!(
            r#"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               WHERE c.relname = '{}' AND NOT l.granted"#,
            self.table
        )) == "0"
        {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing waited for the lock on {}",
                self.table
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Commits, letting the waiting statement through.
    pub fn release(&mut self) {
        use std::io::Write;
        if let Some(mut input) = self.input.take() {
            let _ = writeln!(input, "COMMIT;");
        }
        let _ = self.session.wait();
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.release();
    }
}
