//! A member's history as rules read it: stored slots, sessions and answers turned into
//! check-ins with values by tag and the flags raised (pure).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::dialog::{AnswerValue, Registry, StepKind};
use crate::rules::{CheckIn, Outcome};
use crate::store::{HistorySession, RawHistory};

/// Turns stored slots, sessions and answers into check-ins with values by tag (pure).
pub fn build_history(raw: &RawHistory, dialogs: &Registry, tz: Tz) -> Vec<CheckIn> {
    let mut values: BTreeMap<i64, (BTreeMap<String, f64>, Vec<String>)> = BTreeMap::new();
    let sessions: BTreeMap<i64, &HistorySession> = raw.sessions.iter().map(|s| (s.id, s)).collect();
    for a in &raw.answers {
        let Some(s) = sessions.get(&a.session) else {
            continue;
        };
        let Some(dialog) = dialogs.get(&s.dialog_id, s.version) else {
            continue;
        };
        let entry = values.entry(a.session).or_default();
        if let Some(f) = &a.flags {
            entry
                .1
                .extend(f.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
        let Some(v) = a
            .value
            .as_deref()
            .and_then(|v| serde_json::from_str::<AnswerValue>(v).ok())
        else {
            continue;
        };
        let (tags, number) = if let Some(step) = dialog.steps.iter().find(|x| x.id == a.step_id) {
            (step.tags.clone(), step.kind.score(&v))
        } else if let Some(c) = dialog.computes.iter().find(|c| c.id == a.step_id) {
            (c.tags.clone(), StepKind::Message.score(&v))
        } else {
            continue;
        };
        if let Some(n) = number {
            for tag in tags {
                entry.0.insert(tag, n);
            }
        }
    }
    let mut out = Vec::new();
    let mut slotted = BTreeSet::new();
    for slot in &raw.slots {
        if let Some(s) = slot.session
            && !slotted.insert(s)
        {
            continue; // one check-in per session, whichever slots joined it
        }
        let done = slot
            .session
            .and_then(|s| sessions.get(&s))
            .is_some_and(|s| s.status == "completed");
        let some = slot.session.is_some_and(|s| values.contains_key(&s));
        let outcome = match slot.outcome.as_deref().and_then(Outcome::parse) {
            Some(o) => o,
            None if done => Outcome::Completed,
            // Still open but answered in part: what was answered counts now (an "I don't
            // feel safe" must not wait for the window to close).
            None if some => Outcome::Partial,
            None => continue, // still open, nothing answered yet
        };
        let (vals, flags) = slot
            .session
            .and_then(|s| values.get(&s).cloned())
            .unwrap_or_default();
        // A check-in begun of their own accord before its slot was due (the slot joined it)
        // happened when it began: "said again in a later check-in" must not find the same one.
        let began = slot
            .session
            .and_then(|s| sessions.get(&s))
            .map(|s| s.started);
        out.push(CheckIn {
            at: began.map_or(slot.due, |b| b.min(slot.due)),
            date: NaiveDate::parse_from_str(&slot.local_date, "%Y-%m-%d")
                .unwrap_or(slot.due.date_naive()),
            outcome,
            values: vals,
            flags,
        });
    }
    // Check-ins people started themselves (`/checkin`), outside any slot.
    for s in &raw.sessions {
        if slotted.contains(&s.id) || !values.contains_key(&s.id) {
            continue;
        }
        let (vals, flags) = values.get(&s.id).cloned().unwrap_or_default();
        out.push(CheckIn {
            at: s.started,
            date: s.started.with_timezone(&tz).date_naive(),
            outcome: if s.status == "completed" {
                Outcome::Completed
            } else {
                Outcome::Partial
            },
            values: vals,
            flags,
        });
    }
    out.sort_by_key(|c| c.at);
    out
}
