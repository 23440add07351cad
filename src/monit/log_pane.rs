//! The selected app's log: the pane under (or beside) the tables, wrapped so a long line's
//! end (usually the part that says what went wrong) is on screen, and the full-screen view
//! that scrolls.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::model::{LogLine, Model};

fn style(l: &LogLine) -> Style {
    if l.err {
        Style::new().fg(Color::Red)
    } else {
        Style::new()
    }
}

fn log_title(m: &Model) -> String {
    match &m.logs_of {
        Some(id) => format!(" Log · {id} "),
        None => " Log ".into(),
    }
}

/// `text` cut into rows of at most `width` cells, at a space when one is in the row's second
/// half (a word longer than that is cut; a wide character never is).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row: Vec<(char, usize)> = Vec::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width && !row.is_empty() {
            // Cells up to and including the row's last space, if that is past half the row.
            let mut upto = 0;
            let mut cells = 0;
            for (i, (ch, cw)) in row.iter().enumerate() {
                cells += cw;
                if *ch == ' ' && cells * 2 > width {
                    upto = i + 1;
                }
            }
            let carry = if upto > 0 && upto < row.len() {
                row.split_off(upto)
            } else {
                Vec::new()
            };
            rows.push(row.iter().map(|(ch, _)| ch).collect::<String>());
            used = carry.iter().map(|(_, cw)| cw).sum();
            row = carry;
        }
        row.push((c, w));
        used += w;
    }
    rows.push(row.iter().map(|(ch, _)| ch).collect());
    rows
}

/// The newest lines, wrapped to `width`, that fill `height` rows (the oldest of them may
/// show only its end).
pub fn wrapped_tail(m: &Model, width: u16, height: u16) -> Vec<Line<'static>> {
    let height = height as usize;
    let mut rows: Vec<Line<'static>> = Vec::with_capacity(height);
    for l in m.logs.iter().rev() {
        if rows.len() >= height {
            break;
        }
        for part in wrap(&l.text, width as usize).into_iter().rev() {
            if rows.len() >= height {
                break;
            }
            rows.push(Line::from(part).style(style(l)));
        }
    }
    rows.reverse();
    rows
}

pub fn draw_log(frame: &mut Frame, m: &Model, area: Rect) {
    let block = Block::bordered().title(log_title(m));
    let inner = block.inner(area);
    let lines = if m.logs.is_empty() {
        vec![Line::from("(no output yet)").style(Style::new().fg(Color::DarkGray))]
    } else {
        wrapped_tail(m, inner.width, inner.height)
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Full screen, a log line per row (cut at the edge) so `scroll` counts lines.
pub fn draw_full_log(frame: &mut Frame, m: &Model, area: Rect, scroll: usize) {
    let title = if scroll > 0 {
        format!(
            "{}(scrolled up {scroll} lines; End to follow) ",
            log_title(m)
        )
    } else {
        log_title(m)
    };
    let block = Block::bordered()
        .title(title)
        .title_bottom(" ↑↓ PgUp PgDn scroll · End follow · Esc back · q quit ");
    let inner = block.inner(area);
    let end = m.logs.len().saturating_sub(scroll);
    let start = end.saturating_sub(inner.height as usize);
    let lines: Vec<Line> = m
        .logs
        .range(start..end)
        .map(|l| Line::from(l.text.clone()).style(style(l)))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_cuts_by_cells_and_never_splits_a_wide_character() {
        assert_eq!(wrap("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("ab", 0), ["a", "b"]);
        // At the last space in the row's second half; a long word is cut.
        assert_eq!(wrap("one two three", 10), ["one two ", "three"]);
        assert_eq!(wrap("a verylongword", 8), ["a verylo", "ngword"]);
        // Each 漢 takes two cells: three fit in six, the fourth starts a row.
        assert_eq!(wrap("漢漢漢漢", 7), ["漢漢漢", "漢"]);
    }
}
