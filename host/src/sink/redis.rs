//! The `redis` sink: a shard's documents, checkpoint and counters in Redis.
//!
//! Keys (one hash slot per shard thanks to the `{...}` tag):
//! `<prefix>:{<ingestion>:<shard>}:docs` (hash id -> record),
//! `...:meta` (string, `SinkMeta::encode`: CRC-32 + JSON), `...:dropped` (hash pointer -> JSON),
//! and two sorted sets that order them for scans (hashes are unordered):
//! `...:ids` (every id in `docs`, score 0, read with ZRANGEBYLEX) and
//! `...:dropped-ids` (each dropped pointer's `sort_key`); and `...:tombstones`
//! (each tombstone's id, scored by its deletion time), the index that
//! `index.gc_deletes` walks.
//!
//! A commit is an optimistic transaction on a dedicated connection: WATCH
//! the meta key, check that the stored meta is the one this writer last saw,
//! read the documents the batch touches, decide every op in Rust (the same
//! rules as every sink), then MULTI/EXEC all writes with the new meta. EXEC
//! fails if anyone touched the meta meanwhile. Either the whole batch lands
//! or nothing does; a writer that finds the checkpoint moved (Redis lost its
//! last writes on restart, or another host took the shard over) writes
//! nothing and resumes from the stored checkpoint. So no state on local disk
//! is needed, and any host can continue a shard.
//!
//! Fencing (a cluster of hosts, see [`ShardSink::fenced`]): `...:fence` holds
//! the newest lease epoch any writer claimed the shard with. A handle made by
//! `fenced(epoch)` raises it to its epoch (a Lua script: never lowers it),
//! and every write it makes WATCHes the fence with the meta and checks it
//! still is its epoch before MULTI/EXEC; the commit stores the epoch in the
//! meta. A host whose lease expired and was taken over therefore writes
//! nothing, whatever it had in flight. The fence lives with the shard's
//! keys (same hash slot), not with the leases: the lease store may be
//! another Redis, and only the shard's own keys can be in its transaction.

use super::{
    CommitBatch, DroppedMessage, ShardCounters, ShardSink, SinkError, SinkMeta, StoredDoc, decode_doc, plan_writes,
};
use crate::pointer::{Pointer, StartPosition};
use redis::{Commands, Connection};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

mod fence;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisSink {
    client: redis::Client,
    /// What this sink shows in errors: the URL without its password and the key prefix.
    label: String,
    docs_key: String,
    meta_key: String,
    dropped_key: String,
    /// Sorted set of the ids in `docs_key`, for ordered scans.
    ids_key: String,
    /// Sorted set of the dropped pointers' sort keys.
    dropped_ids_key: String,
    /// Sorted set of tombstone ids by deletion time (ms).
    tombstones_key: String,
    /// The newest lease epoch a writer fenced the shard with.
    fence_key: String,
    /// The lease epoch this handle writes under (`None`: unfenced, a single host).
    epoch: Option<u64>,
    state: Mutex<State>,
}

/// Ids (or dropped pointers) read per ZRANGEBYLEX round trip of a scan.
const SCAN_CHUNK: usize = 1000;

struct State {
    /// Re-made after any connection error.
    conn: Option<Connection>,
    /// The meta this writer last read or wrote.
    meta: SinkMeta,
}

impl RedisSink {
    /// Connects and reads the shard's meta. Redis being down is an error the
    /// caller retries.
    pub fn open(url: &str, key_prefix: &str, ingestion: &str, shard: u32) -> Result<Self, SinkError> {
        let label = format!("{} {key_prefix}:{{{ingestion}:{shard}}}", crate::spec::redact_url_password(url));
        let client =
            redis::Client::open(url).map_err(|e| SinkError::Store { path: label.clone(), message: e.to_string() })?;
        let base = format!("{key_prefix}:{{{ingestion}:{shard}}}");
        let sink = RedisSink {
            client,
            label,
            docs_key: format!("{base}:docs"),
            meta_key: format!("{base}:meta"),
            dropped_key: format!("{base}:dropped"),
            ids_key: format!("{base}:ids"),
            dropped_ids_key: format!("{base}:dropped-ids"),
            tombstones_key: format!("{base}:tombstones"),
            fence_key: format!("{base}:fence"),
            epoch: None,
            state: Mutex::new(State { conn: None, meta: SinkMeta::default() }),
        };
        let meta = sink.with_conn(|s, conn| {
            s.index_unindexed(conn)?;
            s.read_meta(conn)
        })?;
        sink.state.lock().unwrap().meta = meta;
        Ok(sink)
    }

