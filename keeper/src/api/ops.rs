//! Operations routes: health, status and Prometheus metrics.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::dto::*;
use super::ApiState;
use crate::app::AppKeeper;
use crate::keys::ShardId;
use crate::shard::ShardKeeper;

/// Counters of the HTTP layer (the shards keep their own).
#[derive(Default)]
pub struct ApiMetrics {
    pub writes: AtomicU64,
    pub reads: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub(super) async fn health(State(state): State<ApiState>) -> (StatusCode, Json<HealthResponse>) {
    let ipfs_reachable =
        state.keeper.blobs().has(&crate::blobs::raw_cid(b"ironroot health probe")).await.is_ok();
    let chain_reachable = state.keeper.chain().app(state.keeper.app.as_bytes()).await.is_ok();
    let slots = state.keeper.slots().await;
    let failed = slots.iter().filter(|(_, s)| s.is_err()).count();
    let ok = ipfs_reachable && chain_reachable && failed == 0;
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(HealthResponse {
            status: if ok { "ok" } else { "degraded" }.into(),
            ipfs_reachable,
            chain_reachable,
            shards_serving: slots.len() - failed,
            shards_failed_closed: failed,
        }),
    )
}

pub(super) async fn shard_status(
    keeper: &AppKeeper,
    id: ShardId,
    slot: Result<Arc<ShardKeeper>, Arc<crate::recovery::FailedClosed>>,
) -> ShardStatusJson {
    let onchain = keeper.chain().shard(keeper.app.as_bytes(), id).await.ok().flatten();
    let mut s = ShardStatusJson {
        shard: id,
        serving: slot.is_ok(),
        failed_closed: None,
        local_seq: None,
        local_root: None,
        onchain_seq: onchain.as_ref().map(|o| o.seq),
        onchain_root: onchain.as_ref().map(|o| hex::encode(o.root)),
        pending_writes: None,
        unanchored_writes: None,
        oldest_unanchored_ms: None,
        durability: None,
        halted: None,
        pending_seq: None,
        last_commit_slot: onchain.as_ref().map(|o| o.updated_slot),
        key_epoch: None,
        records: None,
    };
    match slot {
        Ok(shard) => {
            if let Ok(st) = shard.status() {
                s.local_seq = Some(st.local_seq);
                s.local_root = Some(hex::encode(st.local_root));
                s.pending_writes = Some(st.uncommitted_writes);
                s.unanchored_writes = Some(st.unanchored_writes);
                s.oldest_unanchored_ms = Some(st.oldest_unanchored_ms);
                s.durability = Some(st.durability);
                s.halted = st.halted;
                s.pending_seq = st.pending_seq;
                s.key_epoch = Some(st.key_epoch);
                s.records = Some(st.record_count);
            }
        }
        Err(e) => s.failed_closed = Some(e.to_string()),
    }
    s
}

