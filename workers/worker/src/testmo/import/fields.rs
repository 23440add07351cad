//! The configuration phases with more than a name to them: configurations and their
//! variants, template fields (case and result fields with their dropdown options and template
//! assignments), users (bcrypt-hashed passwords, existing emails mapped) and group members.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::config::{entry_text, mapped_number};
use super::ctx::{Ctx, ImportError, Phase};
use super::progress::Summary;
use super::setup::{Tx, by_name, db, field_display_name, field_system_name, id32, row_text, small};
use super::values::number;

pub async fn configurations(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Configurations;
    ctx.begin_phase(phase, "Processing configuration mappings")
        .await?;
    let mut summary = Summary::new("configurations");
    let mut variants_created = 0u64;
    let mut tx = ctx.begin(phase).await?;
    for (id, e) in ctx.config.entries("configurations") {
        let target = if e.get("action").and_then(Value::as_str) == Some("map") {
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            id32(mapped_number(&e).unwrap_or_default())
        } else {
            let name = entry_text(&e, "name").unwrap_or_default();
            match by_name(&mut tx, phase, "Configurations", "name", &name).await? {
                Some(c) => {
                    summary.mapped(1);
                    ctx.advance(phase, 0, 1);
                    c
                }
                None => {
                    let (c,): (i32,) = sqlx::query_as(
                        r#"INSERT INTO "Configurations" (name) VALUES ($1) RETURNING id"#,
                    )
                    .bind(&name)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db(phase))?;
                    summary.created(1);
                    ctx.advance(phase, 1, 0);
                    c
                }
            }
        };
        let mut variant_ids = Vec::new();
        let mut resolved = Map::new();
        for (k, v) in e
            .get("variants")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let (vid, made, entry) = variant(&mut tx, v).await?;
            variants_created += u64::from(made);
            variant_ids.push(vid);
            resolved.insert(k.clone(), entry);
        }
        variant_ids.sort_unstable();
        variant_ids.dedup();
        sqlx::query(
            r#"INSERT INTO "ConfigurationConfigVariant" ("configurationId", "variantId")
               SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"#,
        )
        .bind(target)
        .bind(&variant_ids)
        .execute(&mut *tx)
        .await
        .map_err(db(phase))?;
        ctx.config
            .resolve("configurations", id, json!(target), None);
        if let Some(entry) = ctx
            .config
            .0
            .get_mut("configurations")
            .and_then(|s| s.get_mut(id.to_string()))
        {
            entry["variants"] = Value::Object(resolved);
        }
    }
    tx.commit().await.map_err(db(phase))?;
    summary.details = Some(json!({"variantsCreated": variants_created}));
    ctx.end_phase(phase, &summary).await?;
    ctx.maps.configurations =
        super::idmap::IdMap::from_pairs(super::setup::section_map(ctx, "configurations"));
    Ok(())
}

