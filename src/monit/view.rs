//! Draws a `Model`: header, processes with their queue figures, queues, the selected app's
//! log and a footer; overlays for help, details and confirmations. What goes into the cells
//! (and which columns fit) is in `cells`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Table, TableState, Wrap};

use super::cells::{
    Col, Fitted, alarming, col, count, failed_style, mem_spark, short_bytes, short_duration, spark,
    status_style,
};
use super::log_pane::{draw_full_log, draw_log};
use super::model::{AppRow, HISTORY, Mode, Model, QueueFigures, Valkey};
use crate::policy::Status;
use crate::render;
use tp_bullmq::Counts;

fn sum_counts(m: &Model, app: &AppRow) -> Option<(Counts, Option<u64>)> {
    if app.queues.is_empty() || !matches!(m.valkey, Valkey::Up { .. }) {
        return None;
    }
    let mut c = Counts::default();
    let mut per_min: Option<u64> = None;
    for q in &app.queues {
        let f = m.queue(q)?;
        let r = &f.row.counts;
        c.waiting += r.waiting;
        c.active += r.active;
        c.delayed += r.delayed;
        c.prioritized += r.prioritized;
        c.paused += r.paused;
        c.failed += r.failed;
        c.completed += r.completed;
        if let Some(p) = f.per_min {
            per_min = Some(per_min.unwrap_or(0) + p);
        }
    }
    Some((c, per_min))
}

