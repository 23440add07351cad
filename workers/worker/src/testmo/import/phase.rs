//! The import's phases in Node's order, the errors a phase ends with, and the chunk-size
//! knobs.

use super::rows::ReadError;

/// The phases, in Node's order; a phase's number keys its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Workflows = 1,
    Statuses,
    Groups,
    Tags,
    Roles,
    MilestoneTypes,
    Configurations,
    Templates,
    TemplateFields,
    Users,
    UserGroups,
    Projects,
    ProjectLinks,
    Milestones,
    MilestoneLinks,
    Sessions,
    SessionResults,
    SessionTags,
    Repositories,
    RepositoryFolders,
    RepositoryCases,
    RepositoryCaseTags,
    AutomationCases,
    AutomationRuns,
    AutomationRunTests,
    AutomationRunFields,
    AutomationRunLinks,
    AutomationRunTestFields,
    AutomationRunTags,
    SessionValues,
    TestRuns,
    RunLinks,
    TestRunCases,
    RunTags,
    TestRunResults,
    TestRunStepResults,
    IssueTargets,
    Issues,
    ProjectIntegrations,
    MilestoneIssues,
    RepositoryCaseIssues,
    RunIssues,
    RunResultIssues,
    SessionIssues,
    SessionResultIssues,
}

