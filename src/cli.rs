//! The command line: `serve`, `check`, `migrate`, `chat`, `simulate`, `rules`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_on_signals};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::content::Content;
use crate::store::Store;
use crate::store::prelude::*;

#[derive(Debug, Parser)]
#[command(
    name = "staywell",
    version,
    about = "A Telegram bot that helps people stay well"
)]
pub struct Cli {
    /// Settings file (default: ./staywell.toml if it exists). Environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory of dialog and content files (default: dialogs/).
    #[arg(long, global = true, value_name = "DIR")]
    pub dialogs: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot (needs TELOXIDE_TOKEN).
    Serve,
    /// Validate configuration, content files and the database; print every problem.
    Check,
    /// Apply database migrations and exit.
    Migrate,
    /// Try the bot in this terminal, in virtual time: no token, no network.
    Chat {
        /// Keep the conversation in this SQLite file (default: in memory).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
        /// Virtual start time, local to --tz.
        #[arg(
            long,
            value_name = "YYYY-MM-DDTHH:MM",
            default_value = "2026-03-02T08:00"
        )]
        start: String,
        /// Timezone of the virtual world.
        #[arg(long, default_value = "Europe/London")]
        tz: String,
        /// Run the lines of FILE (or - for stdin) instead of reading the keyboard.
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
    },
    /// Run a synthetic cohort through the real bot on a virtual clock, against a simulated
    /// Telegram with the real limits, and report load, latency and alerts.
    Simulate {
        /// How many members (each with 0–3 supporters).
        #[arg(long, default_value_t = 6000)]
        members: u32,
        /// How many virtual days.
        #[arg(long, default_value_t = 28)]
        days: u32,
        /// The cohort is generated from this seed: the same seed gives the same report.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Keep the virtual world in this SQLite file (default: in memory).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
        /// Also write the report as JSON to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// How the cohort behaves: a TOML file over the defaults (every key optional; the
        /// defaults, to copy, are dialogs/simulate-profile.toml).
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Also draw the message load over the day and alerts per week as a PNG.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Early-warning rules: tools for operators.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Replay stored history through the current templates and plans: which alerts would have
    /// fired when, and alerts per member per month (to tune thresholds against alert fatigue).
    Backtest {
        /// Only this member (their id, as in `/mydata`).
        #[arg(long)]
        member: Option<i64>,
        /// History from this date (default: 90 days ago).
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<String>,
        /// Every template at its defaults for every member, instead of each member's own plan.
        #[arg(long)]
        all_templates: bool,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    let (settings, config_errors) =
        match Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
            Ok(s) => (s, None),
            Err(e) => (Settings::default(), Some(e)),
        };
    let mut settings = settings;
    if let Some(d) = cli.dialogs.clone() {
        settings.dialogs_dir = d;
    }
    if let Some(e) = config_errors {
        eprintln!("{e}");
        if matches!(cli.command, Command::Check) {
            // Carry on checking everything else with the defaults, so every problem shows.
            let _ = check(settings, e.0.len()).await;
        }
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve => serve(settings).await,
        Command::Rules {
            command:
                RulesCommand::Backtest {
                    member,
                    since,
                    all_templates,
                },
        } => return crate::backtest::run(settings, member, since, all_templates).await,
        Command::Migrate => migrate(settings).await,
        Command::Simulate {
            members,
            days,
            seed,
            db,
            json,
            profile,
            png,
        } => {
            let opts = crate::simulate::SimOptions {
                members,
                days,
                seed,
                db,
                json,
                profile,
                png,
                dialogs_dir: settings.dialogs_dir,
                reminder_minutes: settings.reminder_minutes,
            };
            // One thread drives the whole virtual world, next to the store's SQLite thread:
            // handing each statement to that thread and back is most of a step's cost, and
            // far cheaper on one CPU than between two.
            return std::thread::spawn(move || {
                crate::simulate::keep_to_one_cpu();
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(crate::simulate::run(opts)),
                    Err(e) => {
                        eprintln!("error: cannot start the simulation: {e}");
                        ExitCode::FAILURE
                    }
                }
            })
            .join()
            .unwrap_or(ExitCode::FAILURE);
        }
        Command::Check => return check(settings, 0).await,
        Command::Chat {
            db,
            start,
            tz,
            script,
        } => {
            let start = match chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%dT%H:%M") {
                Ok(s) => s,
                Err(_) => {
                    eprintln!("error: --start must look like 2026-03-02T08:00");
                    return ExitCode::FAILURE;
                }
            };
            let Ok(tz) = tz.parse::<chrono_tz::Tz>() else {
                eprintln!("error: --tz `{tz}` is not a timezone (try Europe/London)");
                return ExitCode::FAILURE;
            };
            return crate::chat::run(crate::chat::ChatOptions {
                db,
                dialogs_dir: settings.dialogs_dir,
                start,
                tz,
                script,
                reminder_minutes: settings.reminder_minutes,
            })
            .await;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = Application::build(settings, clock).await?;
    app.run_until_stopped(shutdown_on_signals()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    println!("database is up to date");
    Ok(())
}

/// Plan rules whose stored settings cannot be read: each sign is off for its member (who is
/// told, once, when it would next be evaluated). Warnings; an error only if they cannot be
/// looked for. Returns the errors.
async fn unreadable_plan_rules(store: &Store) -> usize {
    match store.unreadable_plan_rules().await {
        Ok(rules) => {
            for u in rules {
                println!(
                    "warning: plan rule {} (member {}, sign `{}`): its stored settings cannot be read, so this sign is off; the member is told when it would next be checked, and choosing it again in /plan sets it up afresh",
                    u.id, u.member.0, u.rule_id
                );
            }
            0
        }
        Err(e) => {
            println!("error: database: plan rules: {e:#}");
            1
        }
    }
}

/// Updates set aside (kept in the inbox for 2 days), as warnings: the bot went on without
/// them, but someone may not have been answered.
async fn set_aside_updates(store: &Store) -> usize {
    match store.set_aside_counts().await {
        Ok((unreadable, failed)) => {
            if unreadable > 0 {
                println!(
                    "warning: inbox: {unreadable} update(s) from Telegram could not be read and were set aside (the others went on); their ids and kinds are in the inbox table with error '{}'",
                    crate::store::UNREADABLE_UPDATE
                );
            }
            if failed > 0 {
                println!(
                    "warning: inbox: {failed} update(s) failed 3 times and were set aside (the person was told something went wrong); their ids are in the inbox table with error '{}'",
                    crate::store::SET_ASIDE_AFTER_FAILURES
                );
            }
            0
        }
        Err(e) => {
            println!("error: database: inbox: {e:#}");
            1
        }
    }
}

/// `prior`: configuration errors already printed.
async fn check(settings: Settings, prior: usize) -> ExitCode {
    let mut errors = prior;
    let warn = |msg: String| println!("warning: {msg}");
    if settings.token.is_none() {
        warn(
            "TELOXIDE_TOKEN is not set: `staywell serve` needs a bot token from @BotFather".into(),
        );
    }
    if let Some(url) = &settings.api_url
        && url.starts_with("http://")
        && !(url.starts_with("http://127.0.0.1")
            || url.starts_with("http://localhost")
            || url.starts_with("http://[::1]"))
    {
        warn("TELOXIDE_API_URL uses plain http:// to another machine: the bot token travels in every request".into());
    }
    if settings.crash_at.is_some() {
        warn(
            "STAYWELL_CRASH_AT is set: this is for crash tests only and makes the bot abort".into(),
        );
    }
    // Every file is checked, whatever another one holds: a file that depends on others (the
    // lock and the rules on the dialogs, the dialogs on the tags) is checked against what did
    // load, and a problem is reported once, in its own file.
    let dir = &settings.dialogs_dir;
    let mut print = |diags: &[crate::diagnostic::Diagnostic]| {
        for d in diags {
            println!("{d}");
            if d.is_error() {
                errors += 1;
            }
        }
    };
    let content = Content::load(dir, SystemClock.now().date_naive());
    print(&content.diagnostics);
    let dialogs = crate::dialog::load_dir(dir);
    print(&dialogs.diagnostics);
    print(&crate::dialog::lock::check_lock(
        dir,
        &dialogs.partial,
        dialogs.dialogs_ok,
    ));
    let (templates, diags) =
        crate::rules::load_rules_against(dir, &crate::rules::Known::partly(&dialogs));
    print(&diags);
    for name in ["simulate-profile.toml", "simulate-peak.toml"] {
        let path = dir.join(name);
        if let Ok(src) = std::fs::read_to_string(&path)
            && let Err(diags) = crate::simulate::profile::Profile::load(&path, &src)
        {
            print(&diags);
        }
    }
    if let Some(t) = templates {
        println!(
            "rules: {} templates ({})",
            t.len(),
            t.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let loaded = &dialogs.partial;
    if dialogs.dialogs_ok {
        println!(
            "dialogs: {} loaded ({}), {} tags",
            loaded.dialogs.len(),
            loaded
                .dialogs
                .values()
                .map(|d| format!("{} v{}", d.id, d.version))
                .collect::<Vec<_>>()
                .join(", "),
            loaded.tags.len()
        );
        // Only when every dialog file loaded: one with errors may be the daily check-in.
        if !loaded.dialogs.contains_key(crate::dialog::CHECKIN_DIALOG) {
            println!(
                "error: no dialog with id `{}` under {}: /checkin and schedules need it",
                crate::dialog::CHECKIN_DIALOG,
                dir.display()
            );
            errors += 1;
        }
    }
    match Store::connect_existing(&settings.database_url).await {
        Ok(None) => println!("database: does not exist yet; `serve` or `migrate` will create it"),
        Ok(Some(store)) => {
            match store.pending_migrations().await {
                Ok(0) => {
                    println!("database: reachable and up to date");
                    errors += unreadable_plan_rules(&store).await;
                    errors += set_aside_updates(&store).await;
                }
                Ok(n) => println!("database: reachable; {n} migration(s) will be applied on start"),
                Err(e) => {
                    println!("error: database: {e:#}");
                    errors += 1;
                }
            }
            // The same refusal `serve` makes: a dialog whose wording changed under a version
            // number the database already knows.
            for d in loaded.dialogs.values() {
                if let Ok(Some(stored)) = store.dialog_hash(&d.id, d.version).await
                    && stored != d.content_hash()
                {
                    println!(
                        "error: dialog `{}` changed but is still version {} (this database has answers to the earlier wording): bump `version`",
                        d.id, d.version
                    );
                    errors += 1;
                }
            }
        }
        Err(e) => {
            println!("error: DATABASE_URL: {e:#}");
            errors += 1;
        }
    }
    if errors == 0 {
        println!("ok: no errors");
        ExitCode::SUCCESS
    } else {
        println!("{errors} error(s)");
        ExitCode::FAILURE
    }
}
