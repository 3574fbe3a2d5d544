//! Integration tests: the real `fileio` binary over real HTTP on 127.0.0.1.
//!
//! One test crate (one link step) with a module per area, as ripgrep and xh do.

mod accounts;
mod cut_proxy;
mod download;
mod encrypt;
mod folders;
mod generated;
mod history_durability;
mod hostile_client;
mod hostile_server;
mod layers;
mod moto;
mod pg_cluster;
mod resume_download;
mod resume_upload;
mod saving;
mod server;
mod server_api;
mod server_migrate;
mod server_pg;
mod server_s3;
mod services;
mod support;
mod terminal;
mod tls;
mod tus_s3;
mod tus_server;
mod upload;
mod web;
