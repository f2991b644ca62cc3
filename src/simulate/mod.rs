//! `staywell simulate`: a synthetic cohort through the real processor, scheduler, store,
//! dialogs, plans and rules on a virtual clock, against a simulated Telegram that enforces
//! the real limits, with the real pacer. Prints a report (and writes it as JSON).
//!
//! People act only through inputs, as `staywell chat` does (commands, typed text, button
//! presses stored in the inbox). Virtual time jumps from one due moment to the next: a
//! person's action, a slot, a reminder, a window closing, the pacer allowing the next call.
//! How people behave comes from a [`Profile`] (`--profile FILE` over the shipped defaults).

pub mod chart;
mod cohort;
pub mod people;
pub mod profile;
pub mod report;
pub mod telegram;

use std::cmp::Reverse;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use self::cohort::{Sim, cohort};
use self::people::Rng;
use self::profile::Profile;
use self::report::Report;
use self::telegram::SimTelegram;
use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::machinery::{Machinery, WorldOptions};
use crate::pacing::Pacer;
use crate::store::prelude::*;

pub struct SimOptions {
    pub members: u32,
    pub days: u32,
    pub seed: u64,
    pub db: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// The cohort's behaviour over the shipped defaults (TOML).
    pub profile: Option<PathBuf>,
    /// Also draw the message load over the day and alerts per week as a PNG.
    pub png: Option<PathBuf>,
    pub dialogs_dir: PathBuf,
    pub reminder_minutes: u32,
}

/// The virtual world starts on Sunday 1 March 2026, 08:00 in London; the report's times
/// are London times.
const TZ: Tz = chrono_tz::Europe::London;

