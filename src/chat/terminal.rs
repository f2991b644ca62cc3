//! The terminal as a messenger: prints what the bot sends, the way a phone would show it,
//! and remembers buttons so a person can press them by number or label.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono_tz::Tz;

use crate::clock::{Clock, ManualClock};
use crate::domain::{Button, ChatId, Outgoing};
use crate::worker::delivery::{Delivered, Messenger};

/// What the screen shows and remembers. Shared by the messenger and the chat loop.
pub struct Screen {
    pub names: HashMap<ChatId, String>,
    keyboards: HashMap<(ChatId, i32), Vec<Vec<Button>>>,
    latest_with_buttons: HashMap<ChatId, i32>,
    next_message_id: i32,
    /// Everything shown since the last command, for `:expect`: to whom, and what.
    pub since: Vec<(ChatId, String)>,
    /// The most recent invite link any message contained.
    pub last_link: Option<String>,
    pub color: bool,
    tz: Tz,
    clock: ManualClock,
}

impl Screen {
    pub fn new(tz: Tz, clock: ManualClock, color: bool) -> Self {
        Screen {
            names: HashMap::new(),
            keyboards: HashMap::new(),
            latest_with_buttons: HashMap::new(),
            next_message_id: 1,
            since: Vec::new(),
            last_link: None,
            color,
            tz,
            clock,
        }
    }

    /// "[Mon 08:00]" in the world's timezone.
    pub fn stamp(&self) -> String {
        format!(
            "[{}]",
            self.clock.now().with_timezone(&self.tz).format("%a %H:%M")
        )
    }

    fn header(&self, chat: ChatId, note: &str) -> String {
        let who = self
            .names
            .get(&chat)
            .cloned()
            .unwrap_or_else(|| chat.to_string());
        let head = format!("{} → {who}{note}", self.stamp());
        self.paint("36", &head)
    }

    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// The latest message with buttons in `chat`, and its buttons in order.
    pub fn latest_buttons(&self, chat: ChatId) -> Option<(i32, Vec<Button>)> {
        let id = *self.latest_with_buttons.get(&chat)?;
        let rows = self.keyboards.get(&(chat, id))?;
        Some((id, rows.iter().flatten().cloned().collect()))
    }

    fn show(&mut self, chat: ChatId, block: String, plain: String) {
        println!("{block}");
        let _ = std::io::stdout().flush();
        self.since.push((chat, plain));
    }

