//! `staywell chat`: the whole bot in a terminal, in virtual time. Same store, dialogs,
//! conversation and outbox as `serve`; only the transport (the terminal instead of Telegram)
//! and the clock (virtual instead of wall) differ.

pub mod command;
pub mod terminal;

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::io::AsyncBufReadExt;

use self::command::{Line, parse};
use self::terminal::{Screen, TerminalMessenger};
use crate::clock::{Clock, ManualClock};
use crate::config::OutboxSettings;
use crate::domain::{ChatId, Incoming, Input, Sender, UpdateId, UserId};
use crate::machinery::{Machinery, WorldOptions};
use crate::scheduler::Scheduler;
use crate::store::prelude::*;
use crate::store::{InstanceLock, Store};
use crate::worker::delivery::Delivery;
use crate::worker::inbox::Processor;

pub struct ChatOptions {
    /// A database file to keep (default: in memory, gone on exit).
    pub db: Option<PathBuf>,
    pub dialogs_dir: PathBuf,
    /// Local start time in `tz`.
    pub start: NaiveDateTime,
    pub tz: Tz,
    /// Run these lines instead of reading the keyboard (`-` for stdin).
    pub script: Option<PathBuf>,
    /// Minutes before the one reminder (as `schedule.reminder_minutes`).
    pub reminder_minutes: u32,
}

struct Persona {
    chat: ChatId,
}

/// The world of one chat session: people, the bot's machinery, the virtual clock.
struct World {
    store: Store,
    processor: Processor,
    scheduler: Scheduler,
    delivery: Delivery<TerminalMessenger>,
    clock: ManualClock,
    screen: Arc<Mutex<Screen>>,
    personas: BTreeMap<String, Persona>,
    current: String,
    next_press: u64,
    /// Labels of the buttons a number can never mean (Skip, Later): at a question that
    /// offers only these, a bare number is the answer typed in.
    controls: Vec<String>,
    /// Where the previous `:expect` matched in each chat, in what the bot said since the last
    /// action (message, byte offset after the match): the next `:expect` must match after it.
    expect_from: HashMap<ChatId, (usize, usize)>,
    _lock: InstanceLock,
}

/// What happened to a line, for the caller (scripts stop at the first failure).
enum Outcome {
    Ok,
    /// A problem with the line itself: one clear sentence, nothing changed.
    Problem(String),
    /// An `:expect` that did not hold.
    Failed(String),
    Quit,
}

impl World {
    async fn new(opts: &ChatOptions, color: bool) -> anyhow::Result<World> {
        let start = opts
            .tz
            .from_local_datetime(&opts.start)
            .earliest()
            .context("--start is not a valid local time in --tz")?
            .with_timezone(&Utc);
        let screen_cell: std::cell::OnceCell<Arc<Mutex<Screen>>> = std::cell::OnceCell::new();
        let parts = Machinery::build(
            WorldOptions {
                db: opts.db.clone(),
                dialogs_dir: &opts.dialogs_dir,
                start,
                reminder_minutes: opts.reminder_minutes,
                outbox: OutboxSettings::default(),
            },
            |clock, _| {
                let screen = Arc::new(Mutex::new(Screen::new(opts.tz, clock.clone(), color)));
                let _ = screen_cell.set(screen.clone());
                TerminalMessenger { screen }
            },
        )
        .await?;
        let screen = screen_cell
            .into_inner()
            .context("the terminal was not built")?;
        let Machinery {
            store,
            processor,
            scheduler,
            delivery,
            clock,
            lock,
            content,
            ..
        } = parts;
        let controls = vec![
            content.texts.button_skip.clone(),
            content.texts.button_later.clone(),
        ];
        let mut world = World {
            store,
            processor,
            scheduler,
            delivery,
            clock,
            screen,
            personas: BTreeMap::new(),
            controls,
            current: String::new(),
            next_press: 1,
            expect_from: HashMap::new(),
            _lock: lock,
        };
        world.become_("alex");
        Ok(world)
    }

    fn screen(&self) -> std::sync::MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Becomes `name`, creating the person on first use.
    fn become_(&mut self, name: &str) {
        if !self.personas.contains_key(name) {
            // Stable, distinct ids: 1001, 1002, … in order of first appearance.
            let chat = ChatId(1000 + self.personas.len() as i64 + 1);
            self.personas.insert(name.to_string(), Persona { chat });
            self.screen().names.insert(chat, name.to_string());
        }
        self.current = name.to_string();
    }

