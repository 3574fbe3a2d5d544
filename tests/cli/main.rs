//! Integration tests: the real `fileio` binary over real HTTP on 127.0.0.1.
//!
//! One test crate (one link step) with a module per area, as ripgrep and xh do.

mod accounts;
mod download;
mod encrypt;
mod folders;
mod generated;
mod hostile_server;
mod layers;
mod saving;
mod server;
mod services;
mod support;
mod terminal;
mod tls;
mod upload;
