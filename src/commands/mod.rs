//! One module per subcommand, each with its clap arguments and a `run` function. The
//! subcommand tree and the dispatch are in `crate::cli`; commands never import one another:
//! what two of them share lives in a module below them (`crate::body`, `crate::output`,
//! `crate::history`).

pub mod auth;
pub mod completions;
pub mod delete;
pub mod download;
pub mod history;
pub mod info;
pub mod list;
pub mod me;
pub mod serve;
pub mod services;
pub mod update;
pub mod upload;
