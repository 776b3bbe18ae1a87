//! Many hosts, one set of shards: fencing in the Redis sink, and (below)
//! `sluice serve --cluster` hosts sharing the shards of an ingestion.

use crate::support::redis_server::RedisServer;
use sluice::cluster::{Cluster, ClusterSettings, Coordinator, RunningShard, ShardHost, ShardKey, StartError};
use sluice::pointer::{Pointer, StartPosition};
use sluice::sink::redis::RedisSink;
use sluice::sink::{CommitBatch, DocOp, ShardSink, SinkError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn batch(ids: &[&str], last_pointer: u64) -> CommitBatch {
    CommitBatch {
        ops: ids
            .iter()
            .map(|id| DocOp { id: id.to_string(), source: Some("{}".into()), ..Default::default() })
            .collect(),
        last_pointer: Pointer::from(last_pointer),
        ..Default::default()
    }
}

fn is_fenced(result: Result<impl std::fmt::Debug, SinkError>, held: u64, current: u64) -> bool {
    matches!(result, Err(SinkError::Fenced { held: h, current: c, .. }) if h == held && c == current)
}

/// Two writers on one shard with lease epochs 1 and 2: once the newer one
/// fenced the shard, every write of the older one is refused and changes
/// nothing, and the newer one continues from the checkpoint.
#[test]
fn cluster_fencing_refuses_the_older_epoch_and_writes_nothing_of_it() {
    let redis = RedisServer::start();
    let reader = RedisSink::open(&redis.url(), "f", "fenced", 0).unwrap();
    let old = reader.fenced(1).unwrap();
    let meta = old.commit(batch(&["a1"], 0)).unwrap();
    assert_eq!(meta.epoch, Some(1), "the commit stores the writer's epoch");

    // The older writer read the checkpoint before the newer one took over:
    // its commit is refused all the same.
    let new = reader.fenced(2).unwrap();
    assert!(is_fenced(old.commit(batch(&["a2"], 1)), 1, 2));
    assert!(reader.get("a2").unwrap().is_none(), "nothing of the refused commit is written");
    let stored = reader.meta().unwrap();
    assert_eq!((stored.last_pointer, stored.epoch, stored.live_docs), (Some(Pointer::from(0)), Some(1), 1));

    // Its other writes are refused too; an older epoch cannot fence again.
    assert!(is_fenced(old.reset_position(StartPosition::Earliest), 1, 2));
    assert!(is_fenced(old.set_reference_time(7), 1, 2));
    assert!(is_fenced(old.gc_tombstones(i64::MAX, 10), 1, 2));
    assert!(is_fenced(reader.fenced(1).map(|_| ()), 1, 2));

    // The newer writer continues after the checkpoint.
    let meta = new.commit(batch(&["b1"], 1)).unwrap();
    assert_eq!((meta.epoch, meta.live_docs, meta.last_pointer), (Some(2), 2, Some(Pointer::from(1))));
    assert!(reader.get("b1").unwrap().is_some());
    assert!(is_fenced(old.commit(batch(&["a3"], 2)), 1, 2), "and the older one stays fenced out");
    assert_eq!(reader.meta().unwrap().counters, new.meta().unwrap().counters);
}

fn settings(host: &str, lease_ms: u64) -> ClusterSettings {
    ClusterSettings {
        lease_time: Duration::from_millis(lease_ms),
        renew_interval: Duration::from_millis(lease_ms / 3),
        ..ClusterSettings::new(host.into())
    }
}

/// The lease scripts: epochs grow on every acquisition, a live lease is
/// only stolen on purpose, renewals and releases check owner and epoch.
#[test]
fn cluster_leases_hand_out_growing_epochs_and_check_their_owner() {
    let redis = RedisServer::start();
    let a = Cluster::open(&redis.url(), "l", settings("a", 600)).unwrap();
    let b = Cluster::open(&redis.url(), "l", settings("b", 600)).unwrap();
    let key = ShardKey::new("x", 0);
    let first = a.acquire(&key, 0, false).unwrap().expect("a free lease");
    assert_eq!(first.epoch, 1);
    assert_eq!(b.acquire(&key, 0, false).unwrap(), None, "the epoch moved: the compare-and-set fails");
    assert_eq!(b.acquire(&key, 1, false).unwrap(), None, "a live lease is not taken without stealing");
    let stolen = b.acquire(&key, 1, true).unwrap().expect("stolen");
    assert_eq!((stolen.epoch, stolen.previous.owner.as_str()), (2, "a"));
    let held_by_a = BTreeMap::from([(key.clone(), 1)]);
    assert_eq!(a.renew(&held_by_a).unwrap(), std::slice::from_ref(&key), "a lost it");
    assert!(!a.release(&key, 1).unwrap(), "and cannot release it");
    // b lets it expire; a takes it back under a new epoch.
    std::thread::sleep(Duration::from_millis(700));
    let again = a.acquire(&key, 2, false).unwrap().expect("expired: free");
    assert_eq!((again.epoch, again.previous.owner.as_str()), (3, "b"));
    assert!(again.previous.renewed_at_ms <= again.now_ms - 600);
    assert!(a.release(&key, 3).unwrap());
    let leases = a.leases().unwrap();
    assert_eq!((leases[&key].owner.as_str(), leases[&key].epoch), ("", 3));
    // Epochs come from one counter: another shard's first lease is 4.
    assert_eq!(b.acquire(&ShardKey::new("y", 0), 0, false).unwrap().unwrap().epoch, 4);
}

/// A stand-in for the manager: records which shards run under which epoch.
#[derive(Default)]
struct FakeHost {
    ingestions: Vec<(String, u32)>,
    running: Mutex<BTreeMap<ShardKey, u64>>,
}

impl ShardHost for FakeHost {
    fn ingestions(&self) -> Vec<(String, u32)> {
        self.ingestions.clone()
    }
    fn start_shard(&self, key: &ShardKey, epoch: u64) -> Result<(), StartError> {
        self.running.lock().unwrap().insert(key.clone(), epoch);
        Ok(())
    }
    fn stop_shard(&self, key: &ShardKey) {
        self.running.lock().unwrap().remove(key);
    }
    fn running(&self) -> Vec<RunningShard> {
        let running = self.running.lock().unwrap();
        running.iter().map(|(key, epoch)| RunningShard { key: key.clone(), epoch: *epoch, fenced: false }).collect()
    }
    fn apply_changes(&self) {}
    fn stop_all(&self) {
        self.running.lock().unwrap().clear();
    }
}

fn counts(hosts: &[&Arc<FakeHost>]) -> Vec<usize> {
    hosts.iter().map(|h| h.running.lock().unwrap().len()).collect()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Coordinators on fake hosts: they balance, a dead one's shards move
/// within a lease time and a renewal, a clean leaver's at once.
#[test]
fn cluster_coordinators_balance_and_move_a_dead_hosts_shards() {
    let redis = RedisServer::start();
    let host = || Arc::new(FakeHost { ingestions: vec![("x".into(), 12)], ..Default::default() });
    let (ha, hb, hc) = (host(), host(), host());
    let join = |name: &str, h: &Arc<FakeHost>| {
        Coordinator::start(Cluster::open(&redis.url(), "c", settings(name, 900)).unwrap(), h.clone())
    };
    let (ca, cb, cc) = (join("a", &ha), join("b", &hb), join("c", &hc));
    wait_for("balanced 4/4/4", Duration::from_secs(15), || counts(&[&ha, &hb, &hc]) == [4, 4, 4]);
    // c dies (its threads stop, its leases are not released).
    drop(cc);
    let moved = wait_for("c's shards on a and b", Duration::from_secs(10), || counts(&[&ha, &hb]) == [6, 6]);
    assert!(moved < Duration::from_millis(900 + 300 + 900), "moved after {moved:?}");
    // Nothing runs twice: each shard on one host, under distinct epochs.
    let a = ha.running.lock().unwrap().clone();
    assert!(hb.running.lock().unwrap().keys().all(|k| !a.contains_key(k)));
    // b leaves cleanly: a takes everything at its next round.
    cb.shutdown();
    let moved = wait_for("all on a", Duration::from_secs(5), || counts(&[&ha]) == [12]);
    assert!(moved < Duration::from_millis(900), "a clean leave moves at the next round: {moved:?}");
    ca.shutdown();
}
