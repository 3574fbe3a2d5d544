//! What every handler shares.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::config::Options;
use crate::server::limits::Limiter;
use crate::server::store::Store;

/// The server's options, its store, its rate limiter and the address it listens on.
pub struct App {
    pub config: Options,
    pub store: Arc<Store>,
    pub limiter: Option<Limiter>,
    pub local_addr: SocketAddr,
}
