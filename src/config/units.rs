//! Units accepted in ecosystem.toml: sizes (`512M`), durations (`30s`) and signal names (`SIGINT`).
//!
//! Each parser is a plain function so it can be tested as a table, and each has a serde
//! `Deserialize` wrapper so a bad value is reported by the TOML parser at the value's exact span.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A size in bytes, written as a plain integer (bytes) or with a unit: `K`, `M`, `G` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

/// A duration, written as an integer (milliseconds, as PM2) or with a unit: `ms`, `s`, `m`, `h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

/// A signal, by name (`SIGINT`, `INT`, `sigterm`) or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalValue(pub i32);

/// Parses `512M`, `1G`, `1.5G`, `100K`, `2048` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {text:?}: expected a number with an optional unit K, M or G (for example 512M or 1G)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number with an optional unit K, M or G (for example 512M or 1G)"))?;
    let bytes = value * multiplier as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("invalid size {text:?}: must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

/// Parses `500ms`, `30s`, `5m`, `1h`, `1.5s` and bare integers (milliseconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!(
            "invalid duration {text:?}: expected a number with a unit ms, s, m or h (for example 500ms or 30s)"
        )
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let millis = match unit.trim() {
        "" | "ms" => value,
        "s" => value * 1e3,
        "m" | "min" => value * 60e3,
        "h" => value * 3600e3,
        _ => return Err(bad()),
    };
    if !(millis.is_finite() && (0.0..1e15).contains(&millis)) {
        return Err(bad());
    }
    Ok(Duration::from_micros((millis * 1e3).round() as u64))
}

/// Signals an operator may name, with their numbers on this platform.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("WINCH", libc::SIGWINCH),
];

/// Parses `SIGINT`, `INT`, `sigterm` or a signal number.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let upper = text.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, num)) = SIGNALS.iter().find(|(name, _)| *name == bare) {
        return Ok(*num);
    }
    if let Ok(num) = bare.parse::<i32>()
        && SIGNALS.iter().any(|(_, n)| *n == num)
    {
        return Ok(num);
    }
    let names: Vec<String> = SIGNALS.iter().map(|(n, _)| format!("SIG{n}")).collect();
    Err(format!(
        "invalid signal {text:?}: expected one of {}",
        names.join(", ")
    ))
}

/// The conventional name of a signal number (`SIGINT`), or `signal N`.
pub fn signal_name(num: i32) -> String {
    match SIGNALS.iter().find(|(_, n)| *n == num) {
        Some((name, _)) => format!("SIG{name}"),
        None => match nix::sys::signal::Signal::try_from(num) {
            Ok(sig) => sig.as_str().to_string(),
            Err(_) => format!("signal {num}"),
        },
    }
}

/// Renders bytes the way the size keys accept them back (`512M`), or plain bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Renders a duration compactly (`1.5s`, `300ms`, `2m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0ms".into()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms >= 1000 {
        format!("{}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

struct UnitVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<'de, T, F: Fn(&str) -> Result<T, String>> Visitor<'de> for UnitVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }
}

/// Deserializes a size from a string or an integer.
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
    d.deserialize_any(UnitVisitor {
        expecting: "a size such as 512M or 1G",
        parse: |s: &str| parse_size(s).map(ByteSize),
    })
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a duration such as 500ms or 30s",
            parse: |s: &str| parse_duration(s).map(DurationValue),
        })
    }
}

impl<'de> Deserialize<'de> for SignalValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor {
            expecting: "a signal name such as SIGINT or SIGTERM",
            parse: |s: &str| parse_signal(s).map(SignalValue),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        for (text, want) in [
            ("512M", Ok(512 << 20)),
            ("1G", Ok(1 << 30)),
            ("1.5G", Ok(3 << 29)),
            ("100k", Ok(100 << 10)),
            ("2048", Ok(2048)),
            ("512MB", Ok(512 << 20)),
        ] {
            assert_eq!(parse_size(text), want, "{text}");
        }
        for bad in ["", "12X", "M", "-1M", "0"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations_parse_with_units_and_bare_millis() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("1.5s", 1500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("250", 250),
            ("0", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "5 parsecs", "s", "-3s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(parse_signal("SIGINT"), Ok(libc::SIGINT));
        assert_eq!(parse_signal("term"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("9"), Ok(libc::SIGKILL));
        let err = parse_signal("SIGFOO").unwrap_err();
        assert!(err.contains("SIGTERM"), "{err}");
        assert_eq!(signal_name(libc::SIGINT), "SIGINT");
    }

    #[test]
    fn sizes_and_durations_render_compactly() {
        assert_eq!(format_size(1 << 30), "1G");
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
    }
}
