//! What `sluice run` shows: a live line per shard while it runs (stderr,
//! terminals only), and a summary table at the end (stdout).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice::engine::{PollerState, ShardStatus};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The rate shown is over this much recent time, so it falls to 0 when a
/// shard is idle instead of decaying slowly over the whole run.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// One progress line per shard, on stderr when it is a terminal.
pub struct Progress {
    _multi: MultiProgress,
    bars: Vec<ProgressBar>,
    /// Recent (time, processed) samples per shard, for the rate.
    samples: Mutex<Vec<VecDeque<(Instant, u64)>>>,
}

impl Progress {
    pub fn new(shards: u32) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        // wide_msg: cut to the terminal's width, so that a long line (an
        // error) does not wrap and leave stacked frames behind.
        let style = ProgressStyle::with_template("{spinner} {wide_msg}").expect("valid template");
        let bars = (0..shards).map(|_| multi.add(ProgressBar::new_spinner().with_style(style.clone()))).collect();
        Progress { _multi: multi, bars, samples: Mutex::new(vec![VecDeque::new(); shards as usize]) }
    }

    pub fn update(&self, statuses: &[ShardStatus]) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for ((bar, s), window) in self.bars.iter().zip(statuses).zip(samples.iter_mut()) {
            let c = &s.meta.counters;
            window.push_back((now, c.total_processed_count));
            while window.len() > 2 && window.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW) {
                window.pop_front();
            }
            let rate = match (window.front(), window.back()) {
                (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => (n1 - n0) as f64 / t1.duration_since(*t0).as_secs_f64(),
                _ => 0.0,
            };
            let lag = s.consumer.pointer_based_lag.map(|l| format!("  lag {l}")).unwrap_or_default();
            let why = match (&s.blocked, &s.last_error) {
                (Some(b), _) => format!("  at {}: {}", b.pointer, b.reason),
                (None, Some(e)) if s.state == PollerState::Retrying => format!("  {}", e.message),
                _ => String::new(),
            };
            bar.set_message(format!(
                "shard {:<3} pointer {:>10}  processed {:>9}  invalid {:>6}  conflicts {:>6}  docs {:>9}{lag}  {:>9.0} msg/s  {}{why}",
                s.shard,
                s.meta.last_pointer.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                c.total_processed_count,
                c.total_invalid_message_count,
                c.total_version_conflicts_count,
                s.meta.live_docs,
                rate,
                state_label(s),
            ));
            bar.tick();
        }
    }

    pub fn finish(&self) {
        for bar in &self.bars {
            bar.finish_and_clear();
        }
    }
}

/// `IDLE` (caught up, all committed), `BLOCKED`, `PAUSED`, `RETRYING`, ...
fn state_label(s: &ShardStatus) -> String {
    // A drained closed partition (Kinesis, after a split) says CLOSED, not IDLE.
    if s.idle && s.blocked.is_none() && s.state != PollerState::Closed {
        "IDLE".into()
    } else if s.blocked.is_some() {
        "BLOCKED".into()
    } else {
        serde_json::to_value(s.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

/// The summary: the numbers of `statuses` (taken after the stop), the
/// state each shard was in before it (`before`: every shard is CLOSED
/// after a stop, which says nothing).
pub fn print_summary(name: &str, statuses: &[ShardStatus], before: &[ShardStatus], elapsed: Duration) {
    println!("ingestion {name}: {} shards, {:.1}s", statuses.len(), elapsed.as_secs_f64());
    println!(
        "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}  state",
        "shard", "pointer", "processed", "invalid", "conflicts", "dropped", "docs"
    );
    let mut total = sluice::sink::ShardCounters::default();
    let mut docs = 0;
    for s in statuses {
        let c = &s.meta.counters;
        total.add(c);
        docs += s.meta.live_docs;
        let label = before.iter().find(|b| b.shard == s.shard).map(state_label).unwrap_or_else(|| state_label(s));
        println!(
            "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}  {}",
            s.shard,
            s.meta.last_pointer.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            c.total_processed_count,
            c.total_invalid_message_count,
            c.total_version_conflicts_count,
            c.total_failures_dropped_count,
            s.meta.live_docs,
            label,
        );
    }
    println!(
        "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}",
        "total",
        "",
        total.total_processed_count,
        total.total_invalid_message_count,
        total.total_version_conflicts_count,
        total.total_failures_dropped_count,
        docs
    );
}
