//! The database guard: before a worker writes anything, it checks that the database is the
//! TestPlanIt schema it implements (0.11.x). A database of a later release, or one whose
//! tables this worker writes have changed under it, is refused with what was found, what is
//! supported, and what to run instead (TestPlanIt's own worker for the queue, under tpctl):
//! writing rows shaped for another schema would corrupt data no retry can repair.
//!
//! What is checked, per worker: no marker of a later release (tables and columns TestPlanIt
//! 1.x added); the tables it writes exist; the columns it writes exist, of the kind it writes
//! (text, integer, timestamp, ..., an enum by its name); and no column it does not know in
//! those tables is required (NOT NULL without a default), since its inserts would fail or,
//! worse, succeed under a changed meaning. The Testmo import writes some fifty tables: for
//! it the tables and the markers are checked, not each column.

use sqlx::PgPool;

/// The release this worker implements, as the refusal says.
pub const SUPPORTED: &str = "TestPlanIt 0.11.x";

/// Tables and columns that TestPlanIt 1.x added: finding one means a later schema.
const LATER: &[(&str, Option<&str>, &str)] = &[
    ("DataChangeLog", None, "the audit log's change-data capture"),
    ("WebhookOutboxEvent", None, "webhooks"),
    ("TestRunExecution", None, "execution dispatch"),
    ("AuditLog", Some("operationId"), "audit operations"),
    ("AuditLog", Some("sourceTable"), "audit change capture"),
];

/// The kind of value a column holds, as far as a write cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Float,
    Bool,
    Json,
    Timestamp,
    /// A Prisma enum, by its type name.
    Enum(&'static str),
}

impl Kind {
    /// The kind of a column from information_schema's `udt_name`.
    fn matches(self, udt: &str) -> bool {
        match self {
            Kind::Text => matches!(udt, "text" | "varchar" | "bpchar"),
            Kind::Integer => matches!(udt, "int2" | "int4" | "int8"),
            Kind::Float => matches!(udt, "float4" | "float8" | "numeric"),
            Kind::Bool => udt == "bool",
            Kind::Json => matches!(udt, "jsonb" | "json"),
            Kind::Timestamp => matches!(udt, "timestamp" | "timestamptz"),
            Kind::Enum(name) => udt == name,
        }
    }

    fn name(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Integer => "an integer".into(),
            Kind::Float => "a floating-point number".into(),
            Kind::Bool => "boolean".into(),
            Kind::Json => "jsonb".into(),
            Kind::Timestamp => "a timestamp".into(),
            Kind::Enum(n) => format!("the enum {n:?}"),
        }
    }
}

use Kind::*;

/// A table a worker writes: the columns it writes and, for a table it inserts into, the
/// other columns 0.11.x has there (any other required column would fail its inserts).
struct Table {
    name: &'static str,
    writes: &'static [(&'static str, Kind)],
    /// `Some`: it inserts rows, and these are the table's other 0.11.x columns.
    inserts: Option<&'static [&'static str]>,
}

const AUDIT_LOG: Table = Table {
    name: "AuditLog",
    writes: &[
        ("id", Text),
        ("userId", Text),
        ("userEmail", Text),
        ("userName", Text),
        ("action", Enum("AuditAction")),
        ("entityType", Text),
        ("entityId", Text),
        ("entityName", Text),
        ("changes", Json),
        ("metadata", Json),
        ("projectId", Integer),
    ],
    inserts: Some(&["timestamp"]),
};

const NOTIFICATION: Table = Table {
    name: "Notification",
    writes: &[
        ("id", Text),
        ("userId", Text),
        ("type", Enum("NotificationType")),
        ("title", Text),
        ("message", Text),
        ("relatedEntityId", Text),
        ("relatedEntityType", Text),
        ("data", Json),
        ("isRead", Bool),
        ("isDeleted", Bool),
        ("createdAt", Timestamp),
        ("updatedAt", Timestamp),
    ],
    inserts: Some(&[]),
};

const NOTIFICATION_READ: Table = Table {
    name: "Notification",
    writes: &[("isRead", Bool), ("updatedAt", Timestamp)],
    inserts: None,
};

const FORECAST_CASES: Table = Table {
    name: "RepositoryCases",
    writes: &[("forecastManual", Integer), ("forecastAutomated", Float)],
    inserts: None,
};

const FORECAST_RUNS: Table = Table {
    name: "TestRuns",
    writes: &[("forecastManual", Integer), ("forecastAutomated", Float)],
    inserts: None,
};

const MILESTONES: Table = Table {
    name: "Milestones",
    writes: &[("isCompleted", Bool)],
    inserts: None,
};

const ISSUE: Table = Table {
    name: "Issue",
    writes: &[
        ("name", Text),
        ("title", Text),
        ("description", Text),
        ("status", Text),
        ("priority", Text),
        ("externalId", Text),
        ("externalKey", Text),
        ("externalUrl", Text),
        ("externalStatus", Text),
        ("externalData", Json),
        ("issueTypeId", Text),
        ("issueTypeName", Text),
        ("issueTypeIconUrl", Text),
        ("lastSyncedAt", Timestamp),
    ],
    inserts: None,
};

