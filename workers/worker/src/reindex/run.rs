//! One reindex job's run: the indices created, the projects counted, each entity type paged
//! through into the bulk writer, progress and the job log kept as Node keeps them, and the
//! result counted from what the search server accepted.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Payload, ReindexError, Reindexer, counts, page_size};
use crate::search::docs::{self, Reader, Target, cases, issues};
use crate::search::{self, BulkLimits, BulkWriter, Entity, SearchClient};

/// One job's run.
pub(super) struct Run<'a> {
    pub(super) state: &'a Reindexer,
    pub(super) job: &'a str,
    pub(super) payload: Payload,
    pub(super) started: Instant,
}

/// Progress over the whole job: 10 at the start of the indexing, 90 at its end.
struct Progress {
    total: u64,
    done: u64,
}

impl Progress {
    /// Between two pages: a worker stop ends the run here, to be run again.
    fn go_on(&self) -> Result<(), ReindexError> {
        if crate::run::stopping() {
            return Err(ReindexError::Interrupted {
                done: self.done,
                total: self.total,
            });
        }
        Ok(())
    }

    fn percent(&self) -> f64 {
        if self.total == 0 {
            return 90.0;
        }
        (10.0 + 80.0 * self.done as f64 / self.total as f64).min(90.0)
    }
}

