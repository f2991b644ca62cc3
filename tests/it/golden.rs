//! Golden files: a test's whole output compared with a committed file, as expect-test does.
//! `UPDATE_GOLDEN=1 cargo test --test it golden` rewrites the files instead of comparing
//! (review the change with `git diff` before committing it).

use std::path::Path;

/// Compares `actual` with the file at `path`; with `UPDATE_GOLDEN=1` writes it instead.
/// On a difference, fails with a line diff (`-` the file, `+` this run) and how to update.
pub fn check(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0") {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return;
    }
    panic!(
        "{} differs from this run (- the file, + this run):\n{}\nIf this run is right: UPDATE_GOLDEN=1 cargo test --test it golden, then review `git diff`.",
        path.display(),
        diff(&expected, actual)
    );
}

/// A line diff with 2 lines of context around each change (longest common subsequence).
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Every line as (' ' | '-' | '+', text), in order.
    let mut all: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            all.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            all.push(('-', a[i]));
            i += 1;
        } else {
            all.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        all[k.saturating_sub(2)..(k + 3).min(all.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in all.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("   …\n");
                skipped = false;
            }
            out.push_str(&format!(" {c} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

#[test]
fn the_diff_shows_changed_lines_with_their_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
    let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\n";
    assert_eq!(
        diff(old, new),
        "   …\n   b\n   c\n - d\n + D\n   e\n   f\n   g\n   h\n + i\n"
    );
}