const USER_INTEGRATION_AUTH: Table = Table {
    name: "UserIntegrationAuth",
    writes: &[
        ("accessToken", Text),
        ("refreshToken", Text),
        ("tokenExpiresAt", Timestamp),
        ("lastUsedAt", Timestamp),
        ("updatedAt", Timestamp),
    ],
    inserts: None,
};

/// The tables the Testmo import writes (checked to exist; their columns are not listed).
const TESTMO_TABLES: &[&str] = &[
    "Attachments",
    "CaseFieldAssignment",
    "CaseFieldValues",
    "CaseFieldVersionValues",
    "ConfigCategories",
    "ConfigVariants",
    "ConfigurationConfigVariant",
    "Configurations",
    "FieldOptions",
    "GroupAssignment",
    "Groups",
    "Integration",
    "Issue",
    "JUnitTestResult",
    "JUnitTestSuite",
    "MilestoneTypes",
    "MilestoneTypesAssignment",
    "Milestones",
    "ProjectIntegration",
    "ProjectStatusAssignment",
    "ProjectWorkflowAssignment",
    "Projects",
    "Repositories",
    "RepositoryCaseVersions",
    "RepositoryCases",
    "RepositoryFolders",
    "ResultFieldAssignment",
    "ResultFieldValues",
    "RolePermission",
    "Roles",
    "SessionFieldValues",
    "SessionResults",
    "SessionVersions",
    "Sessions",
    "Status",
    "StatusScopeAssignment",
    "Steps",
    "Tags",
    "TemplateCaseAssignment",
    "TemplateProjectAssignment",
    "TemplateResultAssignment",
    "Templates",
    "TestRunCases",
    "TestRunResults",
    "TestRunStepResults",
    "TestRuns",
    "TestmoImportDataset",
    "TestmoImportJob",
    "TestmoImportMapping",
    "User",
    "Workflows",
];

/// What a worker writes.
struct Writes {
    tables: &'static [Table],
    only_tables: &'static [&'static str],
}

/// By the queue the worker consumes.
fn writes_of(queue: &str) -> Writes {
    let (tables, only_tables): (&'static [Table], &'static [&'static str]) = match queue {
        "audit-logs" => (&[AUDIT_LOG], &[]),
        "notifications" => (&[NOTIFICATION], &[]),
        "emails" => (&[NOTIFICATION_READ], &[]),
        "forecast-updates" => (&[FORECAST_CASES, FORECAST_RUNS, MILESTONES], &[]),
        "issue-sync" => (&[ISSUE, USER_INTEGRATION_AUTH], &[]),
        "testmo-imports" => (&[], TESTMO_TABLES),
        // The reindex reads only; the markers still tell it is on a schema it does not know.
        _ => (&[], &[]),
    };
    Writes {
        tables,
        only_tables,
    }
}

/// One column as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub table: String,
    pub name: String,
    pub udt: String,
    /// NOT NULL without a default: an insert must give it.
    pub required: bool,
}

/// What makes the database one the worker of `queue` must not write to, worst first.
pub fn problems(queue: &str, columns: &[Column]) -> Vec<String> {
    let has_table = |t: &str| columns.iter().any(|c| c.table == t);
    let column = |t: &str, n: &str| columns.iter().find(|c| c.table == t && c.name == n);
    let mut out = Vec::new();
    for (table, col, what) in LATER {
        let found = match col {
            None => has_table(table),
            Some(c) => column(table, c).is_some(),
        };
        if found {
            out.push(match col {
                None => format!("table \"{table}\" ({what}, TestPlanIt 1.x)"),
                Some(c) => format!("column \"{table}\".\"{c}\" ({what}, TestPlanIt 1.x)"),
            });
        }
    }
    let w = writes_of(queue);
    for t in w.only_tables {
        if !has_table(t) {
            out.push(format!("no table \"{t}\""));
        }
    }
    for t in w.tables {
        if !has_table(t.name) {
            out.push(format!("no table \"{}\"", t.name));
            continue;
        }
        for (name, kind) in t.writes {
            match column(t.name, name) {
                None => out.push(format!("no column \"{}\".\"{name}\"", t.name)),
                Some(c) if !kind.matches(&c.udt) => out.push(format!(
                    "column \"{}\".\"{name}\" is {}, where it writes {}",
                    t.name,
                    c.udt,
                    kind.name()
                )),
                Some(_) => {}
            }
        }
        let Some(others) = t.inserts else { continue };
        for c in columns.iter().filter(|c| c.table == t.name && c.required) {
            let known =
                t.writes.iter().any(|(n, _)| *n == c.name) || others.contains(&c.name.as_str());
            if !known {
                out.push(format!(
                    "column \"{}\".\"{}\" is required (NOT NULL, no default) and unknown to {SUPPORTED}",
                    t.name, c.name
                ));
            }
        }
    }
    out
}