/// One variant token: mapped, created in a chosen category, or created with its category.
async fn variant(tx: &mut Tx<'_>, v: &Value) -> Result<(i32, bool, Value), ImportError> {
    let phase = Phase::Configurations;
    let token = v
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name_or_token = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(token.trim())
            .to_string()
    };
    let (variant_id, category_id, made) = match v.get("action").and_then(Value::as_str) {
        Some("map-variant") => {
            let vid = id32(
                v.get("mappedVariantId")
                    .and_then(number)
                    .unwrap_or_default(),
            );
            let (cat,): (i32,) =
                sqlx::query_as(r#"SELECT "categoryId" FROM "ConfigVariants" WHERE id = $1"#)
                    .bind(vid)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db(phase))?;
            (vid, cat, false)
        }
        action => {
            let category = if action == Some("create-variant-existing-category") {
                id32(v.get("categoryId").and_then(number).unwrap_or_default())
            } else {
                let cname = name_or_token("categoryName");
                match by_name(tx, phase, "ConfigCategories", "name", &cname).await? {
                    Some(c) => c,
                    None => {
                        let (c,): (i32,) = sqlx::query_as(
                            r#"INSERT INTO "ConfigCategories" (name) VALUES ($1) RETURNING id"#,
                        )
                        .bind(&cname)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(db(phase))?;
                        c
                    }
                }
            };
            let vname = name_or_token("variantName");
            let existing: Option<(i32,)> = sqlx::query_as(
                r#"SELECT id FROM "ConfigVariants" WHERE "categoryId" = $1 AND name = $2 AND "isDeleted" = false ORDER BY id LIMIT 1"#,
            )
            .bind(category)
            .bind(&vname)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db(phase))?;
            match existing {
                Some((vid,)) => (vid, category, false),
                None => {
                    let (vid,): (i32,) =
                        sqlx::query_as(r#"INSERT INTO "ConfigVariants" (name, "categoryId") VALUES ($1, $2) RETURNING id"#)
                            .bind(&vname)
                            .bind(category)
                            .fetch_one(&mut **tx)
                            .await
                            .map_err(db(phase))?;
                    (vid, category, true)
                }
            }
        }
    };
    let (vname, cname): (String, String) = sqlx::query_as(
        r#"SELECT v.name, c.name FROM "ConfigVariants" v JOIN "ConfigCategories" c ON c.id = v."categoryId" WHERE v.id = $1"#,
    )
    .bind(variant_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(db(phase))?;
    let entry = json!({"token": token, "action": "map-variant", "mappedVariantId": variant_id,
                       "categoryId": category_id, "categoryName": cname, "variantName": vname});
    Ok((variant_id, made, entry))
}

/// A template by name, created when missing (Node's `resolveTemplateIdForName`).
async fn template_named(
    ctx: &mut Ctx<'_>,
    tx: &mut Tx<'_>,
    name: &str,
) -> Result<Option<i32>, ImportError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if let Some(id) = ctx.maps.template_names.get(name) {
        return Ok(Some(*id));
    }
    let id = match by_name(tx, Phase::TemplateFields, "Templates", "templateName", name).await? {
        Some(id) => id,
        None => {
            let (id,): (i32,) = sqlx::query_as(
                r#"INSERT INTO "Templates" ("templateName", "isEnabled", "isDefault") VALUES ($1, true, false) RETURNING id"#,
            )
            .bind(name)
            .fetch_one(&mut **tx)
            .await
            .map_err(db(Phase::TemplateFields))?;
            id
        }
    };
    ctx.maps.template_names.insert(name.to_string(), id);
    Ok(Some(id))
}

async fn assign(
    tx: &mut Tx<'_>,
    field: i32,
    template: i32,
    result: bool,
    order: i32,
) -> Result<bool, ImportError> {
    let sql = if result {
        r#"INSERT INTO "TemplateResultAssignment" ("resultFieldId", "templateId", "order") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"#
    } else {
        r#"INSERT INTO "TemplateCaseAssignment" ("caseFieldId", "templateId", "order") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"#
    };
    let r = sqlx::query(sql)
        .bind(field)
        .bind(template)
        .bind(order)
        .execute(&mut **tx)
        .await
        .map_err(db(Phase::TemplateFields))?;
    Ok(r.rows_affected() > 0)
}

