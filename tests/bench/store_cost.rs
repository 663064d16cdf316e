//! What the local store adds to the sender per event: one `Store::record` (one
//! transaction, as the sender writes each event once delivered) of a turn's payload as
//! the sender builds it, in a fresh store and in one already holding many turns.
//!
//! `cargo run --release --example store_cost [-- EVENTS]`

use std::time::Instant;

use serde_json::{Map, Value, json};
use telemhq::store::{Record, Store};

fn payload(i: usize) -> Map<String, Value> {
    let v = json!({
        "provider": "anthropic", "tool": "claude-code", "status": "success", "event": "Stop",
        "project": "api", "session_id": "7ee36f97-6b7b-474f-91bf-184dd78f0efb",
        "permission_mode": "default", "cwd_hash": "ea7d772fc20d",
        "transcript_path_hash": "7f8dc6e459da", "last_assistant_message_chars": 24,
        "event_id": format!("e548b1f4-1b24-48ae-b85c-{i:012x}"),
        "emitted_at": "2026-11-28T22:09:47.033Z", "telemhq_version": "0.1.0",
        "model": "claude-sonnet-4-5-20250929", "api_calls": 3,
        "usage": {"input_tokens": 1200, "output_tokens": 800, "cache_read_input_tokens": 30000,
                  "cache_creation_input_tokens": 4000, "reasoning_output_tokens": 120},
        "tool_calls": {"Bash": 2, "Edit": 1}, "cost_usd": 0.0345, "cost_source": "prices",
        "prices_version": "litellm 1.110.2", "turn_uid": format!("{i:032x}"),
        "duration_ms": 5400,
    });
    v.as_object().unwrap().clone()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let layout = telemhq::env::Layout::new(&dir.path().join(".claude"));
    std::fs::create_dir_all(&layout.state_dir).unwrap();
    let t = Instant::now();
    let store = Store::open(&layout).unwrap();
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let record = |from: usize, n: usize| -> Vec<f64> {
        (from..from + n)
            .map(|i| {
                let p = payload(i);
                let uid = format!("{i:032x}");
                let ids = vec![format!("msg_{i}_a"), format!("msg_{i}_b")];
                let t = Instant::now();
                store
                    .record(&Record {
                        uid: &uid,
                        payload: &p,
                        source: "hook",
                        state: "delivered",
                        tracker: Some("https://telemhq.example/p/abcd…"),
                        note: Some("HTTP 200"),
                        call_ids: &ids,
                    })
                    .unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect()
    };
    let fresh = record(0, events);
    // Grow the store to 100,000 turns, then measure again.
    let _ = record(events, 100_000 - events);
    let full = record(100_000, events);
    drop(store);
    // A sender that delivers one event: opens the store, records, closes it (which folds
    // the write-ahead log into the main file).
    let cycles: Vec<f64> = (0..200)
        .map(|i| {
            let p = payload(200_000 + i);
            let uid = format!("{:032x}", 200_000 + i);
            let t = Instant::now();
            let store = Store::open(&layout).unwrap();
            store
                .record(&Record {
                    uid: &uid,
                    payload: &p,
                    source: "hook",
                    state: "delivered",
                    tracker: None,
                    note: None,
                    call_ids: &[],
                })
                .unwrap();
            drop(store);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!("open (creating the store): {open_ms:.2} ms");
    println!(
        "a sender's whole use for one event (open, record, close), store of 100,000 turns: median {:.3} ms",
        median(cycles)
    );
    println!(
        "record one event, fresh store: median {:.3} ms",
        median(fresh)
    );
    println!(
        "record one event, store of 100,000 turns: median {:.3} ms",
        median(full)
    );
}