/// The columns of the connection's schema (the one its search_path names first, as Prisma's
/// `?schema=` sets it), read from the catalog alone: information_schema's defaults go through
/// pg_get_expr, which waits for a lock on each table (a migration's, a long job's).
pub async fn columns(pool: &PgPool) -> Result<Vec<Column>, sqlx::Error> {
    let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
        r#"SELECT c.relname::text, a.attname::text, t.typname::text,
                  (a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '')
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped"#,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, name, udt, required)| Column {
            table,
            name,
            udt,
            required,
        })
        .collect())
}

/// Checks `pool`'s database for the worker of `queue`: `Err` with the sentence to exit with.
pub async fn check(queue: &str, pool: &PgPool) -> Result<(), GuardError> {
    let found = columns(pool)
        .await
        .map_err(|e| GuardError::Read(e.to_string()))?;
    // No table of TestPlanIt's at all: a database whose migrations have not run yet (a first
    // install, or one being created), waited for rather than refused.
    let w = writes_of(queue);
    let ours = w
        .tables
        .iter()
        .map(|t| t.name)
        .chain(w.only_tables.iter().copied())
        .chain(["User", "Projects"]);
    if !ours.into_iter().any(|t| found.iter().any(|c| c.table == t)) {
        return Err(GuardError::NotYet);
    }
    let problems = problems(queue, &found);
    if problems.is_empty() {
        return Ok(());
    }
    Err(GuardError::Unknown(format!(
        "this database is not the TestPlanIt schema the worker of \"{queue}\" implements ({SUPPORTED}): {}. \
         It refuses to write to a schema it does not know; run TestPlanIt's own worker for the \
         queue \"{queue}\" under tpctl instead (README: \"TestPlanIt 1.x: the database guard\"), or point DATABASE_URL \
         at a {SUPPORTED} database",
        problems.join("; ")
    )))
}

/// Why the guard did not pass.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The schema could not be read (a reachability problem: retried).
    #[error("cannot read the database's schema: {0}")]
    Read(String),
    /// The database has none of TestPlanIt's tables yet (retried).
    #[error(
        "the database has no TestPlanIt tables yet: waiting for its migrations (prisma migrate deploy)"
    )]
    NotYet,
    /// The schema is not one this worker implements (a configuration problem: exit 2).
    #[error("{0}")]
    Unknown(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(table: &str, name: &str, udt: &str, required: bool) -> Column {
        Column {
            table: table.into(),
            name: name.into(),
            udt: udt.into(),
            required,
        }
    }

    fn audit_log() -> Vec<Column> {
        let mut c: Vec<Column> = AUDIT_LOG
            .writes
            .iter()
            .map(|(n, k)| {
                let udt = match k {
                    Text => "text",
                    Integer => "int4",
                    Json => "jsonb",
                    Enum(e) => e,
                    _ => "bool",
                };
                col("AuditLog", n, udt, *n == "id")
            })
            .collect();
        c.push(col("AuditLog", "timestamp", "timestamptz", false));
        c
    }

    #[test]
    fn a_0_11_audit_log_passes() {
        assert_eq!(problems("audit-logs", &audit_log()), Vec::<String>::new());
    }

    #[test]
    fn later_markers_missing_columns_other_kinds_and_unknown_required_columns_are_named() {
        let mut c = audit_log();
        c.push(col("AuditLog", "operationId", "text", false));
        c.push(col("DataChangeLog", "id", "int8", true));
        c.retain(|x| x.name != "entityName");
        if let Some(x) = c.iter_mut().find(|x| x.name == "projectId") {
            x.udt = "text".into();
        }
        c.push(col("AuditLog", "tenantScope", "text", true));
        let p = problems("audit-logs", &c);
        assert_eq!(
            p,
            vec![
                "table \"DataChangeLog\" (the audit log's change-data capture, TestPlanIt 1.x)",
                "column \"AuditLog\".\"operationId\" (audit operations, TestPlanIt 1.x)",
                "no column \"AuditLog\".\"entityName\"",
                "column \"AuditLog\".\"projectId\" is text, where it writes an integer",
                "column \"AuditLog\".\"tenantScope\" is required (NOT NULL, no default) and unknown to TestPlanIt 0.11.x",
            ]
        );
    }

    #[test]
    fn a_worker_that_only_reads_is_refused_on_markers_alone() {
        assert!(problems("elasticsearch-reindex", &audit_log()).is_empty());
        let c = vec![col("DataChangeLog", "id", "int8", true)];
        assert_eq!(problems("elasticsearch-reindex", &c).len(), 1);
        assert_eq!(
            problems("testmo-imports", &[]).len(),
            TESTMO_TABLES.len(),
            "every table it writes is missing"
        );
    }
}
