//! The timer the pure benches share: warm up once, then the mean over `iters` runs.

use std::time::{Duration, Instant};

pub fn time<F: FnMut()>(iters: u32, mut f: F) -> Duration {
    f(); // warm up
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    t0.elapsed() / iters
}
