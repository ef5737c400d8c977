//! Browser glue: how the UI thread and the inference worker talk, where weights come from.

#[cfg(feature = "bench")]
pub(crate) mod bench_requests;
pub mod cache_requests;
pub mod download;
pub mod fetch;
pub mod hub;
pub mod js;
pub(crate) mod locks;
pub mod messages;
pub mod models;
pub(crate) mod permalink;
pub mod store;
pub(crate) mod store_events;
pub mod worker;
pub(crate) mod worker_client;
