//! The `redis` sink: a shard's documents, checkpoint and counters in Redis.
//!
//! Keys (one hash slot per shard thanks to the `{...}` tag):
//! `<prefix>:{<ingestion>:<shard>}:docs` (hash id -> record),
//! `...:meta` (string, `SinkMeta::encode`: CRC-32 + JSON), `...:dropped` (hash pointer -> JSON).
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

use super::{decode_doc, plan_writes, CommitBatch, DroppedMessage, ShardCounters, ShardSink, SinkError, SinkMeta, StoredDoc};
use crate::pointer::{Pointer, StartPosition};
use redis::{Commands, Connection};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisSink {
    client: redis::Client,
    /// What this sink shows in errors: the URL without its password and the key prefix.
    label: String,
    docs_key: String,
    meta_key: String,
    dropped_key: String,
    state: Mutex<State>,
}

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
        let client = redis::Client::open(url).map_err(|e| SinkError::Store { path: label.clone(), message: e.to_string() })?;
        let base = format!("{key_prefix}:{{{ingestion}:{shard}}}");
        let sink = RedisSink {
            client,
            label,
            docs_key: format!("{base}:docs"),
            meta_key: format!("{base}:meta"),
            dropped_key: format!("{base}:dropped"),
            state: Mutex::new(State { conn: None, meta: SinkMeta::default() }),
        };
        let meta = sink.with_conn(|s, conn| s.read_meta(conn))?;
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
    fn watch_meta(&self, conn: &mut Connection, state_meta: &mut SinkMeta) -> Result<(), SinkError> {
        redis::cmd("WATCH").arg(&self.meta_key).exec(conn).map_err(|e| self.err(e))?;
        let stored = self.read_meta(conn)?;
        if stored != *state_meta {
            let _ = redis::cmd("UNWATCH").exec(conn);
            tracing::warn!(sink = %self.label, "stored checkpoint differs from this writer's; resuming from the stored one");
            *state_meta = stored;
            return Err(SinkError::CheckpointMoved { path: self.label.clone() });
        }
        Ok(())
    }

    /// Writes `meta` (and `extra` commands) in one MULTI/EXEC guarded by the WATCH.
    fn exec_with_meta(
        &self,
        conn: &mut Connection,
        pipe: &mut redis::Pipeline,
        meta: &SinkMeta,
    ) -> Result<(), SinkError> {
        pipe.set(&self.meta_key, meta.encode()).ignore();
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
            s.watch_meta(conn, &mut expected)?;
            let mut ids: Vec<&str> = batch.ops.iter().map(|o| o.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let stored: Vec<Option<Vec<u8>>> = if ids.is_empty() {
                vec![]
            } else {
                redis::cmd("HMGET").arg(&s.docs_key).arg(&ids).query(conn).map_err(|e| s.err(e))?
            };
            let stored: HashMap<&str, Option<Vec<u8>>> = ids.iter().copied().zip(stored).collect();
            let planned = plan_writes(&batch.ops, |id| match stored.get(id).and_then(|v| v.as_deref()) {
                Some(bytes) => decode_doc(bytes).map(Some).ok_or_else(|| SinkError::Corrupt {
                    path: s.label.clone(),
                    key: id.to_string(),
                    message: "document record shorter than its header".into(),
                }),
                None => Ok(None),
            })?;
            let mut meta = expected.clone();
            let mut counters = batch.counters;
            counters.total_version_conflicts_count += planned.version_conflicts;
            counters.total_ops_applied_count += planned.ops_applied;
            meta.counters.add(&counters);
            meta.live_docs = meta.live_docs.checked_add_signed(planned.live_delta).expect("live count never negative");
            meta.resume = Some(StartPosition::After(batch.last_pointer.clone()));
            meta.last_pointer = Some(batch.last_pointer.clone());
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (id, value) in &planned.writes {
                match value {
                    Some(record) => pipe.hset(&s.docs_key, id, record.encode()).ignore(),
                    None => pipe.hdel(&s.docs_key, id).ignore(),
                };
            }
            for d in &batch.dropped {
                pipe.hset(&s.dropped_key, d.pointer.to_string(), serde_json::to_vec(d).expect("serializes")).ignore();
            }
            s.exec_with_meta(conn, &mut pipe, &meta)?;
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
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // A reset is an explicit operator decision: it applies to what is stored now.
        let meta = self.with_state(&mut state, |s, conn| {
            let mut meta = s.read_meta(conn)?;
            meta.resume = Some(position);
            conn.set::<_, _, ()>(&s.meta_key, meta.encode()).map_err(|e| s.err(e))?;
            Ok(meta)
        })?;
        state.meta = meta;
        Ok(())
    }

    fn import_meta(&self, resume: Option<StartPosition>, last_pointer: Option<Pointer>, counters: ShardCounters) -> Result<(), SinkError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.with_state(&mut state, |s, conn| {
            let live_docs = s.read_meta(conn)?.live_docs;
            let meta = SinkMeta { resume, last_pointer, counters, live_docs };
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
                Some(b) => decode_doc(&b)
                    .map(|d| Some(d).filter(|d| !d.deleted))
                    .ok_or_else(|| SinkError::Corrupt { path: s.label.clone(), key: id.into(), message: "short record".into() }),
            }
        })
    }

    /// Redis hashes are unordered: ids are sorted here (scans are for
    /// inspection, not the hot path).
    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError> {
        self.with_conn(|s, conn| {
            let all: Vec<(String, Vec<u8>)> = conn.hgetall(&s.docs_key).map_err(|e| s.err(e))?;
            let mut docs: Vec<(String, StoredDoc)> = all
                .into_iter()
                .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
                .filter_map(|(id, b)| decode_doc(&b).filter(|d| !d.deleted).map(|d| (id, d)))
                .collect();
            docs.sort_by(|a, b| a.0.cmp(&b.0));
            docs.truncate(limit);
            Ok(docs)
        })
    }

    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError> {
        self.with_conn(|s, conn| {
            let all: Vec<(String, Vec<u8>)> = conn.hgetall(&s.dropped_key).map_err(|e| s.err(e))?;
            let mut out: Vec<DroppedMessage> = all.iter().filter_map(|(_, b)| serde_json::from_slice(b).ok()).collect();
            out.retain(|d| after.as_ref().is_none_or(|a| &d.pointer > a));
            out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
            out.truncate(limit);
            Ok(out)
        })
    }
}
