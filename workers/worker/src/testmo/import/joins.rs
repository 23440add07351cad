//! The join datasets: a row links an imported entity to an imported tag or issue through
//! one of Prisma's implicit many-to-many tables (`"_RepositoryCasesToTags"` and the like:
//! column "A" holds the id of the model whose name sorts first). A chunk per statement; a
//! link that exists already counts as mapped.

use std::collections::HashSet;

use super::ctx::{Ctx, ImportError, Phase};
use super::idmap::IdMap;
use super::projects::source;

/// Which maps a join links, and where.
struct Join {
    dataset: &'static str,
    owner_key: &'static str,
    other_key: &'static str,
    table: &'static str,
    /// Whether the owner goes in column "A" (its model sorts before the other's).
    owner_first: bool,
    label: &'static str,
}

fn join(phase: Phase) -> Join {
    let j = |dataset, owner_key, other_key, table, owner_first, label| Join {
        dataset,
        owner_key,
        other_key,
        table,
        owner_first,
        label,
    };
    match phase {
        Phase::RepositoryCaseTags => j(
            "repository_case_tags",
            "case_id",
            "tag_id",
            "_RepositoryCasesToTags",
            true,
            "Processing repository case tag assignments",
        ),
        Phase::RunTags => j(
            "run_tags",
            "run_id",
            "tag_id",
            "_TagsToTestRuns",
            false,
            "Processing test run tag assignments",
        ),
        Phase::AutomationRunTags => j(
            "automation_run_tags",
            "run_id",
            "tag_id",
            "_TagsToTestRuns",
            false,
            "Processing automation run tag assignments",
        ),
        Phase::SessionTags => j(
            "session_tags",
            "session_id",
            "tag_id",
            "_SessionsToTags",
            true,
            "Processing session tag assignments",
        ),
        Phase::RepositoryCaseIssues => j(
            "repository_case_issues",
            "case_id",
            "issue_id",
            "_IssueToRepositoryCases",
            false,
            "Processing repository case issues",
        ),
        Phase::RunIssues => j(
            "run_issues",
            "run_id",
            "issue_id",
            "_IssueToTestRuns",
            false,
            "Processing run issues",
        ),
        Phase::RunResultIssues => j(
            "run_result_issues",
            "result_id",
            "issue_id",
            "_IssueToTestRunResults",
            false,
            "Processing run result issues",
        ),
        Phase::SessionIssues => j(
            "session_issues",
            "session_id",
            "issue_id",
            "_IssueToSessions",
            false,
            "Processing session issues",
        ),
        _ => j(
            "session_result_issues",
            "result_id",
            "issue_id",
            "_IssueToSessionResults",
            false,
            "Processing session result issues",
        ),
    }
}

/// The map of the owning side of a join phase.
fn owner_map<'m>(ctx: &'m Ctx<'_>, phase: Phase) -> &'m IdMap {
    match phase {
        Phase::RepositoryCaseTags | Phase::RepositoryCaseIssues => &ctx.maps.cases,
        Phase::RunTags | Phase::RunIssues => &ctx.maps.runs,
        Phase::AutomationRunTags => &ctx.maps.automation_runs,
        Phase::SessionTags | Phase::SessionIssues => &ctx.maps.sessions,
        Phase::RunResultIssues => &ctx.maps.results,
        _ => &ctx.maps.session_results,
    }
}

fn other_map<'m>(ctx: &'m Ctx<'_>, phase: Phase) -> &'m IdMap {
    match phase {
        Phase::RepositoryCaseTags
        | Phase::RunTags
        | Phase::SessionTags
        | Phase::AutomationRunTags => &ctx.maps.tags,
        _ => &ctx.maps.issues,
    }
}

pub async fn links(ctx: &mut Ctx<'_>, phase: Phase) -> Result<(), ImportError> {
    let j = join(phase);
    let Some(mut stream) = ctx.stream(phase, j.label).await? else {
        return Ok(());
    };
    let (a, b) = if j.owner_first {
        ("A", "B")
    } else {
        ("B", "A")
    };
    let sql = format!(
        r#"INSERT INTO "{}" ("{a}", "{b}") SELECT * FROM unnest($1::int[], $2::int[]) ON CONFLICT DO NOTHING"#,
        j.table
    );
    loop {
        let Some(chunk) = stream.chunk(ctx.knobs.relation_chunk).await? else {
            break;
        };
        let mut seen = HashSet::new();
        let (mut owners, mut others) = (Vec::new(), Vec::new());
        let mut repeated = 0u64;
        for s in &chunk {
            let owner = source(&s.row, j.owner_key).and_then(|o| owner_map(ctx, phase).get(o));
            let other = source(&s.row, j.other_key).and_then(|t| other_map(ctx, phase).get(t));
            let (Some(o), Some(t)) = (owner, other) else {
                ctx.skip(phase);
                continue;
            };
            if seen.insert((o, t)) {
                owners.push(o);
                others.push(t);
            } else {
                repeated += 1;
            }
        }
        let mut tx = ctx.begin(phase).await?;
        let made = sqlx::query(&sql)
            .bind(&owners)
            .bind(&others)
            .execute(&mut *tx)
            .await
            .map_err(|source| ImportError::Chunk {
                phase: phase.entity(),
                dataset: j.dataset,
                first: chunk.first().map_or(0, |s| s.index),
                last: stream.last,
                source,
            })?
            .rows_affected();
        let existed = owners.len() as u64 - made + repeated;
        stream.summary.created(made);
        stream.summary.mapped(existed);
        ctx.advance(phase, made, existed);
        ctx.commit(tx, phase, j.table, stream.last, &stream.summary, &[])
            .await?;
    }
    ctx.finish(phase, stream.last, &stream.summary).await
}
