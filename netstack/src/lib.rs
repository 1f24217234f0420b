//! FerroStack's per-core stack core.
//!
//! - [`app`]: the application API (the one door servers use);
//! - [`runtime`]: pinned workers, their mailboxes and listeners;
//! - [`kernel`]: the application API over Linux sockets;
//! - [`config`]: the shared configuration sections and their error reporting;
//! - [`wire`]: packet views and representations for the user-space stack.

pub mod app;
pub mod buf;
pub mod config;
pub mod dev;
pub mod ip;
mod kernel;
pub mod rss;
pub mod runtime;
pub mod tcp;
pub mod testing;
pub mod time;
pub mod udp;
pub mod user;
pub mod wire;

pub use app::{Accepted, Conn, Cx, Service};
pub use bytes::Bytes;