fn start_time() -> DateTime<Utc> {
    // 08:00 GMT: London is on UTC until the end of March.
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Keeps the calling thread, and every thread it starts after (the store's SQLite worker),
/// on the CPU it runs on now. The simulation is one chain of statements, each handed to
/// sqlx's SQLite thread and back; measured on 2 cores, 60% of its time went on those
/// hand-overs between CPUs, and one CPU makes the whole run about a third faster.
/// Best effort: where it can't be done, nothing changes.
pub fn keep_to_one_cpu() {
    #[cfg(target_os = "linux")]
    // SAFETY: `sched_getcpu` takes nothing; `set` is a zeroed, owned `cpu_set_t` that
    // `CPU_SET` writes within and `sched_setaffinity` only reads, for this thread (pid 0).
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Checks the options; `Err` is one sentence for the operator.
pub fn validate(members: u32, days: u32) -> Result<(), String> {
    if members == 0 {
        return Err("--members must be at least 1 (try --members 50)".into());
    }
    if members > 1_000_000 {
        return Err("--members must be at most 1,000,000".into());
    }
    if days == 0 || days > 366 {
        return Err("--days must be between 1 and 366".into());
    }
    Ok(())
}

/// The profile to run: the shipped defaults, with `path` over them if given, and how the
/// report names it (the file's name and the SHA-256 of its text). `Err` is what to print,
/// one problem per item.
pub fn load_profile(
    path: Option<&std::path::Path>,
) -> Result<(Profile, report::ProfileUsed), Vec<String>> {
    use sha2::{Digest, Sha256};
    let shown = |d: Vec<crate::diagnostic::Diagnostic>| -> Vec<String> {
        d.iter().map(|d| d.to_string()).collect()
    };
    let used = |name: String, src: &str| report::ProfileUsed {
        name,
        sha256: Sha256::digest(src.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let Some(path) = path else {
        let p = Profile::builtin().map_err(shown)?;
        return Ok((p, used("built-in".into(), profile::DEFAULT)));
    };
    let src = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("error: cannot read {}: {e}", path.display())])?;
    let p = Profile::load(path, &src).map_err(shown)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok((p, used(name, &src)))
}

/// Runs the simulation; exit 0 with a report, 1 on an error, 2 on bad options.
pub async fn run(opts: SimOptions) -> ExitCode {
    if let Err(e) = validate(opts.members, opts.days) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Where the report goes is checked before a run that may take an hour.
    for (flag, path) in [("--json", &opts.json), ("--png", &opts.png)] {
        if let Some(dir) = path.as_deref().and_then(std::path::Path::parent)
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            eprintln!(
                "error: {flag}: the directory {} does not exist",
                dir.display()
            );
            return ExitCode::from(2);
        }
    }
    let (profile, used) = match load_profile(opts.profile.as_deref()) {
        Ok(p) => p,
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    match simulate(&opts, &profile, &stop).await {
        Ok(mut report) => {
            report.profile = used;
            print!("{}", report.text());
            if let Some(path) = &opts.json {
                let json = match serde_json::to_string_pretty(&report) {
                    Ok(j) => j,
                    Err(e) => {
                        eprintln!("error: cannot write the report: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                if let Err(e) = std::fs::write(path, json + "\n") {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if let Some(path) = &opts.png {
                let written = chart::png(&report)
                    .and_then(|png| std::fs::write(path, png).map_err(anyhow::Error::from));
                if let Err(e) = written {
                    eprintln!("error: cannot write {}: {e:#}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn simulate(
    opts: &SimOptions,
    profile: &Profile,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let wall = std::time::Instant::now();
    let start = start_time();
    let end = start + chrono::Duration::days(opts.days as i64);
    let world = Machinery::build(
        WorldOptions {
            db: opts.db.clone(),
            dialogs_dir: &opts.dialogs_dir,
            start,
            reminder_minutes: opts.reminder_minutes,
            outbox: OutboxSettings::default(),
        },
        |clock, _| SimTelegram::new(clock.clone()),
    )
    .await?;
    let net = world.delivery.messenger.clone();
    let mut pacer = Pacer::new(world.delivery.settings.clone());
    let mut rng = Rng::new(opts.seed);
    let mut sim = cohort(opts.members, &mut rng, start, opts.days as i64, profile);
    let mut interrupted = false;
    let mut steps: u64 = 0;
    // Wall seconds spent: storing inputs, processing, the scheduler, delivery, the rest.
    let mut spent = [0.0f64; 5];
    // When the scheduler next has something to do (schedules, slots, escalations, asks).
    let mut due = world.store.next_due().await?;
    // Until when a due time the scheduler could not settle is left for the next minute.
    let mut held: Option<DateTime<Utc>> = None;
    // When the outbox next has something to send (from the last delivery round).
    let mut wake: Option<DateTime<Utc>> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        steps += 1;
        let now = world.clock.now();
        let mut batch = Vec::new();
        while let Some(Reverse((t, _, who))) = sim.queue.peek().copied() {
            if t > now.timestamp_millis() {
                break;
            }
            sim.queue.pop();
            if let Some(inc) = sim.act(who, now) {
                batch.push(inc);
            }
        }
        let mut lap = std::time::Instant::now();
        let mut split = |name: usize, lap: &mut std::time::Instant| {
            let t = std::time::Instant::now();
            spent[name] += (t - *lap).as_secs_f64();
            *lap = t;
        };
        if !batch.is_empty() {
            sim.obs.inputs += batch.len() as u64;
            world
                .store
                .save_updates(&batch, sim.next_update + 1, now)
                .await?;
        }
        split(0, &mut lap);
        let mut processed = 0;
        loop {
            let n = world.processor.process_batch().await?;
            processed += n;
            // A short batch was all there was (nothing else stores updates meanwhile).
            if n < crate::worker::inbox::BATCH {
                break;
            }
        }
        split(1, &mut lap);
        // What processing changed may be due now; otherwise the last step's answer stands.
        if processed > 0 {
            due = world.store.next_due().await?;
        }
        // As `Scheduler::run` does: something the last tick left due (it could not settle it
        // yet) is tried again at the next minute's tick, not at every step.
        if let Some(h) = held
            && now < h
            && due.is_some_and(|t| t <= now)
        {
            due = Some(h);
        }
        let ticked = due.is_some_and(|t| t <= now);
        if ticked {
            world.scheduler.tick(now).await?;
            due = world.store.next_due().await?;
            held = None;
            if due.is_some_and(|t| t <= now) {
                sim.obs.ticks_left_due += 1;
                held = Some(now + crate::scheduler::TICK_EVERY);
                due = held;
            }
        }
        split(2, &mut lap);
        // Nothing new queued and nothing waiting due: the outbox has nothing to send yet.
        if processed > 0 || ticked || wake.is_none_or(|w| w <= now) {
            wake = world.delivery.deliver_paced(&mut pacer).await?.1;
        }
        split(3, &mut lap);
        for s in net.take() {
            sim.seen(s);
        }
        let next = [
            sim.queue
                .peek()
                .and_then(|Reverse((t, _, _))| DateTime::from_timestamp_millis(*t)),
            due,
            wake,
        ]
        .into_iter()
        .flatten()
        .min();
        split(4, &mut lap);
        let Some(next) = next else { break };
        // Never stand still: something due now that nothing could move waits a second.
        let next = if next <= now {
            now + chrono::Duration::seconds(1)
        } else {
            next
        };
        if next >= end {
            break;
        }
        if steps.is_multiple_of(100_000) {
            pacer.forget_idle(now);
        }
        world.clock.set(next);
    }
    let at = if interrupted { world.clock.now() } else { end };
    if !interrupted {
        // Whatever closes by the end closes: every due slot gets its outcome.
        world.clock.set(at);
        while world.processor.process_batch().await? > 0 {}
        world.scheduler.tick(at).await?;
        world.delivery.deliver_paced(&mut pacer).await?;
        for s in net.take() {
            sim.seen(s);
        }
    }
    let report = report::build(
        &world.store,
        &net,
        &sim,
        opts,
        start,
        at,
        interrupted,
        steps,
        wall,
        spent,
    )
    .await?;
    world.store.close().await;
    Ok(report)
}
