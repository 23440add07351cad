//! The emails' words in English, Spanish and French (our own catalogues under `messages/`,
//! keyed as TestPlanIt's are), looked up by dotted path with `{name}` placeholders and ICU
//! plurals (`{n, plural, =0 {…} one {…} other {…}}`, `#` = the number); dates as each locale
//! writes them.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Local, Timelike, Utc};
use serde_json::Value;

/// A user's language, from `"UserPreferences"."locale"` (en_US, es_ES, fr_FR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    Es,
    Fr,
}

impl Locale {
    /// The locale stored for a user; anything else (or nothing) is English, as TestPlanIt does.
    pub fn from_db(s: Option<&str>) -> Locale {
        match s {
            Some("es_ES") => Locale::Es,
            Some("fr_FR") => Locale::Fr,
            _ => Locale::En,
        }
    }

    /// The locale as it appears in the web app's URLs.
    pub fn url(self) -> &'static str {
        match self {
            Locale::En => "en-US",
            Locale::Es => "es-ES",
            Locale::Fr => "fr-FR",
        }
    }

    fn catalogue(self) -> &'static Value {
        static CATALOGUES: OnceLock<[Value; 3]> = OnceLock::new();
        let all = CATALOGUES.get_or_init(|| {
            // The files are ours and checked by a test; an unreadable one would be a build bug,
            // and then its lookups fall back to English or the key.
            let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
            [
                parse(include_str!("messages/en-US.json")),
                parse(include_str!("messages/es-ES.json")),
                parse(include_str!("messages/fr-FR.json")),
            ]
        });
        &all[self as usize]
    }

    /// CLDR plural category of `n` (only `one` and `other` occur in these languages).
    fn plural(self, n: f64) -> &'static str {
        let one = match self {
            Locale::Fr => n == 0.0 || n == 1.0,
            Locale::En | Locale::Es => n == 1.0,
        };
        if one { "one" } else { "other" }
    }
}

/// A value for a placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Number(f64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg::Number(n as f64)
    }
}

