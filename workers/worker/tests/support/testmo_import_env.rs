//! The Testmo import tests' surroundings: a database with TestPlanIt's whole schema and the
//! seed of a fresh install, a private Valkey and S3 server, the worker, and the web app's
//! steps (upload, analysis, configuration stored, import added).

#![allow(dead_code)]

use serde_json::{Value, json};

use crate::jobs;
use crate::node_support;
use crate::pg::TestDb;
use crate::redis_server::RedisServer;
use crate::s3_server::S3Server;
use crate::testmo_export;
use crate::worker::Running;

pub const QUEUE: &str = "testmo-imports";
const BUCKET: &str = "testplanit-uploads";

pub struct Env {
    pub db: TestDb,
    pub redis: RedisServer,
    pub s3: S3Server,
    /// In multi-tenant mode, the tenant whose database `db` is and whose id every job carries.
    tenant: Option<&'static str>,
}

impl Env {
    pub fn new() -> Env {
        node_support::ensure_installed();
        let db = TestDb::with_schema(&["testplanit.sql"]);
        testmo_export::seed(&db);
        Env {
            db,
            redis: RedisServer::start(),
            s3: S3Server::start(),
            tenant: None,
        }
    }

    /// The worker in multi-tenant mode with `db` as `tenant`'s database, and DATABASE_URL
    /// naming a database that does not exist, so a write that ignores the tenant fails.
    pub fn multi_tenant(tenant: &'static str) -> Env {
        Env {
            tenant: Some(tenant),
            ..Env::new()
        }
    }

    pub fn worker(&self, extra: &[(&str, &str)]) -> Running {
        let (url, r) = (self.db.url(), self.redis.url());
        let tenants = self
            .tenant
            .map(|t| json!({ t: {"databaseUrl": url} }).to_string());
        let database = match tenants {
            Some(_) => format!("{url}_not_a_tenant"),
            None => url.clone(),
        };
        let s3_env = self.s3.env();
        let mut env: Vec<(&str, &str)> = vec![
            ("DATABASE_URL", &database),
            ("VALKEY_URL", &r),
            ("AWS_BUCKET_NAME", BUCKET),
        ];
        env.extend(s3_env.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(tenants) = &tenants {
            env.extend([("MULTI_TENANT_MODE", "true"), ("TENANT_CONFIGS", tenants)]);
        }
        env.extend_from_slice(extra);
        let w = Running::start(&["testmo-import"], &env);
        w.wait_for_line("Testmo import worker started");
        w
    }

    pub fn add(&self, job: &str, mode: &str) -> String {
        let opts = if mode == "import" {
            json!({"attempts": 1, "removeOnComplete": false, "removeOnFail": false})
        } else {
            json!({"attempts": 1, "removeOnComplete": {"age": 2592000, "count": 100}, "removeOnFail": {"age": 2592000}})
        };
        let mut data = json!({"jobId": job, "mode": mode});
        if let Some(t) = self.tenant {
            data["tenantId"] = json!(t);
        }
        jobs::add(&self.redis, QUEUE, "process-testmo-import", data, opts)
    }

    /// Upload, analysis, then the configuration stored and the job RUNNING, as the web app does.
    pub fn analysed(&self, job: &str, export: &Value, configuration: &Value) {
        let body = serde_json::to_vec(export).expect("json");
        let key = format!("imports/{job}/export.json");
        self.s3.put(BUCKET, &key, &body);
        self.db.sql(&format!(
            r#"INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", status, phase, "storageKey", "storageBucket", "originalFileName", "originalFileSize")
               VALUES ('{job}', now(), 'admin', 'QUEUED', 'ANALYZING', '{key}', '{BUCKET}', 'export.json', {})"#,
            body.len()
        ));
        let id = self.add(job, "analyze");
        let done = jobs::wait_state(&self.redis, QUEUE, &id, "completed");
        assert_eq!(done["returnvalue"], json!({"status": "READY"}), "{done}");
        let c = configuration.to_string().replace('\'', "''");
        self.db.sql(&format!(
            r#"UPDATE "TestmoImportJob" SET configuration = '{c}'::jsonb, options = '{{}}'::jsonb, status = 'RUNNING', phase = 'IMPORTING' WHERE id = '{job}'"#
        ));
    }

    /// The generated export analysed, `configuration` stored, and the import job added: its
    /// BullMQ id.
    pub fn import(&self, job: &str, configuration: &Value) -> String {
        self.analysed(job, &testmo_export::export(), configuration);
        self.add(job, "import")
    }

    /// The generated export imported with the generated configuration, to COMPLETED: the row.
    pub fn imported(&self, job: &str) -> Value {
        let id = self.import(job, &testmo_export::configuration());
        let done = jobs::wait_state(&self.redis, QUEUE, &id, "completed");
        assert_eq!(
            done["returnvalue"],
            json!({"status": "COMPLETED"}),
            "{done}"
        );
        self.row(job)
    }

    pub fn row(&self, job: &str) -> Value {
        serde_json::from_str(&self.db.sql(&format!(
            r#"SELECT row_to_json(j)::text FROM "TestmoImportJob" j WHERE id = '{job}'"#
        )))
        .expect("row")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db
            .sql(sql)
            .parse()
            .unwrap_or_else(|_| panic!("count from {sql}"))
    }

    pub fn json(&self, sql: &str) -> Value {
        serde_json::from_str(&self.db.sql(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Rows of every table the import writes, to compare two imports.
    pub fn table_counts(&self) -> Value {
        let tables = [
            "User",
            "Roles",
            "RolePermission",
            "Groups",
            "GroupAssignment",
            "Workflows",
            "Status",
            "StatusScopeAssignment",
            "Tags",
            "MilestoneTypes",
            "Configurations",
            "ConfigCategories",
            "ConfigVariants",
            "ConfigurationConfigVariant",
            "Templates",
            "TemplateCaseAssignment",
            "TemplateResultAssignment",
            "CaseFields",
            "ResultFields",
            "FieldOptions",
            "CaseFieldAssignment",
            "ResultFieldAssignment",
            "Projects",
            "ProjectStatusAssignment",
            "ProjectWorkflowAssignment",
            "MilestoneTypesAssignment",
            "TemplateProjectAssignment",
            "Milestones",
            "Repositories",
            "RepositoryFolders",
            "RepositoryCases",
            "RepositoryCaseVersions",
            "CaseFieldValues",
            "CaseFieldVersionValues",
            "Steps",
            "TestRuns",
            "TestRunCases",
            "TestRunResults",
            "ResultFieldValues",
            "TestRunStepResults",
            "_RepositoryCasesToTags",
            "_TagsToTestRuns",
            "Sessions",
            "SessionVersions",
            "SessionResults",
            "SessionFieldValues",
            "_SessionsToTags",
            "Integration",
            "Issue",
            "ProjectIntegration",
            "_IssueToRepositoryCases",
            "_IssueToTestRuns",
            "_IssueToTestRunResults",
            "_IssueToSessions",
            "_IssueToSessionResults",
            "JUnitTestSuite",
            "JUnitTestResult",
            "Attachments",
        ];
        // (json_build_object takes at most 100 arguments.)
        let rows = tables
            .iter()
            .map(|t| format!(r#"('{t}', (SELECT count(*) FROM "{t}"))"#))
            .collect::<Vec<_>>()
            .join(", ");
        self.json(&format!(
            "SELECT json_object_agg(t, n ORDER BY t)::text FROM (VALUES {rows}) AS v(t, n)"
        ))
    }
}
