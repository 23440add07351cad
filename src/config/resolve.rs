//! Turns the raw model into validated `AppSpec`s: defaults applied, paths absolute, env layered,
//! names unique, `after` references known and acyclic. All problems are collected, not just the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::env::{concurrency_var, layer, read_env_file};
use super::error::{Diagnostic, Locator};
use super::paths::{absolute, instance_path, resolve_script};
use super::raw::{EnvFile, EnvValue, OneOrMany, RawApp, RawFile, RawSettings};
use crate::spec::{AppSpec, EnvFileRef, EnvSources, LogSpec, RestartSpec};

/// Everything `resolve` needs besides the parsed file.
pub struct Context<'a> {
    /// The ecosystem file (absolute), for diagnostics and as the spec's `source`.
    pub path: &'a Path,
    /// Directory relative paths resolve against.
    pub base_dir: &'a Path,
    pub locator: &'a Locator<'a>,
    /// The environment of the invoking process: the lowest layer.
    pub caller_env: &'a BTreeMap<String, String>,
}

/// Validates and resolves every app; returns all instances in file order.
pub fn resolve(file: RawFile, cx: &Context<'_>) -> Result<Vec<AppSpec>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let defaults = file.defaults.unwrap_or_default();
    let default_env_files = load_env_files(defaults.env_file.as_ref(), cx, &mut diags);

    check_names(&file.apps, cx, &mut diags);
    check_after(&file.apps, cx, &mut diags);

    let alerts = super::alerts::file(file.alerts, cx, &mut diags);
    let mut specs = Vec::new();
    for app in file.apps {
        if let Some(app_specs) = resolve_app(
            app,
            &defaults,
            &default_env_files,
            alerts.as_ref(),
            cx,
            &mut diags,
        ) {
            specs.extend(app_specs);
        }
    }
    // A one-shot others run `after` (TestPlanIt's scheduler) is what they wait for: a failure
    // (Valkey not up yet at boot) is retried until it completes.
    let needed: BTreeSet<String> = specs.iter().flat_map(|s| s.after.clone()).collect();
    for s in specs.iter_mut() {
        s.restart.retry_until_complete = s.is_one_shot() && needed.contains(&s.name);
    }
    if diags.is_empty() {
        Ok(specs)
    } else {
        diags.sort_by_key(|d| (d.line, d.col));
        diags.dedup();
        Err(diags)
    }
}

fn diag<T>(cx: &Context<'_>, at: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
    cx.locator.diagnostic(at.span(), message)
}

fn check_names(apps: &[RawApp], cx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for app in apps {
        let name = app.name.get_ref().as_str();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            diags.push(diag(cx, &app.name, format!("invalid app name {name:?}: use letters, digits, '-', '_' and '.' (for example \"email-worker\")")));
        }
        if seen.insert(name, ()).is_some() {
            diags.push(diag(
                cx,
                &app.name,
                format!("duplicate app name {name:?}: every app needs a unique name"),
            ));
            continue;
        }

        if name == "all" {
            diags.push(diag(
                cx,
                &app.name,
                "\"all\" is reserved (it means every app in commands); choose another name",
            ));
        }
        let instances = app.instances.as_ref().map_or(1, |i| *i.get_ref());
        for id in instance_ids(name, instances) {
            if !ids.insert(id.clone()) {
                diags.push(diag(cx, &app.name, format!("instance id {id:?} of app {name:?} clashes with another app's name or instance")));
            }
        }
    }
}

/// `name` for a single instance, `name-0` ... `name-(n-1)` for several.
pub fn instance_ids(name: &str, instances: u32) -> Vec<String> {
    if instances <= 1 {
        vec![name.to_string()]
    } else {
        (0..instances).map(|i| format!("{name}-{i}")).collect()
    }
}

/// The `after` items of an app, each with its own span.
fn after_items(app: &RawApp) -> Vec<Spanned<String>> {
    match app.after.as_ref().map(|a| (a.span(), a.get_ref())) {
        Some((span, OneOrMany::One(s))) => vec![Spanned::new(span, s.clone())],
        Some((_, OneOrMany::Many(v))) => v.clone(),
        None => vec![],
    }
}

