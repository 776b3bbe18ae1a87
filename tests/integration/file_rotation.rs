//! A followed file that is truncated or replaced under the reader (issue 13):
//! the shard blocks with `PositionLost` and a reason that says what happened,
//! nothing bogus is committed, and after a reset to the earliest line the
//! documents and counters are exactly the reference model's: the old file's
//! lines applied once, then the new file's lines from line 0.

use crate::support::*;
use serde_json::json;
use sluice::engine::{BlockCause, Ingestion, PollerState};
use sluice::pointer::StartPosition;
use sluice::sink::{DroppedMessage, ShardCounters};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Lines of one generation of the file: versioned updates of the same ids
/// (each generation a higher version), documents without `_id` (ids from the
/// pointer, so the new file's lines overwrite the old ones'), an invalid line.
fn generation(tag: &str, version: u64, from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| match i % 7 {
            3 => "{broken".to_string(),
            5 => msg(None, None, "index", json!({"gen": tag, "i": i})),
            _ => {
                msg(Some(&format!("d{}", i % 11)), Some(version * 100 + i as u64), "index", json!({"gen": tag, "i": i}))
            }
        })
        .collect()
}

/// What a shard committed: counters, the dropped messages, the documents.
type Committed = (ShardCounters, Vec<DroppedMessage>, BTreeMap<(u32, String), (Option<u64>, serde_json::Value)>);

fn committed(ing: &Ingestion) -> Committed {
    (counters(ing, 0), ing.sinks()[0].dropped(None, 10_000).unwrap(), docs(ing))
}

/// Waits for the shard to block on a lost position and returns the reason.
fn wait_position_lost(ing: &Ingestion) -> String {
    let blocked = ing.shards()[0].wait_until(WAIT, |s| s.blocked.is_some());
    let status = ing.status();
    assert!(blocked, "the shard should block on the lost position, but it is {:?}: {:#?}", status[0].state, status[0]);
    assert!(ing.shards()[0].wait_until(Duration::from_secs(5), |s| s.state == PollerState::Blocked));
    let b = ing.status()[0].blocked.clone().unwrap();
    assert_eq!(b.cause, BlockCause::PositionLost, "{}", b.reason);
    eprintln!("blocked: {}", b.reason);
    b.reason
}

/// The shard stays blocked with nothing new committed while the new file grows.
fn stays_blocked(ing: &Ingestion, stream: &Stream, before: &Committed, more: &[String]) {
    stream.append(0, more);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ing.status()[0].state, PollerState::Blocked, "never a silent resume");
    assert_eq!(&committed(ing), before, "nothing committed after the file was truncated or replaced");
}

/// Resumes with a reset to the earliest line and checks the sink against the
/// model of the old lines then the new file's lines.
fn reset_and_check(ing: &Ingestion, stream: &Stream, old: &[String]) {
    ing.resume(None, &[(0, StartPosition::Earliest)]).unwrap();
    let new = stream.lines(0);
    let mut model = Model::new("{}");
    model.apply(0, 0, old);
    model.apply(0, 0, &new);
    let want = model.counters[&0].total_processed_count;
    assert!(
        ing.shards()[0].wait_until(WAIT, |s| s.meta.counters.total_processed_count == want && s.idle),
        "the new file is read from line 0 after the reset: {:#?}",
        ing.status()[0]
    );
    assert!(ing.status()[0].blocked.is_none());
    assert_eq!(counters(ing, 0), model.counters[&0]);
    assert_eq!(docs(ing), model.live(), "documents and versions equal the reference model");
    assert_eq!(ing.status()[0].meta.last_pointer.as_ref().and_then(|p| p.as_u64()), Some(new.len() as u64 - 1));
    let pointers: Vec<u64> =
        ing.sinks()[0].dropped(None, 10_000).unwrap().iter().map(|d| d.pointer.as_u64().unwrap()).collect();
    let invalid = |lines: &[String]| -> Vec<u64> {
        (0..lines.len() as u64).filter(|i| lines[*i as usize] == "{broken").collect()
    };
    let mut want_dropped = invalid(old);
    want_dropped.extend(invalid(&new));
    want_dropped.sort();
    want_dropped.dedup();
    assert_eq!(pointers, want_dropped, "dropped messages are keyed by pointer: the new file's replace the old file's");
}

