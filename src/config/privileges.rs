//! `user`, `group`, `groups`, `umask`, `no_new_privileges` and `limit_*` (an app's own, else
//! `[defaults]`'s): users and groups are looked up when the file is read, so an unknown one is
//! a located error and not a start that fails later; switching users needs tpctl to run as root.

use std::collections::{BTreeMap, BTreeSet};

use nix::unistd::{Gid, Group, Uid, User};
use toml::Spanned;

use super::error::Diagnostic;
use super::raw::{LimitValue, NameOrId, RawApp, RawSettings, UmaskValue};
use super::resolve::Context;
use crate::spec::{Account, Privileges, Resource, ResourceLimit};

fn diag<T>(cx: &Context<'_>, at: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
    cx.locator.diagnostic(at.span(), message)
}

/// The app's privileges; problems go to `diags`.
pub fn resolve(
    app: &RawApp,
    defaults: &RawSettings,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Privileges {
    let umask = app
        .umask
        .as_ref()
        .or(defaults.umask.as_ref())
        .and_then(|u| match umask(u.get_ref()) {
            Ok(m) => Some(m),
            Err(e) => {
                diags.push(diag(cx, u, e));
                None
            }
        });
    let mut limits = Vec::new();
    for (resource, field) in [
        (
            Resource::Nofile,
            app.limit_nofile.as_ref().or(defaults.limit_nofile.as_ref()),
        ),
        (
            Resource::Core,
            app.limit_core.as_ref().or(defaults.limit_core.as_ref()),
        ),
        (
            Resource::Nproc,
            app.limit_nproc.as_ref().or(defaults.limit_nproc.as_ref()),
        ),
    ] {
        let Some(f) = field else { continue };
        match limit(resource, f.get_ref()).and_then(within_own_hard_limit) {
            Ok(l) => limits.push(l),
            Err(e) => diags.push(diag(cx, f, e)),
        }
    }
    let account = account(
        app.user.as_ref().or(defaults.user.as_ref()),
        app.group.as_ref().or(defaults.group.as_ref()),
        app.groups.as_ref().or(defaults.groups.as_ref()),
        cx,
        diags,
    );
    Privileges {
        account,
        umask,
        no_new_privileges: app
            .no_new_privileges
            .or(defaults.no_new_privileges)
            .unwrap_or(true),
        limits,
    }
}

/// HOME, USER and LOGNAME of the app's user, unless the file sets them (env or env_file).
pub fn account_env(
    privileges: &Privileges,
    from_config: &BTreeSet<String>,
    env: &mut BTreeMap<String, String>,
) {
    let Some(a) = &privileges.account else { return };
    for (key, value) in [
        ("HOME", a.home.display().to_string()),
        ("USER", a.user.clone()),
        ("LOGNAME", a.user.clone()),
    ] {
        if !from_config.contains(key) {
            env.insert(key.into(), value);
        }
    }
}

fn account(
    user: Option<&Spanned<NameOrId>>,
    group: Option<&Spanned<NameOrId>>,
    groups: Option<&Spanned<Vec<NameOrId>>>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Account> {
    let Some(user) = user else {
        if let Some(g) = group {
            diags.push(diag(
                cx,
                g,
                "`group` needs `user`: name the user the app runs as",
            ));
        }
        if let Some(g) = groups {
            diags.push(diag(
                cx,
                g,
                "`groups` needs `user`: name the user the app runs as",
            ));
        }
        return None;
    };
    let found = match user.get_ref() {
        NameOrId::Name(n) => User::from_name(n),
        NameOrId::Id(id) => User::from_uid(Uid::from_raw(*id)),
    };
    let u = match found {
        Ok(Some(u)) => u,
        Ok(None) => {
            diags.push(diag(
                cx,
                user,
                format!(
                    "unknown user {}: not in this machine's user database; create it (useradd --system --no-create-home {}) or name another",
                    shown(user.get_ref()),
                    shown_bare(user.get_ref())
                ),
            ));
            return None;
        }
        Err(e) => {
            diags.push(diag(
                cx,
                user,
                format!("cannot look up user {}: {e}", shown(user.get_ref())),
            ));
            return None;
        }
    };
    let primary = match group {
        Some(g) => lookup_group(g, cx, diags)?,
        None => Group::from_gid(u.gid).ok().flatten().map_or_else(
            || (u.gid.as_raw().to_string(), u.gid.as_raw()),
            |g| (g.name, g.gid.as_raw()),
        ),
    };
    let supplementary = match groups {
        Some(list) => {
            let mut ids = Vec::new();
            for g in list.get_ref() {
                // Each item is reported at the list: toml keeps no span inside it here.
                let item = Spanned::new(list.span(), g.clone());
                ids.push(lookup_group(&item, cx, diags)?.1);
            }
            ids
        }
        None => std::ffi::CString::new(u.name.as_bytes())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, Gid::from_raw(primary.1)).ok())
            .map(|gs| gs.into_iter().map(Gid::as_raw).collect())
            .unwrap_or_default(),
    };
    let me = nix::unistd::geteuid();
    let same = u.uid == me && primary.1 == nix::unistd::getegid().as_raw() && groups.is_none();
    if !me.is_root() && !same {
        let whoami = User::from_uid(me)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {me}"), |w| w.name);
        diags.push(diag(
            cx,
            user,
            format!(
                "`user = {}` needs tpctl to run as root to switch users (it runs as {whoami}): start it as root (sudo, or the unit `tpctl startup systemd` writes), or remove `user`",
                shown(user.get_ref())
            ),
        ));
        return None;
    }
    if !me.is_root() {
        return None; // the app runs as whoever runs tpctl already: nothing to switch
    }
    Some(Account {
        user: u.name,
        uid: u.uid.as_raw(),
        group: primary.0,
        gid: primary.1,
        groups: supplementary,
        home: u.dir,
    })
}

