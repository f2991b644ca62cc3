//! Tests of the expression language: parsing, type checking and evaluation.

use super::tree::Kind;
use super::*;
use Type::{Bool as B, Number as N};

/// The dialog the tests are written against.
struct Steps;

impl TypeEnv for Steps {
    fn var_type(&self, name: &str) -> Option<VarType> {
        let codes = |cs: &str| cs.split(' ').map(String::from).collect::<Vec<_>>();
        Some(match name {
            "mood" | "sleep" | "anxious" | "a" | "b" => VarType::Number,
            "med" => VarType::Choice {
                codes: codes("yes no"),
                scored: false,
            },
            "feel" => VarType::Choice {
                codes: codes("low ok good"),
                scored: true,
            },
            "symptoms" => VarType::Multi {
                codes: codes("voices sleep_loss not_safe"),
            },
            "diary" => VarType::Text,
            "intro" => VarType::NoValue,
            _ => return None,
        })
    }
}

/// Answers by name; anything not listed (`a`, `b`, ...) is null.
struct Answers(Vec<(&'static str, Value)>);

impl ValueEnv for Answers {
    fn value(&self, name: &str) -> Value {
        let found = self.0.iter().find(|(n, _)| *n == name);
        found.map_or(Value::Null, |(_, v)| v.clone())
    }
    fn score(&self, name: &str) -> Option<f64> {
        let Value::Code(code) = self.value(name) else {
            return None;
        };
        let position = ["low", "ok", "good"].iter().position(|o| *o == code);
        position.filter(|_| name == "feel").map(|i| i as f64)
    }
}

fn answers() -> Answers {
    let codes = Value::Codes(vec!["voices".into(), "not_safe".into()]);
    Answers(vec![
        ("mood", Value::Number(4.0)),
        ("sleep", Value::Number(7.5)),
        ("anxious", Value::Number(8.0)),
        ("med", Value::Code("yes".into())),
        ("feel", Value::Code("good".into())),
        ("symptoms", codes),
        ("diary", Value::Text),
    ])
}

fn parse(src: &str) -> Expr {
    Expr::parse(src).unwrap_or_else(|e| panic!("`{src}` should parse: {e:?}"))
}

fn checked(src: &str, want: Type) -> Expr {
    let expr = parse(src);
    let errors = expr.check(&Steps, want);
    assert!(errors.is_empty(), "`{src}`: {errors:?}");
    expr
}

fn is_true(src: &str) -> bool {
    checked(src, B).eval_bool(&answers())
}

fn number(src: &str) -> Option<f64> {
    checked(src, N).eval_number(&answers())
}

/// Each type error as (the text its span covers, message).
fn type_errors(src: &str, want: Type) -> Vec<(String, String)> {
    let errors = parse(src).check(&Steps, want);
    errors
        .into_iter()
        .map(|e| (src[e.span.start..e.span.end].to_string(), e.message))
        .collect()
}

/// Each case has exactly one error, covering `span`, whose message contains `message`.
fn assert_type_errors(cases: &[(&str, Type, &str, &str)]) {
    for &(src, want, span, message) in cases {
        let errors = type_errors(src, want);
        assert_eq!(errors.len(), 1, "`{src}`: {errors:?}");
        assert_eq!(errors[0].0, span, "span of the error in `{src}`");
        assert!(errors[0].1.contains(message), "`{src}`: {}", errors[0].1);
    }
}

/// The first syntax error as (start, end, message).
fn syntax_error(src: &str) -> (usize, usize, String) {
    let errors = Expr::parse(src).expect_err(src);
    (
        errors[0].span.start,
        errors[0].span.end,
        errors[0].message.clone(),
    )
}

fn syntax_span(src: &str) -> (usize, usize) {
    let (start, end, _) = syntax_error(src);
    (start, end)
}

/// The parse tree in prefix form, to test precedence.
fn shape(src: &str) -> String {
    fn tree(node: &Node) -> String {
        match &node.kind {
            Kind::Num(n) => n.to_string(),
            Kind::Code(c) => format!("'{c}'"),
            Kind::Var(v) => v.clone(),
            Kind::Neg(x) => format!("(neg {})", tree(x)),
            Kind::Not(x) => format!("(not {})", tree(x)),
            Kind::Bin(op, l, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
            Kind::Cmp(op, l, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
            Kind::In(x, codes) => format!("(in {} {})", tree(x), codes.len()),
            Kind::Call(f, args) => format!("({} {})", f.name(), args.len()),
        }
    }
    tree(&parse(src).root)
}

#[test]
fn not_is_looser_than_comparisons_and_tighter_than_and_which_is_tighter_than_or() {
    assert_eq!(
        shape("not a == 1 and b > 2 or c"),
        "(or (and (not (== a 1)) (> b 2)) c)"
    );
    assert_eq!(shape("a or b and c"), "(or a (and b c))");
    assert_eq!(shape("not not a"), "(not (not a))");
    assert_eq!(shape("feel in ['low','ok'] or a"), "(or (in feel 2) a)");
}

#[test]
fn arithmetic_follows_school_precedence_and_groups_left_to_right() {
    assert_eq!(shape("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(shape("a - b - 1"), "(- (- a b) 1)");
    assert_eq!(shape("-a * 2 / b"), "(/ (* (neg a) 2) b)");
    assert_eq!(shape("a + 1 < b * 2"), "(< (+ a 1) (* b 2))");
    assert_eq!(number("(2 + 3) * 4 - 10 - 4"), Some(6.0));
    assert_eq!(number("-2 * -3 + 6.5"), Some(12.5));
}

#[test]
fn the_expressions_in_the_shipped_dialogs_work() {
    assert!(is_true("mood <= 4 or anxious >= 8 or count(symptoms) >= 3"));
    assert_eq!(number("mean(mood, 10 - anxious)"), Some(3.0));
    assert!(is_true("med != 'no'"));
    assert!(!is_true("feel in ['low', 'ok']"));
}

#[test]
fn every_function_gives_what_it_promises() {
    assert!(is_true("contains(symptoms, 'voices')"));
    assert!(!is_true("contains(symptoms, 'sleep_loss')"));
    assert_eq!(number("count(symptoms)"), Some(2.0));
    assert!(is_true(
        "answered(mood) and answered(diary) and answered(symptoms)"
    ));
    assert!(!is_true("answered(a) or answered(intro)"));
    assert_eq!(number("score(feel)"), Some(2.0));
    assert_eq!(number("mean(mood, sleep, 1.5)"), Some(13.0 / 3.0));
    assert_eq!(number("sum(mood, sleep, 1)"), Some(12.5));
    assert_eq!(number("min(mood, sleep, 5)"), Some(4.0));
    assert_eq!(number("max(mood, sleep, 5)"), Some(7.5));
}

#[test]
fn in_lists_test_membership_and_every_code_in_them_is_checked() {
    assert!(is_true("med in ['yes']") && is_true("feel in ['ok', 'good']"));
    assert!(!is_true("feel in ['low']"));
    let errors = type_errors("feel in ['lo', 'ok', 'godo']", B);
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(spans, ["'lo'", "'godo'"]);
    assert_eq!(
        errors[0].1,
        "`'lo'` is not an option of `feel` (options: low, ok, good)"
    );
}

#[test]
fn a_typo_in_a_choice_code_is_an_error_naming_the_options() {
    let errors = parse("med == 'yess'").check(&Steps, B);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].span, Span::new(7, 13));
    assert_eq!(
        errors[0].message,
        "`'yess'` is not an option of `med` (options: yes, no)"
    );
    assert_type_errors(&[("'nope' != med", B, "'nope'", "not an option of `med`")]);
}

#[test]
fn a_choice_is_only_compared_with_its_codes_by_equality_or_in() {
    assert_type_errors(&[
        (
            "med < 'yes'",
            B,
            "med < 'yes'",
            "only be compared with `==`, `!=` or `in`, not `<`",
        ),
        (
            "med == 1",
            B,
            "med == 1",
            "can't compare the choice `med` with a number; compare it with one of its codes, like `med == 'yes'`",
        ),
        (
            "med == feel",
            B,
            "med == feel",
            "can't compare the choice `med` with the choice `feel`",
        ),
        (
            "feel + 1",
            N,
            "feel",
            "expected a number on each side of `+`, but found the choice `feel`; compare it",
        ),
        (
            "med == yes",
            B,
            "yes",
            "`yes` is not a step; for the option, use single quotes: `'yes'`",
        ),
        (
            "'yes' == 'yes'",
            B,
            "'yes' == 'yes'",
            "can't compare the code `'yes'` with",
        ),
    ]);
}

#[test]
fn a_multiple_choice_step_is_only_read_by_contains_count_and_answered() {
    assert_type_errors(&[
        (
            "symptoms == 'voices'",
            B,
            "symptoms",
            "read it with contains(symptoms, 'voices')",
        ),
        (
            "contains(symptoms, 'voice')",
            B,
            "'voice'",
            "`'voice'` is not an option of `symptoms` (options: voices, sleep_loss, not_safe)",
        ),
        (
            "contains(med, 'yes')",
            B,
            "med",
            "`med` is a single choice; compare it instead",
        ),
        (
            "contains(symptoms, mood)",
            B,
            "mood",
            "must be a code in quotes",
        ),
        (
            "count(mood + 1) > 0",
            B,
            "mood + 1",
            "needs the name of a step here",
        ),
        (
            "count(mood) > 0",
            B,
            "mood",
            "needs a multiple-choice step, but `mood` is a number",
        ),
    ]);
}

#[test]
fn free_text_and_messages_are_only_allowed_inside_answered() {
    assert_type_errors(&[
        (
            "diary == 'x'",
            B,
            "diary",
            "free-text answers are never read by rules",
        ),
        (
            "count(diary) > 0",
            B,
            "diary",
            "free-text answers are never read by rules",
        ),
        (
            "intro > 1",
            B,
            "intro",
            "`intro` is a message and has no answer",
        ),
    ]);
    assert!(type_errors("answered(diary) or answered(intro)", B).is_empty());
}

#[test]
fn score_needs_a_choice_with_scored_options() {
    assert_type_errors(&[
        ("score(med)", N, "med", "`med` has no scores on its options"),
        (
            "score(mood)",
            N,
            "mood",
            "needs a choice with scored options, but `mood` is a number",
        ),
    ]);
}

#[test]
fn an_unknown_name_is_an_error_naming_it() {
    let errors = type_errors("mod > 3 or answered(slep)", B);
    assert_eq!(
        errors[0],
        (
            "mod".into(),
            "there is no step or computed value called `mod`".into()
        )
    );
    assert_eq!(errors[1].0, "slep");
}

#[test]
fn logic_needs_conditions_arithmetic_needs_numbers_and_codes_are_not_numbers() {
    assert_type_errors(&[
        (
            "mood and med == 'yes'",
            B,
            "mood",
            "expected a condition (true or false) on each side of `and`, but found a number",
        ),
        ("not mood", B, "mood", "after `not`"),
        ("mood > 1 or 3", B, "3", "on each side of `or`"),
        (
            "(mood > 1) * 2",
            N,
            "(mood > 1)",
            "expected a number on each side of `*`, but found a condition",
        ),
        (
            "-'yes'",
            N,
            "'yes'",
            "expected a number after `-`, but found the code `'yes'`",
        ),
        ("mean(mood, feel)", N, "feel", "in `mean(...)`"),
        (
            "mood == 'yes'",
            B,
            "mood == 'yes'",
            "can't compare a number with the code `'yes'`",
        ),
        (
            "mood in ['yes']",
            B,
            "mood",
            "`in [...]` needs a choice on its left, but found a number",
        ),
    ]);
}

#[test]
fn the_whole_expression_must_be_what_the_caller_asks_for() {
    assert_type_errors(&[
        (
            "mood + 1",
            B,
            "mood + 1",
            "expected a condition (true or false) for the whole expression, but found a number",
        ),
        (
            "mood > 1",
            N,
            "mood > 1",
            "expected a number for the whole expression",
        ),
    ]);
}

#[test]
fn all_type_errors_are_reported_in_source_order() {
    let src = "med == 'yess' and diary == 'x' or nothing > 1 and score(med) > 1";
    let errors = type_errors(src, B);
    let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(spans, ["'yess'", "diary", "nothing", "med"]);
}

#[test]
fn an_unclosed_bracket_points_at_the_bracket_left_open() {
    let message = "expected `)` to close `mean(` but found the end of the expression";
    assert_eq!(syntax_error("mean(mood, sleep"), (0, 5, message.into()));
    assert_eq!(syntax_error("(mood > 1 and med == 'yes'").0, 0);
    let message = "expected `,` or `)` to close `mean(` but found `sleep`";
    assert_eq!(syntax_error("mean(mood sleep)"), (10, 15, message.into()));
    assert_eq!(syntax_span("med in ['yes'"), (7, 8));
}

#[test]
fn trailing_garbage_is_an_error_at_the_first_unexpected_token() {
    let (start, end, message) = syntax_error("mood > 1 sleep");
    assert_eq!((start, end), (9, 14));
    assert!(message.ends_with("but found `sleep`"), "{message}");
    assert_eq!(
        syntax_error("mood > 1)"),
        (8, 9, "this `)` has no matching `(`".into())
    );
}

#[test]
fn a_bad_code_literal_is_an_error_covering_the_literal() {
    let message = "`'not sure'` is not a valid code: codes use only letters, digits, `_` and `-`";
    assert_eq!(syntax_error("med == 'not sure'"), (7, 17, message.into()));
    assert_eq!(syntax_error("med == 'yes").0, 7);
    assert_eq!(syntax_span("med == ''"), (7, 9));
    assert_eq!(syntax_span("med == \"yes\""), (7, 12));
}

#[test]
fn comparisons_do_not_chain() {
    let (start, end, message) = syntax_error("1 < mood < 5");
    assert_eq!((start, end), (9, 10));
    assert!(
        message.starts_with("comparisons can't be chained"),
        "{message}"
    );
    assert_eq!(syntax_span("med in ['yes'] == 'no'"), (15, 17));
    assert!(Expr::parse("(1 < mood) == (mood < 5)").is_ok());
}

#[test]
fn other_syntax_mistakes_get_plain_english_errors() {
    let cases = [
        ("", "the expression is empty"),
        (
            "mood = 3",
            "use `==` to compare; a single `=` is not allowed",
        ),
        ("!answered(mood)", "use `not` instead of `!`"),
        ("a && b", "use `and` instead of `&&`"),
        (
            "Mood > 3",
            "`Mood` is not a valid name: names use only lower-case letters",
        ),
        (
            "avg(mood)",
            "no function called `avg`; the functions are contains, count, answered",
        ),
        (
            "count(a, b)",
            "`count(...)` takes one value: a multiple-choice step, but was given 2",
        ),
        (
            "mean()",
            "`mean(...)` takes at least one number, but was given 0",
        ),
        (
            "mean(a,)",
            "expected a number, a name, a code in quotes or `(`, but found `)`",
        ),
        (
            "['a'] == med",
            "a list like `['a', 'b']` can only come after `in`",
        ),
        (
            "med in 'yes'",
            "expected a list like `['a', 'b']` after `in`, but found `'yes'`",
        ),
        (
            "med in []",
            "expected a code in quotes, like 'yes', but found `]`",
        ),
        ("mood >", "but found the end of the expression"),
        (
            "3x > 1",
            "`3x` is not a number (write numbers like 3 or 6.5)",
        ),
        ("1.2.3 > 1", "`1.2.3` is not a number"),
        ("mood > 3 % 2", "`%` is not allowed in an expression"),
    ];
    for (src, message) in cases {
        let found = syntax_error(src).2;
        assert!(found.contains(message), "`{src}`: {found}");
    }
}

#[test]
fn every_bad_token_is_reported_not_just_the_first() {
    let errors = Expr::parse("mood = 3 and med == 'a b' and x & y").unwrap_err();
    let spans: Vec<Span> = errors.iter().map(|e| e.span).collect();
    assert_eq!(
        spans,
        [Span::new(5, 6), Span::new(20, 25), Span::new(32, 33)]
    );
}

#[test]
fn comparisons_with_null_are_false_even_not_equal() {
    for src in [
        "a == 1", "a != 1", "a < 1", "a <= 1", "a > 1", "a >= 1", "a == b", "a != b",
    ] {
        assert!(!is_true(src), "`{src}` with `a` unanswered");
    }
    let nobody = Answers(vec![]);
    for src in [
        "med == 'yes'",
        "med != 'yes'",
        "med in ['yes', 'no']",
        "contains(symptoms, 'voices')",
    ] {
        assert!(
            !checked(src, B).eval_bool(&nobody),
            "`{src}` with nothing answered"
        );
    }
    assert!(
        checked("not (a == 1)", B).eval_bool(&nobody),
        "`not` is plain negation"
    );
}

#[test]
fn arithmetic_with_null_is_null_and_aggregates_skip_nulls() {
    for src in ["a + 1", "-a", "mood * b", "min(a, b)", "mean(a - 1)"] {
        assert_eq!(number(src), None, "`{src}`");
    }
    assert_eq!(number("mean(a, mood, b, sleep)"), Some(5.75));
    assert_eq!(number("sum(a, mood)"), Some(4.0));
    assert_eq!(number("max(a + 1, sleep)"), Some(7.5));
    let nobody = Answers(vec![]);
    assert_eq!(checked("count(symptoms)", N).eval_number(&nobody), None);
    assert_eq!(checked("score(feel)", N).eval_number(&nobody), None);
}

#[test]
fn division_by_zero_gives_null() {
    for src in ["mood / 0", "0 / 0", "mood / (sleep - 7.5)"] {
        assert_eq!(number(src), None, "`{src}`");
    }
    assert_eq!(number("mean(mood / 0, 2)"), Some(2.0));
    assert!(!is_true("mood / 0 > 1") && !is_true("mood / 0 != 1"));
}

#[test]
fn and_or_short_circuit_and_unchecked_nonsense_evaluates_to_nothing() {
    assert!(is_true("mood > 1 or mood / 0 > 1"));
    assert!(!is_true("mood > 9 and mood > 1"));
    let env = answers();
    assert!(!parse("mood and 1").eval_bool(&env) && !parse("mood").eval_bool(&env));
    assert_eq!(parse("mood > 1").eval_number(&env), None);
}

#[test]
fn references_list_each_name_once_in_order_of_first_use() {
    let expr = parse("mean(mood, sleep) > 3 and contains(symptoms, 'a') or mood < answered(diary)");
    assert_eq!(expr.references(), ["mood", "sleep", "symptoms", "diary"]);
    assert!(parse("1 + 2").references().is_empty());
}

#[test]
fn an_expression_keeps_its_source_and_debug_prints_only_that() {
    let expr = parse(" mood  > 3 ");
    assert_eq!(expr.source(), " mood  > 3 ");
    assert_eq!(format!("{expr:?}"), r#"Expr(" mood  > 3 ")"#);
    assert_eq!(expr.clone(), expr);
    assert_ne!(parse("mood > 3"), parse("mood > 4"));
}

#[test]
fn deep_nesting_and_very_long_expressions_are_errors_not_crashes() {
    let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    assert!(syntax_error(&deep).2.contains("nested too deeply"));
    assert!(
        syntax_error(&"not ".repeat(100))
            .2
            .contains("nested too deeply")
    );
    assert!(syntax_error(&"- ".repeat(100_000)).2.contains("too long"));
    assert_eq!(number(&vec!["mood"; 200].join(" + ")), Some(800.0));
}

#[test]
fn garbage_never_panics_and_every_span_is_inside_the_source() {
    const PIECES: &[&str] = &[
        "mood",
        "med",
        "feel",
        "symptoms",
        "diary",
        "intro",
        "zz",
        "'yes'",
        "'voices'",
        "'",
        "\"",
        "(",
        ")",
        "[",
        "]",
        ",",
        "==",
        "!=",
        "<",
        ">=",
        "=",
        "!",
        "+",
        "-",
        "*",
        "/",
        "and",
        "or",
        "not",
        "in",
        "0",
        "3",
        "6.5",
        "1e9",
        "mean(",
        "count(",
        "contains(",
        "score(",
        "answered(",
        "max(",
        "foo(",
        " ",
        " ",
        "é",
        "🙂",
        "&",
        "%",
        "\t",
        "9e999",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let (mut parsed, envs) = (0, [answers(), Answers(vec![])]);
    for _ in 0..5000 {
        let len = 1 + next() % 7;
        let src: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
        let inside = |errors: &[ExprError]| {
            let ok = |e: &ExprError| src.get(e.span.start..e.span.end).is_some();
            !errors.is_empty() && errors.iter().all(ok)
        };
        match Expr::parse(&src) {
            Err(errors) => assert!(inside(&errors), "`{src}`: {errors:?}"),
            Ok(expr) => {
                parsed += 1;
                for want in [B, N] {
                    let errors = expr.check(&Steps, want);
                    assert!(errors.is_empty() || inside(&errors), "`{src}`: {errors:?}");
                }
                for env in &envs {
                    expr.eval_bool(env);
                    assert!(expr.eval_number(env).is_none_or(f64::is_finite), "`{src}`");
                }
                expr.references();
            }
        }
    }
    assert!(
        parsed > 200,
        "only {parsed} of the random inputs parsed; too noisy"
    );
}