/// Ingests `old` (plus, if given, a trailing line without its newline) and
/// waits until all of it is committed.
fn ingest_old(stream: &Stream, data: &std::path::Path, old: &[String], partial: Option<&str>) -> Ingestion {
    stream.append(0, old);
    if let Some(p) = partial {
        let mut f = std::fs::OpenOptions::new().append(true).open(stream.path(0)).unwrap();
        f.write_all(p.as_bytes()).unwrap();
        f.sync_all().unwrap();
    }
    let ing = start(&stream.spec("rot", 1, json!({"poll.max_batch_size": 7})), data);
    wait_idle(&ing);
    assert_eq!(counters(&ing, 0).total_processed_count, old.len() as u64);
    ing
}

#[test]
fn truncating_a_followed_file_blocks_the_shard_and_a_reset_reads_the_new_file_from_line_0() {
    let stream = Stream::new(1);
    let data = tempfile::tempdir().unwrap();
    let old = generation("old", 1, 0, 40);
    let ing = ingest_old(&stream, data.path(), &old, None);
    let before = committed(&ing);

    // `> file`, then a few new lines: the file is now shorter than what was read.
    std::fs::File::create(stream.path(0)).unwrap();
    stream.append(0, &generation("new", 2, 0, 4));
    let reason = wait_position_lost(&ing);
    assert!(reason.contains("truncated") && reason.contains("0.ndjson"), "{reason}");
    // The new file grows past the old read offset: a reader that went on at
    // the old offset would now produce lines from the middle of the new file.
    stays_blocked(&ing, &stream, &before, &generation("new", 2, 4, 60));

    reset_and_check(&ing, &stream, &old);
}

#[test]
fn a_file_rewritten_past_the_read_offset_never_completes_a_held_back_line_with_new_bytes() {
    let stream = Stream::new(1);
    let data = tempfile::tempdir().unwrap();
    let old = generation("old", 1, 0, 30);
    // A line still being written when the file is rewritten: its first half
    // is held back, and must not be completed with the new file's bytes.
    let ing = ingest_old(&stream, data.path(), &old, Some(r#"{"_id": "half", "_source": {"gen": "#));
    let before = committed(&ing);

    // Truncated and at once rewritten, longer than before, in one write.
    let new = generation("new", 2, 0, 60);
    std::fs::write(stream.path(0), new.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let reason = wait_position_lost(&ing);
    assert!(reason.contains("truncated") && reason.contains("0.ndjson"), "{reason}");
    stays_blocked(&ing, &stream, &before, &generation("new", 2, 60, 70));
    assert!(docs(&ing).keys().all(|(_, id)| id != "half"), "the held-back half line was never yielded");

    reset_and_check(&ing, &stream, &old);
}

#[test]
fn a_followed_file_replaced_by_rename_blocks_the_shard_and_a_reset_reads_the_new_file() {
    let stream = Stream::new(1);
    let data = tempfile::tempdir().unwrap();
    let old = generation("old", 1, 0, 40);
    let ing = ingest_old(&stream, data.path(), &old, None);
    let before = committed(&ing);

    // Log rotation: a new file written next to the old one and renamed over it.
    let tmp = stream.path(0).with_extension("ndjson.tmp");
    let new = generation("new", 2, 0, 50);
    std::fs::write(&tmp, new.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::rename(&tmp, stream.path(0)).unwrap();
    let reason = wait_position_lost(&ing);
    assert!(reason.contains("replaced") && reason.contains("0.ndjson"), "{reason}");
    stays_blocked(&ing, &stream, &before, &generation("new", 2, 50, 55));

    reset_and_check(&ing, &stream, &old);
}

#[test]
fn a_file_truncated_while_the_host_is_stopped_blocks_the_shard_at_restart() {
    let stream = Stream::new(1);
    let data = tempfile::tempdir().unwrap();
    let old = generation("old", 1, 0, 40);
    let ing = ingest_old(&stream, data.path(), &old, None);
    let before = committed(&ing);
    ing.stop();

    // Truncated and rewritten with fewer lines than the checkpoint has passed.
    let new = generation("new", 2, 0, 12);
    std::fs::write(stream.path(0), new.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let ing = start(&stream.spec("rot", 1, json!({"poll.max_batch_size": 7})), data.path());
    let reason = wait_position_lost(&ing);
    assert!(reason.contains("0.ndjson") && reason.contains("12 lines") && reason.contains("after 39"), "{reason}");
    assert_eq!(committed(&ing), before, "nothing committed at the restart");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ing.status()[0].state, PollerState::Blocked, "never a silent resume");

    reset_and_check(&ing, &stream, &old);
}