pub async fn template_fields(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::TemplateFields;
    ctx.begin_phase(phase, "Processing template field mappings")
        .await?;
    let mut summary = Summary::new("templateFields");
    let (mut options_created, mut assignments) = (0u64, 0u64);
    let mut field_by_source = std::collections::HashMap::new();
    let mut tx = ctx.begin(phase).await?;
    for (id, e) in ctx.config.entries("templateFields") {
        let result = e.get("targetType").and_then(Value::as_str) == Some("result");
        let order = e.get("order").and_then(number).map_or(0, id32);
        let template_name = e
            .get("templateName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (field, display, system) = if e.get("action").and_then(Value::as_str) == Some("map") {
            let f = id32(mapped_number(&e).unwrap_or_default());
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            let table = if result { "ResultFields" } else { "CaseFields" };
            let (d, s): (String, String) = sqlx::query_as(&format!(
                r#"SELECT "displayName", "systemName" FROM "{table}" WHERE id = $1"#
            ))
            .bind(f)
            .fetch_one(&mut *tx)
            .await
            .map_err(db(phase))?;
            (f, d, s)
        } else {
            let display = field_display_name(id, &e);
            let system = field_system_name(&e, &display);
            let table = if result { "ResultFields" } else { "CaseFields" };
            match by_name(&mut tx, phase, table, "systemName", &system).await? {
                Some(f) => {
                    summary.mapped(1);
                    ctx.advance(phase, 0, 1);
                    (f, display, system)
                }
                None => {
                    let f = create_field(&mut tx, table, &e, &display, &system).await?;
                    options_created +=
                        create_options(&mut tx, f, result, e.get("dropdownOptions")).await?;
                    summary.created(1);
                    ctx.advance(phase, 1, 0);
                    (f, display, system)
                }
            }
        };
        if let Some(t) = template_named(ctx, &mut tx, &template_name).await?
            && assign(&mut tx, field, t, result, order).await?
        {
            assignments += 1;
        }
        field_by_source.insert(id32(id), (field, result));
        ctx.config.resolve("templateFields", id, json!(field), None);
        if let Some(entry) = ctx
            .config
            .0
            .get_mut("templateFields")
            .and_then(|s| s.get_mut(id.to_string()))
        {
            entry["displayName"] = json!(display);
            entry["systemName"] = json!(system);
        }
        let map = if result {
            &mut ctx.maps.result_fields
        } else {
            &mut ctx.maps.case_fields
        };
        map.insert(system, field);
    }
    // Testmo's own template ↔ field links.
    let templates_by_source: std::collections::HashMap<i32, String> =
        small(ctx, phase, "templates")
            .await?
            .iter()
            .filter_map(|r| Some((id32(r.get("id").and_then(number)?), row_text(r, "name")?)))
            .collect();
    for r in small(ctx, phase, "template_fields").await? {
        let (Some(t), Some(f)) = (
            r.get("template_id").and_then(number),
            r.get("field_id").and_then(number),
        ) else {
            continue;
        };
        let Some(&(field, result)) = field_by_source.get(&id32(f)) else {
            continue;
        };
        let template = match ctx.maps.templates.get(id32(t)) {
            Some(t) => Some(t),
            None => match templates_by_source.get(&id32(t)) {
                Some(name) => template_named(ctx, &mut tx, &name.clone()).await?,
                None => None,
            },
        };
        if let Some(template) = template
            && assign(&mut tx, field, template, result, 0).await?
        {
            assignments += 1;
        }
    }
    tx.commit().await.map_err(db(phase))?;
    summary.details =
        Some(json!({"optionsCreated": options_created, "assignmentsCreated": assignments}));
    ctx.end_phase(phase, &summary).await
}

async fn create_field(
    tx: &mut Tx<'_>,
    table: &str,
    e: &Map<String, Value>,
    display: &str,
    system: &str,
) -> Result<i32, ImportError> {
    let f = |k: &str| e.get(k).and_then(Value::as_f64);
    let hint = e
        .get("hint")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (id,): (i32,) = sqlx::query_as(&format!(
        r#"INSERT INTO "{table}" ("displayName", "systemName", hint, "typeId", "isRequired", "isRestricted",
             "defaultValue", "isChecked", "minValue", "maxValue", "initialHeight", "isEnabled")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true) RETURNING id"#
    ))
    .bind(display)
    .bind(system)
    .bind(hint)
    .bind(e.get("typeId").and_then(number).map(id32))
    .bind(e.get("isRequired").and_then(Value::as_bool).unwrap_or(false))
    .bind(e.get("isRestricted").and_then(Value::as_bool).unwrap_or(false))
    .bind(e.get("defaultValue").and_then(Value::as_str))
    .bind(e.get("isChecked").and_then(Value::as_bool))
    .bind(f("minValue").or(f("minIntegerValue")))
    .bind(f("maxValue").or(f("maxIntegerValue")))
    .bind(e.get("initialHeight").and_then(number).map(id32))
    .fetch_one(&mut **tx)
    .await
    .map_err(db(Phase::TemplateFields))?;
    Ok(id)
}

