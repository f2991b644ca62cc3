//! A validated dialog: what the engine runs. Built only by `load`, so every goto target
//! exists, every expression type-checks and every tag is declared.

use serde::{Serialize, Serializer};

use super::engine::AnswerValue;
use super::expr::Expr;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dialog {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub default_locale: String,
    pub estimated_seconds: i64,
    /// Minutes after opening during which the session can be answered.
    pub answer_window_minutes: i64,
    pub provenance: Option<Provenance>,
    pub steps: Vec<Step>,
    pub computes: Vec<Compute>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub source: String,
    pub licence: String,
    pub verbatim: bool,
    pub notice: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub text: String,
    pub tags: Vec<String>,
    pub skippable: bool,
    #[serde(serialize_with = "expr_source_opt")]
    pub show_if: Option<Expr>,
    pub branches: Vec<Branch>,
    /// Where to go after this step when no branch matches (`None`: the next step).
    pub goto: Option<Target>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    Message,
    Scale {
        min: i64,
        max: i64,
        min_label: String,
        max_label: String,
    },
    Choice {
        options: Vec<Choice>,
    },
    Multi {
        options: Vec<Choice>,
        exclusive: Option<String>,
        min_selected: usize,
        max_selected: usize,
    },
    YesNo,
    Number {
        min: f64,
        max: f64,
        decimals: u32,
        unit: Option<String>,
    },
    Time,
    Text {
        max_length: usize,
    },
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Message => "message",
            StepKind::Scale { .. } => "scale",
            StepKind::Choice { .. } => "choice",
            StepKind::Multi { .. } => "multi",
            StepKind::YesNo => "yes_no",
            StepKind::Number { .. } => "number",
            StepKind::Time => "time",
            StepKind::Text { .. } => "text",
        }
    }

    /// The options of a choice or multi step.
    pub fn options(&self) -> &[Choice] {
        match self {
            StepKind::Choice { options } | StepKind::Multi { options, .. } => options,
            _ => &[],
        }
    }

    /// The number an answer to a step of this kind stands for (what charts and rules read):
    /// scales and numbers as they are, yes/no as 1/0, a choice by its option's `score`, a
    /// multi by how many were ticked (not counting its "none of these").
    pub fn score(&self, value: &AnswerValue) -> Option<f64> {
        match (value, self) {
            (AnswerValue::Number(v), _) => Some(*v),
            (AnswerValue::Code(c), StepKind::YesNo) => match c.as_str() {
                "yes" => Some(1.0),
                "no" => Some(0.0),
                _ => None,
            },
            (AnswerValue::Code(c), kind) => kind.options().iter().find(|o| &o.code == c)?.score,
            (AnswerValue::Codes(cs), StepKind::Multi { exclusive, .. }) => Some(
                cs.iter()
                    .filter(|c| exclusive.as_deref() != Some(c.as_str()))
                    .count() as f64,
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub code: String,
    pub label: String,
    pub score: Option<f64>,
    pub actions: Vec<Action>,
}

/// What choosing an option does at once (a closed list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ShowCrisisCard,
    ShowCopingPlan,
    Flag(String),
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "show:crisis_card" => Some(Action::ShowCrisisCard),
            "show:coping_plan" => Some(Action::ShowCopingPlan),
            _ => s
                .strip_prefix("flag:")
                .filter(|f| super::load::is_identifier(f))
                .map(|f| Action::Flag(f.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    #[serde(serialize_with = "expr_source")]
    pub cond: Expr,
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Target {
    Step(usize),
    End,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compute {
    pub id: String,
    #[serde(serialize_with = "expr_source")]
    pub expr: Expr,
    pub tags: Vec<String>,
}

fn expr_source<S: Serializer>(e: &Expr, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.source())
}

fn expr_source_opt<S: Serializer>(e: &Option<Expr>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_some(e.source()),
        None => s.serialize_none(),
    }
}

impl Dialog {
    /// A stable fingerprint of the dialog's meaning (everything but comments and layout):
    /// FNV-1a over its canonical JSON. Same content, same hash, on every machine.
    /// The version number itself is left out, so the hash says whether the meaning changed.
    pub fn content_hash(&self) -> String {
        let mut meaning = self.clone();
        meaning.version = 0;
        let json = serde_json::to_string(&meaning).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in json.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// How a tag's values read: used by rules and charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    HigherIsBetter,
    LowerIsBetter,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tag {
    pub id: String,
    pub polarity: Polarity,
    pub description: String,
}