    fn err(&self, e: impl std::fmt::Display) -> SinkError {
        SinkError::Store { path: self.label.clone(), message: e.to_string() }
    }

    /// Runs `f` on the connection, connecting first if needed; a failed call
    /// drops the connection so the next call reconnects.
    fn with_conn<T>(&self, f: impl FnOnce(&Self, &mut Connection) -> Result<T, SinkError>) -> Result<T, SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.with_state(&mut state, f)
    }

    fn with_state<T>(
        &self,
        state: &mut State,
        f: impl FnOnce(&Self, &mut Connection) -> Result<T, SinkError>,
    ) -> Result<T, SinkError> {
        if state.conn.is_none() {
            let conn = self.client.get_connection_with_timeout(IO_TIMEOUT).map_err(|e| self.err(e))?;
            conn.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| self.err(e))?;
            conn.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| self.err(e))?;
            state.conn = Some(conn);
        }
        let result = f(self, state.conn.as_mut().expect("connected"));
        if matches!(result, Err(SinkError::Store { .. })) {
            state.conn = None;
        }
        result
    }

    /// Builds the scan indexes of a shard written before they existed (its
    /// hashes hold entries, its sorted sets none), with HSCAN, so nothing
    /// is read into memory at once.
    fn index_unindexed(&self, conn: &mut Connection) -> Result<(), SinkError> {
        for (hash, index, member) in [
            (&self.docs_key, &self.ids_key, (|field: String| field.into_bytes()) as fn(String) -> Vec<u8>),
            (&self.dropped_key, &self.dropped_ids_key, |field: String| {
                field.parse::<Pointer>().map(|p| p.sort_key()).unwrap_or_else(|_| field.into_bytes())
            }),
        ] {
            let (entries, indexed): (u64, u64) =
                redis::pipe().hlen(hash).zcard(index).query(conn).map_err(|e| self.err(e))?;
            if entries == 0 || indexed > 0 {
                continue;
            }
            tracing::info!(sink = %self.label, hash = %hash, entries, "indexing a shard written without scan indexes");
            let mut cursor: u64 = 0;
            loop {
                let (next, fields): (u64, Vec<(String, redis::Value)>) = redis::cmd("HSCAN")
                    .arg(hash)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_CHUNK)
                    .query(conn)
                    .map_err(|e| self.err(e))?;
                if !fields.is_empty() {
                    let mut zadd = redis::cmd("ZADD");
                    zadd.arg(index);
                    for (field, _) in fields {
                        zadd.arg(0).arg(member(field));
                    }
                    zadd.exec(conn).map_err(|e| self.err(e))?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }

    /// Changes the stored meta outside a commit (a reset, an owner): read,
    /// change and write in a WATCH/MULTI/EXEC transaction (retried if the
    /// meta moved meanwhile), under the sink's lock; a fenced handle's also
    /// checks the fence.
    fn change_meta(&self, change: impl Fn(&mut SinkMeta)) -> Result<(), SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.with_state(&mut state, |s, conn| {
            // Optimistic, like a commit: a host claiming the sink or
            // resetting a paused shard never writes back a checkpoint that
            // a commit moved meanwhile.
            loop {
                redis::cmd("WATCH").arg(&s.meta_key).exec(conn).map_err(|e| s.err(e))?;
                let raise = s.watch_fence(conn)?;
                let mut meta = s.read_meta(conn)?;
                change(&mut meta);
                let mut pipe = redis::pipe();
                pipe.atomic().set(&s.meta_key, meta.encode()).ignore();
                if raise {
                    pipe.set(&s.fence_key, s.epoch.unwrap_or(0)).ignore();
                }
                let done: Option<()> = pipe.query(conn).map_err(|e| s.err(e))?;
                if done.is_some() {
                    return Ok(meta);
                }
                // The meta or the fence changed meanwhile: look again (a
                // newer fence now fails the check).
            }
        })?;
        state.meta = meta;
        Ok(())
    }

    fn read_meta(&self, conn: &mut Connection) -> Result<SinkMeta, SinkError> {
        let raw: Option<Vec<u8>> = conn.get(&self.meta_key).map_err(|e| self.err(e))?;
        match raw {
            None => Ok(SinkMeta::default()),
            Some(b) => SinkMeta::decode(&b).map_err(|message| SinkError::Corrupt {
                path: self.label.clone(),
                key: self.meta_key.clone(),
                message,
            }),
        }
    }

    /// WATCHes the meta and checks it is `expected`; on a mismatch, unwatches,
    /// adopts the stored meta and reports [`SinkError::CheckpointMoved`].
    fn watch_meta(&self, conn: &mut Connection, state_meta: &mut SinkMeta) -> Result<bool, SinkError> {
        redis::cmd("WATCH").arg(&self.meta_key).exec(conn).map_err(|e| self.err(e))?;
        let raise_fence = self.watch_fence(conn)?;
        let stored = self.read_meta(conn)?;
        if stored != *state_meta {
            let _ = redis::cmd("UNWATCH").exec(conn);
            tracing::warn!(sink = %self.label, "stored checkpoint differs from this writer's; resuming from the stored one");
            *state_meta = stored;
            return Err(SinkError::CheckpointMoved { path: self.label.clone() });
        }
        Ok(raise_fence)
    }

    /// Writes `meta` (and `extra` commands) in one MULTI/EXEC guarded by the
    /// WATCH; with `raise_fence`, the fence moves up to this handle's epoch.
    fn exec_with_meta(
        &self,
        conn: &mut Connection,
        pipe: &mut redis::Pipeline,
        meta: &SinkMeta,
        raise_fence: bool,
    ) -> Result<(), SinkError> {
        pipe.set(&self.meta_key, meta.encode()).ignore();
        if raise_fence {
            pipe.set(&self.fence_key, self.epoch.unwrap_or(0)).ignore();
        }
        let done: Option<()> = pipe.query(conn).map_err(|e| self.err(e))?;
        match done {
            Some(()) => Ok(()),
            // EXEC returned nil: the watched meta changed between WATCH and EXEC.
            None => Err(SinkError::CheckpointMoved { path: self.label.clone() }),
        }
    }
}

