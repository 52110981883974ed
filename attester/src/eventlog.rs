//! dstack's runtime event log: replayed against the quote's RTMR3 to recover the app id and compose
//! hash the CVM booted with.
//!
//! dstack extends RTMR3 with one event per boot step; each event's digest is
//! `SHA-384(event_type (u32 LE) ‖ ":" ‖ event name ‖ ":" ‖ payload)` and RTMR3 is
//! `RTMR3 = SHA-384(RTMR3 ‖ digest)`, starting from 48 zero bytes. The log the guest agent returns
//! is a JSON array of `{imr, event_type, digest, event, event_payload}` (digest and payload hex).
//! Only events whose digest we recompute are believed: a forged payload changes the digest, and a
//! forged digest no longer replays to the quote's RTMR3.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};

use crate::error::{Check, Refusal};

/// dstack's event type for runtime events (not a TCG type).
pub const DSTACK_RUNTIME_EVENT_TYPE: u32 = 0x0800_0001;
/// The IMR index of RTMR3 in the event log.
pub const RTMR3_INDEX: u32 = 3;
pub const APP_ID_EVENT: &str = "app-id";
pub const COMPOSE_HASH_EVENT: &str = "compose-hash";

/// One entry of the guest agent's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogEntry {
    pub imr: u32,
    pub event_type: u32,
    /// Hex SHA-384 digest the entry claims.
    pub digest: String,
    #[serde(default)]
    pub event: String,
    /// Hex payload.
    #[serde(default)]
    pub event_payload: String,
}

impl EventLogEntry {
    /// A dstack runtime event on RTMR3 with its digest computed.
    pub fn runtime(event: &str, payload: &[u8]) -> Self {
        EventLogEntry {
            imr: RTMR3_INDEX,
            event_type: DSTACK_RUNTIME_EVENT_TYPE,
            digest: hex::encode(runtime_event_digest(DSTACK_RUNTIME_EVENT_TYPE, event, payload)),
            event: event.to_string(),
            event_payload: hex::encode(payload),
        }
    }
}

/// `SHA-384(event_type LE ‖ ":" ‖ event ‖ ":" ‖ payload)`.
pub fn runtime_event_digest(event_type: u32, event: &str, payload: &[u8]) -> [u8; 48] {
    let mut hasher = Sha384::new();
    hasher.update(event_type.to_le_bytes());
    hasher.update(b":");
    hasher.update(event.as_bytes());
    hasher.update(b":");
    hasher.update(payload);
    hasher.finalize().into()
}

/// RTMR3 after extending the zero register with `digests` in order.
pub fn replay(digests: &[[u8; 48]]) -> [u8; 48] {
    digests.iter().fold([0u8; 48], |register, digest| {
        let mut hasher = Sha384::new();
        hasher.update(register);
        hasher.update(digest);
        hasher.finalize().into()
    })
}

/// The app identity an event log proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayedIdentity {
    /// The `app-id` payload (dstack app ids are 20 bytes), zero-padded on the right to 32 bytes.
    pub app_id: [u8; 32],
    pub compose_hash: [u8; 32],
}

/// Parses the log, checks every RTMR3 runtime event's digest, replays RTMR3 and compares it with the
/// quote's; returns the `app-id` and `compose-hash` it carries (each exactly once).
pub fn replay_rtmr3(event_log_json: &str, quote_rtmr3: &[u8; 48]) -> Result<ReplayedIdentity, Refusal> {
    let refuse = |reason: String| Refusal::new(Check::EventLog, reason);
    let entries: Vec<EventLogEntry> = serde_json::from_str(event_log_json)
        .map_err(|e| refuse(format!("event log is not valid JSON: {e}")))?;
    let mut digests = Vec::new();
    let mut app_id = None;
    let mut compose_hash = None;
    for (index, entry) in entries.iter().enumerate().filter(|(_, e)| e.imr == RTMR3_INDEX) {
        let claimed: [u8; 48] = hex::decode(&entry.digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| refuse(format!("event {index}: digest is not 48 bytes of hex")))?;
        if entry.event_type != DSTACK_RUNTIME_EVENT_TYPE {
            // Not a dstack event: its digest is extended as given; nothing is read from it.
            digests.push(claimed);
            continue;
        }
        let payload = hex::decode(&entry.event_payload)
            .map_err(|_| refuse(format!("event {index} ({}): payload is not hex", entry.event)))?;
        let digest = runtime_event_digest(entry.event_type, &entry.event, &payload);
        if digest != claimed {
            return Err(refuse(format!(
                "event {index} ({}): digest does not match its payload",
                entry.event
            )));
        }
        digests.push(digest);
        let slot = match entry.event.as_str() {
            APP_ID_EVENT => &mut app_id,
            COMPOSE_HASH_EVENT => &mut compose_hash,
            _ => continue,
        };
        if slot.replace(payload).is_some() {
            return Err(refuse(format!("event {index}: {} appears twice", entry.event)));
        }
    }
    if &replay(&digests) != quote_rtmr3 {
        return Err(refuse("event log does not replay to the quote's RTMR3".into()));
    }
    let app_id = app_id.ok_or_else(|| refuse("no app-id event".into()))?;
    let compose_hash = compose_hash.ok_or_else(|| refuse("no compose-hash event".into()))?;
    if app_id.len() > 32 {
        return Err(refuse(format!("app-id is {} bytes, at most 32 expected", app_id.len())));
    }
    let mut padded = [0u8; 32];
    padded[..app_id.len()].copy_from_slice(&app_id);
    let compose_hash: [u8; 32] = compose_hash
        .try_into()
        .map_err(|v: Vec<u8>| refuse(format!("compose-hash is {} bytes, 32 expected", v.len())))?;
    Ok(ReplayedIdentity { app_id: padded, compose_hash })
}

