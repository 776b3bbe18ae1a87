//! Many hosts, one set of shards: fencing in the Redis sink, and (below)
//! `sluice serve --cluster` hosts sharing the shards of an ingestion.

use crate::support::grpc_server::Server;
use crate::support::redis_server::RedisServer;
use crate::support::*;
use serde_json::json;
use sluice::api::proto as pb;
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
    let b = hb.running.lock().unwrap().clone();
    assert!(b.keys().all(|k| !a.contains_key(k)));
    let epochs: std::collections::BTreeSet<u64> = a.values().chain(b.values()).copied().collect();
    assert_eq!(epochs.len(), a.len() + b.len(), "every lease under its own epoch: {a:?} {b:?}");
    // b leaves cleanly: a takes everything at its next round.
    cb.shutdown();
    let moved = wait_for("all on a", Duration::from_secs(5), || counts(&[&ha]) == [12]);
    assert!(moved < Duration::from_millis(900), "a clean leave moves at the next round: {moved:?}");
    ca.shutdown();
}

// --- `sluice serve --cluster` hosts -----------------------------------------

const SHARDS: u32 = 12;
const PREFIX: &str = "cl";

struct Host {
    id: &'static str,
    server: Server,
    _dir: tempfile::TempDir,
}

impl Host {
    fn start(id: &'static str, redis: &RedisServer, lease: &str, renew: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let url = redis.url();
        let args = [
            "--cluster",
            "--host-id",
            id,
            "--lease-time",
            lease,
            "--renew-interval",
            renew,
            "--state",
            &url,
            "--state-prefix",
            PREFIX,
            "--metrics-listen",
            "127.0.0.1:0",
        ];
        Host { id, server: Server::start(dir.path(), &args), _dir: dir }
    }

    /// The ingestion's state as this host reports it (an empty one until it knows the ingestion).
    async fn state_of(&self, name: &str) -> pb::GetIngestionStateResponse {
        let mut c = self.server.clients().await;
        let request = pb::GetIngestionStateRequest { name: name.into(), page_size: 0, page_token: String::new() };
        match c.ingestions.get_ingestion_state(request).await {
            Ok(r) => r.into_inner(),
            Err(e) if e.code() == tonic::Code::NotFound => pb::GetIngestionStateResponse {
                shards: vec![pb::ShardState::default(); SHARDS as usize],
                ..Default::default()
            },
            Err(e) => panic!("{}: {e}", self.id),
        }
    }

    /// One counter of this host's `/metrics` (a cluster host renders every
    /// one, zero included: a missing one fails).
    fn metric(&self, name: &str) -> u64 {
        let body = self.server.metrics_get("/metrics");
        let prefix = format!("{name}{{host=\"{}\"}} ", self.id);
        body.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}in /metrics:\n{body}"))
    }
}

/// Each shard's lease (owner, epoch) as a host reports it.
fn leases(state: &pb::GetIngestionStateResponse) -> Vec<(String, u64)> {
    state.shards.iter().map(|s| s.lease.as_ref().map(|l| (l.owner.clone(), l.epoch)).unwrap_or_default()).collect()
}

fn per_host(leases: &[(String, u64)], hosts: &[&str]) -> Vec<usize> {
    hosts.iter().map(|h| leases.iter().filter(|(o, _)| o == h).count()).collect()
}

/// Every shard leased by one of `hosts`, each holding its share +/- 1
/// (4 +/- 1 for 12 shards on 3 hosts).
fn balanced(leases: &[(String, u64)], hosts: &[&str]) -> bool {
    let counts = per_host(leases, hosts);
    let target = leases.len().div_ceil(hosts.len());
    counts.iter().sum::<usize>() == leases.len() && counts.iter().all(|c| c.abs_diff(target) <= 1)
}

