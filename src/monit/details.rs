//! The details overlay of monit: everything about the selected app, its queues (consumed or
//! not, and their figures) and its last restarts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::model::{Model, Valkey};
use super::view::centered;
use crate::render;

pub(super) fn draw_details(frame: &mut Frame, m: &Model, area: Rect) {
    let Some(app) = m.selected() else { return };
    let s = &app.status;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let now_ms = crate::keeper::now_ms();
    let mut rows: Vec<(String, String)> = vec![
        ("app".into(), s.id.clone()),
        (
            "status".into(),
            format!(
                "{} since {}",
                s.status.as_str(),
                render::timestamp(s.since_ms)
            ),
        ),
        ("pid".into(), opt(s.pid.map(|p| p.to_string()))),
        (
            "keeper pid".into(),
            opt(s.keeper_pid.map(|p| p.to_string())),
        ),
        ("uptime".into(), opt(s.uptime_ms.map(render::duration_ms))),
        ("restarts".into(), s.restarts.to_string()),
        ("cpu".into(), opt(s.cpu_percent.map(|c| format!("{c:.1}%")))),
        ("memory".into(), opt(s.memory_bytes.map(render::bytes))),
        ("last exit".into(), render::exit(s.last_exit)),
        (
            "app says".into(),
            s.notify_status.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    if let Some(r) = &s.reason {
        rows.push(("reason".into(), r.clone()));
    }
    if s.dropped_log_bytes > 0 {
        rows.push(("log bytes lost".into(), s.dropped_log_bytes.to_string()));
    }
    for q in &app.queues {
        let text = match (m.queue(q), &m.valkey) {
            (Some(f), Valkey::Up { .. }) => {
                let c = &f.row.counts;
                format!(
                    "{}, {} workers: {} waiting, {} active, {} delayed, {} failed, {} completed",
                    f.row.status,
                    f.row.workers,
                    c.waiting,
                    c.active,
                    c.delayed,
                    c.failed,
                    c.completed
                )
            }
            _ => "figures unavailable (Valkey)".into(),
        };
        // Whether this app consumes it, as Valkey's client list shows, before the figures.
        let text = match s.consumption.iter().find(|c| &c.queue == q) {
            Some(c) => format!("{}; {text}", c.describe(now_ms)),
            None => text,
        };
        rows.push((format!("queue {q}"), text));
    }
    if let Some(ledger) = m.ledgers.get(&s.id).filter(|l| !l.is_empty()) {
        for (i, e) in ledger.iter().rev().enumerate() {
            let tail = e
                .stderr_tail
                .last()
                .map(|l| format!(" — {l}"))
                .unwrap_or_default();
            rows.push((
                if i == 0 {
                    "last restarts".into()
                } else {
                    String::new()
                },
                format!(
                    "{}  {} after {}{tail}",
                    render::timestamp(e.at_ms),
                    e.cause,
                    render::duration_ms(e.uptime_ms)
                ),
            ));
        }
    }
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<15}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(v),
            ])
        })
        .collect();
    let rect = centered(
        area,
        area.width.saturating_sub(8).max(40),
        lines.len() as u16 + 2,
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} (any key closes) ", s.id))),
        rect,
    );
}