impl Run<'_> {
    async fn log(&self, line: &str) {
        self.state.log.line(self.job, line).await;
    }

    async fn progress(&self, p: f64) {
        self.state.log.progress(self.job, p).await;
    }

    pub(super) async fn go(&mut self) -> Result<Value, ReindexError> {
        let tenant = self.payload.tenant_id.clone();
        let (pool, tenant_cfg) = self
            .state
            .dbs
            .pool_and_tenant(tenant.as_deref())
            .await
            .map_err(ReindexError::Setup)?;
        let node = search::node_for(tenant_cfg.as_ref()).ok_or(ReindexError::NotConfigured)?;
        let client = SearchClient::new(&node)?;
        let kind = self.payload.entity_type;

        self.progress(0.0).await;
        self.log("Starting reindex operation...").await;
        if kind.wants(Entity::RepositoryCases) {
            self.progress(5.0).await;
            self.log("Initializing Elasticsearch indexes...").await;
        }
        let replicas = search::replicas(&pool).await;
        for e in Entity::ALL.into_iter().filter(|e| kind.wants(*e)) {
            let name = e.index_name(tenant.as_deref());
            if client.ensure_index(&name, &e.create_body(replicas)).await? {
                tracing::info!("Created search index {name} on {}", client.addr());
            }
        }

        let mut db = Reader::new(pool);
        let projects = counts::projects(&mut db, self.payload.project_id).await?;
        if let Some(id) = self.payload.project_id
            && projects.is_empty()
        {
            return Err(ReindexError::NoProject(id));
        }
        self.progress(10.0).await;
        self.log(&format!("Found {} projects to process", projects.len()))
            .await;

        let mut plan = Vec::with_capacity(projects.len());
        let mut progress = Progress { total: 0, done: 0 };
        if kind.wants(Entity::Projects) {
            progress.total += counts::projects_to_index(&mut db, self.payload.project_id).await?;
        }
        for (id, name) in &projects {
            let c = counts::of_project(&mut db, *id, |e| kind.wants(e)).await?;
            progress.total += c.iter().map(|(_, n)| *n).sum::<u64>();
            plan.push((*id, name.clone(), c));
        }

        let mut writer = BulkWriter::new(client.clone(), BulkLimits::default());
        let page = page_size();
        let mut fields = cases::FieldCache::default();

        if kind.wants(Entity::Projects) {
            self.progress(progress.percent()).await;
            self.log("Indexing projects...").await;
            let mut after = 0;
            loop {
                let mut out = Target {
                    writer: &mut writer,
                    tenant: tenant.as_deref(),
                    page,
                };
                let (n, last) =
                    docs::projects::page(&mut db, &mut out, self.payload.project_id, after).await?;
                if n == 0 {
                    break;
                }
                after = last;
                progress.done += n as u64;
                progress.go_on()?;
            }
            self.end_step(&mut writer, &client, Entity::Projects, tenant.as_deref())
                .await?;
        }

        for (project, name, planned) in &plan {
            self.progress(progress.percent()).await;
            self.log(&format!("Processing project: {name}")).await;
            for (entity, count) in planned {
                if *count == 0 {
                    continue;
                }
                self.log(&format!(
                    "Syncing {count} {} for project {name}",
                    step_words(*entity)
                ))
                .await;
                if *entity == Entity::RepositoryCases {
                    self.log(&format!("Syncing {count} cases for project {project}..."))
                        .await;
                }
                let mut done_here = 0u64;
                let mut after = 0;
                loop {
                    let mut out = Target {
                        writer: &mut writer,
                        tenant: tenant.as_deref(),
                        page,
                    };
                    let (n, last) = match entity {
                        Entity::RepositoryCases => {
                            cases::page(&mut db, &mut out, &mut fields, *project, after).await?
                        }
                        Entity::SharedSteps => {
                            docs::shared_steps::page(&mut db, &mut out, *project, after).await?
                        }
                        Entity::TestRuns => {
                            docs::runs::page(&mut db, &mut out, *project, after).await?
                        }
                        Entity::Sessions => {
                            docs::sessions::page(&mut db, &mut out, *project, after).await?
                        }
                        Entity::Milestones => {
                            docs::milestones::page(&mut db, &mut out, *project, after).await?
                        }
                        Entity::Issues => issues::page(&mut db, &mut out, *project, after).await?,
                        Entity::Projects => (0, after),
                    };
                    if n == 0 {
                        break;
                    }
                    after = last;
                    done_here += n as u64;
                    progress.done += n as u64;
                    self.progress(progress.percent()).await;
                    if *entity == Entity::RepositoryCases {
                        self.log(&format!("Indexed {done_here}/{count} cases..."))
                            .await;
                    }
                    progress.go_on()?;
                }
                self.end_step(&mut writer, &client, *entity, tenant.as_deref())
                    .await?;
                if *entity == Entity::RepositoryCases {
                    self.log(&format!(
                        "Successfully synced {done_here} cases to Elasticsearch"
                    ))
                    .await;
                }
            }
            self.progress(progress.percent()).await;
            self.log(&format!("Completed project: {name}")).await;
        }

        let results: Vec<(&str, u64)> = [
            ("projects", Entity::Projects),
            ("repositoryCases", Entity::RepositoryCases),
            ("sharedSteps", Entity::SharedSteps),
            ("testRuns", Entity::TestRuns),
            ("sessions", Entity::Sessions),
            ("issues", Entity::Issues),
            ("milestones", Entity::Milestones),
        ]
        .into_iter()
        .map(|(k, e)| (k, writer.indexed(e)))
        .collect();
        let total: u64 = results.iter().map(|(_, n)| n).sum();
        let failed = writer.failed_total();
        self.summary(total, failed, &db, &client);
        if failed > 0 {
            let first = writer.first_failure().map_or_else(String::new, |f| {
                format!("{} {}: {}", f.entity.base(), f.id, f.reason)
            });
            return Err(ReindexError::Refused {
                failed,
                attempted: total + failed,
                first,
            });
        }
        self.progress(100.0).await;
        self.log("Reindex completed successfully!").await;
        let mut map = serde_json::Map::new();
        for (k, n) in results {
            map.insert(k.into(), n.into());
        }
        Ok(json!({ "success": true, "results": map, "totalDocuments": total }))
    }

    /// Sends what is queued for `entity`, makes it searchable, and logs the documents the
    /// server refused (the first few, with the reason).
    async fn end_step(
        &self,
        writer: &mut BulkWriter,
        client: &SearchClient,
        entity: Entity,
        tenant: Option<&str>,
    ) -> Result<(), ReindexError> {
        writer.finish().await?;
        client.refresh(&entity.index_name(tenant)).await?;
        for f in writer.new_failures() {
            let line = format!(
                "Could not index {} {} (status {}): {}",
                entity_word(f.entity),
                f.id,
                f.status,
                f.reason
            );
            tracing::warn!("job {}: {line}", self.job);
            self.log(&line).await;
        }
        if writer.failed(entity) > 0 {
            self.log(&format!(
                "{} {} could not be indexed",
                writer.failed(entity),
                step_words(entity)
            ))
            .await;
        }
        Ok(())
    }

    fn summary(&self, total: u64, failed: u64, db: &Reader, client: &SearchClient) {
        let secs = self.started.elapsed().as_secs_f64();
        tracing::info!(
            "Reindex job {}: {total} documents indexed, {failed} refused, in {secs:.2} s \
             ({:.0}/s); {} SQL queries; waited {:.2} s on PostgreSQL and {:.2} s on the search server",
            self.job,
            total as f64 / secs.max(1e-9),
            db.queries,
            db.waited.as_secs_f64(),
            client.waited().as_secs_f64(),
        );
    }
}

/// How the log lines name a step's documents.
fn step_words(e: Entity) -> &'static str {
    match e {
        Entity::RepositoryCases => "repository cases",
        Entity::SharedSteps => "shared steps",
        Entity::TestRuns => "test runs",
        Entity::Sessions => "sessions",
        Entity::Projects => "projects",
        Entity::Issues => "issues",
        Entity::Milestones => "milestones",
    }
}

fn entity_word(e: Entity) -> &'static str {
    match e {
        Entity::RepositoryCases => "repository case",
        Entity::SharedSteps => "shared step group",
        Entity::TestRuns => "test run",
        Entity::Sessions => "session",
        Entity::Projects => "project",
        Entity::Issues => "issue",
        Entity::Milestones => "milestone",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_runs_from_10_to_90_over_the_documents() {
        let mut p = Progress {
            total: 200,
            done: 0,
        };
        assert_eq!(p.percent(), 10.0);
        p.done = 100;
        assert_eq!(p.percent(), 50.0);
        p.done = 250;
        assert_eq!(p.percent(), 90.0);
        assert_eq!(Progress { total: 0, done: 0 }.percent(), 90.0);
    }
}
