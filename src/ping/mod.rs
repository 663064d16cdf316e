//! Pings: the payload (an allowlist), the durable local queue, and delivery.
pub mod deliver;
pub mod payload;
pub mod queue;
