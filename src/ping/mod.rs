//! Pings: the payload (an allowlist), the durable local queue, one POST, and the sender.
pub mod deliver;
pub mod otlp;
pub mod payload;
pub mod queue;
pub mod runs;
pub mod sender;