impl Phase {
    /// The entity name the progress page shows (`entityProgress` keys, `currentEntity`).
    pub fn entity(self) -> &'static str {
        match self {
            Phase::Workflows => "workflows",
            Phase::Statuses => "statuses",
            Phase::Groups => "groups",
            Phase::Tags => "tags",
            Phase::Roles => "roles",
            Phase::MilestoneTypes => "milestoneTypes",
            Phase::Configurations => "configurations",
            Phase::Templates => "templates",
            Phase::TemplateFields => "templateFields",
            Phase::Users => "users",
            Phase::UserGroups => "userGroups",
            Phase::Projects => "projects",
            Phase::ProjectLinks => "projectLinks",
            Phase::Milestones => "milestones",
            Phase::MilestoneLinks => "milestoneLinks",
            Phase::Sessions => "sessions",
            Phase::SessionResults => "sessionResults",
            Phase::SessionTags => "sessionTags",
            Phase::Repositories => "repositories",
            Phase::RepositoryFolders => "repositoryFolders",
            Phase::RepositoryCases => "repositoryCases",
            Phase::RepositoryCaseTags => "repositoryCaseTags",
            Phase::AutomationCases => "automationCases",
            Phase::AutomationRuns => "automationRuns",
            Phase::AutomationRunTests => "automationRunTests",
            Phase::AutomationRunFields => "automationRunFields",
            Phase::AutomationRunLinks => "automationRunLinks",
            Phase::AutomationRunTestFields => "automationRunTestFields",
            Phase::AutomationRunTags => "automationRunTags",
            Phase::SessionValues => "sessionValues",
            Phase::TestRuns => "testRuns",
            Phase::RunLinks => "runLinks",
            Phase::TestRunCases => "testRunCases",
            Phase::RunTags => "runTags",
            Phase::TestRunResults => "testRunResults",
            Phase::TestRunStepResults => "testRunStepResults",
            Phase::IssueTargets => "issueTargets",
            Phase::Issues => "issues",
            Phase::ProjectIntegrations => "projectIntegrations",
            Phase::MilestoneIssues => "milestoneIssues",
            Phase::RepositoryCaseIssues => "repositoryCaseIssues",
            Phase::RunIssues => "runIssues",
            Phase::RunResultIssues => "runResultIssues",
            Phase::SessionIssues => "sessionIssues",
            Phase::SessionResultIssues => "sessionResultIssues",
        }
    }

    /// The dataset a data phase reads (configuration phases read the configuration).
    pub fn dataset(self) -> Option<&'static str> {
        Some(match self {
            Phase::UserGroups => "user_groups",
            Phase::Projects => "projects",
            Phase::ProjectLinks => "project_links",
            Phase::Milestones => "milestones",
            Phase::MilestoneLinks => "milestone_links",
            Phase::Sessions => "sessions",
            Phase::SessionResults => "session_results",
            Phase::SessionTags => "session_tags",
            Phase::Repositories => "repositories",
            Phase::RepositoryFolders => "repository_folders",
            Phase::RepositoryCases => "repository_cases",
            Phase::RepositoryCaseTags => "repository_case_tags",
            Phase::AutomationCases => "automation_cases",
            Phase::AutomationRuns => "automation_runs",
            Phase::AutomationRunTests => "automation_run_tests",
            Phase::AutomationRunFields => "automation_run_fields",
            Phase::AutomationRunLinks => "automation_run_links",
            Phase::AutomationRunTestFields => "automation_run_test_fields",
            Phase::AutomationRunTags => "automation_run_tags",
            Phase::SessionValues => "session_values",
            Phase::TestRuns => "runs",
            Phase::RunLinks => "run_links",
            Phase::TestRunCases => "run_tests",
            Phase::RunTags => "run_tags",
            Phase::TestRunResults => "run_results",
            Phase::TestRunStepResults => "run_result_steps",
            Phase::Issues => "issues",
            Phase::MilestoneIssues => "milestone_issues",
            Phase::RepositoryCaseIssues => "repository_case_issues",
            Phase::RunIssues => "run_issues",
            Phase::RunResultIssues => "run_result_issues",
            Phase::SessionIssues => "session_issues",
            Phase::SessionResultIssues => "session_result_issues",
            _ => return None,
        })
    }

    /// The configuration section a setup phase applies.
    pub fn section(self) -> Option<&'static str> {
        Some(match self {
            Phase::Workflows => "workflows",
            Phase::Statuses => "statuses",
            Phase::Groups => "groups",
            Phase::Tags => "tags",
            Phase::Roles => "roles",
            Phase::MilestoneTypes => "milestoneTypes",
            Phase::Configurations => "configurations",
            Phase::Templates => "templates",
            Phase::TemplateFields => "templateFields",
            Phase::Users => "users",
            Phase::IssueTargets => "issueTargets",
            _ => return None,
        })
    }

    pub const ALL: [Phase; 45] = [
        Phase::Workflows,
        Phase::Statuses,
        Phase::Groups,
        Phase::Tags,
        Phase::Roles,
        Phase::MilestoneTypes,
        Phase::Configurations,
        Phase::Templates,
        Phase::TemplateFields,
        Phase::Users,
        Phase::UserGroups,
        Phase::Projects,
        Phase::ProjectLinks,
        Phase::Milestones,
        Phase::MilestoneLinks,
        Phase::Sessions,
        Phase::SessionResults,
        Phase::SessionTags,
        Phase::Repositories,
        Phase::RepositoryFolders,
        Phase::RepositoryCases,
        Phase::RepositoryCaseTags,
        Phase::AutomationCases,
        Phase::AutomationRuns,
        Phase::AutomationRunTests,
        Phase::AutomationRunFields,
        Phase::AutomationRunLinks,
        Phase::AutomationRunTestFields,
        Phase::AutomationRunTags,
        Phase::SessionValues,
        Phase::TestRuns,
        Phase::RunLinks,
        Phase::TestRunCases,
        Phase::RunTags,
        Phase::TestRunResults,
        Phase::TestRunStepResults,
        Phase::IssueTargets,
        Phase::Issues,
        Phase::ProjectIntegrations,
        Phase::MilestoneIssues,
        Phase::RepositoryCaseIssues,
        Phase::RunIssues,
        Phase::RunResultIssues,
        Phase::SessionIssues,
        Phase::SessionResultIssues,
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The configuration asks for something that cannot be done: the message names the
    /// section and the Testmo id.
    #[error("{0}")]
    Config(String),
    /// The workspace lacks what the import needs (a default role, status scopes, …).
    #[error("{phase}: {message}")]
    Workspace {
        phase: &'static str,
        message: String,
    },
    #[error("{phase}: {dataset} row {row}{id}: {source}", id = .testmo_id.map(|i| format!(" (Testmo id {i})")).unwrap_or_default())]
    Row {
        phase: &'static str,
        dataset: &'static str,
        row: i64,
        testmo_id: Option<i64>,
        #[source]
        source: sqlx::Error,
    },
    /// A multi-row statement failed: the rows of the chunk it wrote.
    #[error("{phase}: {dataset} rows {first}–{last}: {source}")]
    Chunk {
        phase: &'static str,
        dataset: &'static str,
        first: i64,
        last: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("{phase}: {source}")]
    Db {
        phase: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{phase}: {source}")]
    Read {
        phase: &'static str,
        #[source]
        source: ReadError,
    },
    #[error("the import was canceled")]
    Canceled,
    /// The worker is stopping: the import hands its job back between two chunks.
    #[error("{phase}: interrupted by a worker stop")]
    Interrupted { phase: &'static str },
}

impl ImportError {
    pub fn db(phase: Phase) -> impl Fn(sqlx::Error) -> ImportError {
        move |source| ImportError::Db {
            phase: phase.entity(),
            source,
        }
    }

    pub fn read(phase: Phase) -> impl Fn(ReadError) -> ImportError {
        move |source| ImportError::Read {
            phase: phase.entity(),
            source,
        }
    }
}

/// The `TESTMO_*` chunk sizes and the transaction timeout (spec §9.4 knobs).
pub struct Knobs {
    pub case_chunk: usize,
    pub run_case_chunk: usize,
    pub result_chunk: usize,
    pub relation_chunk: usize,
    pub automation_case_chunk: usize,
    pub automation_run_chunk: usize,
    pub automation_test_chunk: usize,
    pub automation_field_chunk: usize,
    pub automation_link_chunk: usize,
    pub automation_test_field_chunk: usize,
    pub timeout_ms: u64,
}

fn knob(name: &str, default: usize) -> usize {
    crate::config::number(name, default, |n: &usize| *n > 0, "a positive number")
}

impl Knobs {
    pub fn from_env() -> Knobs {
        Knobs {
            case_chunk: knob("TESTMO_REPOSITORY_CASE_CHUNK_SIZE", 500),
            // Node uses half of it.
            run_case_chunk: (knob("TESTMO_TEST_RUN_CASE_CHUNK_SIZE", 500) / 2).max(1),
            result_chunk: knob("TESTMO_TEST_RUN_RESULT_CHUNK_SIZE", 2000),
            relation_chunk: knob("TESTMO_ISSUE_RELATIONSHIP_CHUNK_SIZE", 1000),
            automation_case_chunk: knob("TESTMO_AUTOMATION_CASE_CHUNK_SIZE", 500),
            automation_run_chunk: knob("TESTMO_AUTOMATION_RUN_CHUNK_SIZE", 500),
            automation_test_chunk: knob("TESTMO_AUTOMATION_RUN_TEST_CHUNK_SIZE", 2000),
            automation_field_chunk: knob("TESTMO_AUTOMATION_RUN_FIELD_CHUNK_SIZE", 500),
            automation_link_chunk: knob("TESTMO_AUTOMATION_RUN_LINK_CHUNK_SIZE", 500),
            automation_test_field_chunk: knob("TESTMO_AUTOMATION_RUN_TEST_FIELD_CHUNK_SIZE", 500),
            timeout_ms: knob("TESTMO_IMPORT_TRANSACTION_TIMEOUT_MS", 900_000) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_numbered_in_order() {
        for (i, p) in Phase::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i + 1);
        }
        assert_eq!(Phase::TestRunCases.dataset(), Some("run_tests"));
    }
}