impl Arg {
    fn text(&self) -> String {
        match self {
            Arg::Text(s) => s.clone(),
            Arg::Number(n) => number(*n),
        }
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a str> {
    key.split('.')
        .try_fold(root, |v, part| v.get(part))
        .and_then(Value::as_str)
}

/// The message at `key` in `locale` (else English, else the key itself) with `args` filled in.
pub fn t(locale: Locale, key: &str, args: &[(&str, Arg)]) -> String {
    let pattern = lookup(locale.catalogue(), key)
        .or_else(|| lookup(Locale::En.catalogue(), key))
        .unwrap_or(key);
    format(locale, pattern, args, None)
}

/// Index of the `}` closing the `{` at `open`.
fn closing(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Fills `pattern`; `hash` is the number `#` stands for inside a plural branch.
fn format(locale: Locale, pattern: &str, args: &[(&str, Arg)], hash: Option<f64>) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let rest = &pattern[i..];
        let Some(c) = rest.chars().next() else { break };
        if c == '#'
            && let Some(n) = hash
        {
            out.push_str(&number(n));
            i += 1;
            continue;
        }
        if c != '{' {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let Some(end) = closing(pattern, i) else {
            // Unbalanced: keep the rest as written.
            out.push_str(rest);
            break;
        };
        out.push_str(&placeholder(locale, &pattern[i + 1..end], args));
        i = end + 1;
    }
    out
}

fn placeholder(locale: Locale, inner: &str, args: &[(&str, Arg)]) -> String {
    let mut parts = inner.splitn(3, ',');
    let name = parts.next().unwrap_or("").trim();
    let arg = args.iter().find(|(n, _)| *n == name).map(|(_, a)| a);
    match (parts.next().map(str::trim), parts.next(), arg) {
        (Some("plural"), Some(options), Some(arg)) => {
            let n = match arg {
                Arg::Number(n) => *n,
                Arg::Text(s) => s.trim().parse().unwrap_or(f64::NAN),
            };
            let branches = branches(options);
            let exact = format!("={}", number(n));
            let chosen = branches
                .iter()
                .find(|(sel, _)| *sel == exact)
                .or_else(|| branches.iter().find(|(sel, _)| *sel == locale.plural(n)))
                .or_else(|| branches.iter().find(|(sel, _)| *sel == "other"));
            match chosen {
                Some((_, text)) => format(locale, text, args, Some(n)),
                None => arg.text(),
            }
        }
        (None, _, Some(arg)) => arg.text(),
        // A missing value or an unknown format: show the placeholder as written.
        _ => format!("{{{inner}}}"),
    }
}

/// `=0 {none} one {# item} other {# items}` → [("=0", "none"), ("one", "# item"), ...].
fn branches(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(open) = options[i..].find('{').map(|o| o + i) {
        let selector = options[i..open].trim().to_string();
        let Some(end) = closing(options, open) else {
            break;
        };
        out.push((selector, options[open + 1..end].to_string()));
        i = end + 1;
    }
    out
}

const MONTHS: [[&str; 12]; 3] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
];

/// "January 5, 2026 at 03:04 PM" in the server's local time, the month and "at" in `locale`.
pub fn long_time(locale: Locale, at: DateTime<Utc>) -> String {
    let l = at.with_timezone(&Local);
    let month = MONTHS[locale as usize][l.month0() as usize];
    let (pm, hour) = l.hour12();
    format!(
        "{month} {}, {} {} {hour:02}:{:02} {}",
        l.day(),
        l.year(),
        t(locale, "email.at", &[]),
        l.minute(),
        if pm { "PM" } else { "AM" }
    )
}

/// A date as each locale writes it by default: 1/15/2026, 15/1/2026, 15/01/2026 (server
/// local time).
pub fn short_date(locale: Locale, at: DateTime<Utc>) -> String {
    let l = at.with_timezone(&Local);
    match locale {
        Locale::En => format!("{}/{}/{}", l.month(), l.day(), l.year()),
        Locale::Es => format!("{}/{}/{}", l.day(), l.month(), l.year()),
        Locale::Fr => format!("{:02}/{:02}/{}", l.day(), l.month(), l.year()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_parses_and_has_every_english_key() {
        fn keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, v) in m {
                    keys(v, &format!("{prefix}{k}."), out);
                }
            } else {
                out.push(prefix.trim_end_matches('.').to_string());
            }
        }
        let mut english = Vec::new();
        keys(Locale::En.catalogue(), "", &mut english);
        assert!(english.len() > 30, "{english:?}");
        for l in [Locale::Es, Locale::Fr] {
            assert!(l.catalogue().is_object());
            for k in &english {
                assert!(lookup(l.catalogue(), k).is_some(), "{l:?} lacks {k}");
            }
        }
    }

    #[test]
    fn placeholders_plurals_and_fallbacks() {
        let count = |n: i64| [("count", Arg::from(n))];
        let k = "components.notifications.content.assignedMultipleTestCases";
        assert_eq!(t(Locale::En, k, &count(1)), "assigned you 1 test case");
        assert_eq!(t(Locale::En, k, &count(3)), "assigned you 3 test cases");
        // French counts 0 as singular.
        assert_eq!(
            format(
                Locale::Fr,
                "{n, plural, one {# chose} other {# choses}}",
                &[("n", 0.into())],
                None
            ),
            "0 chose"
        );
        assert_eq!(
            format(
                Locale::En,
                "{n, plural, =0 {none} one {# thing} other {# things}}",
                &[("n", 0.into())],
                None
            ),
            "none"
        );
        assert_eq!(
            t(
                Locale::Es,
                "email.greetingWithName",
                &[("name", "Ana".into())]
            ),
            "Hola, Ana:"
        );
        // Unknown key: the key itself; missing value: the placeholder as written.
        assert_eq!(t(Locale::Fr, "no.such.key", &[]), "no.such.key");
        assert_eq!(
            t(Locale::En, "email.greetingWithName", &[]),
            "Hello {name},"
        );
        assert_eq!(Locale::from_db(Some("de_DE")), Locale::En);
        assert_eq!(Locale::from_db(Some("fr_FR")).url(), "fr-FR");
    }
}
