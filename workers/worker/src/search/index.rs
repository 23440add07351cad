//! TestPlanIt's seven search indices: their names, the settings every index is created with,
//! and each index's mapping (the fields TestPlanIt's web search queries, with their types).
//! The names and mappings are a wire format: the web app reads what we write.

use serde_json::{Map, Value, json};

/// What an index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    RepositoryCases,
    SharedSteps,
    TestRuns,
    Sessions,
    Projects,
    Issues,
    Milestones,
}

impl Entity {
    pub const ALL: [Entity; 7] = [
        Entity::RepositoryCases,
        Entity::SharedSteps,
        Entity::TestRuns,
        Entity::Sessions,
        Entity::Projects,
        Entity::Issues,
        Entity::Milestones,
    ];

    /// The index name without the `testplanit-` and tenant prefix.
    pub fn base(self) -> &'static str {
        match self {
            Entity::RepositoryCases => "repository-cases",
            Entity::SharedSteps => "shared-steps",
            Entity::TestRuns => "test-runs",
            Entity::Sessions => "sessions",
            Entity::Projects => "projects",
            Entity::Issues => "issues",
            Entity::Milestones => "milestones",
        }
    }

    /// `testplanit-<base>`, or `testplanit-<tenant>-<base>` for a tenant's job.
    pub fn index_name(self, tenant: Option<&str>) -> String {
        match tenant {
            Some(t) => format!("testplanit-{t}-{}", self.base()),
            None => format!("testplanit-{}", self.base()),
        }
    }

    /// The body of the create-index request.
    pub fn create_body(self, replicas: u32) -> Value {
        json!({ "settings": settings(replicas), "mappings": { "properties": self.properties() } })
    }

    /// The index's field mapping.
    pub fn properties(self) -> Map<String, Value> {
        let mut p = match self {
            Entity::Projects => Map::new(),
            _ => base_properties(),
        };
        let own: Vec<(&str, Value)> = match self {
            Entity::RepositoryCases => vec![
                ("repositoryId", ty("integer")),
                ("folderId", ty("integer")),
                ("folderPath", ty("keyword")),
                ("templateId", ty("integer")),
                ("templateName", ty("keyword")),
                // The web app's case index also offers completion suggestions on the name.
                ("name", case_name()),
                ("className", ty("keyword")),
                ("source", ty("keyword")),
                ("stateId", ty("integer")),
                ("stateName", ty("keyword")),
                ("stateIcon", ty("keyword")),
                ("stateColor", ty("keyword")),
                ("estimate", ty("integer")),
                ("forecastManual", ty("integer")),
                ("forecastAutomated", ty("float")),
                ("automated", ty("boolean")),
                ("isArchived", ty("boolean")),
                ("isDeleted", ty("boolean")),
                // Case documents name their creator `creator*`, not `createdBy*`.
                ("creatorId", ty("keyword")),
                ("creatorName", ty("text")),
                ("creatorImage", ty("keyword")),
                ("tags", tags()),
                (
                    "steps",
                    nested(&[
                        ("id", ty("integer")),
                        ("order", ty("integer")),
                        ("step", ty("text")),
                        ("expectedResult", ty("text")),
                        ("isSharedStep", ty("boolean")),
                        ("sharedStepGroupId", ty("integer")),
                        ("sharedStepGroupName", ty("text")),
                    ]),
                ),
            ],
            Entity::SharedSteps => vec![
                ("name", analysed_name()),
                ("isDeleted", ty("boolean")),
                (
                    "items",
                    nested(&[
                        ("id", ty("integer")),
                        ("order", ty("integer")),
                        ("step", ty("text")),
                        ("expectedResult", ty("text")),
                    ]),
                ),
            ],
            Entity::TestRuns => {
                let mut v = run_like();
                v.splice(1..1, [("note", ty("text")), ("docs", ty("text"))]);
                v.push(("testRunType", ty("keyword")));
                v
            }
            Entity::Sessions => {
                let mut v = vec![
                    ("templateId", ty("integer")),
                    ("templateName", ty("keyword")),
                ];
                v.extend(run_like());
                v.extend([
                    ("note", ty("text")),
                    ("mission", ty("text")),
                    ("assignedToId", ty("keyword")),
                    ("assignedToName", ty("keyword")),
                    ("assignedToImage", ty("keyword")),
                    ("estimate", ty("integer")),
                ]);
                v
            }
            Entity::Projects => vec![
                ("id", ty("integer")),
                ("name", analysed_name()),
                ("iconUrl", ty("keyword")),
                ("note", ty("text")),
                ("docs", ty("text")),
                ("isDeleted", ty("boolean")),
                ("createdAt", ty("date")),
                ("createdById", ty("keyword")),
                ("createdByName", ty("keyword")),
                ("createdByImage", ty("keyword")),
                ("searchableContent", ty("text")),
            ],
            Entity::Issues => vec![
                ("name", analysed_name()),
                ("title", analysed_name()),
                ("description", ty("text")),
                ("externalId", ty("keyword")),
                ("note", ty("text")),
                ("url", ty("keyword")),
                ("issueSystem", ty("text")),
                ("isDeleted", ty("boolean")),
            ],
            Entity::Milestones => vec![
                ("name", analysed_name()),
                ("note", ty("text")),
                ("docs", ty("text")),
                ("milestoneTypeId", ty("integer")),
                ("milestoneTypeName", ty("keyword")),
                ("milestoneTypeIcon", ty("keyword")),
                ("parentId", ty("integer")),
                ("parentName", ty("keyword")),
                ("dueDate", ty("date")),
                ("isCompleted", ty("boolean")),
                ("completedAt", ty("date")),
                ("isDeleted", ty("boolean")),
            ],
        };
        for (k, v) in own {
            p.insert(k.to_string(), v);
        }
        p
    }
}

