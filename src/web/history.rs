//! CPU and memory of each app instance over the last hour, for the app page's charts: one
//! sample every `EVERY`, at most an hour's worth per instance (bounded however long the server
//! runs); instances that are gone are forgotten.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use maud::{Markup, html};

use crate::proto::AppStatus;

/// How often the server samples every app.
pub const EVERY: Duration = Duration::from_secs(10);
/// Samples kept per instance: one hour.
const KEEP: usize = 360;

/// One sample: when, CPU percent, resident bytes (none while the app does not run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at_ms: u64,
    pub cpu: Option<f64>,
    pub mem: Option<u64>,
}

#[derive(Default)]
pub struct History {
    series: Mutex<HashMap<String, VecDeque<Point>>>,
}

impl History {
    /// Adds a sample of every instance in `apps`; instances not among them are dropped.
    pub fn record(&self, apps: &[&AppStatus], at_ms: u64) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.retain(|id, _| apps.iter().any(|a| &a.id == id));
        for a in apps {
            let s = series.entry(a.id.clone()).or_default();
            if s.len() == KEEP {
                s.pop_front();
            }
            s.push_back(Point {
                at_ms,
                cpu: a.cpu_percent,
                mem: a.memory_bytes,
            });
        }
    }

    pub fn of(&self, id: &str) -> Vec<Point> {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series
            .get(id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// A small line chart of `values` (gaps where a value is missing) over the last hour, with
/// its highest value as the label.
pub fn chart(title: &str, values: &[Option<f64>], label: impl Fn(f64) -> String) -> Markup {
    const W: f64 = 360.0;
    const H: f64 = 60.0;
    let top = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let scale = if top > 0.0 { top } else { 1.0 };
    let step = W / KEEP as f64;
    // Newest at the right edge: an hour ago is the left.
    let offset = KEEP.saturating_sub(values.len()) as f64 * step;
    let mut runs: Vec<String> = Vec::new();
    let mut run = String::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = offset + i as f64 * step;
                let y = H - (v / scale) * (H - 4.0) - 2.0;
                run.push_str(&format!("{x:.1},{y:.1} "));
            }
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    html! {
        figure.chart {
            figcaption { (title) " · last hour · peak " (label(top)) }
            svg viewBox={ "0 0 " (W) " " (H) } width=(W) height=(H) role="img" aria-label=(title) {
                rect x="0" y="0" width=(W) height=(H) class="frame" {}
                @for points in &runs {
                    polyline points=(points.trim_end()) {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, cpu: Option<f64>) -> AppStatus {
        let mut a = AppStatus::stopped(id, id, None, 0);
        a.cpu_percent = cpu;
        a.memory_bytes = cpu.map(|c| c as u64 * 1024);
        a
    }

    #[test]
    fn history_is_bounded_and_forgets_deleted_apps() {
        let h = History::default();
        for i in 0..(KEEP as u64 + 50) {
            h.record(&[&app("a", Some(1.0)), &app("b", None)], i * 10_000);
        }
        assert_eq!(h.of("a").len(), KEEP);
        assert_eq!(
            h.of("a").last().map(|p| p.at_ms),
            Some((KEEP as u64 + 49) * 10_000)
        );
        h.record(&[&app("a", Some(2.0))], 0);
        assert!(h.of("b").is_empty());
    }

    #[test]
    fn a_chart_breaks_where_the_app_did_not_run() {
        let svg = chart("cpu", &[Some(1.0), Some(2.0), None, Some(4.0)], |v| {
            format!("{v}%")
        })
        .into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("peak 4%"), "{svg}");
    }
}