async fn wait_until<T>(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(t) = check().await {
            return (t, start.elapsed());
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Appends the streams in small chunks while the hosts run: the file
/// partitions, and the Kafka partitions if there is a broker.
fn writer(
    stream: Arc<Stream>,
    kafka: Option<String>,
    lines: [Vec<Vec<String>>; 2],
    chunks: usize,
    every: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let producer: Option<rdkafka::producer::BaseProducer> = kafka.map(|bootstrap| {
            rdkafka::config::ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .create()
                .unwrap()
        });
        let part = |lines: &[String], i: usize| {
            let size = lines.len().div_ceil(chunks);
            lines.iter().skip(i * size).take(size).cloned().collect::<Vec<_>>()
        };
        for i in 0..chunks {
            for (shard, lines) in lines[0].iter().enumerate() {
                let part = part(lines, i);
                if !part.is_empty() {
                    stream.append(shard as u32, &part);
                }
            }
            if let Some(p) = &producer {
                use rdkafka::producer::Producer;
                for (shard, lines) in lines[1].iter().enumerate() {
                    for line in part(lines, i) {
                        let record = rdkafka::producer::BaseRecord::<[u8], [u8]>::to(crate::support::kafka::TOPIC)
                            .partition(shard as i32)
                            .payload(line.as_bytes());
                        p.send(record).map_err(|(e, _)| e).unwrap();
                    }
                }
                p.flush(Duration::from_secs(20)).unwrap();
            }
            std::thread::sleep(every);
        }
    })
}

/// One ingestion of the test: its name, its sinks and its reference model.
struct Checked {
    name: &'static str,
    sinks: Vec<Arc<dyn ShardSink>>,
    model: Model,
    total: u64,
}

impl Checked {
    fn new(name: &'static str, redis: &RedisServer, lines: &[Vec<String>]) -> Checked {
        let mut model = Model::new("{}");
        for (shard, l) in lines.iter().enumerate() {
            model.apply(shard as u32, 0, l);
        }
        let sinks = (0..SHARDS)
            .map(|s| Arc::new(RedisSink::open(&redis.url(), "cs", name, s).unwrap()) as Arc<dyn ShardSink>)
            .collect();
        Checked { name, sinks, model, total: lines.iter().map(|l| l.len() as u64).sum() }
    }

    fn processed(&self) -> u64 {
        self.sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum()
    }
}

/// Every shard of every ingestion, in order, as `host` reports its lease.
async fn all_leases(host: &Host, all: &[Checked]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for c in all {
        out.extend(leases(&host.state_of(c.name).await));
    }
    out
}

/// Each shard's committed epoch, in the order of [`all_leases`].
fn committed_epochs(all: &[Checked]) -> Vec<Option<u64>> {
    all.iter().flat_map(|c| c.sinks.iter().map(|s| s.meta().unwrap().epoch)).collect()
}