fn lookup_group(
    g: &Spanned<NameOrId>,
    cx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, u32)> {
    let found = match g.get_ref() {
        NameOrId::Name(n) => Group::from_name(n),
        NameOrId::Id(id) => Group::from_gid(Gid::from_raw(*id)),
    };
    match found {
        Ok(Some(group)) => Some((group.name, group.gid.as_raw())),
        Ok(None) => {
            diags.push(diag(
                cx,
                g,
                format!(
                    "unknown group {}: not in this machine's group database; create it (groupadd --system {}) or name another",
                    shown(g.get_ref()),
                    shown_bare(g.get_ref())
                ),
            ));
            None
        }
        Err(e) => {
            diags.push(diag(
                cx,
                g,
                format!("cannot look up group {}: {e}", shown(g.get_ref())),
            ));
            None
        }
    }
}

fn shown(v: &NameOrId) -> String {
    match v {
        NameOrId::Name(n) => format!("{n:?}"),
        NameOrId::Id(id) => id.to_string(),
    }
}

fn shown_bare(v: &NameOrId) -> String {
    match v {
        NameOrId::Name(n) => n.clone(),
        NameOrId::Id(id) => format!("--gid {id} NAME"),
    }
}

/// "0027", "027" or 0o027.
pub fn umask(v: &UmaskValue) -> Result<u32, String> {
    let bad = || "`umask` must be octal file-mode bits, such as \"0027\" or \"0022\"".to_string();
    let m = match v {
        UmaskValue::Number(n) => *n,
        UmaskValue::Text(t) => {
            if t.is_empty() || t.len() > 4 {
                return Err(bad());
            }
            u32::from_str_radix(t, 8).map_err(|_| bad())?
        }
    };
    if m > 0o777 {
        return Err(bad());
    }
    Ok(m)
}

/// A number (soft and hard), "unlimited", or "soft:hard".
pub fn limit(resource: Resource, v: &LimitValue) -> Result<ResourceLimit, String> {
    let bad = || {
        format!(
            "`{}` must be a number, \"unlimited\" or \"soft:hard\" such as \"1024:65536\"",
            resource.key()
        )
    };
    let one = |t: &str| -> Result<Option<u64>, String> {
        match t.trim() {
            "unlimited" | "infinity" => Ok(None),
            n => n.parse::<u64>().map(Some).map_err(|_| bad()),
        }
    };
    let (soft, hard) = match v {
        LimitValue::Number(n) => (Some(*n), Some(*n)),
        LimitValue::Text(t) => match t.split_once(':') {
            Some((s, h)) => (one(s)?, one(h)?),
            None => {
                let v = one(t)?;
                (v, v)
            }
        },
    };
    let over = match (soft, hard) {
        (None, Some(_)) => true,
        (Some(s), Some(h)) => s > h,
        _ => false,
    };
    if over {
        return Err(format!(
            "`{}`: the soft limit must not be above the hard one",
            resource.key()
        ));
    }
    Ok(ResourceLimit {
        resource,
        soft,
        hard,
    })
}

/// Only root raises a hard limit: a value above tpctl's own is an error now, not at start.
fn within_own_hard_limit(l: ResourceLimit) -> Result<ResourceLimit, String> {
    use nix::sys::resource::{RLIM_INFINITY, getrlimit};
    if nix::unistd::geteuid().is_root() {
        return Ok(l);
    }
    let Ok((_, own)) = getrlimit(l.resource.rlimit()) else {
        return Ok(l);
    };
    let own = (own != RLIM_INFINITY).then_some(own);
    let above = match (l.hard, own) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(h), Some(o)) => h > o,
    };
    if above {
        return Err(format!(
            "`{l}` is above the hard limit tpctl runs under ({}); only root can raise it",
            own.map_or("unlimited".into(), |o| o.to_string())
        ));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umask_is_octal_text_or_an_octal_number() {
        assert_eq!(umask(&UmaskValue::Text("0027".into())), Ok(0o027));
        assert_eq!(umask(&UmaskValue::Text("22".into())), Ok(0o022));
        assert_eq!(umask(&UmaskValue::Number(0o077)), Ok(0o077));
        assert!(umask(&UmaskValue::Text("0829".into())).is_err());
        assert!(umask(&UmaskValue::Text("01777".into())).is_err());
        assert!(umask(&UmaskValue::Number(1000)).is_err());
    }

    #[test]
    fn limits_take_one_value_unlimited_or_soft_and_hard() {
        let l = |v: LimitValue| limit(Resource::Nofile, &v);
        assert_eq!(
            l(LimitValue::Number(65536)).map(|l| (l.soft, l.hard)),
            Ok((Some(65536), Some(65536)))
        );
        assert_eq!(
            l(LimitValue::Text("unlimited".into())).map(|l| (l.soft, l.hard)),
            Ok((None, None))
        );
        assert_eq!(
            l(LimitValue::Text("1024:unlimited".into())).map(|l| (l.soft, l.hard)),
            Ok((Some(1024), None))
        );
        assert!(l(LimitValue::Text("4096:1024".into())).is_err());
        assert!(l(LimitValue::Text("unlimited:1024".into())).is_err());
        assert!(l(LimitValue::Text("lots".into())).is_err());
    }
}
