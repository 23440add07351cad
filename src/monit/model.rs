//! What monit shows and what its keys do. Pure: figures arrive as values, keys as crossterm
//! key events, the current time is passed in, and actions leave as `Effect`s for the I/O
//! shell to carry out. The view renders a `Model`; tests drive it without a terminal.

use std::collections::{BTreeMap, VecDeque};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::proto::AppStatus;
use crate::queues::QueueRow;

/// Samples of CPU and memory kept per app for the history columns (a wide terminal shows
/// up to this many; 2 minutes at the default interval).
pub const HISTORY: usize = 120;
/// Log lines kept for the selected app.
pub const LOG_LINES: usize = 2000;

/// One app instance with its recent history.
#[derive(Debug, Clone)]
pub struct AppRow {
    pub status: AppStatus,
    /// The queues the app consumes (its `queue` key).
    pub queues: Vec<String>,
    pub cpu: VecDeque<f64>,
    pub mem: VecDeque<u64>,
}

/// What monit knows about Valkey.
#[derive(Debug, Clone, PartialEq)]
pub enum Valkey {
    /// No VALKEY_URL in the environment or the ecosystem's apps.
    NotConfigured,
    /// Connecting for the first time.
    Connecting {
        address: String,
    },
    Up {
        address: String,
    },
    /// Unreachable or too slow; the queue figures are not shown rather than shown stale.
    Down {
        address: String,
        reason: String,
        since_ms: u64,
    },
}

/// A queue's figures and its completions per minute (from the queue's event stream).
#[derive(Debug, Clone)]
pub struct QueueFigures {
    pub row: QueueRow,
    pub per_min: Option<u64>,
}

/// Something the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Restart(String),
    Stop(String),
    Start(String),
    Pause(Vec<String>),
    Resume(Vec<String>),
    RetryFailed(Vec<String>),
    Clean(Vec<String>),
}

impl Action {
    /// Actions that interrupt work or delete data ask first.
    pub fn destructive(&self) -> bool {
        !matches!(self, Action::Start(_) | Action::Resume(_))
    }

    /// The question asked before a destructive action, or the line shown while it runs.
    pub fn describe(&self) -> String {
        match self {
            Action::Restart(id) => format!("restart {id}"),
            Action::Stop(id) => format!("stop {id}"),
            Action::Start(id) => format!("start {id}"),
            Action::Pause(q) => format!("pause queue {}", q.join(", ")),
            Action::Resume(q) => format!("resume queue {}", q.join(", ")),
            Action::RetryFailed(q) => format!("retry every failed job of {}", q.join(", ")),
            Action::Clean(q) => format!("remove completed and failed jobs of {}", q.join(", ")),
        }
    }
}

/// What the shell must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Run(Action),
    Quit,
}

/// Which screen is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Main,
    Help,
    Details,
    /// The selected app's log, full screen; `scroll` lines up from the end.
    Logs {
        scroll: usize,
    },
    Confirm(Action),
}

/// One log line of the selected app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub err: bool,
    pub text: String,
}

/// A line in the footer: the outcome of the last action, or a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub apps: Vec<AppRow>,
    /// Why the app list could not be read (the home directory is unreadable), if so.
    pub apps_error: Option<String>,
    pub valkey: Valkey,
    pub queues: Vec<QueueFigures>,
    selected: Option<String>,
    pub mode: Mode,
    pub logs: VecDeque<LogLine>,
    /// The app `logs` belong to.
    pub logs_of: Option<String>,
    pub message: Option<Message>,
    /// The newest restarts of each app, for the details window.
    pub ledgers: BTreeMap<String, Vec<crate::proto::LedgerEntry>>,
}

impl Model {
    pub fn new(valkey: Valkey) -> Model {
        Model {
            apps: Vec::new(),
            apps_error: None,
            valkey,
            queues: Vec::new(),
            selected: None,
            mode: Mode::Main,
            logs: VecDeque::new(),
            logs_of: None,
            message: None,
            ledgers: BTreeMap::new(),
        }
    }

    /// New process figures: histories grow by one sample, apps that went away drop out.
    pub fn set_apps(&mut self, fresh: Vec<(AppStatus, Vec<String>)>) {
        let mut old: BTreeMap<String, AppRow> = self
            .apps
            .drain(..)
            .map(|a| (a.status.id.clone(), a))
            .collect();
        for (status, queues) in fresh {
            let mut row = old.remove(&status.id).unwrap_or_else(|| AppRow {
                status: status.clone(),
                queues: Vec::new(),
                cpu: VecDeque::new(),
                mem: VecDeque::new(),
            });
            // Only samples of a running process: a stopped app's history ends where it stopped.
            if let (Some(cpu), Some(mem)) = (status.cpu_percent, status.memory_bytes) {
                if status.pid != row.status.pid {
                    // Another process (a restart): its history starts afresh.
                    row.cpu.clear();
                    row.mem.clear();
                }
                push_capped(&mut row.cpu, cpu, HISTORY);
                push_capped(&mut row.mem, mem, HISTORY);
            }
            row.status = status;
            row.queues = queues;
            self.apps.push(row);
        }
        self.apps_error = None;
        if self.selected_index().is_none() {
            self.selected = self.apps.first().map(|a| a.status.id.clone());
        }
    }

    pub fn set_queues(&mut self, address: String, queues: Vec<QueueFigures>) {
        self.valkey = Valkey::Up { address };
        self.queues = queues;
    }

    /// Valkey went away (or never answered): the queue parts say so.
    pub fn queues_down(&mut self, address: String, reason: String, now_ms: u64) {
        let since_ms = match &self.valkey {
            Valkey::Down { since_ms, .. } => *since_ms,
            _ => now_ms,
        };
        self.valkey = Valkey::Down {
            address,
            reason,
            since_ms,
        };
        self.queues.clear();
    }

