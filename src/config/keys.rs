//! Every key of ecosystem.toml with its default and meaning: the one description that
//! tpctl-ecosystem(5) is generated from. A test checks it against the parser's own list of
//! fields, so a key cannot be added without being documented, nor documented without existing.

/// One key of an `[[apps]]` table (and of `[defaults]` unless `per_app`).
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
    /// Only in `[[apps]]`, never in `[defaults]`.
    pub per_app: bool,
}

const fn key(name: &'static str, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default,
        meaning,
        per_app: false,
    }
}

const fn app_key(name: &'static str, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default,
        meaning,
        per_app: true,
    }
}

pub const KEYS: &[Key] = &[
    app_key(
        "name",
        "required",
        "Unique name: letters, digits, -, _ and .",
    ),
    app_key(
        "script",
        "required",
        "The program: a path (relative to the file's directory) or a command on PATH.",
    ),
    app_key(
        "args",
        "none",
        "Its arguments: an array, or one string split as a shell would.",
    ),
    key("cwd", "the file's directory", "Working directory."),
    key(
        "env",
        "none",
        "A table of environment variables (see THE ENVIRONMENT OF AN APP).",
    ),
    key(
        "env_file",
        "none",
        "\".env\" (must exist) or { path = \".env\", optional = true }; read again on every start.",
    ),
    app_key(
        "instances",
        "1",
        "N copies named name-0 ... name-(N-1); each gets NODE_APP_INSTANCE and TPCTL_INSTANCE.",
    ),
    key(
        "autorestart",
        "true",
        "false makes a one-shot: it ends completed (exit 0) or failed; one that another app runs after is retried until it completes (see ORDER AND REQUIREMENTS).",
    ),
    key(
        "autostart",
        "true",
        "false: tpctl start FILE skips the app; it starts when named (tpctl start NAME, --only) or as another app's after.",
    ),
    key(
        "cron_restart",
        "none",
        "A cron pattern (5 fields, or 6 with seconds first) for a graceful restart on schedule, in the keeper's local time zone (TZ, else /etc/localtime), as PM2.",
    ),
    key(
        "max_restarts",
        "16",
        "Consecutive runs shorter than min_uptime before the app is errored.",
    ),
    key(
        "min_uptime",
        "1s",
        "A run at least this long is stable: it resets the crash count and the back-off.",
    ),
    key("restart_delay", "0", "A fixed delay before each restart."),
    key(
        "exp_backoff_restart_delay",
        "none",
        "The first back-off delay; it doubles per unstable restart, up to 30 s.",
    ),
    key(
        "max_memory_restart",
        "none",
        "A graceful restart when the process tree's resident memory exceeds it (512M, 1G).",
    ),
    key(
        "kill_signal",
        "SIGINT",
        "The signal sent to the process group to stop it.",
    ),
    key(
        "kill_timeout",
        "30s",
        "How long after kill_signal the group is killed with SIGKILL.",
    ),
    key(
        "stop_exit_codes",
        "none",
        "Exit codes that mean done: the app is stopped, not restarted.",
    ),
    app_key(
        "health",
        "none",
        "A check run while the app is online: { http = \"http://127.0.0.1:3000/health\" | tcp = \"host:port\" | exec = [\"cmd\", \"arg\"], every = \"10s\", timeout = \"2s\", retries = 3, grace = \"30s\", restart = true }. A failure shows unhealthy with its reason; retries failures in a row (after grace) restart the app gracefully, under the back-off and crash-loop rules (a run counts as stable only once healthy for retries x every); restart = false only reports.",
    ),
    key(
        "notify",
        "false",
        "true: the app speaks systemd's sd_notify protocol on NOTIFY_SOCKET and is online only once it sends READY=1 (see READINESS AND WATCHDOG).",
    ),
    key(
        "ready_timeout",
        "60s",
        "With notify: READY=1 must come within this after the program started, or the start failed (a failed run, retried under the crash-loop rules).",
    ),
    key(
        "watchdog",
        "none",
        "With notify: once ready, WATCHDOG=1 must come at least this often, or the app is restarted gracefully (ledger cause watchdog).",
    ),
    app_key(
        "after",
        "none",
        "Apps (a name or an array) this one needs: it is started only once each is online, or completed for a one-shot, and is waiting until then (see ORDER AND REQUIREMENTS); tpctl start NAME starts them.",
    ),
    app_key(
        "queue",
        "none",
        "The BullMQ queue or queues the app consumes (tpctl queues, monit, doctor); the keeper watches whether the app holds a worker connection on each (see QUEUE CONSUMPTION).",
    ),
    key(
        "restart_when_not_consuming",
        "none",
        "With queue: restart the app gracefully once it has held no worker connection on one of its queues for this long (ledger cause: not consuming queue Q for 2m); at least 2s. A run that never consumed counts toward the crash loop.",
    ),
    key(
        "user",
        "tpctl's own",
        "The user the app runs as (a name or uid): its keeper, running as root, switches to it between fork and exec; HOME, USER and LOGNAME are that user's unless env sets them. Naming another user while tpctl is not root is an error (see PRIVILEGES).",
    ),
    key(
        "group",
        "the user's",
        "With user: the app's primary group (a name or gid) instead of the user's own.",
    ),
    key(
        "groups",
        "the user's",
        "With user: the supplementary groups (names or gids), instead of the user's from the group database; [] for none.",
    ),
    key(
        "umask",
        "tpctl's own",
        "The app's file-mode creation mask, octal: \"0027\" keeps its new files from other users.",
    ),
    key(
        "no_new_privileges",
        "true",
        "PR_SET_NO_NEW_PRIVS before exec: no setuid program or file capability can raise the app or its children.",
    ),
    key(
        "limit_nofile",
        "tpctl's own",
        "RLIMIT_NOFILE, open files: a number for soft and hard, \"unlimited\", or \"soft:hard\" such as \"1024:65536\".",
    ),
    key(
        "limit_core",
        "tpctl's own",
        "RLIMIT_CORE, core dump bytes (0: none), as limit_nofile.",
    ),
    key(
        "limit_nproc",
        "tpctl's own",
        "RLIMIT_NPROC, processes of the app's user, as limit_nofile.",
    ),
    app_key("concurrency", "none", "Exported as concurrency_env."),
    app_key(
        "concurrency_env",
        "from the name",
        "The variable concurrency is exported as: email-worker gives EMAIL_CONCURRENCY.",
    ),
    app_key(
        "out_file",
        "logs/out.log in the run directory",
        "The stdout log (relative to the file); instances get -i before the extension.",
    ),
    app_key(
        "error_file",
        "logs/err.log in the run directory",
        "The stderr log, as out_file.",
    ),
    key(
        "merge_logs",
        "false",
        "stdout and stderr into the stdout file.",
    ),
    key(
        "time",
        "false",
        "Prefix every line with the time the keeper read it.",
    ),
    key(
        "log_date_format",
        "RFC 3339 with milliseconds",
        "moment.js tokens YYYY MM DD HH mm ss SSS Z ZZ and [literal]; times are UTC.",
    ),
    key(
        "log_max_size",
        "10M",
        "Rotate a log file before it grows past this (rename and reopen).",
    ),
    key(
        "log_keep",
        "5",
        "Rotated files kept (out.log.1 ... out.log.N).",
    ),
    key(
        "log_compress",
        "false",
        "gzip rotated files (out.log.1.gz).",
    ),
    key(
        "log_rotate",
        "never",
        "\"daily\" (at local midnight, TZ or /etc/localtime) or \"hourly\": also rotate on the clock, keeping log_keep copies, losing no line; log_max_size still applies.",
    ),
    app_key(
        "alerts",
        "the file's [alerts]",
        "false turns alerts off for the app; a table (events, max_per_hour, dedup, restart_rate, recovered_after) overrides [alerts]'s rules for it (see ALERTS).",
    ),
];

