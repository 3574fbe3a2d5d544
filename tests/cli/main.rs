//! Integration tests: the real `fileio` binary over real HTTP on 127.0.0.1.
//!
//! One test crate (one link step) with a module per area, as ripgrep and xh do.

mod accounts;
mod download;
mod generated;
mod hostile_client;
mod pg_cluster;
mod server;
mod server_api;
mod server_pg;
mod services;
mod support;
mod tls;
mod upload;
