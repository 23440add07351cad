//! What goes into monit's table cells: columns fitted to the terminal's width (the least
//! useful dropped first), compact numbers, sizes and durations, text sparklines, and the
//! colours of statuses.

use ratatui::layout::Constraint;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row};

use crate::policy::Status;
use crate::render;

/// One table column: its header, width, alignment and how early it is dropped when the
/// terminal is narrow (higher `keep` stays longer).
pub struct Col {
    header: &'static str,
    pub width: u16,
    keep: u8,
    right: bool,
}

pub const fn col(header: &'static str, width: u16, keep: u8, right: bool) -> Col {
    Col {
        header,
        width,
        keep,
        right,
    }
}

/// Indices of the columns that fit in `avail` cells, most-kept first, in table order.
fn fit(cols: &[Col], avail: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cols[i].keep));
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for i in order {
        let need = cols[i].width + u16::from(!chosen.is_empty());
        if used + need <= avail {
            used += need;
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The columns of one table that fit, for its header, rows and widths.
pub struct Fitted<'a> {
    cols: &'a [Col],
    shown: Vec<usize>,
}

impl<'a> Fitted<'a> {
    pub fn new(cols: &'a [Col], avail: u16) -> Fitted<'a> {
        Fitted {
            cols,
            shown: fit(cols, avail),
        }
    }

    pub fn header(&self) -> Row<'static> {
        self.row(
            self.cols
                .iter()
                .map(|c| (c.header.to_string(), Style::new()))
                .collect(),
        )
    }

    /// A row from one (text, style) per column; the columns not shown are left out.
    pub fn row(&self, cells: Vec<(String, Style)>) -> Row<'static> {
        Row::new(
            cells
                .into_iter()
                .enumerate()
                .filter(|(i, _)| self.shown.contains(i))
                .map(|(i, (text, style))| {
                    Cell::from(aligned(text, self.cols[i].right)).style(style)
                }),
        )
    }

    /// Cells the shown columns take, column `except` left out, with their separators.
    pub fn width_without(&self, except: usize) -> u16 {
        self.shown
            .iter()
            .filter(|&&i| i != except)
            .map(|&i| self.cols[i].width + 1)
            .sum()
    }

    /// Cells the shown columns take with the separators between them.
    pub fn width(&self) -> u16 {
        self.width_without(usize::MAX).saturating_sub(1)
    }

    pub fn widths(&self) -> Vec<Constraint> {
        self.shown
            .iter()
            .map(|&i| Constraint::Length(self.cols[i].width))
            .collect()
    }
}

fn aligned(text: String, right: bool) -> Line<'static> {
    if right {
        Line::from(text).right_aligned()
    } else {
        Line::from(text)
    }
}

pub fn status_style(s: Status) -> Style {
    let color = match s {
        Status::Online | Status::Completed => Color::Green,
        Status::Waiting | Status::Launching | Status::Stopping | Status::WaitingRestart => {
            Color::Yellow
        }
        Status::Stopped => Color::Gray,
        Status::Errored | Status::Failed | Status::Lost => Color::Red,
    };
    Style::new().fg(color)
}

pub fn alarming(s: Status) -> bool {
    matches!(s, Status::Errored | Status::Failed | Status::Lost)
}

/// 1234 → "1234", 12345 → "12.3k", 1234567 → "1.2M": figures stay within five cells.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A text sparkline of the last `width` values, scaled to [0, max(floor, largest)].
pub fn spark(values: impl DoubleEndedIterator<Item = f64>, width: usize, floor: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut last: Vec<f64> = values.rev().take(width).collect();
    last.reverse();
    let top = last.iter().copied().fold(floor, f64::max);
    last.iter()
        .map(|v| {
            let i = ((v / top) * 7.0).round().clamp(0.0, 7.0) as usize;
            BARS[i]
        })
        .collect()
}

/// Memory history between the window's low (▁) and high (█), so growth shows; a flat line
/// when it varies by less than 2% (or 512 KiB).
pub fn mem_spark(values: &std::collections::VecDeque<u64>, width: usize) -> String {
    let last: Vec<u64> = values.iter().rev().take(width).rev().copied().collect();
    let (Some(lo), Some(hi)) = (last.iter().min().copied(), last.iter().max().copied()) else {
        return String::new();
    };
    // Allocator noise of a few pages is not a trend.
    if (hi - lo) as f64 <= (hi as f64 * 0.02).max(512.0 * 1024.0) {
        return "▄".repeat(last.len());
    }
    spark(
        last.iter().map(|v| (v - lo) as f64),
        width,
        (hi - lo) as f64,
    )
}

pub fn failed_style(n: u64) -> Style {
    if n > 0 {
        Style::new().fg(Color::Red)
    } else {
        Style::new()
    }
}

/// "123.4M": memory in at most six cells.
pub fn short_bytes(n: u64) -> String {
    render::bytes(n)
        .replace(" MiB", "M")
        .replace(" KiB", "K")
        .replace(" GiB", "G")
        .replace(" B", "B")
}

/// The largest unit of an uptime: "45s", "12m", "3h", "2d".
pub fn short_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