impl ShardSink for RedisSink {
    /// Re-read from Redis: another host may have moved the checkpoint.
    fn meta(&self) -> Result<SinkMeta, SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.with_state(&mut state, |s, conn| s.read_meta(conn))?;
        state.meta = meta.clone();
        Ok(meta)
    }

    fn commit(&self, batch: CommitBatch) -> Result<SinkMeta, SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut expected = state.meta.clone();
        let result = self.with_state(&mut state, |s, conn| {
            let raise_fence = s.watch_meta(conn, &mut expected)?;
            let mut ids: Vec<&str> = batch.ops.iter().map(|o| o.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let stored: Vec<Option<Vec<u8>>> = if ids.is_empty() {
                vec![]
            } else {
                redis::cmd("HMGET").arg(&s.docs_key).arg(&ids).query(conn).map_err(|e| s.err(e))?
            };
            let stored: HashMap<&str, Option<Vec<u8>>> = ids.iter().copied().zip(stored).collect();
            let stamp = super::tombstone_stamp(crate::util::now_ms());
            let planned =
                plan_writes(&batch.ops, &stamp, &s.label, |id: &str| Ok(stored.get(id).and_then(|v| v.as_deref())))?;
            let mut meta = expected.advance(&batch, &planned);
            if s.epoch.is_some() {
                meta.epoch = s.epoch;
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            // Every id written joins the scan index (again: ZADD of a member
            // already there changes nothing); a removed one leaves it.
            let (mut indexed, mut unindexed) = (redis::cmd("ZADD"), redis::cmd("ZREM"));
            indexed.arg(&s.ids_key);
            unindexed.arg(&s.ids_key);
            let (mut puts, mut removes) = (0, 0);
            for (id, value) in &planned.writes {
                match value {
                    Some(record) => {
                        pipe.hset(&s.docs_key, id, record.encode()).ignore();
                        indexed.arg(0).arg(*id);
                        puts += 1;
                        if let Some(at) = record.deleted_at_ms() {
                            pipe.zadd(&s.tombstones_key, *id, at).ignore();
                        }
                    }
                    None => {
                        pipe.hdel(&s.docs_key, id).ignore();
                        unindexed.arg(*id);
                        removes += 1;
                    }
                };
            }
            if puts > 0 {
                pipe.add_command(indexed).ignore();
            }
            if removes > 0 {
                pipe.add_command(unindexed).ignore();
            }
            for d in &batch.dropped {
                pipe.hset(&s.dropped_key, d.pointer.to_string(), serde_json::to_vec(d).expect("serializes")).ignore();
                pipe.zadd(&s.dropped_ids_key, d.pointer.sort_key(), 0).ignore();
            }
            s.exec_with_meta(conn, &mut pipe, &meta, raise_fence)?;
            Ok(meta)
        });
        match &result {
            Ok(meta) => state.meta = meta.clone(),
            Err(SinkError::CheckpointMoved { .. }) => state.meta = expected,
            Err(_) => {}
        }
        result
    }

    fn reset_position(&self, position: StartPosition) -> Result<(), SinkError> {
        // A reset is an explicit operator decision: it applies to what is stored now.
        self.change_meta(|meta| meta.resume = Some(position.clone()))
    }

    fn set_reference_time(&self, ms: i64) -> Result<(), SinkError> {
        self.change_meta(|meta| meta.reference_time_ms = Some(ms))
    }

    fn set_owner(&self, owner: super::SinkOwner) -> Result<(), SinkError> {
        self.change_meta(|meta| meta.owner = Some(owner.clone()))
    }

    fn fenced(&self, epoch: u64) -> Result<std::sync::Arc<dyn ShardSink>, SinkError> {
        Ok(std::sync::Arc::new(self.fenced_handle(epoch)?))
    }

    fn shared(&self) -> bool {
        true
    }

    fn import_meta(
        &self,
        resume: Option<StartPosition>,
        last_pointer: Option<Pointer>,
        counters: ShardCounters,
    ) -> Result<(), SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.with_state(&mut state, |s, conn| {
            let stored = s.read_meta(conn)?;
            let meta = SinkMeta {
                resume,
                last_pointer,
                counters,
                live_docs: stored.live_docs,
                owner: stored.owner,
                reference_time_ms: stored.reference_time_ms,
                epoch: stored.epoch,
            };
            conn.set::<_, _, ()>(&s.meta_key, meta.encode()).map_err(|e| s.err(e))?;
            Ok(meta)
        })?;
        state.meta = meta;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        self.with_conn(|s, conn| {
            let raw: Option<Vec<u8>> = conn.hget(&s.docs_key, id).map_err(|e| s.err(e))?;
            match raw {
                None => Ok(None),
                Some(b) => decode_doc(&b).map(|d| Some(d).filter(|d| !d.deleted)).ok_or_else(|| SinkError::Corrupt {
                    path: s.label.clone(),
                    key: id.into(),
                    message: "short record".into(),
                }),
            }
        })
    }

    /// In id order, from the `ids` sorted set, a chunk of ids at a time.
    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError> {
        self.with_conn(|s, conn| {
            let mut out = Vec::new();
            let mut from: Vec<u8> = match after {
                Some(a) => [b"(", a.as_bytes()].concat(),
                None => b"-".to_vec(),
            };
            while out.len() < limit {
                let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
                    .arg(&s.ids_key)
                    .arg(&from)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(SCAN_CHUNK)
                    .query(conn)
                    .map_err(|e| s.err(e))?;
                let Some(last) = ids.last() else { break };
                from = [b"(", last.as_bytes()].concat();
                let records: Vec<Option<Vec<u8>>> =
                    redis::cmd("HMGET").arg(&s.docs_key).arg(&ids).query(conn).map_err(|e| s.err(e))?;
                let full = ids.len() == SCAN_CHUNK;
                for (id, record) in ids.into_iter().zip(records) {
                    // Tombstones are indexed too; they are not documents.
                    if let Some(doc) = record.as_deref().and_then(decode_doc).filter(|d| !d.deleted) {
                        out.push((id, doc));
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                if !full {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// An optimistic transaction like a commit's: WATCH the meta, read the
    /// tombstones due and their records, and remove them in one MULTI/EXEC,
    /// which fails (the next collection retries) if a commit moved the meta
    /// meanwhile. The removal leaves the meta alone: a commit that read a
    /// tombstone before this removed it is ordered before the removal, and
    /// its writes land after it, as if it had run first.
    fn gc_tombstones(&self, cutoff_ms: i64, limit: usize) -> Result<u64, SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.with_state(&mut state, |s, conn| {
            redis::cmd("WATCH").arg(&s.meta_key).exec(conn).map_err(|e| s.err(e))?;
            // A fenced-out host removes nothing either (raising the fence is a commit's job).
            s.watch_fence(conn)?;
            let due: Vec<(String, i64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(&s.tombstones_key)
                .arg("-inf")
                .arg(cutoff_ms)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query(conn)
                .map_err(|e| s.err(e))?;
            if due.is_empty() {
                let _ = redis::cmd("UNWATCH").exec(conn);
                return Ok(0);
            }
            let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
            let records: Vec<Option<Vec<u8>>> =
                redis::cmd("HMGET").arg(&s.docs_key).arg(&ids).query(conn).map_err(|e| s.err(e))?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut removed = 0;
            for ((id, at), record) in due.iter().zip(records) {
                pipe.zrem(&s.tombstones_key, id).ignore();
                // Only if the document is still that tombstone (not written again since).
                if record.as_deref().and_then(decode_doc).is_some_and(|d| d.deleted_at_ms() == Some(*at)) {
                    pipe.hdel(&s.docs_key, id).ignore();
                    pipe.zrem(&s.ids_key, id).ignore();
                    removed += 1;
                }
            }
            let done: Option<()> = pipe.query(conn).map_err(|e| s.err(e))?;
            // EXEC returned nil: a commit moved the meta meanwhile; the next collection retries.
            Ok(if done.is_some() { removed } else { 0 })
        })
    }

    /// In pointer order, from the `dropped-ids` sorted set.
    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError> {
        self.with_conn(|s, conn| {
            let from: Vec<u8> = match &after {
                Some(p) => [&b"("[..], &p.sort_key()].concat(),
                None => b"-".to_vec(),
            };
            let keys: Vec<Vec<u8>> = redis::cmd("ZRANGEBYLEX")
                .arg(&s.dropped_ids_key)
                .arg(&from)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query(conn)
                .map_err(|e| s.err(e))?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            // A sort key is the pointer's length byte and then its text.
            let fields: Vec<&[u8]> = keys.iter().map(|k| k.get(1..).unwrap_or_default()).collect();
            let records: Vec<Option<Vec<u8>>> =
                redis::cmd("HMGET").arg(&s.dropped_key).arg(&fields).query(conn).map_err(|e| s.err(e))?;
            records
                .iter()
                .zip(&fields)
                .filter_map(|(record, field)| record.as_ref().map(|b| (b, field)))
                .map(|(b, field)| {
                    serde_json::from_slice(b).map_err(|e| SinkError::Corrupt {
                        path: s.label.clone(),
                        key: format!("{}[{}]", s.dropped_key, String::from_utf8_lossy(field)),
                        message: e.to_string(),
                    })
                })
                .collect()
        })
    }
}