fn check_after(apps: &[RawApp], cx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let names: BTreeSet<&str> = apps.iter().map(|a| a.name.get_ref().as_str()).collect();
    let mut graph: BTreeMap<&str, Vec<Spanned<String>>> = BTreeMap::new();
    for app in apps {
        let deps = after_items(app);
        for dep in &deps {
            let dep_name = dep.get_ref().as_str();
            if dep_name == app.name.get_ref() {
                diags.push(diag(
                    cx,
                    dep,
                    format!(
                        "app cannot start after itself; `after` names other apps: {}",
                        list(&names)
                    ),
                ));
            } else if !names.contains(dep_name) {
                diags.push(diag(
                    cx,
                    dep,
                    format!(
                        "unknown app {dep_name:?} in `after`; known apps: {}",
                        list(&names)
                    ),
                ));
            }
        }
        graph.insert(app.name.get_ref().as_str(), deps);
    }
    if let Some((edge, cycle)) = find_cycle(&graph) {
        diags.push(diag(
            cx,
            edge,
            format!(
                "`after` forms a cycle: {}; remove one of these dependencies",
                cycle.join(" → ")
            ),
        ));
    }
}

/// Depth-first search for a cycle; returns the edge that closes it and the names along it.
fn find_cycle<'g>(
    graph: &'g BTreeMap<&'g str, Vec<Spanned<String>>>,
) -> Option<(&'g Spanned<String>, Vec<&'g str>)> {
    #[derive(PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit<'g>(
        node: &'g str,
        graph: &'g BTreeMap<&'g str, Vec<Spanned<String>>>,
        marks: &mut HashMap<&'g str, Mark>,
        path: &mut Vec<&'g str>,
    ) -> Option<(&'g Spanned<String>, Vec<&'g str>)> {
        marks.insert(node, Mark::OnPath);
        path.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            let Some((d, _)) = graph.get_key_value(dep.get_ref().as_str()) else {
                continue;
            };
            if *d == node {
                continue;
            }
            match marks.get(d) {
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|n| n == d).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(d);
                    return Some((dep, cycle));
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(found) = visit(d, graph, marks, path) {
                        return Some(found);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node)
            && let Some(found) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(found);
        }
    }
    None
}

fn list(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.iter().copied().collect::<Vec<_>>().join(", ")
    }
}

/// An env file named by the ecosystem file, and what it held when read.
#[derive(Clone)]
struct LoadedEnvFile {
    at: EnvFileRef,
    pairs: Vec<(String, String)>,
}

fn load_env_files(
    file: Option<&Spanned<EnvFile>>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<LoadedEnvFile> {
    let Some(file) = file else { return vec![] };
    let path = absolute(cx.base_dir, &file.get_ref().path);
    let optional = file.get_ref().optional;
    if optional && !path.exists() {
        // Kept as a reference: the file may exist when the app is resurrected.
        return vec![LoadedEnvFile {
            at: EnvFileRef { path, optional },
            pairs: vec![],
        }];
    }
    match read_env_file(&path) {
        Ok(pairs) => vec![LoadedEnvFile {
            at: EnvFileRef { path, optional },
            pairs,
        }],
        Err(reason) => {
            diags.push(diag(
                cx,
                file,
                format!(
                    "{reason}; fix the file or the `env_file` path (relative paths start at {})",
                    cx.base_dir.display()
                ),
            ));
            vec![]
        }
    }
}

fn env_table(env: Option<BTreeMap<String, EnvValue>>) -> BTreeMap<String, String> {
    env.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_text()))
        .collect()
}

