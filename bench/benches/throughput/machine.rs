//! What the machine is and what the process used: cores, memory, load,
//! CPU time, peak resident memory, fsync latency.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim_start_matches([':', ' ', '\t']).trim().to_string()))
}

pub fn cpu_model() -> String {
    proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into())
}

pub fn mem_total_gib() -> f64 {
    proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches(" kB").parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0)
}

pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

/// The three load averages.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// User + system CPU seconds of this process so far (every thread).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident memory of this process (VmHWM), in KiB.
pub fn vmhwm_kib() -> u64 {
    proc_field("/proc/self/status", "VmHWM").and_then(|v| v.trim_end_matches(" kB").trim().parse().ok()).unwrap_or(0)
}

/// Median time of a 4 KiB append + fdatasync in `dir`, in ms: what a durable
/// commit costs at least on this disk.
pub fn fsync_ms(dir: &Path) -> f64 {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("fsync probe");
    let block = [7u8; 4096];
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            f.write_all(&block).unwrap();
            f.sync_data().unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Prints (to stderr) the mappings of this process that hold the most
/// resident memory: where the peak comes from (`SLUICE_BENCH_SMAPS=1`).
pub fn print_top_mappings(n: usize) {
    let text = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut maps: Vec<(u64, String)> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
            maps.push((kb, current.clone()));
        } else if line.split_whitespace().next().is_some_and(|f| f.contains('-') && !f.ends_with(':')) {
            current = line.to_string();
        }
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.0));
    // SAFETY: mallinfo2 only reads glibc's allocator statistics.
    let mi = unsafe { libc::mallinfo2() };
    eprintln!(
        "malloc: {:.1} MiB in use, {:.1} MiB free in the arenas, {:.1} MiB mmapped",
        mi.uordblks as f64 / 1048576.0,
        mi.fordblks as f64 / 1048576.0,
        mi.hblkhd as f64 / 1048576.0
    );
    let total: u64 = maps.iter().map(|m| m.0).sum();
    eprintln!("resident now: {:.1} MiB in {} mappings; the largest:", total as f64 / 1024.0, maps.len());
    for (kb, name) in maps.iter().take(n) {
        eprintln!("  {:>8.1} MiB  {name}", *kb as f64 / 1024.0);
    }
}

/// Threads of this process (`Threads` in /proc/self/status).
pub fn threads() -> u64 {
    proc_field("/proc/self/status", "Threads").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Resident memory of this process now (VmRSS), in KiB.
pub fn vmrss_kib() -> u64 {
    proc_field("/proc/self/status", "VmRSS").and_then(|v| v.trim_end_matches(" kB").trim().parse().ok()).unwrap_or(0)
}

/// Each thread of this process: id -> (name with every run of digits
/// replaced by `*`, CPU seconds so far), from /proc/self/task/*/schedstat
/// (nanoseconds on the CPU), or where that is missing from
/// /proc/self/task/*/stat (user + system, in clock ticks of 10 ms).
pub fn thread_cpu() -> std::collections::BTreeMap<u64, (String, f64)> {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut threads = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return threads };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "tid (comm) state ppid ...": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15; `fields` starts at field 3.
        let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else { continue };
        let schedstat = std::fs::read_to_string(entry.path().join("schedstat")).ok();
        let cpu = match schedstat.as_deref().and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok()) {
            Some(ns) => ns / 1e9,
            None => (utime.parse::<f64>().unwrap_or(0.0) + stime.parse::<f64>().unwrap_or(0.0)) / ticks,
        };
        let mut name = String::new();
        for c in stat[open + 1..close].chars() {
            if !c.is_ascii_digit() {
                name.push(c);
            } else if !name.ends_with('*') {
                name.push('*');
            }
        }
        threads.insert(tid, (name, cpu));
    }
    threads
}
