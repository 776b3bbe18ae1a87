//! Which leases a host should acquire this round: a pure function, like
//! the Kinesis Client Library's lease taker.
//!
//! Each host aims at `ceil(shards / live hosts)` leases. Below that, it
//! takes free leases (expired, released or never taken) first; only when
//! none is free does it steal, from the most loaded host, at most
//! `max_steal` per round and only what that host has beyond the target
//! (or one, when that host is at the target and this one needs two or
//! more: 5/5/3 becomes 5/4/4). Hosts order candidates by a hash of their
//! own id, so hosts racing for free leases mostly pick different ones (the
//! acquisition is a compare-and-set: a loser tries again next round).

use super::ShardKey;
use std::collections::{BTreeMap, BTreeSet};

/// A lease as the balancer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub key: ShardKey,
    /// Its holder; meaningless when `free`.
    pub owner: String,
    /// The epoch the acquisition compares against.
    pub epoch: u64,
    /// Nobody holds it: expired, released, or never taken.
    pub free: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Take { key: ShardKey, epoch: u64 },
    Steal { key: ShardKey, epoch: u64, from: String },
}

/// What `me` should acquire, given the live hosts (`me` counts as live) and every lease.
pub fn plan(me: &str, live_hosts: &BTreeSet<String>, leases: &[LeaseView], max_steal: usize) -> Vec<Action> {
    if leases.is_empty() {
        return Vec::new();
    }
    let mut hosts: BTreeSet<&str> = live_hosts.iter().map(String::as_str).collect();
    hosts.insert(me);
    let target = leases.len().div_ceil(hosts.len());
    let mut load: BTreeMap<&str, Vec<&LeaseView>> = hosts.iter().map(|h| (*h, Vec::new())).collect();
    let mut free = Vec::new();
    for lease in leases {
        if lease.free {
            free.push(lease);
        } else if let Some(held) = load.get_mut(lease.owner.as_str()) {
            held.push(lease);
        }
        // Held by a host whose heartbeat expired but whose lease has not
        // (yet): neither free nor anyone's load; it expires soon.
    }
    let mine = load[me].len();
    if mine >= target {
        return Vec::new();
    }
    let need = target - mine;
    let order = |l: &&LeaseView| preference(me, &l.key);
    if !free.is_empty() {
        free.sort_by_key(order);
        return free.into_iter().take(need).map(|l| Action::Take { key: l.key.clone(), epoch: l.epoch }).collect();
    }
    // The most loaded other host (ties: the first by id).
    let Some((victim, mut theirs)) =
        load.into_iter().filter(|(h, _)| *h != me).max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))
    else {
        return Vec::new();
    };
    let surplus = if theirs.len() > target {
        theirs.len() - target
    } else if theirs.len() == target && need > 1 {
        1
    } else {
        0
    };
    theirs.sort_by_key(order);
    theirs
        .into_iter()
        .take(surplus.min(need).min(max_steal))
        .map(|l| Action::Steal { key: l.key.clone(), epoch: l.epoch, from: victim.to_string() })
        .collect()
}

