//! The mapping configuration checked against the workspace before anything is written:
//! every `map` names something that exists, every `create` has what it needs. The messages
//! are the ones Node threw midway through an import, prefixed with the section and the id.

use serde_json::Value;

use super::config::{entry_text, mapped_number};
use super::ctx::{Ctx, ImportError};
use super::setup::{field_display_name, field_system_name, mapped_icon, system_name_ok};
use super::values::number;

fn bad(section: &str, id: i64, msg: String) -> ImportError {
    ImportError::Config(format!("configuration.{section}[\"{id}\"]: {msg}"))
}

async fn exists(ctx: &Ctx<'_>, table: &str, id: i64) -> Result<bool, ImportError> {
    let sql = format!(r#"SELECT EXISTS (SELECT 1 FROM "{table}" WHERE id = $1)"#);
    let (e,): (bool,) = sqlx::query_as(&sql)
        .bind(i32::try_from(id).unwrap_or(-1))
        .fetch_one(ctx.pool)
        .await
        .map_err(|source| ImportError::Db {
            phase: "configuration",
            source,
        })?;
    Ok(e)
}

/// Sections whose entries map to a row of one table or create one by name.
const SIMPLE: [(&str, &str, &str, &str); 7] = [
    ("workflows", "Workflows", "Workflow", "workflow"),
    ("statuses", "Status", "Status", "status"),
    ("groups", "Groups", "Group", "group"),
    ("tags", "Tags", "Tag", "tag"),
    ("roles", "Roles", "Role", "role"),
    ("milestoneTypes", "MilestoneTypes", "Milestone type", "type"),
    ("templates", "Templates", "Template", "template"),
];

/// What a `map` entry must name: a row of `table`. The messages say `what` for the entry,
/// `noun` for the target it lacks and `found` for the one looked up.
struct Target {
    table: &'static str,
    what: &'static str,
    noun: &'static str,
    found: &'static str,
}

async fn check_map(
    ctx: &Ctx<'_>,
    section: &str,
    id: i64,
    e: &serde_json::Map<String, Value>,
    t: Target,
) -> Result<(), ImportError> {
    let Some(target) = mapped_number(e) else {
        return Err(bad(
            section,
            id,
            format!(
                "{} {id} is configured to map but no target {} was provided.",
                t.what, t.noun
            ),
        ));
    };
    if !exists(ctx, t.table, target).await? {
        return Err(bad(
            section,
            id,
            format!("{} {target} selected for mapping was not found.", t.found),
        ));
    }
    Ok(())
}

/// Checks the whole configuration against the workspace before anything is written, with
/// the messages Node threw midway through an import.
pub async fn validate(ctx: &Ctx<'_>) -> Result<(), ImportError> {
    for (section, table, label, noun) in SIMPLE {
        for (id, e) in ctx.config.entries(section) {
            if e.get("action").and_then(Value::as_str) == Some("map") {
                check_map(
                    ctx,
                    section,
                    id,
                    &e,
                    Target {
                        table,
                        what: label,
                        noun,
                        found: label,
                    },
                )
                .await?;
                continue;
            }
            let name = entry_text(&e, "name").unwrap_or_default();
            if name.is_empty() {
                let what = if section == "statuses" {
                    "a display name"
                } else {
                    "a name"
                };
                return Err(bad(
                    section,
                    id,
                    format!("{label} {id} requires {what} before it can be created."),
                ));
            }
            if section == "workflows"
                && (mapped_icon(&e, "iconId").is_none() || mapped_icon(&e, "colorId").is_none())
            {
                return Err(bad(
                    section,
                    id,
                    format!(
                        "Workflow \"{name}\" must include both an icon and a color before creation."
                    ),
                ));
            }
            if section == "milestoneTypes"
                && let Some(icon) = mapped_icon(&e, "iconId")
                && !exists(ctx, "FieldIcon", icon).await?
            {
                return Err(bad(
                    section,
                    id,
                    format!("Icon {icon} configured for milestone type \"{name}\" does not exist."),
                ));
            }
            if section == "statuses"
                && let Some(color) = mapped_icon(&e, "colorId")
                && !exists(ctx, "Color", color).await?
            {
                return Err(bad(
                    section,
                    id,
                    format!("Color {color} configured for a status does not exist."),
                ));
            }
        }
    }
    for (id, e) in ctx.config.entries("configurations") {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            check_map(
                ctx,
                "configurations",
                id,
                &e,
                Target {
                    table: "Configurations",
                    what: "Configuration",
                    noun: "configuration",
                    found: "Configuration",
                },
            )
            .await?;
        } else if entry_text(&e, "name").is_none() {
            return Err(bad(
                "configurations",
                id,
                format!("Configuration {id} requires a name before it can be created."),
            ));
        }
        for v in e
            .get("variants")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
        {
            let token = v.get("token").and_then(Value::as_str).unwrap_or_default();
            match v.get("action").and_then(Value::as_str) {
                Some("map-variant") => match v.get("mappedVariantId").and_then(number) {
                    None => {
                        return Err(bad(
                            "configurations",
                            id,
                            format!(
                                "Configuration variant {token} is configured to map but no variant was selected."
                            ),
                        ));
                    }
                    Some(t) if !exists(ctx, "ConfigVariants", t).await? => {
                        return Err(bad(
                            "configurations",
                            id,
                            format!(
                                "Configuration variant {t} selected for mapping was not found."
                            ),
                        ));
                    }
                    Some(_) => {}
                },
                Some("create-variant-existing-category") => {
                    match v.get("categoryId").and_then(number) {
                        None => {
                            return Err(bad(
                                "configurations",
                                id,
                                format!(
                                    "Configuration variant {token} requires a category to be selected before creation."
                                ),
                            ));
                        }
                        Some(c) if !exists(ctx, "ConfigCategories", c).await? => {
                            return Err(bad(
                                "configurations",
                                id,
                                format!(
                                    "Configuration category {c} associated with variant {token} was not found."
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
    }
    for (id, e) in ctx.config.entries("templateFields") {
        let result = e.get("targetType").and_then(Value::as_str) == Some("result");
        if e.get("action").and_then(Value::as_str) == Some("map") {
            let (table, found) = if result {
                ("ResultFields", "Result field")
            } else {
                ("CaseFields", "Case field")
            };
            check_map(
                ctx,
                "templateFields",
                id,
                &e,
                Target {
                    table,
                    what: "Template field",
                    noun: "field",
                    found,
                },
            )
            .await?;
            continue;
        }
        let display = field_display_name(id, &e);
        let system = field_system_name(&e, &display);
        if !system_name_ok(&system) {
            return Err(bad(
                "templateFields",
                id,
                format!(
                    "Template field \"{display}\" requires a valid system name (letters, numbers, underscore, starting with a letter)."
                ),
            ));
        }
        let Some(type_id) = e.get("typeId").and_then(number) else {
            return Err(bad(
                "templateFields",
                id,
                format!(
                    "Template field \"{display}\" requires a field type before it can be created."
                ),
            ));
        };
        if !exists(ctx, "CaseFieldTypes", type_id).await? {
            return Err(bad(
                "templateFields",
                id,
                format!("Field type {type_id} referenced by a template field was not found."),
            ));
        }
    }
    for (id, e) in ctx.config.entries("issueTargets") {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            check_map(
                ctx,
                "issueTargets",
                id,
                &e,
                Target {
                    table: "Integration",
                    what: "Issue target",
                    noun: "integration",
                    found: "Integration",
                },
            )
            .await?;
        } else if entry_text(&e, "name").is_none() {
            return Err(bad(
                "issueTargets",
                id,
                format!("Issue target {id} requires a name before it can be created."),
            ));
        }
    }
    for (id, e) in ctx.config.entries("users") {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            let Some(target) = e
                .get("mappedTo")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                return Err(bad(
                    "users",
                    id,
                    format!("User {id} is configured to map but no target user was provided."),
                ));
            };
            let (found,): (bool,) =
                sqlx::query_as(r#"SELECT EXISTS (SELECT 1 FROM "User" WHERE id = $1)"#)
                    .bind(target)
                    .fetch_one(ctx.pool)
                    .await
                    .map_err(|source| ImportError::Db {
                        phase: "configuration",
                        source,
                    })?;
            if !found {
                return Err(bad(
                    "users",
                    id,
                    format!("User {target} selected for mapping was not found."),
                ));
            }
            continue;
        }
        if entry_text(&e, "email").is_none() {
            return Err(bad(
                "users",
                id,
                format!("User {id} requires an email address before creation."),
            ));
        }
        if e.get("password")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(bad("users", id, "no password could be generated for the new user (the system's random source failed)".into()));
        }
        if let Some(role) = e.get("roleId").and_then(number)
            && role != 0
            && !exists(ctx, "Roles", role).await?
        {
            return Err(bad(
                "users",
                id,
                format!("Role {role} selected for a user does not exist."),
            ));
        }
    }
    Ok(())
}