    fn me(&self) -> (ChatId, Sender) {
        let chat = self.personas[&self.current].chat;
        let mut first = self.current.clone();
        if let Some(c) = first.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        let sender = Sender {
            user_id: UserId(chat.0),
            first_name: first,
            username: Some(self.current.clone()),
        };
        (chat, sender)
    }

    /// Puts one input through the same path as a Telegram update: inbox, processing, outbox,
    /// delivery.
    async fn send(&mut self, input: Input) -> anyhow::Result<()> {
        let (chat, sender) = self.me();
        let id = self.store.next_offset().await?.max(1);
        let now = self.clock.now();
        let incoming = Incoming {
            update_id: UpdateId(id),
            chat: Some(chat),
            sender: Some(sender),
            kind: "message".into(),
            input,
            sent_at: Some(now),
        };
        self.store.save_updates(&[incoming], id + 1, now).await?;
        self.settle().await
    }

    /// The next moment something is due: a slot, a reminder, a window closing, a delivery.
    async fn next_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self.store.next_event().await?)
    }

    /// Runs everything due at the current virtual time: processing, the scheduler, delivery.
    async fn settle(&mut self) -> anyhow::Result<()> {
        while self.processor.process_batch().await? > 0 {}
        self.scheduler.tick(self.clock.now()).await?;
        self.delivery.drain().await?;
        Ok(())
    }

    async fn press(
        &mut self,
        pick: impl Fn(&[crate::domain::Button]) -> Option<usize>,
    ) -> anyhow::Result<Outcome> {
        let (chat, _) = self.me();
        let latest = self.screen().latest_buttons(chat);
        let Some((message_id, buttons)) = latest else {
            return Ok(Outcome::Problem(format!(
                "there are no buttons to press in {}'s chat",
                self.current
            )));
        };
        let Some(i) = pick(&buttons) else {
            let labels: Vec<String> = buttons.iter().map(|b| b.label.clone()).collect();
            return Ok(Outcome::Problem(format!(
                "no such button; the buttons are: {}",
                labels.join(" | ")
            )));
        };
        let query_id = format!("cq{}", self.next_press);
        self.next_press += 1;
        self.send(Input::Callback {
            query_id,
            data: Some(buttons[i].data.clone()),
            message_id: Some(message_id),
        })
        .await?;
        Ok(Outcome::Ok)
    }

    /// Lets `by` of virtual time pass; everything due in it happens, in order: the clock
    /// jumps from one due moment to the next (slots, reminders, window closes, deliveries).
    async fn wait(&mut self, by: chrono::Duration) -> anyhow::Result<()> {
        let target = self.clock.now() + by;
        // Bounded, in case something kept rescheduling itself at the same instant.
        for _ in 0..100_000 {
            let Some(t) = self.next_due().await?.filter(|t| *t <= target) else {
                break;
            };
            if t > self.clock.now() {
                self.clock.set(t);
            }
            self.settle().await?;
            if self.next_due().await? == Some(t) {
                break; // nothing moved: stop rather than spin
            }
        }
        self.clock.set(target);
        self.settle().await?;
        let stamp = self.screen().stamp();
        println!("{stamp} ({} later)", human(by));
        Ok(())
    }

    /// What the bot said since the last action, each message under whom it went to.
    fn show(&self, said: &[(ChatId, String)]) -> String {
        if said.is_empty() {
            return "  (nothing)".into();
        }
        let screen = self.screen();
        said.iter()
            .map(|(chat, text)| {
                let who = screen.names.get(chat).cloned().unwrap_or_default();
                format!("  → {who}\n  | {}", text.replace('\n', "\n  | "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn line(&mut self, line: &str) -> anyhow::Result<Outcome> {
        let parsed = parse(line);
        if !matches!(
            parsed,
            Line::Expect(_) | Line::ExpectNone(_) | Line::Nothing
        ) {
            self.screen().since.clear();
            self.expect_from.clear();
        }
        Ok(match parsed {
            Line::Nothing => Outcome::Ok,
            Line::Say(text) => {
                self.send(Input::from_text(&text)).await?;
                Outcome::Ok
            }
            Line::PressNumber(n) => {
                let (chat, _) = self.me();
                let latest = self.screen().latest_buttons(chat);
                let Some((_, buttons)) = latest else {
                    return Ok(Outcome::Problem(format!(
                        "there are no buttons to press in {}'s chat yet; type a message, or /start",
                        self.current
                    )));
                };
                // A number presses that button (a scale's buttons by their own number); a
                // number that is no button is sent as a message, like an answer typed in.
                let numeric = buttons.iter().all(|b| b.label.parse::<i64>().is_ok());
                let only_controls = buttons.iter().all(|b| self.controls.contains(&b.label));
                let hit = if numeric {
                    buttons.iter().position(|b| b.label == n.to_string())
                } else if only_controls {
                    None // a number question ("hours slept"), offering only Skip
                } else {
                    n.checked_sub(1).filter(|i| *i < buttons.len())
                };
                match hit {
                    Some(i) => self.press(|_| Some(i)).await?,
                    None => {
                        self.send(Input::from_text(&n.to_string())).await?;
                        Outcome::Ok
                    }
                }
            }
            Line::PressIf(label) => {
                let wanted = label.to_lowercase();
                let (chat, _) = self.me();
                let latest = self.screen().latest_buttons(chat);
                let there = latest.is_some_and(|(_, b)| {
                    b.iter().any(|b| b.label.to_lowercase().contains(&wanted))
                });
                if there {
                    self.press(|buttons| {
                        buttons
                            .iter()
                            .position(|b| b.label.to_lowercase().contains(&wanted))
                    })
                    .await?
                } else {
                    println!("(no button {label:?} here; nothing pressed)");
                    Outcome::Ok
                }
            }
            Line::Press(label) => {
                let wanted = label.to_lowercase();
                self.press(|buttons| {
                    buttons
                        .iter()
                        .position(|b| b.label.to_lowercase() == wanted)
                        .or_else(|| {
                            buttons
                                .iter()
                                .position(|b| b.label.to_lowercase().contains(&wanted))
                        })
                })
                .await?
            }
            Line::As(name) => {
                self.become_(&name);
                println!("(you are now {name})");
                Outcome::Ok
            }
            Line::Open(link) => {
                let link = link.or_else(|| self.screen().last_link.clone());
                match link {
                    None => Outcome::Problem("no invite link has been shown yet".into()),
                    Some(link) => {
                        let token = link.rsplit("start=").next().unwrap_or(&link).to_string();
                        self.send(Input::from_text(&format!("/start {token}")))
                            .await?;
                        Outcome::Ok
                    }
                }
            }
            Line::Wait(d) => {
                self.wait(d).await?;
                Outcome::Ok
            }
            Line::Expect(text) => {
                let since = self.screen().since.clone();
                match find_after(&since, &self.expect_from, &text) {
                    Some((chat, end)) => {
                        self.expect_from.insert(chat, end);
                        Outcome::Ok
                    }
                    None if since.iter().any(|(_, s)| s.contains(&text)) => {
                        Outcome::Failed(format!(
                            "expected the bot to say something containing {text:?} after what the previous :expect matched in that chat, but it came before it; it said:\n{}",
                            self.show(&since)
                        ))
                    }
                    None => Outcome::Failed(format!(
                        "expected the bot to say something containing {text:?}; it said:\n{}",
                        self.show(&since)
                    )),
                }
            }
            Line::ExpectNone(text) => {
                let since = self.screen().since.clone();
                if since.iter().any(|(_, s)| s.contains(&text)) {
                    Outcome::Failed(format!(
                        "expected nothing containing {text:?}; the bot said:\n{}",
                        self.show(&since)
                    ))
                } else {
                    Outcome::Ok
                }
            }
            Line::Now => {
                let now = self.clock.now();
                let tz = self.screen().stamp();
                println!("{tz} (virtual time; {} UTC)", now.format("%Y-%m-%d %H:%M"));
                Outcome::Ok
            }
            Line::Who => {
                let names: Vec<String> = self.personas.keys().cloned().collect();
                println!(
                    "you are {}; people here: {}",
                    self.current,
                    names.join(", ")
                );
                Outcome::Ok
            }
            Line::Quit => Outcome::Quit,
            Line::Problem(p) => Outcome::Problem(p),
        })
    }
}

/// Where `text` first occurs in `said` after the previous match in the same chat (`from`:
/// message index, byte offset after it): that chat and the place just after it. So within
/// one person's chat, consecutive `:expect`s must match in the order the bot said things
/// (several in one message in the order they appear in it). Messages to different people
/// have no order to check: Telegram delivers to different chats independently.
fn find_after(
    said: &[(ChatId, String)],
    from: &HashMap<ChatId, (usize, usize)>,
    text: &str,
) -> Option<(ChatId, (usize, usize))> {
    said.iter().enumerate().find_map(|(i, (chat, message))| {
        let (after, offset) = from.get(chat).copied().unwrap_or((0, 0));
        let start = match i.cmp(&after) {
            std::cmp::Ordering::Less => return None,
            std::cmp::Ordering::Equal => offset,
            std::cmp::Ordering::Greater => 0,
        };
        let found = message.get(start..)?.find(text)?;
        Some((*chat, (i, start + found + text.len())))
    })
}

fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    let (days, hours, minutes, seconds) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn banner(opts: &ChatOptions, start: DateTime<Utc>) -> String {
    let local = start.with_timezone(&opts.tz).format("%a %-d %b %Y %H:%M");
    let db = match &opts.db {
        Some(p) => format!("database {}", p.display()),
        None => "database in memory (gone when you leave; --db PATH keeps it)".into(),
    };
    format!(
        "staywell chat — the bot in your terminal, in virtual time. No Telegram, no network.\n\
         You are alex, a new member: type /start to begin. Type text to send it, a number to press that\n\
         button (scale buttons by their own number), or :press LABEL. Also :as NAME, :wait 3h, :now, :who.\n\
         Leave with :quit or Ctrl-D. Virtual time starts {local} ({}); {db}.",
        opts.tz
    )
}

/// Runs a chat session (interactive or scripted). Exit 1 on a failed `:expect` in a script
/// or on an error.
pub async fn run(opts: ChatOptions) -> ExitCode {
    let interactive = opts.script.is_none();
    let color = interactive && std::io::stdout().is_terminal();
    let mut world = match World::new(&opts, color).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", banner(&opts, world.clock.now()));
    let code = match &opts.script {
        Some(path) => run_script(&mut world, path).await,
        None => run_interactive(&mut world).await,
    };
    world.store.close().await;
    code
}

async fn run_script(world: &mut World, path: &PathBuf) -> ExitCode {
    let (name, text) = if path.as_os_str() == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            eprintln!("error: cannot read the script from stdin: {e}");
            return ExitCode::FAILURE;
        }
        ("<stdin>".to_string(), s)
    } else {
        match std::fs::read_to_string(path) {
            Ok(s) => (path.display().to_string(), s),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    };
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        let shown = line.trim();
        if !shown.is_empty() && !shown.starts_with('#') && !shown.starts_with(":expect") {
            println!("{}> {}", world.current, shown);
        }
        match world.line(line).await {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Quit) => break,
            Ok(Outcome::Problem(p)) | Ok(Outcome::Failed(p)) => {
                eprintln!("{at}: {p}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("{at}: error: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

async fn run_interactive(world: &mut World) -> ExitCode {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let prompt = world.screen().paint("33", &format!("{}> ", world.current));
        print!("{prompt}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let line = tokio::select! {
            l = lines.next_line() => l,
            _ = tokio::signal::ctrl_c() => { println!(); return ExitCode::SUCCESS; }
        };
        let line = match line {
            Ok(Some(l)) => l,
            Ok(None) => {
                println!();
                return ExitCode::SUCCESS; // Ctrl-D
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match world.line(&line).await {
            Ok(Outcome::Ok) => {}
            Ok(Outcome::Quit) => return ExitCode::SUCCESS,
            Ok(Outcome::Problem(p)) | Ok(Outcome::Failed(p)) => {
                println!("{}", world.screen().paint("31", &format!("! {p}")))
            }
            Err(e) => println!("! error: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::find_after;
    use crate::domain::ChatId;

    #[test]
    fn an_expect_matches_only_after_the_previous_ones_match_in_that_chat() {
        let (alex, sam) = (ChatId(1), ChatId(2));
        let said = vec![
            (sam, "Alex asked me to tell you".to_string()),
            (alex, "Thanks, Alex. [Done]".to_string()),
            (alex, "How was your sleep? [Good] [Bad]".to_string()),
        ];
        let mut from = HashMap::new();
        // In order: across messages, and twice within one.
        for text in ["Thanks", "Done", "sleep", "[Bad]"] {
            let (chat, at) = find_after(&said, &from, text).unwrap();
            from.insert(chat, at);
        }
        assert_eq!(from[&alex], (2, 32));
        // Out of order in alex's chat: said, but before the previous match.
        assert_eq!(find_after(&said, &from, "Thanks"), None);
        assert_eq!(find_after(&said, &from, "sleep"), None);
        // Another person's chat has an order of its own.
        assert_eq!(find_after(&said, &from, "Alex asked"), Some((sam, (0, 10))));
    }
}