/// A per-host order of leases (FNV-1a of host id and lease).
fn preference(me: &str, key: &ShardKey) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in me.bytes().chain([0]).chain(key.field().bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases(owners: &[&str]) -> Vec<LeaseView> {
        owners
            .iter()
            .enumerate()
            .map(|(i, o)| LeaseView {
                key: ShardKey::new("x", i as u32),
                owner: o.to_string(),
                epoch: i as u64,
                free: o.is_empty(),
            })
            .collect()
    }

    fn hosts(h: &[&str]) -> BTreeSet<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    fn takes(actions: &[Action]) -> usize {
        actions.iter().filter(|a| matches!(a, Action::Take { .. })).count()
    }

    fn steals_from(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Steal { from, .. } => Some(from.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Runs rounds of every host in turn (each acquisition succeeds) until nothing moves.
    fn settle(owners: &mut [String], live: &[&str], max_steal: usize) -> usize {
        for round in 0..100 {
            let mut moved = false;
            for me in live {
                let views = leases(&owners.iter().map(String::as_str).collect::<Vec<_>>());
                for action in plan(me, &hosts(live), &views, max_steal) {
                    let (Action::Take { key, .. } | Action::Steal { key, .. }) = action;
                    owners[key.shard as usize] = me.to_string();
                    moved = true;
                }
            }
            if !moved {
                return round;
            }
        }
        panic!("never settles: {owners:?}");
    }

    fn counts(owners: &[String], live: &[&str]) -> Vec<usize> {
        live.iter().map(|h| owners.iter().filter(|o| o == h).count()).collect()
    }

    #[test]
    fn a_host_takes_free_leases_up_to_its_share_and_no_more() {
        let free = leases(&[""; 12]);
        let actions = plan("a", &hosts(&["a", "b", "c"]), &free, 2);
        assert_eq!((actions.len(), takes(&actions)), (4, 4));
        // Alone, it takes everything.
        assert_eq!(plan("a", &hosts(&[]), &free, 2).len(), 12);
        // At its share: nothing, even with free leases left.
        let mut owners = vec!["a"; 4];
        owners.extend([""; 8]);
        assert!(plan("a", &hosts(&["a", "b", "c"]), &leases(&owners), 2).is_empty());
    }

    #[test]
    fn free_leases_come_before_stealing_and_hosts_prefer_different_ones() {
        let mut owners = vec!["a"; 6];
        owners.extend(["", ""]);
        let actions = plan("b", &hosts(&["a", "b"]), &leases(&owners), 2);
        assert_eq!((takes(&actions), steals_from(&actions).len()), (2, 0), "{actions:?}");
        let free = leases(&[""; 12]);
        let a = plan("a", &hosts(&["a", "b", "c"]), &free, 2);
        let c = plan("c", &hosts(&["a", "b", "c"]), &free, 2);
        assert_ne!(a, c, "different hosts prefer different leases");
    }

    #[test]
    fn a_new_host_steals_a_few_per_round_from_the_most_loaded_until_balanced() {
        let mut owners: Vec<String> = ["a", "b", "c"].iter().flat_map(|h| vec![h.to_string(); 4]).collect();
        owners[0] = "b".into(); // a 3, b 5, c 4
        let views = leases(&owners.iter().map(String::as_str).collect::<Vec<_>>());
        let actions = plan("d", &hosts(&["a", "b", "c", "d"]), &views, 2);
        // Target 3: b has 2 beyond it, and d steals at most 2 per round.
        assert_eq!(steals_from(&actions), ["b", "b"]);
        let rounds = settle(&mut owners, &["a", "b", "c", "d"], 2);
        assert_eq!(counts(&owners, &["a", "b", "c", "d"]), [3, 3, 3, 3]);
        assert!(rounds <= 3, "{rounds} rounds");
    }

    #[test]
    fn the_shares_stay_within_one_of_each_other_for_uneven_counts() {
        for (shards, live) in [(13, vec!["a", "b", "c"]), (12, vec!["a", "b", "c"]), (7, vec!["a", "b", "c", "d"])] {
            // One host held everything; the others join.
            let mut owners = vec!["a".to_string(); shards];
            settle(&mut owners, &live, 2);
            let c = counts(&owners, &live);
            let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(max - min <= 1, "{shards} shards on {live:?}: {c:?}");
        }
        // 5/5/3: the host at 3 needs 2, and takes one from a host at the target.
        let mut owners: Vec<String> =
            ["a"; 5].iter().chain(&["b"; 5]).chain(&["c"; 3]).map(|s| s.to_string()).collect();
        settle(&mut owners, &["a", "b", "c"], 2);
        let mut c = counts(&owners, &["a", "b", "c"]);
        c.sort();
        assert_eq!(c, [4, 4, 5]);
    }

    #[test]
    fn a_dead_hosts_leases_go_once_expired_and_are_not_anyones_load_before() {
        // c died: its leases are still unexpired for a moment.
        let mut views = leases(&["a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"]);
        let live = hosts(&["a", "b"]);
        // Target 6, b at 4: nothing free, nobody above the target.
        assert_eq!(plan("a", &live, &views, 2), vec![], "c's unexpired leases are neither taken nor stolen");
        assert!(steals_from(&plan("a", &live, &views, 2)).iter().all(|v| *v != "c"), "never steals from the dead");
        for v in views.iter_mut().filter(|v| v.owner == "c") {
            v.free = true;
        }
        let a = plan("a", &live, &views, 2);
        assert_eq!(takes(&a), 2, "target 6: a takes 2 of c's expired leases");
    }
}