/// A dstack-shaped RTMR3 log for `app_id` (20 bytes as dstack uses) and `compose_hash`, with the
/// other boot events dstack records, and the RTMR3 it replays to. Used by tests and the mock guest
/// agent.
pub fn dstack_boot_log(app_id: &[u8], compose_hash: &[u8; 32], instance_id: &[u8]) -> (String, [u8; 48]) {
    let entries = vec![
        EventLogEntry::runtime("system-preparing", b""),
        EventLogEntry::runtime(APP_ID_EVENT, app_id),
        EventLogEntry::runtime(COMPOSE_HASH_EVENT, compose_hash),
        EventLogEntry::runtime("instance-id", instance_id),
        EventLogEntry::runtime("boot-mr-done", b""),
        EventLogEntry::runtime("key-provider", br#"{"name":"kms"}"#),
        EventLogEntry::runtime("system-ready", b""),
    ];
    let digests: Vec<[u8; 48]> = entries
        .iter()
        .map(|e| hex::decode(&e.digest).ok().and_then(|d| d.try_into().ok()).unwrap_or([0; 48]))
        .collect();
    // Serialising plain structs cannot fail.
    (serde_json::to_string(&entries).expect("event log serialises"), replay(&digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: [u8; 20] = [0xA1; 20];
    const COMPOSE: [u8; 32] = [0xC0; 32];

    fn log() -> (Vec<EventLogEntry>, [u8; 48]) {
        let (json, rtmr3) = dstack_boot_log(&APP, &COMPOSE, b"instance");
        (serde_json::from_str(&json).unwrap(), rtmr3)
    }

    fn replay_entries(entries: &[EventLogEntry], rtmr3: &[u8; 48]) -> Result<ReplayedIdentity, Refusal> {
        replay_rtmr3(&serde_json::to_string(entries).unwrap(), rtmr3)
    }

    #[test]
    fn a_dstack_log_replays_and_yields_the_app_identity() {
        let (entries, rtmr3) = log();
        let identity = replay_entries(&entries, &rtmr3).unwrap();
        assert_eq!(&identity.app_id[..20], &APP);
        assert_eq!(&identity.app_id[20..], &[0u8; 12]);
        assert_eq!(identity.compose_hash, COMPOSE);
    }

    #[test]
    fn events_on_other_registers_are_ignored() {
        let (mut entries, rtmr3) = log();
        entries.insert(0, EventLogEntry { imr: 1, ..EventLogEntry::runtime("kernel", b"x") });
        assert!(replay_entries(&entries, &rtmr3).is_ok());
    }

    #[test]
    fn a_forged_payload_with_its_old_digest_is_refused() {
        let (mut entries, rtmr3) = log();
        entries[2].event_payload = hex::encode([0xEE; 32]);
        let refusal = replay_entries(&entries, &rtmr3).unwrap_err();
        assert_eq!(refusal.check, Check::EventLog);
        assert!(refusal.reason.contains("digest does not match"), "{refusal}");
    }

    #[test]
    fn a_forged_event_with_a_recomputed_digest_does_not_replay() {
        let (mut entries, rtmr3) = log();
        entries[2] = EventLogEntry::runtime(COMPOSE_HASH_EVENT, &[0xEE; 32]);
        let refusal = replay_entries(&entries, &rtmr3).unwrap_err();
        assert!(refusal.reason.contains("does not replay"), "{refusal}");
    }

    #[test]
    fn dropped_reordered_or_duplicated_events_are_refused() {
        let (entries, rtmr3) = log();
        let mut dropped = entries.clone();
        dropped.remove(3);
        assert!(replay_entries(&dropped, &rtmr3).is_err());
        let mut swapped = entries.clone();
        swapped.swap(1, 2);
        assert!(replay_entries(&swapped, &rtmr3).is_err());
        let mut duplicated = entries.clone();
        duplicated.push(entries[1].clone());
        assert!(replay_entries(&duplicated, &replay_digests(&duplicated))
            .unwrap_err()
            .reason
            .contains("twice"));
    }

    #[test]
    fn a_log_without_compose_hash_is_refused_even_if_it_replays() {
        let (mut entries, _) = log();
        entries.remove(2);
        let rtmr3 = replay_digests(&entries);
        assert!(replay_entries(&entries, &rtmr3).unwrap_err().reason.contains("no compose-hash"));
    }

    #[test]
    fn malformed_logs_are_refused_as_event_log_failures() {
        for json in ["not json", "[{\"imr\":3}]", "[{\"imr\":3,\"event_type\":1,\"digest\":\"zz\"}]"] {
            assert_eq!(replay_rtmr3(json, &[0; 48]).unwrap_err().check, Check::EventLog, "{json}");
        }
    }

    fn replay_digests(entries: &[EventLogEntry]) -> [u8; 48] {
        let digests: Vec<[u8; 48]> =
            entries.iter().map(|e| hex::decode(&e.digest).unwrap().try_into().unwrap()).collect();
        replay(&digests)
    }
}