/// Three hosts share 12 file partitions (and 12 Kafka partitions) being
/// written: they balance; one is SIGKILLed and its shards run and commit
/// elsewhere within the lease bound; one is SIGSTOPped past its lease and
/// continued, has its commits refused and gives its shards up; a fourth
/// joins and takes shards until balanced. The sinks end equal to the
/// reference model: nothing lost, nothing applied twice.
async fn killed_stopped_and_joined(seed: u64, lease: Duration, renew: Duration, with_kafka: bool) {
    let (lease_arg, renew_arg) = (format!("{}ms", lease.as_millis()), format!("{}ms", renew.as_millis()));
    let redis = RedisServer::start();
    let stream = Arc::new(Stream::new(SHARDS));
    let kafka = with_kafka.then(|| crate::support::kafka::Kafka::new(SHARDS as i32));
    let file_lines = generated_stream(SHARDS, 9_000, seed);
    let kafka_lines =
        if with_kafka { generated_stream(SHARDS, 6_000, seed + 100) } else { vec![vec![]; SHARDS as usize] };
    let mut all = vec![Checked::new("c", &redis, &file_lines)];
    if with_kafka {
        all.push(Checked::new("k", &redis, &kafka_lines));
    }
    let a = Host::start("a", &redis, &lease_arg, &renew_arg);
    let b = Host::start("b", &redis, &lease_arg, &renew_arg);
    let c = Host::start("c", &redis, &lease_arg, &renew_arg);
    let sink = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "cs"}});
    let mut specs = vec![stream.spec("c", SHARDS, json!({"poll.max_batch_size": 20}))];
    if let Some(k) = &kafka {
        specs.push(k.spec("k", SHARDS, json!({"poll.max_batch_size": 20})));
    }
    for mut spec in specs {
        spec["sluice"] = sink.clone();
        // The model keeps every tombstone.
        spec["settings"]["index.gc_deletes"] = json!(-1);
        let request = pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() };
        a.server.clients().await.ingestions.create_ingestion(request).await.unwrap();
    }
    let writing = writer(
        stream.clone(),
        kafka.as_ref().map(|k| k.bootstrap()),
        [file_lines, kafka_lines],
        150,
        Duration::from_millis(150),
    );
    let shards = all.len() * SHARDS as usize;

    // Balanced: 4 +/- 1 per host and ingestion count (any host tells every shard's lease).
    let (before, took) = wait_until("balanced on a, b, c", Duration::from_secs(30), async || {
        let l = all_leases(&b, &all).await;
        balanced(&l, &["a", "b", "c"]).then_some(l)
    })
    .await;
    println!("seed {seed}: {shards} shards balanced {:?} after {took:?}", per_host(&before, &["a", "b", "c"]));

    // SIGKILL c: its shards run, and commit, on a and b.
    let c_shards: Vec<usize> = (0..shards).filter(|s| before[*s].0 == "c").collect();
    drop(c);
    let ((), moved) =
        wait_until("c's shards leased by a and b", lease + renew * 4 + Duration::from_secs(3), async || {
            let l = all_leases(&a, &all).await;
            c_shards.iter().all(|s| l[*s].0 != "c" && !l[*s].0.is_empty()).then_some(())
        })
        .await;
    let ((), committing) = wait_until("c's shards committing elsewhere", Duration::from_secs(20), async || {
        let (l, e) = (all_leases(&a, &all).await, committed_epochs(&all));
        c_shards.iter().all(|s| e[*s] == Some(l[*s].1)).then_some(())
    })
    .await;
    let failover_ms = a.metric("sluice_cluster_failover_ms_max").max(b.metric("sluice_cluster_failover_ms_max"));
    println!(
        "seed {seed}: SIGKILL -> {} shards leased elsewhere after {moved:?}, committing there after {:?} \
         (lease {lease:?}, renew {renew:?}; hosts measured up to {failover_ms} ms from the last renewal)",
        c_shards.len(),
        moved + committing
    );
    assert!(moved <= lease + renew * 2 + Duration::from_secs(1), "failover took {moved:?}");
    wait_until("balanced on a, b", Duration::from_secs(20), async || {
        balanced(&all_leases(&a, &all).await, &["a", "b"]).then_some(())
    })
    .await;

    // SIGSTOP b past its lease: a takes everything; b, continued, is refused and gives its shards up.
    let b_held: Vec<(usize, u64)> =
        all_leases(&a, &all).await.iter().enumerate().filter(|(_, l)| l.0 == "b").map(|(s, l)| (s, l.1)).collect();
    b.server.signal("STOP");
    let stopped = Instant::now();
    wait_until("a holds every shard", lease + renew * 4 + Duration::from_secs(5), async || {
        let (l, e) = (all_leases(&a, &all).await, committed_epochs(&all));
        (per_host(&l, &["a"]) == [shards] && b_held.iter().all(|(s, _)| e[*s] == Some(l[*s].1))).then_some(())
    })
    .await;
    println!("seed {seed}: SIGSTOP b -> a runs its {} shards after {:?}", b_held.len(), stopped.elapsed());
    b.server.signal("CONT");
    wait_until("b gave its old leases up", Duration::from_secs(10), async || {
        let mut states = Vec::new();
        for c in &all {
            states.extend(b.state_of(c.name).await.shards);
        }
        b_held
            .iter()
            .all(|(shard, epoch)| {
                let st = &states[*shard];
                st.state == pb::PollerState::Elsewhere as i32 || st.lease.as_ref().is_some_and(|l| l.epoch != *epoch)
            })
            .then_some(())
    })
    .await;
    let log = b.server.stderr();
    let refused = log.matches("fenced: another host holds this shard").count();
    let stopped_fenced = log.matches("shard fenced: another host runs it now").count();
    let lost = b.metric("sluice_cluster_leases_lost_total");
    println!(
        "seed {seed}: b continued: {refused} writes refused by the fence, {stopped_fenced} shards stopped by \
         one, {lost} leases lost"
    );
    assert!(refused > 0, "b's next commits are refused:\n{log}");
    assert!(lost >= b_held.len() as u64, "b lost its {} leases: {lost}", b_held.len());

    // A fourth host joins: shards move until a, b and d hold their share +/- 1.
    let d = Host::start("d", &redis, &lease_arg, &renew_arg);
    let (after, took) = wait_until("balanced on a, b, d", Duration::from_secs(30), async || {
        let l = all_leases(&d, &all).await;
        balanced(&l, &["a", "b", "d"]).then_some(l)
    })
    .await;
    println!("seed {seed}: d joined, balanced {:?} after {took:?}", per_host(&after, &["a", "b", "d"]));
    assert!(d.metric("sluice_cluster_leases_stolen_total") > 0 || b.metric("sluice_cluster_leases_stolen_total") > 0);

    writing.join().unwrap();
    for c in &all {
        wait_until(&format!("every message of {} committed", c.name), Duration::from_secs(60), async || {
            (c.processed() == c.total).then_some(())
        })
        .await;
        assert_sinks_match(&c.sinks, &c.model);
    }
    for host in [&a, &b, &d] {
        assert!(!host.server.stderr().contains("panicked"), "{}: {}", host.id, host.server.stderr());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_hosts_killed_stopped_and_joined_share_file_and_kafka_partitions_exactly_once() {
    // The defaults (lease 3 s, renew 1 s) with 12 file and 12 Kafka
    // partitions, then shorter leases with other seeds, files only.
    killed_stopped_and_joined(1, Duration::from_secs(3), Duration::from_secs(1), true).await;
    killed_stopped_and_joined(2, Duration::from_millis(1500), Duration::from_millis(500), false).await;
    killed_stopped_and_joined(3, Duration::from_millis(1500), Duration::from_millis(500), false).await;
}

/// Create, pause, resume with a reset, update and delete, each made on
/// another host than the ones running the shards, reach those; a clustered
/// ingestion with an embedded sink is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_control_plane_changes_from_any_host_reach_the_shards_owners() {
    const N: u32 = 6;
    let redis = RedisServer::start();
    let (a, b, c) = (
        Host::start("a", &redis, "1500ms", "500ms"),
        Host::start("b", &redis, "1500ms", "500ms"),
        Host::start("c", &redis, "1500ms", "500ms"),
    );
    let stream = Stream::new(N);
    let line = |shard: u32, i: usize| msg(Some(&format!("d{shard}-{i}")), None, "index", json!({"i": i}));
    for shard in 0..N {
        stream.append(shard, &(0..10).map(|i| line(shard, i)).collect::<Vec<_>>());
    }
    let mut spec = stream.spec("p", N, json!({}));
    let create =
        |spec: &serde_json::Value| pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() };
    let refused = a.server.clients().await.ingestions.create_ingestion(create(&spec)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("must use the redis sink"), "{}", refused.message());
    spec["sluice"] = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "cp"}});
    a.server.clients().await.ingestions.create_ingestion(create(&spec)).await.unwrap();
    let sinks: Vec<RedisSink> = (0..N).map(|s| RedisSink::open(&redis.url(), "cp", "p", s).unwrap()).collect();
    let counts = || sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).collect::<Vec<_>>();
    let spread = |l: &[(String, u64)]| ["a", "b", "c"].iter().all(|h| l.iter().filter(|(o, _)| o == h).count() == 2);
    wait_until("all ingested, 2 shards per host", Duration::from_secs(30), async || {
        (counts() == [10; N as usize] && spread(&leases(&c.state_of("p").await))).then_some(())
    })
    .await;

    // Pause on b: returns once every host stopped its shards.
    let mut bc = b.server.clients().await;
    bc.ingestions.pause_ingestion(pb::PauseIngestionRequest { name: "p".into(), shards: vec![] }).await.unwrap();
    for shard in 0..N {
        stream.append(shard, &(10..15).map(|i| line(shard, i)).collect::<Vec<_>>());
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(counts(), [10; N as usize], "paused shards commit nothing, wherever they run");
    for host in [&a, &b, &c] {
        let state = host.state_of("p").await;
        assert!(state.shards.iter().all(|s| s.paused), "{}: {state:?}", host.id);
        let here = state.shards.iter().filter(|s| s.lease.as_ref().is_some_and(|l| l.owner == host.id)).count();
        let paused_here = state.shards.iter().filter(|s| s.state == pb::PollerState::Paused as i32).count();
        assert_eq!(here, paused_here, "{}: every shard it runs shows PAUSED", host.id);
    }

    // Resume on c with shard 0 reset past its new messages.
    let reset = pb::ShardReset { shard: 0, mode: pb::ResetMode::Offset as i32, value: Some("15".into()) };
    let resume = pb::ResumeIngestionRequest { name: "p".into(), shards: vec![], resets: vec![reset] };
    c.server.clients().await.ingestions.resume_ingestion(resume).await.unwrap();
    wait_until("resumed", Duration::from_secs(20), async || (counts() == [10, 15, 15, 15, 15, 15]).then_some(())).await;
    stream.append(0, &[line(0, 15)]);
    wait_until("shard 0 continues after its reset", Duration::from_secs(20), async || {
        (counts()[0] == 11).then_some(())
    })
    .await;
    assert!(sinks[0].get("d0-12").unwrap().is_none() && sinks[0].get("d0-15").unwrap().is_some());

    // Update on a: BLOCK; a bad line blocks shard 1 on whichever host runs it.
    let update = pb::UpdateIngestionRequest {
        name: "p".into(),
        update_json: json!({"index.ingestion_source.error_strategy": "BLOCK"}).to_string(),
    };
    a.server.clients().await.ingestions.update_ingestion(update).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    stream.append(1, &["{broken".to_string()]);
    wait_until("shard 1 blocked on its owner", Duration::from_secs(20), async || {
        for host in [&a, &b, &c] {
            let s = host.state_of("p").await;
            if s.shards[1].state == pb::PollerState::Blocked as i32 {
                return Some(());
            }
        }
        None
    })
    .await;

    // c stops cleanly (SIGTERM): its shards commit, it releases its leases,
    // and a and b take them at their next round, long before they would expire.
    let c_had = per_host(&leases(&a.state_of("p").await), &["c"])[0];
    assert_eq!(c.server.terminate().await, Some(0));
    let ((), moved) = wait_until("c's shards on a and b", Duration::from_secs(10), async || {
        let l = leases(&a.state_of("p").await);
        (per_host(&l, &["a", "b"]) == [3, 3]).then_some(())
    })
    .await;
    println!("c left cleanly with {c_had} leases: on a and b {moved:?} after it exited");
    assert!(moved < Duration::from_millis(1500), "released, not expired: {moved:?}");

    // Delete on b: every host stops it and releases its leases.
    bc.ingestions.delete_ingestion(pb::DeleteIngestionRequest { name: "p".into(), delete_data: false }).await.unwrap();
    wait_until("deleted everywhere, no lease held", Duration::from_secs(20), async || {
        for host in [&a, &b] {
            let mut client = host.server.clients().await;
            let request = pb::GetIngestionStateRequest { name: "p".into(), page_size: 0, page_token: String::new() };
            if client.ingestions.get_ingestion_state(request).await.is_ok()
                || host.metric("sluice_cluster_leases_held") != 0
            {
                return None;
            }
        }
        Some(())
    })
    .await;
}