/// The field's dropdown options (normalised with one default), linked to the field.
async fn create_options(
    tx: &mut Tx<'_>,
    field: i32,
    result: bool,
    options: Option<&Value>,
) -> Result<u64, ImportError> {
    let phase = Phase::TemplateFields;
    let Some(list) = options.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return Ok(0);
    };
    let defaults: Option<(i32, i32)> = sqlx::query_as(
        r#"SELECT (SELECT id FROM "FieldIcon" ORDER BY id LIMIT 1), (SELECT id FROM "Color" ORDER BY id LIMIT 1)"#,
    )
    .fetch_one(&mut **tx)
    .await
    .ok()
    .and_then(|r: (Option<i32>, Option<i32>)| Some((r.0?, r.1?)));
    let Some((icon, color)) = defaults else {
        return Err(ImportError::Workspace {
            phase: "templateFields",
            message: "Default icon or color not found. Please ensure the database is properly seeded with FieldIcon and Color records.".into(),
        });
    };
    let mut n = 0;
    for (i, o) in list.iter().enumerate() {
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            continue;
        };
        let (oid,): (i32,) = sqlx::query_as(
            r#"INSERT INTO "FieldOptions" (name, "iconId", "iconColorId", "isEnabled", "isDefault", "isDeleted", "order")
               VALUES ($1, $2, $3, $4, $5, false, $6) RETURNING id"#,
        )
        .bind(name)
        .bind(o.get("iconId").and_then(number).map_or(icon, id32))
        .bind(o.get("iconColorId").and_then(number).map_or(color, id32))
        .bind(o.get("isEnabled").and_then(Value::as_bool).unwrap_or(true))
        .bind(o.get("isDefault").and_then(Value::as_bool).unwrap_or(false))
        .bind(i as i32)
        .fetch_one(&mut **tx)
        .await
        .map_err(db(phase))?;
        let sql = if result {
            r#"INSERT INTO "ResultFieldAssignment" ("fieldOptionId", "resultFieldId", "order") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"#
        } else {
            r#"INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") VALUES ($1, $2) ON CONFLICT DO NOTHING"#
        };
        let q = sqlx::query(sql).bind(oid).bind(field);
        let q = if result { q.bind(i as i32) } else { q };
        q.execute(&mut **tx).await.map_err(db(phase))?;
        n += 1;
    }
    Ok(n)
}