fn resolve_app(
    app: RawApp,
    defaults: &RawSettings,
    default_env_files: &[LoadedEnvFile],
    file_alerts: Option<&super::alerts::FileAlerts>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<AppSpec>> {
    let name = app.name.get_ref().clone();
    let start = diags.len();
    let notify = super::health::notify_spec(&app, defaults, cx, diags);
    let privileges = super::privileges::resolve(&app, defaults, cx, diags);
    let health = app
        .health
        .as_ref()
        .and_then(|h| match super::health::resolve(h.get_ref()) {
            Ok(spec) => Some(spec),
            Err(e) => {
                diags.push(diag(cx, h, e));
                None
            }
        });

    if app.script.get_ref().trim().is_empty() {
        diags.push(diag(
            cx,
            &app.script,
            "`script` is empty: give the program to run (a path, or a command on PATH)",
        ));
    }
    let instances = match &app.instances {
        Some(i) if *i.get_ref() == 0 => {
            diags.push(diag(cx, i, "`instances` must be at least 1"));
            1
        }
        Some(i) => *i.get_ref(),
        None => 1,
    };
    if let Some(c) = &app.concurrency
        && *c.get_ref() == 0
    {
        diags.push(diag(cx, c, "`concurrency` must be at least 1"));
    }
    if let Some(var) = &app.concurrency_env
        && (var.get_ref().is_empty()
            || !var
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        diags.push(diag(
            cx,
            var,
            "`concurrency_env` must be an environment variable name such as EMAIL_CONCURRENCY",
        ));
    }

    let cwd = app.cwd.as_ref().or(defaults.cwd.as_ref()).map_or_else(
        || cx.base_dir.to_path_buf(),
        |c| absolute(cx.base_dir, c.get_ref()),
    );
    let args = match app.args {
        None => vec![],
        Some(field) => match (field.span(), field.into_inner()) {
            (_, OneOrMany::Many(list)) => list.into_iter().map(Spanned::into_inner).collect(),
            (span, OneOrMany::One(line)) => match shell_words::split(&line) {
                Ok(words) => words,
                Err(e) => {
                    diags.push(cx.locator.diagnostic(span, format!("cannot split `args` into words ({e}); close the quote or write args as an array")));
                    vec![]
                }
            },
        },
    };

    let mut loaded: Vec<LoadedEnvFile> = default_env_files.to_vec();
    loaded.extend(load_env_files(app.env_file.as_ref(), cx, diags));
    let env_files: Vec<Vec<(String, String)>> = loaded.iter().map(|f| f.pairs.clone()).collect();
    let mut table = env_table(defaults.env.clone());
    table.extend(env_table(app.env));
    let mut from_config: BTreeSet<String> = table.keys().cloned().collect();
    for file in &env_files {
        from_config.extend(file.iter().map(|(k, _)| k.clone()));
    }

    let restart = RestartSpec {
        autorestart: app.autorestart.or(defaults.autorestart).unwrap_or(true),
        max_restarts: app
            .max_restarts
            .or(defaults.max_restarts)
            .unwrap_or(defaults::MAX_RESTARTS),
        min_uptime: pick(app.min_uptime, defaults.min_uptime).unwrap_or(defaults::MIN_UPTIME),
        restart_delay: pick(app.restart_delay, defaults.restart_delay).unwrap_or(Duration::ZERO),
        exp_backoff_restart_delay: pick(
            app.exp_backoff_restart_delay,
            defaults.exp_backoff_restart_delay,
        )
        .filter(|d| !d.is_zero()),
        stop_exit_codes: app
            .stop_exit_codes
            .or_else(|| defaults.stop_exit_codes.clone())
            .unwrap_or_default(),
        retry_until_complete: false,
    };
    let max_memory_restart = app
        .max_memory_restart
        .or(defaults.max_memory_restart)
        .map(|b| b.0);
    let kill_signal = app
        .kill_signal
        .or(defaults.kill_signal)
        .map_or(defaults::KILL_SIGNAL, |s| s.0);
    let kill_timeout =
        pick(app.kill_timeout, defaults.kill_timeout).unwrap_or(defaults::KILL_TIMEOUT);
    let after: Vec<String> = app.after.map(OneOrMany::strings).unwrap_or_default();
    let not_consuming = super::health::not_consuming_window(
        app.restart_when_not_consuming.as_ref(),
        defaults.restart_when_not_consuming.as_ref(),
        app.queue.is_some(),
    )
    .unwrap_or_else(|(at, e)| {
        diags.push(diag(cx, at, e));
        None
    });
    let queues: Vec<String> = app.queue.map(OneOrMany::strings).unwrap_or_default();
    let concurrency = app.concurrency.map(Spanned::into_inner);
    let log_file = |f: &Option<String>, i: Option<usize>| {
        f.as_ref().map(|f| {
            let p = absolute(cx.base_dir, f);
            match i {
                // Instances must not share a file: `out.log` becomes `out-1.log`.
                Some(i) => instance_path(&p, i),
                None => p,
            }
        })
    };
    let rotate_every = match app.log_rotate.as_ref().or(defaults.log_rotate.as_ref()) {
        None => None,
        Some(v) => match v.get_ref().as_str() {
            "daily" => Some(crate::spec::RotateEvery::Daily),
            "hourly" => Some(crate::spec::RotateEvery::Hourly),
            "never" | "size" => None,
            other => {
                diags.push(diag(
                    cx,
                    v,
                    format!(
                        "invalid log_rotate {other:?}: \"daily\" (at local midnight), \"hourly\" or \"never\" (by size only, log_max_size)"
                    ),
                ));
                None
            }
        },
    };
    let logs_for = |i: Option<usize>| LogSpec {
        out_file: log_file(&app.out_file, i),
        error_file: log_file(&app.error_file, i),
        merge: app.merge_logs.or(defaults.merge_logs).unwrap_or(false),
        time: app.time.or(defaults.time).unwrap_or(false),
        date_format: app
            .log_date_format
            .clone()
            .or_else(|| defaults.log_date_format.clone()),
        max_size: app
            .log_max_size
            .or(defaults.log_max_size)
            .map_or(super::defaults::LOG_MAX_SIZE, |b| b.0),
        keep: app
            .log_keep
            .or(defaults.log_keep)
            .unwrap_or(super::defaults::LOG_KEEP),
        compress: app.log_compress.or(defaults.log_compress).unwrap_or(false),
        rotate_every,
    };
    let autostart = app.autostart.or(defaults.autostart).unwrap_or(true);
    let cron_restart = match app.cron_restart.or_else(|| defaults.cron_restart.clone()) {
        Some(field) => {
            let span = field.span();
            let pattern = field.into_inner();
            match crate::spec::parse_cron(&pattern) {
                Ok(_) => Some(pattern),
                Err(e) => {
                    diags.push(cx.locator.diagnostic(span, e));
                    None
                }
            }
        }
        None => None,
    };
    let concurrency_env = app
        .concurrency_env
        .map_or_else(|| concurrency_var(&name), Spanned::into_inner);
    let alerts = super::alerts::for_app(
        file_alerts,
        app.alerts,
        &name,
        &layer(cx.caller_env, &env_files, &table, &[]),
        cx,
        diags,
    );

    if diags.len() > start {
        return None;
    }
    let ids = instance_ids(&name, instances);
    let many = ids.len() > 1;
    let specs = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let mut own = vec![
                ("TPCTL_APP_NAME".to_string(), name.clone()),
                ("TPCTL_APP_ID".to_string(), id.clone()),
            ];
            own.push(("NODE_APP_INSTANCE".to_string(), i.to_string()));
            own.push(("TPCTL_INSTANCE".to_string(), i.to_string()));
            if let Some(c) = concurrency {
                own.push((concurrency_env.clone(), c.to_string()));
            }
            let mut env = layer(cx.caller_env, &env_files, &table, &own);
            super::privileges::account_env(&privileges, &from_config, &mut env);
            let mut sources_table = table.clone();
            sources_table.extend(own.iter().cloned());
            let env_sources = EnvSources {
                files: loaded.iter().map(|f| f.at.clone()).collect(),
                table: sources_table,
            };
            let script = resolve_script(app.script.get_ref(), cx.base_dir, env.get("PATH"));
            AppSpec {
                id,
                name: name.clone(),
                instance: many.then_some(i as u32),
                script,
                args: args.clone(),
                cwd: cwd.clone(),
                env,
                captured_env: cx.caller_env.clone(),
                env_from_config: from_config.clone(),
                env_sources,
                source: Some(cx.path.to_path_buf()),
                restart: restart.clone(),
                max_memory_restart,
                kill_signal,
                kill_timeout,
                after: after.clone(),
                queues: queues.clone(),
                concurrency,
                logs: logs_for(many.then_some(i)),
                autostart,
                cron_restart: cron_restart.clone(),
                alerts: alerts.clone(),
                notify,
                health: health.clone(),
                restart_when_not_consuming: not_consuming,
                privileges: privileges.clone(),
            }
        })
        .collect();
    Some(specs)
}

fn pick(
    app: Option<super::units::DurationValue>,
    default: Option<super::units::DurationValue>,
) -> Option<Duration> {
    app.or(default).map(|d| d.0)
}
