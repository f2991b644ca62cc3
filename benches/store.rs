//! What one statement costs on its way to SQLite and back. sqlx runs each SQLite connection
//! on a worker thread of its own: every statement is a hand-off to that thread and back.
//! This measures that hand-off with the cheapest statement there is (`SELECT 1`), on the
//! store the bot uses (a WAL file with the bot's settings) and on an in-memory one (what
//! `simulate` uses), from a current-thread runtime (as `simulate` runs) and a multi-thread
//! one (as `serve` runs); and an empty write transaction. Multiply by the statements an
//! update needs (README, Performance) to see where the time goes.
//! Run: `cargo bench --bench store`.

use criterion::Criterion;
use staywell::store::Store;

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let runtimes = [
        (
            "current-thread",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        ),
        (
            "multi-thread",
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        ),
    ];
    let mut g = c.benchmark_group("one statement through sqlx");
    for (name, rt) in &runtimes {
        for (db, url) in [("file", file.as_str()), ("memory", "sqlite::memory:")] {
            let store = rt.block_on(async {
                let s = Store::connect(url).await.expect("connect");
                s.migrate().await.expect("migrate");
                s
            });
            g.bench_function(format!("SELECT 1, {db}, {name} runtime"), |b| {
                b.iter(|| rt.block_on(store.round_trip()).expect("select"))
            });
            g.bench_function(
                format!("empty write transaction, {db}, {name} runtime"),
                |b| b.iter(|| rt.block_on(store.empty_write()).expect("write")),
            );
            rt.block_on(store.close());
        }
    }
    g.finish();
    c.final_summary();
}
