module completions {

  # Runs TestPlanIt's background workers: one tiny keeper per app, PM2's verbs, none of its pains
  export extern tpctl [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Start apps from an ecosystem file (default ./ecosystem.toml) or by name
  export extern "tpctl start" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Stop apps gracefully: kill_signal to the process group, SIGKILL after kill_timeout
  export extern "tpctl stop" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Restart apps; their ecosystem file and env files are read again
  export extern "tpctl restart" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Restart apps gracefully one instance at a time: the next only once the previous is online again, so an app with `instances > 1` keeps serving (PM2's reload)
  export extern "tpctl reload" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Alerts: check that every destination of the file's [alerts] gets them
  export extern "tpctl alerts" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Send a test alert to every destination now and print each one's answer
  export extern "tpctl alerts test" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    file?: path               # The ecosystem file whose [alerts] to test (default ./ecosystem.toml)
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl alerts help" [
  ]

  # Send a test alert to every destination now and print each one's answer
  export extern "tpctl alerts help test" [
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl alerts help help" [
  ]

  # Write a starting ecosystem.toml: TestPlanIt's scheduler and workers (PM2's init)
  export extern "tpctl init" [
    --force                   # Replace a file that exists
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    path?: path               # Where to write it (default ./ecosystem.toml)
  ]

  # For deploy scripts (PM2's startOrRestart): restart the apps of a file that run, with the file read again, and start the others
  export extern "tpctl start-or-restart" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # For deploy scripts (PM2's startOrReload): start the apps of a file that do not run, then reload those that do, one instance at a time
  export extern "tpctl start-or-reload" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Stop apps and remove them from the list (their logs stay on disk)
  export extern "tpctl delete" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  def "nu-complete tpctl status sort" [] {
    [ "id" "name" "status" "memory" "cpu" ]
  }

  # List every app with its status, pid, uptime, restarts, CPU and memory
  export extern "tpctl status" [
    --json                    # Print machine-readable JSON (fields documented in README)
    --wide(-w)                # Show each app's ecosystem file (a column shown anyway when the apps come from several)
    --sort: string@"nu-complete tpctl status sort" # Order of the rows: by number (PM2's order), name, status, memory or cpu (the largest first)
    --check                   # A probe (Kubernetes liveness/readiness, a monitoring check): exit 0 only when every known app is online, completed (a one-shot) or stopped by an operator; else list the others and exit 1
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Show one app's resolved settings (secrets redacted), status and restart ledger
  export extern "tpctl describe" [
    --json                    # Print machine-readable JSON (fields documented in README)
    --all                     # Every entry of the restart ledger (by default the newest few, repeats folded)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    name: string              # App name, number or instance id
  ]

  # Stop every app; every keeper exits
  export extern "tpctl kill" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Show apps' recent output, and follow it (the default on a terminal)
  export extern "tpctl logs" [
    --lines(-n): string       # How many recent lines to show per file
    --follow(-f)              # Keep printing new lines (the default when stdout is a terminal)
    --nostream                # Print the recent lines and exit
    --err                     # Only stderr
    --out                     # Only stdout
    --timestamp               # Prefix each line with the time the keeper received it (lines stamped by `time = true` keep their own stamp only)
    --json                    # One JSON object per line: app, stream, time, line
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, instance ids or `all` (the default)
  ]

  # Empty apps' log files (and their rotated copies) while they keep running
  export extern "tpctl flush" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Reopen every log file by name, after an external logrotate moved them
  export extern "tpctl reload-logs" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Save the current process list to dump.toml, for `resurrect` and the boot integration
  export extern "tpctl save" [
    --force                   # Save even when no app is known (resurrect would then start nothing), or when an app's required variables would be missing at boot
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Bring back the saved process list: saved-running apps start in `after` order, the rest are listed as stopped; apps already running are left alone. Each app gets the environment recorded when it was saved, whatever the shell's
  export extern "tpctl resurrect" [
    --update-env              # Give the apps this shell's environment instead of the one saved with them
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  def "nu-complete tpctl startup system" [] {
    [ "systemd" "launchd" "openrc" ]
  }

  # Generate, install, check or print the boot integration that runs `tpctl resurrect` at boot
  export extern "tpctl startup" [
    --user                    # A per-user unit (systemctl --user, a LaunchAgent) instead of a system one
    --install                 # Write and enable the unit (a system unit needs root)
    --check                   # Verify that a reboot would bring the saved list back; exit 1 if not
    --print                   # Print the unit and nothing else
    --run-as: string          # The user the apps run as (default: you)
    --tpctl-home: path        # The run directory the unit uses (default: TPCTL_HOME, or ~USER/.tpctl with --run-as)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help (see more with '--help')
    --version(-V)             # Print version
    system?: string@"nu-complete tpctl startup system" # The init system (default: this machine's)
  ]

  def "nu-complete tpctl unstartup system" [] {
    [ "systemd" "launchd" "openrc" ]
  }

  # Remove what `tpctl startup --install` installed
  export extern "tpctl unstartup" [
    --user                    # A per-user unit (systemctl --user, a LaunchAgent) instead of a system one
    --install                 # Write and enable the unit (a system unit needs root)
    --check                   # Verify that a reboot would bring the saved list back; exit 1 if not
    --print                   # Print the unit and nothing else
    --run-as: string          # The user the apps run as (default: you)
    --tpctl-home: path        # The run directory the unit uses (default: TPCTL_HOME, or ~USER/.tpctl with --run-as)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    system?: string@"nu-complete tpctl unstartup system" # The init system (default: this machine's)
  ]

  # Check what the workers need: Valkey, PostgreSQL and its connection budget, programs, env vars, kill timeouts, disk, boot integration. Exits 1 when a check fails
  export extern "tpctl doctor" [
    --web-connections: string # Database connections the web app needs besides the workers
    --json                    # Print machine-readable JSON (fields documented in README)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    file?: path               # The ecosystem file to check (default ./ecosystem.toml)
  ]

  # Write an ecosystem.toml from PM2's configuration, listing what could not be carried over
  export extern "tpctl import" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # A PM2 ecosystem file: .js/.cjs (evaluated with node), .json, .yaml
  export extern "tpctl import pm2" [
    --output(-o): path        # Where to write (default: ecosystem.toml beside FILE); relative paths are rebased
    --env: string             # A variable for evaluating a .js file (repeatable), e.g. --env NODE_ENV=production
    --force                   # Replace an existing output file
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    file: path
  ]

  # A PM2 dump (default $PM2_HOME/dump.pm2, or ~/.pm2/dump.pm2)
  export extern "tpctl import pm2-dump" [
    --output(-o): path        # Where to write (default: ./ecosystem.toml)
    --force                   # Replace an existing output file
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    path?: path
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl import help" [
  ]

  # A PM2 ecosystem file: .js/.cjs (evaluated with node), .json, .yaml
  export extern "tpctl import help pm2" [
  ]

  # A PM2 dump (default $PM2_HOME/dump.pm2, or ~/.pm2/dump.pm2)
  export extern "tpctl import help pm2-dump" [
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl import help help" [
  ]

  # Full-screen dashboard: every app's status, CPU and memory beside its queue's figures, the queues, and the selected app's log; keys restart, stop, pause, retry and clean
  export extern "tpctl monit" [
    --interval: string        # Seconds between refreshes (0.2 to 60)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # The browser dashboard, its JSON API (/api/v1/) and /metrics for Prometheus
  export extern "tpctl web" [
    --listen: string          # Address and port to listen on (PM2's `pm2 web` port by default)
    --token-file: path        # The token file (one line, mode 0600); default TPCTL_HOME/web.token, created if missing
    --allow-host: string      # A host name (besides IP addresses and localhost) the Host header may carry (repeatable)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Every BullMQ queue with its status, workers and job counts (TestPlanIt's Admin › Job Queues)
  export extern "tpctl queues" [
    --watch                   # Refresh every 2 seconds until Ctrl-C
    --json                    # Print machine-readable JSON (fields documented in README)
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Act on one queue: pause, resume, list and inspect jobs, retry, promote, remove, clean, drain, add
  export extern "tpctl queue" [
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    name: string              # The queue (for example emails, notifications, forecast-updates)
  ]

  # Stop workers taking jobs from the queue
  export extern "tpctl queue pause" [
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Let workers take jobs again
  export extern "tpctl queue resume" [
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # List jobs of one state, newest first
  export extern "tpctl queue jobs" [
    --state: string           # Only jobs in these states (comma-separated): waiting, paused, active, delayed, prioritized, completed, failed; default all of them
    --limit: string           # At most this many jobs per state, newest first
    --json                    # Print JSON (id, name, state, attemptsMade, timestamp, processedOn, finishedOn, failedReason)
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # One job: state, times, attempts, failure, data, options, stack traces, logs
  export extern "tpctl queue job" [
    --json                    # The raw job as JSON (Node's field names, plus state and logs)
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    id: string
  ]

  # Run a failed job again, or every failed job
  export extern "tpctl queue retry" [
    --all-failed
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    id?: string
  ]

  # Make a delayed job ready now
  export extern "tpctl queue promote" [
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    id: string
  ]

  # Remove a job (asks first); a running one only with --force, which retries while it finishes
  export extern "tpctl queue remove" [
    --force
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    id: string
  ]

  # Remove finished jobs older than --grace (asks first)
  export extern "tpctl queue clean" [
    --grace: string           # Age to keep, such as 1h or 7d (0 removes all)
    --limit: string
    --state: string           # completed or failed
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Remove every waiting job (asks first)
  export extern "tpctl queue drain" [
    --delayed                 # Delayed jobs too
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  # Add a job by hand (for example a forecast update or a reindex)
  export extern "tpctl queue add" [
    --data: string            # The job data, JSON
    --yes                     # Do not ask before destructive actions
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    job_name: string          # The job name, as the worker knows it
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl queue help" [
  ]

  # Stop workers taking jobs from the queue
  export extern "tpctl queue help pause" [
  ]

  # Let workers take jobs again
  export extern "tpctl queue help resume" [
  ]

  # List jobs of one state, newest first
  export extern "tpctl queue help jobs" [
  ]

  # One job: state, times, attempts, failure, data, options, stack traces, logs
  export extern "tpctl queue help job" [
  ]

  # Run a failed job again, or every failed job
  export extern "tpctl queue help retry" [
  ]

  # Make a delayed job ready now
  export extern "tpctl queue help promote" [
  ]

  # Remove a job (asks first); a running one only with --force, which retries while it finishes
  export extern "tpctl queue help remove" [
  ]

  # Remove finished jobs older than --grace (asks first)
  export extern "tpctl queue help clean" [
  ]

  # Remove every waiting job (asks first)
  export extern "tpctl queue help drain" [
  ]

  # Add a job by hand (for example a forecast update or a reindex)
  export extern "tpctl queue help add" [
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl queue help help" [
  ]

  # Generate shell completions or man pages (the checked-in ones come from here)
  export extern "tpctl generate" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
  ]

  def "nu-complete tpctl generate completions shell" [] {
    [ "bash" "zsh" "fish" "elvish" "powershell" "nushell" ]
  }

  # A completion script for SHELL, on stdout; app names complete from ./ecosystem.toml and the known apps
  export extern "tpctl generate completions" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    shell: string@"nu-complete tpctl generate completions shell"
  ]

  # Man pages (tpctl.1 and one per command) into DIR
  export extern "tpctl generate man" [
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    dir: path
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl generate help" [
  ]

  # A completion script for SHELL, on stdout; app names complete from ./ecosystem.toml and the known apps
  export extern "tpctl generate help completions" [
  ]

  # Man pages (tpctl.1 and one per command) into DIR
  export extern "tpctl generate help man" [
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl generate help help" [
  ]

  # Run apps in the foreground with prefixed output, for development and as a container's entry point (PID 1); Ctrl-C or SIGTERM stops them all gracefully
  export extern "tpctl run" [
    --only: string            # Only these apps (comma-separated names) of the files or apps given, as PM2's --only; with nothing else given, of ./ecosystem.toml
    --update-env              # Replace the environment recorded at each app's first start with this shell's, and say which variables changed (the ecosystem file and env files are read again either way)
    --json                    # Each output line as a JSON object (`time`, `app`, `stream`, `line`) instead of `name | line`
    --quiet(-q)               # Print only what went wrong: no progress lines, no `✓` lines, no tables after an action (what a command is asked to show, such as `status`, is shown)
    --help(-h)                # Print help
    --version(-V)             # Print version
    ...targets: string        # App names, numbers, instance ids, `all`, or paths to ecosystem files
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl help" [
  ]

  # Start apps from an ecosystem file (default ./ecosystem.toml) or by name
  export extern "tpctl help start" [
  ]

  # Stop apps gracefully: kill_signal to the process group, SIGKILL after kill_timeout
  export extern "tpctl help stop" [
  ]

  # Restart apps; their ecosystem file and env files are read again
  export extern "tpctl help restart" [
  ]

  # Restart apps gracefully one instance at a time: the next only once the previous is online again, so an app with `instances > 1` keeps serving (PM2's reload)
  export extern "tpctl help reload" [
  ]

  # Alerts: check that every destination of the file's [alerts] gets them
  export extern "tpctl help alerts" [
  ]

  # Send a test alert to every destination now and print each one's answer
  export extern "tpctl help alerts test" [
  ]

  # Write a starting ecosystem.toml: TestPlanIt's scheduler and workers (PM2's init)
  export extern "tpctl help init" [
  ]

  # For deploy scripts (PM2's startOrRestart): restart the apps of a file that run, with the file read again, and start the others
  export extern "tpctl help start-or-restart" [
  ]

  # For deploy scripts (PM2's startOrReload): start the apps of a file that do not run, then reload those that do, one instance at a time
  export extern "tpctl help start-or-reload" [
  ]

  # Stop apps and remove them from the list (their logs stay on disk)
  export extern "tpctl help delete" [
  ]

  # List every app with its status, pid, uptime, restarts, CPU and memory
  export extern "tpctl help status" [
  ]

  # Show one app's resolved settings (secrets redacted), status and restart ledger
  export extern "tpctl help describe" [
  ]

  # Stop every app; every keeper exits
  export extern "tpctl help kill" [
  ]

  # Show apps' recent output, and follow it (the default on a terminal)
  export extern "tpctl help logs" [
  ]

  # Empty apps' log files (and their rotated copies) while they keep running
  export extern "tpctl help flush" [
  ]

  # Reopen every log file by name, after an external logrotate moved them
  export extern "tpctl help reload-logs" [
  ]

  # Save the current process list to dump.toml, for `resurrect` and the boot integration
  export extern "tpctl help save" [
  ]

  # Bring back the saved process list: saved-running apps start in `after` order, the rest are listed as stopped; apps already running are left alone. Each app gets the environment recorded when it was saved, whatever the shell's
  export extern "tpctl help resurrect" [
  ]

  # Generate, install, check or print the boot integration that runs `tpctl resurrect` at boot
  export extern "tpctl help startup" [
  ]

  # Remove what `tpctl startup --install` installed
  export extern "tpctl help unstartup" [
  ]

  # Check what the workers need: Valkey, PostgreSQL and its connection budget, programs, env vars, kill timeouts, disk, boot integration. Exits 1 when a check fails
  export extern "tpctl help doctor" [
  ]

  # Write an ecosystem.toml from PM2's configuration, listing what could not be carried over
  export extern "tpctl help import" [
  ]

  # A PM2 ecosystem file: .js/.cjs (evaluated with node), .json, .yaml
  export extern "tpctl help import pm2" [
  ]

  # A PM2 dump (default $PM2_HOME/dump.pm2, or ~/.pm2/dump.pm2)
  export extern "tpctl help import pm2-dump" [
  ]

  # Full-screen dashboard: every app's status, CPU and memory beside its queue's figures, the queues, and the selected app's log; keys restart, stop, pause, retry and clean
  export extern "tpctl help monit" [
  ]

  # The browser dashboard, its JSON API (/api/v1/) and /metrics for Prometheus
  export extern "tpctl help web" [
  ]

  # Every BullMQ queue with its status, workers and job counts (TestPlanIt's Admin › Job Queues)
  export extern "tpctl help queues" [
  ]

  # Act on one queue: pause, resume, list and inspect jobs, retry, promote, remove, clean, drain, add
  export extern "tpctl help queue" [
  ]

  # Stop workers taking jobs from the queue
  export extern "tpctl help queue pause" [
  ]

  # Let workers take jobs again
  export extern "tpctl help queue resume" [
  ]

  # List jobs of one state, newest first
  export extern "tpctl help queue jobs" [
  ]

  # One job: state, times, attempts, failure, data, options, stack traces, logs
  export extern "tpctl help queue job" [
  ]

  # Run a failed job again, or every failed job
  export extern "tpctl help queue retry" [
  ]

  # Make a delayed job ready now
  export extern "tpctl help queue promote" [
  ]

  # Remove a job (asks first); a running one only with --force, which retries while it finishes
  export extern "tpctl help queue remove" [
  ]

  # Remove finished jobs older than --grace (asks first)
  export extern "tpctl help queue clean" [
  ]

  # Remove every waiting job (asks first)
  export extern "tpctl help queue drain" [
  ]

  # Add a job by hand (for example a forecast update or a reindex)
  export extern "tpctl help queue add" [
  ]

  # Generate shell completions or man pages (the checked-in ones come from here)
  export extern "tpctl help generate" [
  ]

  # A completion script for SHELL, on stdout; app names complete from ./ecosystem.toml and the known apps
  export extern "tpctl help generate completions" [
  ]

  # Man pages (tpctl.1 and one per command) into DIR
  export extern "tpctl help generate man" [
  ]

  # Run apps in the foreground with prefixed output, for development and as a container's entry point (PID 1); Ctrl-C or SIGTERM stops them all gracefully
  export extern "tpctl help run" [
  ]

  # Print this message or the help of the given subcommand(s)
  export extern "tpctl help help" [
  ]

}

export use completions *
