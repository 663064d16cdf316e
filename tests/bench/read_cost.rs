//! The cost of reading history, one thread, no store: every file an agent's `history`
//! lists under `$HOME`, through its importer's reader. Prints MiB/s.
//!   HOME=/path/to/home cargo run --release --example read_cost [-- AGENT]
fn main() {
    let agent = std::env::args().nth(1).unwrap_or_else(|| "claude".into());
    let agent = telemhq::agents::by_id(&agent).expect("an agent id");
    let env = telemhq::env::Env::from_process();
    let files = agent.history(&env);
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let t = std::time::Instant::now();
    let mut turns = 0;
    for f in &files {
        turns += agent.history_turns(f, 0).0.len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} files, {:.0} MiB, {turns} turns in {s:.3} s: {:.0} MiB/s",
        files.len(),
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / s
    );
}
