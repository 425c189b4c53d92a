//! Which inbound messages a destination block executes (CS-3, CS-9): exactly once, in lane
//! order, responses first, then requests round robin across lanes, within the block's inbound
//! gas budget of which a share is reserved for responses.

use std::collections::BTreeMap;

use shardnet_protocol::{CrossShardMessage, LaneClass, LaneId, MessageBody};

use super::Watermarks;

/// The inbound gas budget of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Gas all inbound messages of a block may use.
    pub total_gas: u64,
    /// Part of it only responses may use, so requests never starve answers.
    pub response_reserve_gas: u64,
}

/// What a response costs the inbound budget beyond its callback's gas.
pub const RESPONSE_GAS: u64 = 30_000;

/// Gas a message is charged against the budget: a call's attached gas (intrinsic cost
/// included), a response's callback gas plus a flat cost, a flat cost for a transfer.
pub fn message_gas(m: &CrossShardMessage) -> u64 {
    match &m.body {
        MessageBody::Transfer { .. } => 21_000,
        MessageBody::Call { gas_limit, .. } | MessageBody::Create { gas_limit, .. } => *gas_limit,
        MessageBody::Response { callback, .. } => {
            RESPONSE_GAS.saturating_add(callback.map_or(0, |c| c.gas_limit))
        }
    }
}

/// The plan: messages to execute in order, and the watermarks after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In execution order.
    pub messages: Vec<CrossShardMessage>,
    /// Inbound watermarks after executing them.
    pub watermarks: Watermarks,
}

/// Plans a block's inbound execution from `available` messages (verified, any order, possibly
/// with duplicates and gaps) given the current `watermarks` (CS-3, CS-9).
pub fn plan(watermarks: &Watermarks, available: &[CrossShardMessage], budget: Budget) -> Plan {
    // Per lane, the executable run: sequences executed + 1, + 2, … without gaps.
    let mut by_lane: BTreeMap<LaneId, BTreeMap<u64, &CrossShardMessage>> = BTreeMap::new();
    for m in available {
        let done = watermarks.get(&m.lane).copied().unwrap_or(0);
        if m.sequence > done {
            by_lane
                .entry(m.lane)
                .or_default()
                .entry(m.sequence)
                .or_insert(m);
        }
    }
    let mut queues: BTreeMap<LaneId, Vec<&CrossShardMessage>> = BTreeMap::new();
    for (lane, msgs) in by_lane {
        let mut next = watermarks.get(&lane).copied().unwrap_or(0) + 1;
        let run: Vec<_> = msgs
            .into_iter()
            .take_while(|(s, _)| {
                let ok = *s == next;
                next += 1;
                ok
            })
            .map(|(_, m)| m)
            .collect();
        if !run.is_empty() {
            queues.insert(lane, run);
        }
    }
    let mut out = Plan {
        messages: Vec::new(),
        watermarks: watermarks.clone(),
    };
    let mut used = 0u64;
    // Responses first, lane by lane; they may use the whole budget.
    for (lane, run) in queues
        .iter()
        .filter(|(l, _)| l.class == LaneClass::Response)
    {
        for m in run {
            let gas = message_gas(m);
            if used.saturating_add(gas) > budget.total_gas {
                break;
            }
            used += gas;
            out.watermarks.insert(*lane, m.sequence);
            out.messages.push((*m).clone());
        }
    }
    // Then requests, one per lane per turn, leaving the response reserve untouched.
    let request_cap = budget.total_gas.saturating_sub(budget.response_reserve_gas);
    let mut cursors: Vec<(LaneId, std::slice::Iter<'_, &CrossShardMessage>)> = queues
        .iter()
        .filter(|(l, _)| l.class == LaneClass::Request)
        .map(|(l, run)| (*l, run.iter()))
        .collect();
    let mut progressed = true;
    while progressed {
        progressed = false;
        for (lane, it) in &mut cursors {
            let Some(m) = it.as_slice().first() else {
                continue;
            };
            let gas = message_gas(m);
            if used.saturating_add(gas) > request_cap {
                // This lane's head does not fit; the lane waits (order within a lane holds).
                *it = [].iter();
                continue;
            }
            it.next();
            used += gas;
            out.watermarks.insert(*lane, m.sequence);
            out.messages.push((*m).clone());
            progressed = true;
        }
    }
    out
}