    fn keys_line(&self, rows: &[Vec<Button>]) -> String {
        let all: Vec<&Button> = rows.iter().flatten().collect();
        // Number buttons (a scale) are pressed by their own number.
        let numeric = all.iter().all(|b| b.label.parse::<i64>().is_ok());
        let mut n = 0;
        let rendered: Vec<String> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|b| {
                        n += 1;
                        if numeric {
                            format!("[{}]", b.label)
                        } else {
                            format!("[{n} {}]", b.label)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        rendered.join("\n  ")
    }

    /// A message as it reads (new, or as an edit made it), with its keyboard, which becomes
    /// the chat's latest to press; `:expect` sees the text and the button labels.
    fn show_message(
        &mut self,
        chat: ChatId,
        id: i32,
        note: &str,
        text: &str,
        buttons: Vec<Vec<crate::domain::Button>>,
    ) {
        let mut block = format!(
            "{}\n  {}",
            self.header(chat, note),
            text.replace('\n', "\n  ")
        );
        let mut plain = text.to_string();
        if buttons.is_empty() {
            self.keyboards.remove(&(chat, id));
        } else {
            let keys = self.keys_line(&buttons);
            block.push_str(&format!("\n  {}", self.paint("1", &keys)));
            // What `:expect` sees: the labels, as on a phone (not our numbering).
            for b in buttons.iter().flatten() {
                plain.push_str(&format!(" [{}]", b.label));
            }
            self.keyboards.insert((chat, id), buttons);
            self.latest_with_buttons.insert(chat, id);
        }
        self.show(chat, block, plain);
    }

    fn render(&mut self, chat: ChatId, body: Outgoing) -> Option<i32> {
        match body {
            Outgoing::Message { text, buttons, .. } => {
                let id = self.next_message_id;
                self.next_message_id += 1;
                if let Some(start) = text.find("https://t.me/") {
                    let link: String = text[start..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    self.last_link = Some(link);
                }
                self.show_message(chat, id, "", &text, buttons);
                Some(id)
            }
            Outgoing::EditButtons {
                message_id,
                buttons,
            } => {
                let labels: Vec<String> = buttons
                    .iter()
                    .flatten()
                    .map(|b| format!("[{}]", b.label))
                    .collect();
                if buttons.is_empty() {
                    self.keyboards.remove(&(chat, message_id));
                } else {
                    self.keyboards.insert((chat, message_id), buttons);
                }
                let line = labels.join(" ");
                let block = format!("{}\n  {}", self.header(chat, "  (buttons now)"), line);
                self.show(chat, block, line);
                Some(message_id)
            }
            Outgoing::EditMessage {
                message_id,
                text,
                buttons,
            } => {
                // Shown in full, as the message now reads; its buttons are the latest to press.
                self.show_message(chat, message_id, "  (message now)", &text, buttons);
                Some(message_id)
            }
            Outgoing::AnswerCallback { text: Some(t), .. } => {
                let block = format!("{}\n  {}", self.header(chat, "  (notice)"), t);
                self.show(chat, block, t);
                None
            }
            Outgoing::AnswerCallback { text: None, .. } => None,
            Outgoing::Document {
                filename,
                content,
                caption,
            } => {
                let id = self.next_message_id;
                self.next_message_id += 1;
                // Saved like a chart, so it can be opened: `/mydata`'s file is what the
                // person would download.
                let path =
                    std::env::temp_dir().join(format!("staywell-{}-{id}-{filename}", chat.0));
                let note = match std::fs::write(&path, &content) {
                    Ok(()) => format!(
                        "[file {filename}, {} bytes, saved to {}]",
                        content.len(),
                        path.display()
                    ),
                    Err(_) => format!(
                        "[file {filename}, {} bytes: could not be saved]",
                        content.len()
                    ),
                };
                let block = format!(
                    "{}\n  {}\n  {}",
                    self.header(chat, "  (file)"),
                    self.paint("1", &note),
                    caption.replace('\n', "\n  ")
                );
                self.show(
                    chat,
                    block,
                    format!("[file {filename}, {} bytes] {caption}", content.len()),
                );
                Some(id)
            }
            Outgoing::Chart { chart, caption } => {
                let id = self.next_message_id;
                self.next_message_id += 1;
                let path = std::env::temp_dir().join(format!("staywell-week-{}-{id}.png", chat.0));
                let saved = crate::week::render::png(&chart)
                    .and_then(|png| Ok(std::fs::write(&path, png)?));
                let title = &chart.labels.title;
                let note = match saved {
                    Ok(()) => format!("[chart titled \"{title}\" saved to {}]", path.display()),
                    Err(_) => "[chart: could not be drawn]".to_string(),
                };
                let block = format!(
                    "{}\n  {}\n  {}",
                    self.header(chat, "  (photo)"),
                    self.paint("1", &note),
                    caption.replace('\n', "\n  ")
                );
                self.show(
                    chat,
                    block,
                    format!("[chart] {caption} [titled \"{title}\"]"),
                );
                Some(id)
            }
        }
    }
}

/// Delivers to the screen. Never fails: a terminal has no rate limits or outages.
#[derive(Clone)]
pub struct TerminalMessenger {
    pub screen: Arc<Mutex<Screen>>,
}

impl Messenger for TerminalMessenger {
    async fn deliver(&self, chat: ChatId, body: Outgoing) -> Delivered {
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        let message_id = screen.render(chat, body);
        Delivered::Sent { message_id }
    }
}