/// tpctl-ecosystem(5), in roff.
/// The ALERTS section of tpctl-ecosystem(5).
const ALERTS_SECTION: &str = r#".SH ALERTS
A top-level \fB[alerts]\fR table sends a person word of what needs them, from the keeper that saw it:
.TP
\fBevents\fR (default: all)
\fIerrored\fR (a crash loop), \fIfailed\fR (a one-shot, for good), \fIstart_failed\fR (the program cannot be executed), \fImemory\fR (a memory-limit restart), \fIlost\fR (its keeper died; found by the next tpctl command that looks, such as a \fBstatus \-\-check\fR probe), \fIrestarts\fR (over \fBrestart_rate\fR), \fIrecovered\fR (online for \fBrecovered_after\fR after one of the problems).
.TP
\fBmax_per_hour\fR (default: 10), \fBdedup\fR (default: 10m)
At most so many alerts an hour per app, and the same event again within \fBdedup\fR is counted, not sent: a crash loop raises no storm. The next alert says how many were held back.
.TP
\fBrestart_rate\fR (default: "5/10m"), \fBrecovered_after\fR (default: 1m)
More restarts than COUNT within WINDOW (crashes and memory restarts, not an operator's) raise \fIrestarts\fR; "off" turns it off.
.TP
\fB[[alerts.webhook]]\fR url = "https://...", or url_env = "VAR" (the URL read from the app's environment, for a secret one), format = "json" | "slack" | "teams" | "discord"
A POST of the alert as JSON, or as a Slack, Teams (MessageCard) or Discord message.
.TP
\fB[[alerts.command]]\fR run = ["/usr/local/bin/notify", "\-\-team", "qa"]
Run with the alert as JSON on stdin and TPCTL_ALERT_EVENT, TPCTL_ALERT_APP, TPCTL_ALERT_HOST, TPCTL_ALERT_SUMMARY set; exit 0 is delivered.
.TP
\fB[alerts.email]\fR to = ["ops@example.com"]
Sent through the SMTP settings of the app's environment that TestPlanIt's email worker reads (EMAIL_SERVER_HOST, EMAIL_SERVER_PORT, EMAIL_SERVER_USER, EMAIL_SERVER_PASSWORD, EMAIL_FROM); an app without them is a configuration error.
.PP
An app's \fBalerts\fR key overrides the rules for it, or turns its alerts off. Alerts wait in a queue on disk in the app's run directory (100 at most) and are delivered by a short-lived sender the keeper starts, with retries and back-off, so a receiver that is down gets them when it is back and a keeper restart loses none; a destination that refuses is logged once per outage in keeper.log. Secrets of the app's environment never appear in an alert. \fBtpctl alerts test\fR sends a test alert to every destination.
"#;

pub fn man_page(version: &str) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
    let mut out = format!(
        ".TH tpctl-ecosystem 5 \"\" \"tpctl {version}\"\n\
         .SH NAME\n\
         ecosystem.toml \\- the apps tpctl runs\n\
         .SH SYNOPSIS\n\
         \\fI./ecosystem.toml\\fR, read by \\fBtpctl start\\fR, \\fBrestart\\fR, \\fBrun\\fR, \\fBqueues\\fR, \\fBmonit\\fR and \\fBdoctor\\fR\n\
         .SH DESCRIPTION\n\
         A TOML file with an optional \\fB[defaults]\\fR table, whose keys every app inherits unless it sets its own, \
         and one \\fB[[apps]]\\fR table per app. Unknown keys, wrong types and bad values are errors that name the file, \
         line, column and key, with the closest known key. Durations are \\fI500ms\\fR, \\fI30s\\fR, \\fI10m\\fR, \\fI1h\\fR \
         (or a number of milliseconds); sizes are \\fI512K\\fR, \\fI10M\\fR, \\fI1G\\fR (or bytes); signals are \\fISIGINT\\fR or \\fIINT\\fR.\n\
         .SH KEYS\n"
    );
    for k in KEYS {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR (default: {}{})\n{}\n",
            esc(k.name),
            esc(k.default),
            if k.per_app {
                "; per app, not in [defaults]"
            } else {
                ""
            },
            esc(k.meaning)
        ));
    }
    out.push_str(ALERTS_SECTION);
    out.push_str(
        ".SH \"ORDER AND REQUIREMENTS\"\n\
         \\fBafter\\fR is both an order and a requirement (systemd's After= with Requires=, as a wait): an app's \
         keeper spawns it only once every app it names is online, or completed for a one-shot; until then the app \
         is \\fBwaiting\\fR, and \\fBstatus\\fR says for what, with that app's last error line. Every start and \
         restart by an operator or a boot waits so; a restart after a crash, the memory limit or cron_restart does \
         not. A dependency that stops or fails later does not stop the apps that needed it (a worker keeps working \
         without the scheduler that registered its jobs). A one-shot that another app runs after (TestPlanIt's \
         scheduler) is retried when it fails, after exp_backoff_restart_delay (1s when unset) doubling to 30s, \
         until it completes or has failed max_restarts times in a row; its dependents start as soon as it \
         completes. A one-shot nothing runs after ends failed at its first failure.\n",
    );
    out.push_str(
        ".SH \"READINESS AND WATCHDOG\"\n\
         With \\fBnotify = true\\fR the keeper gives the app NOTIFY_SOCKET, a datagram socket in its run directory \
         (as systemd's Type=notify does), and hears only the app's own process group on it (the sender's \
         credentials are checked). \\fBREADY=1\\fR turns \\fBlaunching\\fR into \\fBonline\\fR, and \\fBtpctl start\\fR waits \
         for it; without it within \\fBready_timeout\\fR the app is stopped and the start failed, saying why, and runs \
         that never get ready count towards the crash loop however long they lasted. \\fBWATCHDOG=1\\fR must then come \
         within every \\fBwatchdog\\fR window or the app is restarted gracefully (back-off and crash-loop rules \
         apply). \\fBSTATUS=\\fR text is shown by status, describe and monit; STOPPING=1 and RELOADING=1 are shown too.\n",
    );
    out.push_str(
        ".SH \"QUEUE CONSUMPTION\"\n\
         For an app with \\fBqueue\\fR, its keeper reads Valkey's client list (CLIENT ID and CLIENT LIST, with the \
         app's own VALKEY_URL and BULLMQ_PREFIX) every 10s, or every quarter of \\fBrestart_when_not_consuming\\fR \
         (500ms to 10s), and matches it against the TCP sockets of the app's process tree: the app consumes a \
         queue while one of its own connections carries the name BullMQ gives a worker's connection on it \
         (Node's Worker and tp-worker alike). Later looks ask only for those connections (CLIENT LIST ID), on \
         one connection the keeper keeps open, named tpctl\\-keeper:APP. status, describe, monit, queues and tpctl web show \\fBconsuming\\fR \
         or \\fBnot consuming (since \\fR...\\fB)\\fR; the time counts from when the app came online if it never \
         consumed. When Valkey cannot be read, or sees this host through a proxy or NAT (so the app's \
         connections cannot be told apart), or is on a unix socket, the state is \\fBunknown\\fR with the reason, and \
         no restart follows. A VALKEY_URL user needs +client|id and +client|list (Node's getWorkers() needs the \
         latter too).\n",
    );
    out.push_str(
        ".SH PRIVILEGES\n\
         A keeper runs as whoever ran tpctl. When that is root, \\fBuser\\fR makes the app run as another user: \
         between fork and exec its keeper sets the resource limits, the umask, the supplementary groups \
         (setgroups), the group (setgid) and the user (setuid), in that order, each checked, then \
         PR_SET_NO_NEW_PRIVS unless \\fBno_new_privileges = false\\fR; a step that fails is the start's error, \
         named. The keeper, its control socket, its logs and the app's run directory stay the supervisor's \
         (0700, sockets 0600): the app needs none of them, and a notify socket it must reach is an abstract \
         one, heard only from the app's own process group. An exec health check runs as the app's user too. \
         A keeper answers only its own user and root (SO_PEERCRED); anyone else, and any other user's tpctl \
         against the same TPCTL_HOME, is told whose apps they are.\n",
    );
    out.push_str(
        ".SH \"THE ENVIRONMENT OF AN APP\"\n\
         Lowest first, later layers winning: the environment recorded at the app's first start (the \
         shell that ran \\fBtpctl start\\fR), its \\fBenv_file\\fRs ([defaults]'s first), its \\fBenv\\fR tables \
         ([defaults]'s first), and tpctl's own variables (TPCTL_APP_NAME, TPCTL_APP_ID, TPCTL_INSTANCE, \
         NODE_APP_INSTANCE, the concurrency variable). The files are read again on every start, restart and \
         reload. The recorded environment is kept with the app (mode 0600) and in \\fBdump\\-env.toml\\fR by \
         \\fBtpctl save\\fR, never in dump.toml, so \\fBrestart\\fR, \\fBreload\\fR and \\fBresurrect\\fR give the app the \
         same environment from any shell, a boot's included; \\fB\\-\\-update\\-env\\fR records the command's own \
         instead and lists the variables that changed. \\fBtpctl doctor\\fR, \\fBtpctl save\\fR and \
         \\fBtpctl startup \\-\\-check\\fR fail when a variable a TestPlanIt app needs would be missing at boot.\n",
    );
    out.push_str(
        ".SH EXAMPLE\n.nf\n\
         [defaults]\n\
         env_file = { path = \".env\", optional = true }\n\
         kill_timeout = \"30s\"\n\n\
         [[apps]]\n\
         name = \"scheduler\"\n\
         script = \"tp\\-worker\"\n\
         args = [\"scheduler\"]\n\
         autorestart = false\n\n\
         [[apps]]\n\
         name = \"email\\-worker\"\n\
         script = \"tp\\-worker\"\n\
         args = [\"email\"]\n\
         queue = \"emails\"\n\
         concurrency = 3\n\
         max_memory_restart = \"256M\"\n\
         after = \"scheduler\"\n\
         .fi\n\
         .SH \"SEE ALSO\"\n\
         \\fBtpctl\\fR(1), \\fBtpctl\\-start\\fR(1), \\fBtpctl\\-import\\fR(1) (converts PM2's ecosystem.config.js)\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser's own list of fields, from the error for an unknown one.
    fn fields(toml: &str) -> Vec<String> {
        let raw: Result<crate::config::raw::RawFile, _> = toml::from_str(toml);
        let message = raw
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        let expected = message.split_once("expected").map_or("", |(_, e)| e);
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_key_the_parser_knows_is_documented_and_no_other() {
        let mut app = fields("[[apps]]\nname = \"a\"\nscript = \"b\"\nnot_a_key = 1\n");
        app.sort();
        let mut documented: Vec<String> = KEYS.iter().map(|k| k.name.to_string()).collect();
        documented.sort();
        assert_eq!(app, documented);
        let mut defaults = fields("[defaults]\nnot_a_key = 1\n");
        defaults.sort();
        let mut inheritable: Vec<String> = KEYS
            .iter()
            .filter(|k| !k.per_app)
            .map(|k| k.name.to_string())
            .collect();
        inheritable.sort();
        assert_eq!(defaults, inheritable);
    }
}