    /// Replaces the log lines (another app was selected, or its log was read again).
    pub fn set_logs(&mut self, id: &str, lines: Vec<LogLine>) {
        self.logs_of = Some(id.to_string());
        self.logs = lines.into_iter().collect();
        while self.logs.len() > LOG_LINES {
            self.logs.pop_front();
        }
    }

    pub fn push_logs(&mut self, lines: Vec<LogLine>) {
        for l in lines {
            push_capped(&mut self.logs, l, LOG_LINES);
        }
    }

    pub fn selected(&self) -> Option<&AppRow> {
        self.selected_index().map(|i| &self.apps[i])
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_ref()?;
        self.apps.iter().position(|a| &a.status.id == id)
    }

    /// Figures of a queue, when Valkey answered.
    pub fn queue(&self, name: &str) -> Option<&QueueFigures> {
        self.queues.iter().find(|q| q.row.queue == name)
    }

    pub fn finished(&mut self, text: String, error: bool) {
        self.message = Some(Message { text, error });
    }

    fn select_by(&mut self, delta: isize) {
        if self.apps.is_empty() {
            return;
        }
        let last = self.apps.len() as isize - 1;
        let at = self.selected_index().map_or(0, |i| i as isize);
        let next = (at + delta).clamp(0, last) as usize;
        self.selected = Some(self.apps[next].status.id.clone());
    }

    fn hint(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: true,
        });
    }

    /// Handles one key; returns what the shell must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Effect::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Main) {
            Mode::Confirm(action) => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.message = Some(Message {
                        text: format!("{}…", action.describe()),
                        error: false,
                    });
                    return Some(Effect::Run(action));
                }
                self.message = Some(Message {
                    text: format!("not done: {}", action.describe()),
                    error: false,
                });
                None
            }
            Mode::Help | Mode::Details => match key.code {
                KeyCode::Char('q') => Some(Effect::Quit),
                _ => None,
            },
            Mode::Logs { scroll } => {
                let page = 10;
                self.mode = match key.code {
                    KeyCode::Char('q') => return Some(Effect::Quit),
                    KeyCode::Esc | KeyCode::Char('l') | KeyCode::Enter => Mode::Main,
                    KeyCode::Up | KeyCode::Char('k') => Mode::Logs {
                        scroll: (scroll + 1).min(self.logs.len()),
                    },
                    KeyCode::Down | KeyCode::Char('j') => Mode::Logs {
                        scroll: scroll.saturating_sub(1),
                    },
                    KeyCode::PageUp => Mode::Logs {
                        scroll: (scroll + page).min(self.logs.len()),
                    },
                    KeyCode::PageDown => Mode::Logs {
                        scroll: scroll.saturating_sub(page),
                    },
                    KeyCode::End | KeyCode::Char('G') => Mode::Logs { scroll: 0 },
                    _ => Mode::Logs { scroll },
                };
                None
            }
            Mode::Main => self.main_key(key),
        }
    }

    fn main_key(&mut self, key: KeyEvent) -> Option<Effect> {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Effect::Quit),
            KeyCode::Up | KeyCode::Char('k') => self.select_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.select_by(1),
            KeyCode::Home | KeyCode::Char('g') => self.select_by(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.select_by(isize::MAX / 2),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Enter if self.selected().is_some() => self.mode = Mode::Details,
            KeyCode::Char('l') if self.selected().is_some() => self.mode = Mode::Logs { scroll: 0 },
            KeyCode::Char('r') => {
                if let Some(app) = self.selected() {
                    let action = Action::Restart(app.status.id.clone());
                    return self.ask(action);
                }
            }
            KeyCode::Char('s') => {
                if let Some(app) = self.selected() {
                    let id = app.status.id.clone();
                    let action = if app.status.status.is_settled() {
                        Action::Start(id)
                    } else {
                        Action::Stop(id)
                    };
                    return self.ask(action);
                }
            }
            KeyCode::Char('p') => {
                let queues = self.selected_queues()?;
                let all_paused = queues.iter().all(|q| {
                    self.queue(q)
                        .is_some_and(|f| f.row.status == "paused" && f.row.error.is_none())
                });
                let action = if all_paused {
                    Action::Resume(queues)
                } else {
                    Action::Pause(queues)
                };
                return self.ask(action);
            }
            KeyCode::Char('R') => {
                let queues = self.selected_queues()?;
                return self.ask(Action::RetryFailed(queues));
            }
            KeyCode::Char('c') => {
                let queues = self.selected_queues()?;
                return self.ask(Action::Clean(queues));
            }
            _ => {}
        }
        None
    }

    /// The selected app's queues, when they can be acted on; otherwise a hint saying why not.
    fn selected_queues(&mut self) -> Option<Vec<String>> {
        let app = self.selected()?;
        if app.queues.is_empty() {
            let text = format!("{} consumes no queue (no `queue` key)", app.status.name);
            self.hint(text);
            return None;
        }
        let queues = app.queues.clone();
        match &self.valkey {
            Valkey::Up { .. } => Some(queues),
            Valkey::NotConfigured => {
                self.hint("VALKEY_URL is not set: queue actions are unavailable");
                None
            }
            Valkey::Connecting { address } | Valkey::Down { address, .. } => {
                let text = format!("Valkey at {address} is not reachable: try again when it is");
                self.hint(text);
                None
            }
        }
    }

    fn ask(&mut self, action: Action) -> Option<Effect> {
        if action.destructive() {
            self.mode = Mode::Confirm(action);
            None
        } else {
            self.message = Some(Message {
                text: format!("{}…", action.describe()),
                error: false,
            });
            Some(Effect::Run(action))
        }
    }
}

fn push_capped<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}