pub async fn users(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::Users;
    ctx.begin_phase(phase, "Processing user mappings").await?;
    let mut summary = Summary::new("users");
    let mut tx = ctx.begin(phase).await?;
    let default_role: Option<(i32,)> =
        sqlx::query_as(r#"SELECT id FROM "Roles" WHERE "isDefault" ORDER BY id LIMIT 1"#)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(phase))?;
    for (id, e) in ctx.config.entries("users") {
        if e.get("action").and_then(Value::as_str) == Some("map") {
            let target = e
                .get("mappedTo")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            ctx.maps.users.insert(id32(id), target);
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let email = entry_text(&e, "email").unwrap_or_default().to_lowercase();
        let existing: Option<(String, String, String, i32)> = sqlx::query_as(
            r#"SELECT id, name, access::text, "roleId" FROM "User" WHERE email = $1"#,
        )
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(phase))?;
        if let Some((uid, name, access, role)) = existing {
            set_user(
                ctx,
                id,
                json!({"action": "map", "mappedTo": uid, "email": email, "name": name, "access": access, "roleId": role}),
            );
            ctx.maps.users.insert(id32(id), uid);
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
            continue;
        }
        let name = entry_text(&e, "name").unwrap_or_else(|| email.clone());
        let access = e
            .get("access")
            .and_then(Value::as_str)
            .unwrap_or("USER")
            .to_string();
        let role = match e.get("roleId").and_then(number).filter(|r| *r != 0) {
            Some(r) => id32(r),
            None => match default_role {
                Some((r,)) => r,
                None => {
                    return Err(ImportError::Workspace {
                        phase: "users",
                        message: "No default role is configured. Unable to create users.".into(),
                    });
                }
            },
        };
        let password = e
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // bcrypt at cost 10 takes ~50 ms of CPU: off the async threads.
        let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, 10))
            .await
            .map_err(|j| ImportError::Workspace {
                phase: "users",
                message: format!("hashing a password failed: {j}"),
            })?
            .map_err(|b| ImportError::Workspace {
                phase: "users",
                message: format!("hashing a password failed: {b}"),
            })?;
        let is_active = e.get("isActive").and_then(Value::as_bool).unwrap_or(true);
        let is_api = e.get("isApi").and_then(Value::as_bool).unwrap_or(false);
        let uid = crate::cuid::cuid();
        sqlx::query(
            r#"INSERT INTO "User" (id, name, email, password, access, "roleId", "isActive", "isApi", "emailVerified", "createdById", "updatedAt")
               VALUES ($1, $2, $3, $4, $5::"Access", $6, $7, $8, now() AT TIME ZONE 'UTC', $9, now() AT TIME ZONE 'UTC')"#,
        )
        .bind(&uid)
        .bind(&name)
        .bind(&email)
        .bind(&hash)
        .bind(&access)
        .bind(role)
        .bind(is_active)
        .bind(is_api)
        .bind(&ctx.creator)
        .execute(&mut *tx)
        .await
        .map_err(db(phase))?;
        set_user(
            ctx,
            id,
            json!({"action": "map", "mappedTo": uid, "name": name, "email": email, "password": null,
                   "access": access, "roleId": role, "isActive": is_active, "isApi": is_api}),
        );
        ctx.maps.users.insert(id32(id), uid);
        summary.created(1);
        ctx.advance(phase, 1, 0);
    }
    tx.commit().await.map_err(db(phase))?;
    ctx.end_phase(phase, &summary).await
}

fn set_user(ctx: &mut Ctx<'_>, id: i64, entry: Value) {
    if let Some(s) = ctx.config.0.get_mut("users").and_then(Value::as_object_mut) {
        s.insert(id.to_string(), entry);
    }
}

pub async fn user_groups(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    let phase = Phase::UserGroups;
    ctx.begin_phase(phase, "Processing user group assignments")
        .await?;
    let mut summary = Summary::new("userGroups");
    let mut seen = HashSet::new();
    let mut tx = ctx.begin(phase).await?;
    for r in small(ctx, phase, "user_groups").await? {
        let (Some(u), Some(g)) = (
            r.get("user_id").and_then(number),
            r.get("group_id").and_then(number),
        ) else {
            continue;
        };
        let (Some(user), Some(group)) = (
            ctx.maps.users.get(&id32(u)).cloned(),
            ctx.maps.groups.get(id32(g)),
        ) else {
            continue;
        };
        if !seen.insert((user.clone(), group)) {
            continue;
        }
        let inserted = sqlx::query(r#"INSERT INTO "GroupAssignment" ("userId", "groupId") VALUES ($1, $2) ON CONFLICT DO NOTHING"#)
            .bind(&user)
            .bind(group)
            .execute(&mut *tx)
            .await
            .map_err(db(phase))?
            .rows_affected();
        if inserted > 0 {
            summary.created(1);
            ctx.advance(phase, 1, 0);
        } else {
            summary.mapped(1);
            ctx.advance(phase, 0, 1);
        }
    }
    tx.commit().await.map_err(db(phase))?;
    ctx.end_phase(phase, &summary).await
}