/// Draws the whole screen for `now_ms`.
pub fn draw(frame: &mut Frame, m: &Model, now_ms: u64) {
    let area = frame.area();
    if let Mode::Logs { scroll } = m.mode {
        draw_full_log(frame, m, area, scroll);
        return;
    }
    let apps_h = (m.apps.len() as u16 + 3).max(4);
    let [header, procs, rest, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Max(apps_h),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let (least, best) = queue_pane_widths(m);
    let (queues, logs) = if area.width >= least + LOG_BESIDE_MIN {
        // A wide terminal: the log beside the queues, both as tall as the screen allows,
        // rather than the queue table's note stretched over a hundred empty cells.
        let queues_w = best.min(area.width - LOG_BESIDE_MIN);
        let [q, l] =
            Layout::horizontal([Constraint::Length(queues_w), Constraint::Min(0)]).areas(rest);
        (q, l)
    } else {
        let queues_h = match m.valkey {
            Valkey::Up { .. } => (m.queues.len() as u16 + 3).max(4),
            _ => 4,
        };
        let [q, l] = Layout::vertical([Constraint::Max(queues_h), Constraint::Min(3)]).areas(rest);
        (q, l)
    };
    draw_header(frame, m, header, now_ms);
    draw_processes(frame, m, procs);
    draw_queues(frame, m, queues, now_ms);
    draw_log(frame, m, logs);
    draw_footer(frame, m, footer);
    match &m.mode {
        Mode::Help => draw_help(frame, area),
        Mode::Details => super::details::draw_details(frame, m, area),
        _ => {}
    }
}

fn draw_header(frame: &mut Frame, m: &Model, area: Rect, now_ms: u64) {
    let order = [
        Status::Online,
        Status::Launching,
        Status::WaitingRestart,
        Status::Stopping,
        Status::Stopped,
        Status::Errored,
        Status::Lost,
        Status::Completed,
        Status::Failed,
    ];
    let mut spans = vec![
        Span::styled("tpctl monit", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}", render::count(m.apps.len(), "app"))),
    ];
    for s in order {
        let n = m.apps.iter().filter(|a| a.status.status == s).count();
        if n > 0 {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(format!("{n} {}", s.as_str()), status_style(s)));
        }
    }
    let valkey = match &m.valkey {
        Valkey::NotConfigured => {
            Span::styled("  Valkey: not configured", Style::new().fg(Color::Yellow))
        }
        Valkey::Connecting { address } => Span::styled(
            format!("  Valkey {address}: connecting"),
            Style::new().fg(Color::Yellow),
        ),
        Valkey::Up { address } => Span::raw(format!("  Valkey {address}")),
        Valkey::Down { address, .. } => Span::styled(
            format!("  Valkey {address}: DOWN"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let clock = render::timestamp(now_ms);
    let clock = format!(" {}", clock.split(' ').nth(1).unwrap_or(""));
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(clock.len() as u16)])
            .areas(area);
    // A long Valkey URL is ellipsized to the room left, not cut by the edge of the screen.
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let room = (left.width as usize).saturating_sub(used);
    let valkey = Span::styled(crate::fit::ellipsize(&valkey.content, room), valkey.style);
    spans.push(valkey);
    frame.render_widget(Line::from(spans), left);
    frame.render_widget(Line::from(clock), right);
}

/// The least width the log pane needs to go beside the queues.
const LOG_BESIDE_MIN: u16 = 64;
/// Where the history columns are in `PROCESS_COLS`.
const CPU_HIST: usize = 4;
const MEM_HIST: usize = 6;

const PROCESS_COLS: [Col; 17] = [
    col("app", 0, 255, false),
    col("status", 0, 250, false),
    col("pid", 7, 120, true),
    col("cpu", 6, 200, true),
    col("cpu hist", 10, 140, false),
    col("mem", 7, 210, true),
    col("mem hist", 10, 135, false),
    col("↺", 3, 190, true),
    col("uptime", 6, 130, true),
    col("wait", 5, 220, true),
    col("act", 4, 180, true),
    col("delay", 5, 110, true),
    col("prio", 4, 90, true),
    col("paused", 6, 80, true),
    col("failed", 6, 170, true),
    col("done", 6, 100, true),
    col("/min", 5, 160, true),
];

fn draw_processes(frame: &mut Frame, m: &Model, area: Rect) {
    let block = Block::bordered().title(" Processes ");
    let inner = block.inner(area);
    let name_w = m
        .apps
        .iter()
        .map(|a| a.status.id.chars().count() as u16)
        .max()
        .unwrap_or(3)
        .clamp(3, 28);
    let mut cols = PROCESS_COLS;
    cols[0].width = name_w + 2;
    cols[1].width = m
        .apps
        .iter()
        .map(|a| a.status.status.as_str().len() as u16)
        .max()
        .unwrap_or(6)
        .max(6);
    // What the columns that fit leave (but a cell before the border) goes to the history
    // sparklines: more of the past.
    let spare = inner
        .width
        .saturating_sub(Fitted::new(&cols, inner.width).width() + 1);
    let hist_max = HISTORY as u16;
    let cpu_w = (cols[CPU_HIST].width + spare / 2).min(hist_max);
    cols[MEM_HIST].width = (cols[MEM_HIST].width + spare - spare / 2).min(hist_max);
    cols[CPU_HIST].width = cpu_w;
    let (cpu_w, mem_w) = (cpu_w as usize, cols[MEM_HIST].width as usize);
    let fitted = Fitted::new(&cols, inner.width);
    let header = fitted
        .header()
        .style(Style::new().add_modifier(Modifier::BOLD));
    let selected = m.selected_index();
    let rows = m.apps.iter().enumerate().map(|(n, a)| {
        let s = &a.status;
        let q = sum_counts(m, a);
        let qv = |f: fn(&Counts) -> u64| match (&q, a.queues.is_empty()) {
            (_, true) => String::new(),
            (Some((c, _)), false) => count(f(c)),
            (None, false) => "-".into(),
        };
        let mark = if Some(n) == selected { "▶ " } else { "  " };
        let cells: Vec<(String, Style)> = vec![
            (format!("{mark}{}", s.id), Style::new()),
            (s.status.as_str().to_string(), status_style(s.status)),
            (s.pid.map_or("-".into(), |p| p.to_string()), Style::new()),
            (
                s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
                Style::new(),
            ),
            (
                if s.pid.is_some() {
                    spark(a.cpu.iter().copied(), cpu_w, 10.0)
                } else {
                    String::new()
                },
                Style::new().fg(Color::Cyan),
            ),
            (s.memory_bytes.map_or("-".into(), short_bytes), Style::new()),
            (
                if s.pid.is_some() {
                    mem_spark(&a.mem, mem_w)
                } else {
                    String::new()
                },
                Style::new().fg(Color::Magenta),
            ),
            (s.restarts.to_string(), Style::new()),
            (s.uptime_ms.map_or("-".into(), short_duration), Style::new()),
            (qv(|c| c.waiting), Style::new()),
            (qv(|c| c.active), Style::new()),
            (qv(|c| c.delayed), Style::new()),
            (qv(|c| c.prioritized), Style::new()),
            (qv(|c| c.paused), Style::new()),
            (
                qv(|c| c.failed),
                failed_style(q.as_ref().map_or(0, |(c, _)| c.failed)),
            ),
            (qv(|c| c.completed), Style::new()),
            (
                match (&q, a.queues.is_empty()) {
                    (_, true) => String::new(),
                    (Some((_, Some(p))), false) => count(*p),
                    _ => "-".into(),
                },
                Style::new(),
            ),
        ];
        let mut row = fitted.row(cells);
        if alarming(s.status) {
            row = row.style(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD));
        }
        if Some(n) == selected {
            row = row.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        row
    });
    let mut table = Table::new(rows, fitted.widths())
        .header(header)
        .block(block);
    if let Some(e) = &m.apps_error {
        table = table.block(
            Block::bordered()
                .title(" Processes ")
                .title_bottom(Line::from(format!(" {e} ")).style(Style::new().fg(Color::Red))),
        );
    }
    // The table scrolls to keep the selected app in view when there are more than fit.
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

const QUEUE_COLS: [Col; 13] = [
    col("queue", 0, 255, false),
    col("status", 7, 250, false),
    col("workers", 8, 200, true),
    col("conc", 5, 120, true),
    col("wait", 6, 220, true),
    col("act", 5, 180, true),
    col("delay", 6, 110, true),
    col("prio", 5, 90, true),
    col("paused", 6, 80, true),
    col("failed", 6, 170, true),
    col("done", 6, 100, true),
    col("/min", 6, 160, true),
    // Wide enough for "no worker connected", kept before the rates: it says what to act on.
    col("note", 19, 165, false),
];

fn queue_note(f: &QueueFigures) -> (String, Style) {
    let r = &f.row;
    if let Some(e) = &r.error {
        return (e.clone(), Style::new().fg(Color::Red));
    }
    if r.status == "paused" {
        return ("paused".into(), Style::new().fg(Color::Yellow));
    }
    if r.counts.waiting + r.counts.prioritized > 0 && r.workers == 0 {
        // The important half first: a narrow screen cuts the end.
        return (
            "no worker connected, jobs waiting".into(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
    }
    (String::new(), Style::new())
}

/// The queue table's columns, its name column as wide as the longest name.
fn queue_cols(m: &Model) -> [Col; 13] {
    let name_w = m
        .queues
        .iter()
        .map(|q| q.row.queue.chars().count() as u16)
        .max()
        .unwrap_or(5)
        .clamp(5, 32);
    let mut cols = QUEUE_COLS;
    cols[0].width = name_w;
    cols
}

/// The queue pane's width with every column shown: the least (its note column at its
/// narrowest) and the best (its longest note, within reason, whole).
fn queue_pane_widths(m: &Model) -> (u16, u16) {
    let mut cols = queue_cols(m);
    let last = cols.len() - 1;
    let least = Fitted::new(&cols, u16::MAX).width() + 2;
    let note = m
        .queues
        .iter()
        .map(|q| queue_note(q).0.chars().count() as u16)
        .max()
        .unwrap_or(0);
    cols[last].width = note.clamp(QUEUE_COLS[last].width, 40);
    (least, Fitted::new(&cols, u16::MAX).width() + 2)
}

fn draw_queues(frame: &mut Frame, m: &Model, area: Rect, now_ms: u64) {
    let block = Block::bordered().title(" Queues ");
    let inner = block.inner(area);
    let problem = match &m.valkey {
        Valkey::Up { .. } => None,
        Valkey::NotConfigured => Some((
            "VALKEY_URL is not set (environment, or the env/env_file of the apps in ./ecosystem.toml): queue figures are unavailable".to_string(),
            Color::Yellow,
        )),
        Valkey::Connecting { address } => Some((format!("connecting to Valkey at {address}…"), Color::Yellow)),
        Valkey::Down {
            address,
            reason,
            since_ms,
        } => Some((
            format!(
                "Valkey at {address} is unreachable for {}: {}. Retrying; processes above stay live.",
                render::duration_ms(now_ms.saturating_sub(*since_ms).max(1000) / 1000 * 1000),
                reason.trim_end_matches(['.', ' '])
            ),
            Color::Red,
        )),
    };
    if let Some((text, color)) = problem {
        let p = Paragraph::new(text)
            .style(Style::new().fg(color))
            .wrap(Wrap { trim: true })
            .block(block);
        frame.render_widget(p, area);
        return;
    }
    let mut cols = queue_cols(m);
    // The note gets what the columns that fit leave, never less than its own width.
    let last = cols.len() - 1;
    let used = Fitted::new(&cols, inner.width).width_without(last);
    cols[last].width = inner.width.saturating_sub(used).max(QUEUE_COLS[last].width);
    let fitted = Fitted::new(&cols, inner.width);
    let header = fitted
        .header()
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = m.queues.iter().map(|f| {
        let r = &f.row;
        let c = &r.counts;
        let status_style = match r.status {
            "error" => Style::new().fg(Color::Red),
            "paused" => Style::new().fg(Color::Yellow),
            "active" => Style::new().fg(Color::Green),
            _ => Style::new(),
        };
        let cells: Vec<(String, Style)> = vec![
            (r.queue.clone(), Style::new()),
            (r.status.to_string(), status_style),
            (r.workers.to_string(), Style::new()),
            (
                r.concurrency.map_or("-".into(), |c| c.to_string()),
                Style::new(),
            ),
            (count(c.waiting), Style::new()),
            (count(c.active), Style::new()),
            (count(c.delayed), Style::new()),
            (count(c.prioritized), Style::new()),
            (count(c.paused), Style::new()),
            (count(c.failed), failed_style(c.failed)),
            (count(c.completed), Style::new()),
            (f.per_min.map_or("-".into(), count), Style::new()),
            queue_note(f),
        ];
        fitted.row(cells)
    });
    let table = Table::new(rows, fitted.widths())
        .header(header)
        .block(block);
    frame.render_widget(table, area);
}

/// The keys, most to least: the longest that fits is shown, and help and quit always are.
const KEYS_HINTS: [&str; 3] = [
    "↑↓/jk select · ⏎ details · l log · r restart · s stop/start · p pause/resume queue · R retry failed · c clean · ? help · q quit",
    "↑↓ select · ⏎ details · l log · r restart · s stop/start · p pause · ? help · q quit",
    "⏎ details · ? help · q quit",
];

fn keys_hint(width: u16) -> &'static str {
    KEYS_HINTS
        .into_iter()
        .find(|h| h.chars().count() <= width as usize)
        .unwrap_or(KEYS_HINTS[2])
}

fn draw_footer(frame: &mut Frame, m: &Model, area: Rect) {
    let line = match (&m.mode, &m.message) {
        (Mode::Confirm(a), _) => Line::from(format!(
            "Really {}? y confirms, any other key cancels",
            a.describe()
        ))
        .style(Style::new().fg(Color::Black).bg(Color::Yellow)),
        (_, Some(msg)) => Line::from(msg.text.clone()).style(if msg.error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Green)
        }),
        _ => Line::from(keys_hint(area.width)).style(Style::new().fg(Color::DarkGray)),
    };
    frame.render_widget(line, area);
}

/// A box of `w`×`h` cells in the middle of `area`, clipped to it.
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let keys = [
        ("↑ ↓  j k", "select an app (g/G first/last)"),
        ("Enter", "details of the selected app"),
        ("l", "its log, full screen"),
        ("r", "restart it"),
        ("s", "stop it, or start it when stopped"),
        ("p", "pause its queue, or resume a paused one"),
        ("R", "retry every failed job of its queue"),
        ("c", "remove its queue's completed and failed jobs"),
        ("?", "this help"),
        ("q  Esc", "quit (Esc closes a window first)"),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<10}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "r, s (stop), p (pause), R and c ask before acting.",
    ));
    let rect = centered(area, 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys (any key closes) ")),
        rect,
    );
}