#[utoipa::path(get, path = "/v1/status", responses((status = 200, body = StatusResponse)))]
pub(super) async fn status(State(state): State<ApiState>) -> Json<StatusResponse> {
    let mut shards = Vec::new();
    let mut signer = String::new();
    for (id, slot) in state.keeper.slots().await {
        if let Ok(k) = &slot {
            signer = k.signer().to_string();
        }
        shards.push(shard_status(&state.keeper, id, slot).await);
    }
    Json(StatusResponse {
        app: state.keeper.app.to_string(),
        shard_count: state.keeper.shard_count,
        tee_pubkey: signer,
        shards,
        provider: state.provider.as_ref().map(|p| p.status()),
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", description = "Prometheus text exposition")))]
pub(super) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter =
        |name: &str, help: &str, values: Vec<(String, u64)>| family(&mut out, name, "counter", help, values);
    counter(
        "ironroot_writes_total",
        "Records written through the API.",
        vec![(String::new(), m.writes.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_reads_total",
        "Records read through the API.",
        vec![(String::new(), m.reads.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_written_bytes_total",
        "Value bytes written.",
        vec![(String::new(), m.bytes_written.load(Ordering::Relaxed))],
    );
    counter(
        "ironroot_read_bytes_total",
        "Value bytes read.",
        vec![(String::new(), m.bytes_read.load(Ordering::Relaxed))],
    );
    let slots = state.keeper.slots().await;
    let per_shard = |f: &dyn Fn(&crate::shard::ShardMetrics) -> u64| -> Vec<(String, u64)> {
        slots
            .iter()
            .filter_map(|(id, s)| s.as_ref().ok().map(|k| (format!("{{shard=\"{id}\"}}"), f(k.metrics()))))
            .collect()
    };
    counter(
        "ironroot_group_commits_total",
        "Local group commits.",
        per_shard(&|m| m.groups.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_group_commit_writes_total",
        "Writes in local group commits (batch size = this / group commits).",
        per_shard(&|m| m.grouped_writes.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_durable_group_commits_total",
        "Local group commits that synced the shard store (with the group log: its checkpoints; the \
         others are durable through the log).",
        per_shard(&|m| m.durable_commits.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_manifest_entries_total",
        "Entries of the manifests published (checkpoints: every record; deltas: the changed ones).",
        per_shard(&|m| m.manifest_entries.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_manifest_checkpoints_total",
        "Manifests published as checkpoints.",
        per_shard(&|m| m.manifest_checkpoints.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_manifests_retired_total",
        "Manifests released as dead blobs once no state the chain can still show needs them.",
        per_shard(&|m| m.manifests_retired.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_chain_commits_total",
        "Shard updates confirmed on-chain.",
        per_shard(&|m| m.commits.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_chain_commit_seconds_total",
        "Time spent in confirmed on-chain commits (latency = this / commits).",
        per_shard(&|m| m.commit_micros_total.load(Ordering::Relaxed) / 1_000_000),
    );
    counter(
        "ironroot_chain_commit_milliseconds_total",
        "The same time in milliseconds (whole seconds hide sub-second commit latency).",
        per_shard(&|m| m.commit_micros_total.load(Ordering::Relaxed) / 1_000),
    );
    counter(
        "ironroot_chain_errors_total",
        "Failed on-chain commits.",
        per_shard(&|m| m.chain_errors.load(Ordering::Relaxed)),
    );
    counter(
        "ironroot_blob_errors_total",
        "Blob store (IPFS or local) failures.",
        per_shard(&|m| m.blob_errors.load(Ordering::Relaxed)),
    );
    // Where the writer's time goes; stages of consecutive groups overlap, so they do not add up to
    // wall time.
    let stages = [
        ("seal", per_shard(&|m| m.seal_micros_total.load(Ordering::Relaxed))),
        ("blobs", per_shard(&|m| m.blob_micros_total.load(Ordering::Relaxed))),
        ("tree_compute", per_shard(&|m| m.tree_compute_micros_total.load(Ordering::Relaxed))),
        ("tree_commit", per_shard(&|m| m.tree_commit_micros_total.load(Ordering::Relaxed))),
    ];
    counter(
        "ironroot_write_stage_microseconds_total",
        "Time the shard writer spent per stage: sealing values, storing blobs durably, computing a \
         large group's tree ahead, the tree commit.",
        stages
            .into_iter()
            .flat_map(|(stage, values)| {
                values.into_iter().map(move |(labels, v)| {
                    (format!("{},stage=\"{stage}\"}}", labels.trim_end_matches('}')), v)
                })
            })
            .collect(),
    );
    let stores: Vec<(ShardId, (u64, u64))> = slots
        .iter()
        .filter_map(|(id, s)| s.as_ref().ok().map(|k| (*id, k.store().prune_backlog())))
        .collect();
    let backlog = |f: fn((u64, u64)) -> u64| -> Vec<(String, u64)> {
        stores.iter().map(|(id, backlog)| (format!("{{shard=\"{id}\"}}"), f(*backlog))).collect()
    };
    family(
        &mut out,
        "ironroot_prune_backlog_nodes",
        "gauge",
        "Stale tree nodes stored, waiting for the next prune sweep.",
        backlog(|(nodes, _)| nodes),
    );
    family(
        &mut out,
        "ironroot_prune_backlog_values",
        "gauge",
        "Replaced values whose blobs wait for the next prune sweep.",
        backlog(|(_, values)| values),
    );
    // The rollback window: what an operator restoring an older store could make vanish.
    let statuses: Vec<(ShardId, crate::shard::ShardStatus)> = slots
        .iter()
        .filter_map(|(id, s)| s.as_ref().ok().and_then(|k| k.status().ok()).map(|st| (*id, st)))
        .collect();
    let mut gauge = |name: &str, help: &str, f: &dyn Fn(&crate::shard::ShardStatus) -> u64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (id, st) in &statuses {
            out.push_str(&format!("{name}{{shard=\"{id}\"}} {}\n", f(st)));
        }
    };
    gauge("ironroot_unanchored_writes", "Acknowledged writes not yet anchored on-chain.", &|s| {
        s.unanchored_writes
    });
    gauge(
        "ironroot_oldest_unanchored_ms",
        "Age of the oldest acknowledged write not yet anchored on-chain.",
        &|s| s.oldest_unanchored_ms,
    );
    gauge("ironroot_queued_bytes", "Bytes of writes queued and not yet answered.", &|s| s.queued_bytes);
    gauge("ironroot_shard_halted", "1 when the shard stopped accepting writes.", &|s| {
        u64::from(s.halted.is_some())
    });
    if let Some(p) = state.provider.as_ref().map(|p| p.status()) {
        provider_metrics(&mut out, &p);
    }
    ([("content-type", "text/plain; version=0.0.4")], out)
}

/// One metric family in Prometheus text: its help, type and one line per label set.
fn family(out: &mut String, name: &str, kind: &str, help: &str, values: Vec<(String, u64)>) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (labels, v) in values {
        out.push_str(&format!("{name}{labels} {v}\n"));
    }
}

/// The provider role's stake, open obligations and answers.
fn provider_metrics(out: &mut String, p: &crate::provider::ProviderStatus) {
    let mut line = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    };
    line(
        "ironroot_provider_stake_amount",
        "gauge",
        "Tokens in the provider's stake vault.",
        p.stake_amount.unwrap_or(0).to_string(),
    );
    line(
        "ironroot_provider_stake_slashed",
        "gauge",
        "1 when the provider's stake was slashed.",
        u64::from(p.stake_status.as_deref() == Some("slashed")).to_string(),
    );
    line(
        "ironroot_provider_open_challenges",
        "gauge",
        "Open challenges on the stake (0 or 1).",
        u64::from(p.open_challenge.is_some()).to_string(),
    );
    line(
        "ironroot_provider_open_retrievals",
        "gauge",
        "Open retrieval requests on the stake (0 or 1).",
        u64::from(p.open_retrieval.is_some()).to_string(),
    );
    line(
        "ironroot_provider_answers_total",
        "counter",
        "Challenges answered on-chain.",
        p.answers_total.to_string(),
    );
    line(
        "ironroot_provider_answer_failures_total",
        "counter",
        "Failed answer attempts (retried until the deadline).",
        p.answer_failures_total.to_string(),
    );
    line(
        "ironroot_provider_challenges_missed_total",
        "counter",
        "Challenges whose deadline passed unanswered.",
        p.challenges_missed_total.to_string(),
    );
    line(
        "ironroot_provider_corruption_reports_total",
        "counter",
        "Corruption reports sent on-chain.",
        p.corruption_reports_total.to_string(),
    );
    line(
        "ironroot_provider_retrievals_answered_total",
        "counter",
        "Retrieval requests answered on-chain.",
        p.retrievals_answered_total.to_string(),
    );
    line(
        "ironroot_provider_recovering_shards",
        "gauge",
        "Served shards failed closed and being rebuilt.",
        p.recovering_shards.len().to_string(),
    );
    if let Some(a) = p.answers.last() {
        line(
            "ironroot_provider_last_answer_latency_ms",
            "gauge",
            "Latency of the last answer, from first sight to confirmation.",
            a.latency_ms.to_string(),
        );
        line(
            "ironroot_provider_last_answer_slots",
            "gauge",
            "Slots from the last answered challenge's source slot to its confirmation.",
            a.slots_taken.to_string(),
        );
        line(
            "ironroot_provider_last_answer_margin_seconds",
            "gauge",
            "Seconds left to the deadline when the last answer confirmed.",
            a.margin_secs.to_string(),
        );
    }
}
