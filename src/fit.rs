//! Tables that fit the terminal, as `ps` and `htop` do: columns are dropped by priority, then
//! the one column allowed to shrink is ellipsized, before anything is cut by the terminal.

use std::io::IsTerminal;

/// One column of a table.
pub struct Column {
    pub header: &'static str,
    pub cells: Vec<String>,
    /// Dropped when the table is too wide, lowest rank first; `None`: always shown.
    pub drop_rank: Option<u8>,
    /// May be ellipsized down to this width before columns are dropped.
    pub shrink_to: Option<usize>,
    /// An ANSI colour (SGR parameter, e.g. "32") per cell, used when colour is on.
    pub colors: Vec<Option<&'static str>>,
}

impl Column {
    pub fn new(header: &'static str, cells: Vec<String>) -> Column {
        Column {
            header,
            cells,
            drop_rank: None,
            shrink_to: None,
            colors: Vec::new(),
        }
    }

    pub fn drop_rank(mut self, rank: u8) -> Column {
        self.drop_rank = Some(rank);
        self
    }

    pub fn shrink_to(mut self, width: usize) -> Column {
        self.shrink_to = Some(width);
        self
    }

    pub fn colors(mut self, colors: Vec<Option<&'static str>>) -> Column {
        self.colors = colors;
        self
    }

    fn natural(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.chars().count())
            .chain([self.header.chars().count()])
            .max()
            .unwrap_or(0)
    }
}

const GAP: usize = 2;

/// The width to fit: the terminal's when stdout is one, else `COLUMNS`, else none (a pipe gets
/// every column).
pub fn width() -> Option<usize> {
    if std::io::stdout().is_terminal()
        && let Ok((w, _)) = ratatui::crossterm::terminal::size()
        && w > 0
    {
        return Some(w as usize);
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// `text` cut to `width` characters, ending in `…` when cut.
pub fn ellipsize(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Renders the columns within `width` (none: as wide as they are), header underlined.
pub fn render(mut columns: Vec<Column>, width: Option<usize>, color: bool) -> String {
    let total = |cols: &[(usize, &Column)]| -> usize {
        cols.iter().map(|(w, _)| *w).sum::<usize>() + GAP * cols.len().saturating_sub(1) + 1
    };
    // Drop, lowest rank first, until the table fits; a shrinkable column gives up its slack
    // first.
    let mut order: Vec<usize> = (0..columns.len()).collect();
    let mut widths: Vec<usize> = columns.iter().map(Column::natural).collect();
    if let Some(limit) = width {
        loop {
            let shown: Vec<(usize, &Column)> =
                order.iter().map(|i| (widths[*i], &columns[*i])).collect();
            let over = total(&shown).saturating_sub(limit);
            if over == 0 {
                break;
            }
            let shrinkable = order.iter().copied().find(|i| {
                columns[*i]
                    .shrink_to
                    .is_some_and(|min| widths[*i] > min.max(columns[*i].header.len()))
            });
            if let Some(i) = shrinkable {
                let min = columns[i]
                    .shrink_to
                    .unwrap_or(0)
                    .max(columns[i].header.len());
                widths[i] = widths[i].saturating_sub(over).max(min);
                continue;
            }
            let lowest = order
                .iter()
                .enumerate()
                .filter_map(|(pos, i)| columns[*i].drop_rank.map(|r| (r, pos)))
                .min();
            match lowest {
                Some((_, pos)) => {
                    order.remove(pos);
                }
                // Nothing left to drop: the terminal cuts what is left.
                None => break,
            }
        }
    }
    let rows = columns.first().map_or(0, |c| c.cells.len());
    for i in &order {
        let w = widths[*i];
        for cell in &mut columns[*i].cells {
            *cell = ellipsize(cell, w);
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cell: &dyn Fn(usize) -> (String, Option<&'static str>)| {
        out.push(' ');
        for (k, i) in order.iter().enumerate() {
            let (text, sgr) = cell(*i);
            let pad = widths[*i].saturating_sub(text.chars().count());
            match sgr.filter(|_| color) {
                Some(code) => out.push_str(&format!("\x1b[{code}m{text}\x1b[0m")),
                None => out.push_str(&text),
            }
            if k + 1 < order.len() {
                out.push_str(&" ".repeat(pad + GAP));
            }
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    };
    line(&mut out, &|i| {
        (
            columns[i].header.to_string(),
            color.then_some("1").filter(|_| color),
        )
    });
    let rule = total(
        &order
            .iter()
            .map(|i| (widths[*i], &columns[*i]))
            .collect::<Vec<_>>(),
    );
    out.push_str(&"─".repeat(rule));
    out.push('\n');
    for r in 0..rows {
        line(&mut out, &|i| {
            (
                columns[i].cells.get(r).cloned().unwrap_or_default(),
                columns[i].colors.get(r).copied().flatten(),
            )
        });
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(width: Option<usize>) -> String {
        render(
            vec![
                Column::new(
                    "name",
                    vec!["elasticsearch-reindex-worker".into(), "scheduler".into()],
                ),
                Column::new("status", vec!["online".into(), "completed".into()]),
                Column::new("pid", vec!["123456".into(), "-".into()]).drop_rank(1),
                Column::new("cpu", vec!["0.3%".into(), "-".into()]).drop_rank(0),
                Column::new(
                    "cause",
                    vec![
                        "memory limit, SIGKILL after kill_timeout".into(),
                        "exited (code 0)".into(),
                    ],
                )
                .shrink_to(12),
            ],
            width,
            false,
        )
    }

    #[test]
    fn a_table_without_a_limit_shows_everything() {
        let t = table(None);
        assert!(t.contains("cpu") && t.contains("pid"), "{t}");
        assert!(
            t.contains("memory limit, SIGKILL after kill_timeout"),
            "{t}"
        );
    }

    #[test]
    fn a_narrow_table_shrinks_then_drops_by_rank() {
        let fits = |t: &str, w: usize| t.lines().all(|l| l.chars().count() <= w);
        let t = table(Some(80));
        assert!(fits(&t, 80), "{t}");
        assert!(t.contains("pid") && t.contains("cpu"), "{t}");
        let t = table(Some(66));
        assert!(fits(&t, 66), "{t}");
        assert!(
            t.contains("memory limi…"),
            "the cause is ellipsized first: {t}"
        );
        assert!(
            t.contains("pid") && !t.contains("cpu"),
            "then cpu goes: {t}"
        );
        let t = table(Some(60));
        assert!(fits(&t, 60), "{t}");
        assert!(
            !t.contains("pid") && t.contains("elasticsearch-reindex-worker"),
            "then pid: {t}"
        );
    }

    #[test]
    fn ellipsize_marks_the_cut() {
        assert_eq!(ellipsize("redis://valkey:6379", 10), "redis://v…");
        assert_eq!(ellipsize("short", 10), "short");
    }
}