/// One shard; replicas from `AppConfig.elasticsearch_replicas`; the `standard` analyzer with
/// English stop words (what TestPlanIt's search expects of "the", "a", ...).
pub fn settings(replicas: u32) -> Value {
    json!({
        "number_of_shards": 1,
        "number_of_replicas": replicas,
        "analysis": { "analyzer": { "standard": { "type": "standard", "stopwords": "_english_" } } }
    })
}

fn ty(t: &str) -> Value {
    json!({ "type": t })
}

fn object(props: &[(&str, Value)]) -> Value {
    json!({ "type": "object", "properties": to_map(props) })
}

fn nested(props: &[(&str, Value)]) -> Value {
    json!({ "type": "nested", "properties": to_map(props) })
}

fn to_map(props: &[(&str, Value)]) -> Map<String, Value> {
    props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Text analysed with the standard analyzer, plus an exact keyword of up to 256 characters.
fn analysed_name() -> Value {
    json!({
        "type": "text",
        "analyzer": "standard",
        "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } }
    })
}

fn case_name() -> Value {
    json!({
        "type": "text",
        "analyzer": "standard",
        "fields": {
            "keyword": { "type": "keyword", "ignore_above": 256 },
            "suggest": { "type": "completion" }
        }
    })
}

fn tags() -> Value {
    nested(&[("id", ty("integer")), ("name", ty("keyword"))])
}

fn option() -> Vec<(&'static str, Value)> {
    vec![
        ("id", ty("integer")),
        ("name", ty("keyword")),
        ("icon", object(&[("name", ty("keyword"))])),
        ("iconColor", object(&[("value", ty("keyword"))])),
    ]
}

/// The fields every index but projects shares.
fn base_properties() -> Map<String, Value> {
    to_map(&[
        ("id", ty("integer")),
        ("projectId", ty("integer")),
        ("projectName", ty("keyword")),
        ("projectIconUrl", ty("keyword")),
        ("createdAt", ty("date")),
        ("updatedAt", ty("date")),
        ("createdById", ty("keyword")),
        ("createdByName", ty("keyword")),
        ("createdByImage", ty("keyword")),
        ("searchableContent", analysed_name()),
        (
            "customFields",
            nested(&[
                ("fieldId", ty("integer")),
                ("fieldName", ty("keyword")),
                ("fieldType", ty("keyword")),
                ("value", ty("text")),
                ("valueKeyword", ty("keyword")),
                ("valueNumeric", ty("double")),
                ("valueBoolean", ty("boolean")),
                ("valueDate", ty("date")),
                ("valueArray", ty("keyword")),
                ("fieldOption", object(&option())),
                ("fieldOptions", nested(&option())),
            ]),
        ),
    ])
}

/// Fields test runs and sessions share.
fn run_like() -> Vec<(&'static str, Value)> {
    vec![
        ("name", analysed_name()),
        ("configId", ty("integer")),
        ("configurationName", ty("keyword")),
        ("milestoneId", ty("integer")),
        ("milestoneName", ty("keyword")),
        ("stateId", ty("integer")),
        ("stateName", ty("keyword")),
        ("stateIcon", ty("keyword")),
        ("stateColor", ty("keyword")),
        ("forecastManual", ty("integer")),
        ("forecastAutomated", ty("float")),
        ("elapsed", ty("integer")),
        ("isCompleted", ty("boolean")),
        ("isDeleted", ty("boolean")),
        ("completedAt", ty("date")),
        ("tags", tags()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_tenant_when_there_is_one() {
        assert_eq!(
            Entity::RepositoryCases.index_name(None),
            "testplanit-repository-cases"
        );
        assert_eq!(
            Entity::SharedSteps.index_name(Some("acme")),
            "testplanit-acme-shared-steps"
        );
    }

    #[test]
    fn every_index_but_projects_has_the_shared_fields() {
        for e in Entity::ALL {
            let p = e.properties();
            assert_eq!(p["id"]["type"], "integer", "{e:?}");
            assert_eq!(
                p.contains_key("customFields"),
                e != Entity::Projects,
                "{e:?}"
            );
        }
        let cases = Entity::RepositoryCases.properties();
        assert_eq!(cases["steps"]["type"], "nested");
        assert_eq!(cases["name"]["fields"]["suggest"]["type"], "completion");
        assert_eq!(
            cases["customFields"]["properties"]["fieldOptions"]["type"],
            "nested"
        );
        let runs = Entity::TestRuns.properties();
        assert_eq!(runs["testRunType"]["type"], "keyword");
        assert_eq!(runs["note"]["type"], "text");
        assert!(!Entity::Sessions.properties().contains_key("testRunType"));
    }

    #[test]
    fn settings_have_one_shard_and_english_stop_words() {
        let b = Entity::Issues.create_body(2);
        assert_eq!(b["settings"]["number_of_shards"], 1);
        assert_eq!(b["settings"]["number_of_replicas"], 2);
        assert_eq!(
            b["settings"]["analysis"]["analyzer"]["standard"]["stopwords"],
            "_english_"
        );
    }
}
