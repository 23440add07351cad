//! The configuration phases: workflows, statuses, groups, tags, roles, milestone types,
//! configurations (with their variants), templates and template fields, users and their
//! groups. Each entry of the mapping configuration is mapped to what exists or created; a
//! `create` whose name already exists maps to it instead (Node's rule, which also makes a
//! re-run find what the first run made). Everything the configuration asks for is checked
//! by `validate.rs` before the first write.

use serde_json::{Map, Value, json};
use sqlx::{Postgres, Transaction};

use super::config::{entry_text, mapped_number};
use super::ctx::{Ctx, ImportError, Phase};
use super::progress::Summary;
use super::rows;
use super::values::{number, text};

/// Valid system names: a letter, then letters, digits and underscores.
pub(super) fn system_name_ok(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `generateSystemName`: lower case, spaces to underscores, other characters dropped, no
/// leading non-letters; "status" when nothing is left.
pub fn generate_system_name(v: &str) -> String {
    let lowered = v.to_lowercase();
    let mut s = String::new();
    let mut in_space = false;
    for c in lowered.chars() {
        if c.is_whitespace() {
            if !in_space {
                s.push('_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            s.push(c);
        }
    }
    let s = s
        .trim_start_matches(|c: char| !c.is_ascii_lowercase())
        .to_string();
    if s.is_empty() { "status".into() } else { s }
}

pub(super) fn mapped_icon(e: &Map<String, Value>, key: &str) -> Option<i64> {
    e.get(key).and_then(number)
}

pub(super) fn field_display_name(id: i64, e: &Map<String, Value>) -> String {
    e.get("displayName")
        .or(e.get("systemName"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Field {id}"))
        .trim()
        .to_string()
}

pub(super) fn field_system_name(e: &Map<String, Value>, display: &str) -> String {
    let s = e
        .get("systemName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if s.is_empty() {
        generate_system_name(display)
    } else {
        s
    }
}

pub(super) type Tx<'t> = Transaction<'t, Postgres>;

pub(super) fn db(phase: Phase) -> impl Fn(sqlx::Error) -> ImportError {
    ImportError::db(phase)
}

/// The id of a live row of `table` whose `column` is `name`.
pub(super) async fn by_name(
    tx: &mut Tx<'_>,
    phase: Phase,
    table: &str,
    column: &str,
    name: &str,
) -> Result<Option<i32>, ImportError> {
    let sql = format!(
        r#"SELECT id FROM "{table}" WHERE "{column}" = $1 AND "isDeleted" = false ORDER BY id LIMIT 1"#
    );
    let r: Option<(i32,)> = sqlx::query_as(&sql)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db(phase))?;
    Ok(r.map(|r| r.0))
}

pub(super) fn id32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(-1)
}

/// Runs one simple section: `create` inserts a row unless one has the name already.
async fn simple(
    ctx: &mut Ctx<'_>,
    phase: Phase,
    table: &str,
    name_col: &str,
) -> Result<(), ImportError> {
    let section = phase.section().unwrap_or_default();
    let entity = phase.entity();
    ctx.begin_phase(
        phase,
        &format!(
            "Processing {} mappings",
            super::progress::label(entity).to_lowercase()
        ),
    )
    .await?;
    let mut summary = Summary::new(entity);
    let mut tx = ctx.begin(phase).await?;
    for (id, e) in ctx.config.entries(section) {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            let target = mapped_number(&e).unwrap_or_default();
            ctx.config.resolve(section, id, json!(target), None);
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let name = entry_text(&e, "name").unwrap_or_default();
        if let Some(existing) = by_name(&mut tx, phase, table, name_col, &name).await? {
            ctx.config
                .resolve(section, id, json!(existing), Some(&name));
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let created = insert(&mut tx, phase, name.clone(), &e)
            .await
            .map_err(db(phase))?;
        ctx.config.resolve(section, id, json!(created), Some(&name));
        summary.created(1);
        ctx.advance(phase, 1, 0);
    }
    tx.commit().await.map_err(db(phase))?;
    ctx.end_phase(phase, &summary).await
}

pub(super) fn section_map(ctx: &Ctx<'_>, section: &str) -> Vec<(i32, i32)> {
    ctx.config
        .entries(section)
        .into_iter()
        .filter_map(|(id, e)| Some((id32(id), id32(mapped_number(&e)?))))
        .collect()
}

/// The row a `create` entry of a simple section makes.
async fn insert(
    tx: &mut Tx<'_>,
    phase: Phase,
    name: String,
    e: &Map<String, Value>,
) -> Result<i32, sqlx::Error> {
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (id,): (i32,) = match phase {
        Phase::Workflows => {
            let kind = e
                .get("workflowType")
                .and_then(Value::as_str)
                .filter(|k| matches!(*k, "NOT_STARTED" | "IN_PROGRESS" | "DONE"))
                .unwrap_or("NOT_STARTED");
            let scope = e
                .get("scope")
                .and_then(Value::as_str)
                .filter(|s| matches!(*s, "CASES" | "RUNS" | "SESSIONS"))
                .unwrap_or("CASES");
            sqlx::query_as(
                r#"INSERT INTO "Workflows" (name, "workflowType", scope, "iconId", "colorId", "isEnabled")
                   VALUES ($1, $2::"WorkflowType", $3::"WorkflowScope", $4, $5, true) RETURNING id"#,
            )
            .bind(name)
            .bind(kind)
            .bind(scope)
            .bind(mapped_icon(e, "iconId").map(id32))
            .bind(mapped_icon(e, "colorId").map(id32))
            .fetch_one(&mut **tx)
            .await?
        }
        Phase::Groups => {
            let note = e.get("note").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
            sqlx::query_as(r#"INSERT INTO "Groups" (name, note) VALUES ($1, $2) RETURNING id"#)
                .bind(name)
                .bind(note)
                .fetch_one(&mut **tx)
                .await?
        }
        Phase::Roles => {
            if flag("isDefault") {
                sqlx::query(r#"UPDATE "Roles" SET "isDefault" = false WHERE "isDefault""#).execute(&mut **tx).await?;
            }
            let row: (i32,) = sqlx::query_as(r#"INSERT INTO "Roles" (name, "isDefault") VALUES ($1, $2) RETURNING id"#)
                .bind(name)
                .bind(flag("isDefault"))
                .fetch_one(&mut **tx)
                .await?;
            for (area, p) in e.get("permissions").and_then(Value::as_object).into_iter().flatten() {
                let can = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
                // Areas the schema does not know are left out rather than failing the insert.
                sqlx::query(
                    r#"INSERT INTO "RolePermission" ("roleId", area, "canAddEdit", "canDelete", "canClose")
                       SELECT $1, a::"ApplicationArea", $3, $4, $5 FROM (SELECT $2::text AS a) s
                       WHERE a IN (SELECT unnest(enum_range(NULL::"ApplicationArea"))::text)
                       ON CONFLICT DO NOTHING"#,
                )
                .bind(row.0)
                .bind(area)
                .bind(can("canAddEdit"))
                .bind(can("canDelete"))
                .bind(can("canClose"))
                .execute(&mut **tx)
                .await?;
            }
            row
        }
        Phase::MilestoneTypes => {
            if flag("isDefault") {
                sqlx::query(r#"UPDATE "MilestoneTypes" SET "isDefault" = false WHERE "isDefault""#).execute(&mut **tx).await?;
            }
            sqlx::query_as(r#"INSERT INTO "MilestoneTypes" (name, "iconId", "isDefault") VALUES ($1, $2, $3) RETURNING id"#)
                .bind(name)
                .bind(mapped_icon(e, "iconId").map(id32))
                .bind(flag("isDefault"))
                .fetch_one(&mut **tx)
                .await?
        }
        Phase::Templates => {
            sqlx::query_as(r#"INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ($1, true, false) RETURNING id"#)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?
        }
        _ => sqlx::query_as(r#"INSERT INTO "Tags" (name) VALUES ($1) RETURNING id"#)
            .bind(name)
            .fetch_one(&mut **tx)
            .await?,
    };
    Ok(id)
}

pub async fn workflows(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::Workflows, "Workflows", "name").await?;
    ctx.maps.workflows = super::idmap::IdMap::from_pairs(section_map(ctx, "workflows"));
    Ok(())
}

pub async fn groups(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::Groups, "Groups", "name").await?;
    ctx.maps.groups = super::idmap::IdMap::from_pairs(section_map(ctx, "groups"));
    Ok(())
}

pub async fn tags(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::Tags, "Tags", "name").await?;
    ctx.maps.tags = super::idmap::IdMap::from_pairs(section_map(ctx, "tags"));
    Ok(())
}

pub async fn roles(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::Roles, "Roles", "name").await
}

pub async fn milestone_types(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::MilestoneTypes, "MilestoneTypes", "name").await?;
    ctx.maps.milestone_types = super::idmap::IdMap::from_pairs(section_map(ctx, "milestoneTypes"));
    Ok(())
}

pub async fn statuses(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Statuses;
    let scopes: Vec<(i32,)> = sqlx::query_as(r#"SELECT id FROM "StatusScope" ORDER BY id"#)
        .fetch_all(ctx.pool)
        .await
        .map_err(db(phase))?;
    let scopes: Vec<i32> = scopes.into_iter().map(|s| s.0).collect();
    if scopes.is_empty() && ctx.config.count("statuses") > 0 {
        return Err(ImportError::Workspace {
            phase: "statuses",
            message: "No status scopes are configured in the workspace. Unable to import statuses."
                .into(),
        });
    }
    ctx.begin_phase(phase, "Processing status mappings").await?;
    let mut summary = Summary::new("statuses");
    let mut tx = ctx.begin(phase).await?;
    for (id, e) in ctx.config.entries("statuses") {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            ctx.config
                .resolve("statuses", id, json!(mapped_number(&e)), None);
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let name = entry_text(&e, "name").unwrap_or_default();
        let mut system = e
            .get("systemName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
        if !system_name_ok(&system) {
            system = generate_system_name(&name);
        }
        let existing: Option<(i32,)> = sqlx::query_as(
            r#"SELECT id FROM "Status" WHERE (name = $1 OR "systemName" = $2) AND "isDeleted" = false
               ORDER BY (name = $1) DESC, id LIMIT 1"#,
        )
        .bind(&name)
        .bind(&system)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(phase))?;
        if let Some((sid,)) = existing {
            ctx.config.resolve("statuses", id, json!(sid), None);
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let color = status_color(&mut tx, &e).await?;
        let mut chosen: Vec<i32> = e
            .get("scopeIds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(number).map(id32).collect())
            .unwrap_or_default();
        chosen.sort_unstable();
        chosen.dedup();
        if chosen.is_empty() {
            chosen = scopes.clone();
        }
        let aliases = e
            .get("aliases")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let flag = |k: &str, d: bool| e.get(k).and_then(Value::as_bool).unwrap_or(d);
        let (sid,): (i32,) = sqlx::query_as(
            r#"INSERT INTO "Status" (name, "systemName", aliases, "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
        )
        .bind(&name)
        .bind(&system)
        .bind(aliases)
        .bind(color)
        .bind(flag("isEnabled", true))
        .bind(flag("isSuccess", false))
        .bind(flag("isFailure", false))
        .bind(flag("isCompleted", false))
        .fetch_one(&mut *tx)
        .await
        .map_err(db(phase))?;
        sqlx::query(
            r#"INSERT INTO "StatusScopeAssignment" ("statusId", "scopeId") SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
        )
        .bind(sid)
        .bind(&chosen)
        .execute(&mut *tx)
        .await
        .map_err(db(phase))?;
        ctx.config.resolve("statuses", id, json!(sid), None);
        if let Some(entry) = ctx
            .config
            .0
            .get_mut("statuses")
            .and_then(|s| s.get_mut(id.to_string()))
        {
            entry["systemName"] = json!(system);
            entry["colorId"] = json!(color);
            entry["scopeIds"] = json!(chosen);
            entry["aliases"] = json!(aliases);
        }
        summary.created(1);
        ctx.advance(phase, 1, 0);
    }
    tx.commit().await.map_err(db(phase))?;
    ctx.end_phase(phase, &summary).await?;
    ctx.maps.statuses = super::idmap::IdMap::from_pairs(section_map(ctx, "statuses"));
    Ok(())
}

/// The configured color, else the one with the configured hex value, else the default grey.
async fn status_color(tx: &mut Tx<'_>, e: &Map<String, Value>) -> Result<i32, ImportError> {
    if let Some(c) = mapped_icon(e, "colorId") {
        return Ok(id32(c));
    }
    let wanted = e
        .get("colorHex")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|h| {
            if h.starts_with('#') {
                h.to_uppercase()
            } else {
                format!("#{}", h.to_uppercase())
            }
        });
    for hex in wanted.into_iter().chain(["#B1B2B3".to_string()]) {
        let r: Option<(i32,)> =
            sqlx::query_as(r#"SELECT id FROM "Color" WHERE value = $1 ORDER BY id LIMIT 1"#)
                .bind(&hex)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db(Phase::Statuses))?;
        if let Some((id,)) = r {
            return Ok(id);
        }
    }
    Err(ImportError::Workspace {
        phase: "statuses",
        message: "Unable to resolve a color to apply to an imported status.".into(),
    })
}

/// Templates: the simple rule, then the template names the maps need.
pub async fn templates(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    simple(ctx, Phase::Templates, "Templates", "templateName").await?;
    let pairs = section_map(ctx, "templates");
    let ids: Vec<i32> = pairs.iter().map(|p| p.1).collect();
    let names: Vec<(i32, String)> =
        sqlx::query_as(r#"SELECT id, "templateName" FROM "Templates" WHERE id = ANY($1)"#)
            .bind(&ids)
            .fetch_all(ctx.pool)
            .await
            .map_err(db(Phase::Templates))?;
    for (id, name) in names {
        ctx.maps.template_names.insert(name, id);
    }
    ctx.maps.templates = super::idmap::IdMap::from_pairs(pairs);
    Ok(())
}

pub(super) use super::fields::{configurations, template_fields, user_groups, users};

/// Rows of a small configuration dataset.
pub(super) async fn small(
    ctx: &Ctx<'_>,
    phase: Phase,
    dataset: &str,
) -> Result<Vec<Map<String, Value>>, ImportError> {
    rows::all(ctx.pool, ctx.job, dataset)
        .await
        .map_err(ImportError::read(phase))
}

pub(super) fn row_text(r: &Map<String, Value>, k: &str) -> Option<String> {
    r.get(k).and_then(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names() {
        assert_eq!(generate_system_name("Needs Review!"), "needs_review");
        assert_eq!(generate_system_name("42 blocked"), "blocked");
        assert_eq!(generate_system_name("!!!"), "status");
        assert!(system_name_ok("in_progress2"));
        assert!(!system_name_ok("2fast"));
        assert!(!system_name_ok(""));
    }
}
