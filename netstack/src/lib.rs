//! FerroStack's per-core stack core.
//!
//! The application side:
//! - [`app`]: the application API, the one door servers use ([`Service`], [`Cx`]);
//! - [`worker`]: the worker core every transport shares: the turn loop, connection slots,
//!   timers, mailboxes, stop and drain, limits, supervision;
//! - [`runtime`]: pinned worker threads and the handle to stop, message and re-listen them;
//! - [`kernel`]: the transport over Linux sockets;
//! - [`user`]: the transport over the user-space stack below;
//! - [`config`]: the shared configuration sections and their error reporting;
//! - [`testing`]: helpers for tests that use TAP devices, namespaces and child servers.
//!
//! The user-space TCP/IP stack, bottom up: [`buf`] (packet buffers and pools), [`dev`]
//! (devices: TAP, memory wire, fault injection, pcap, the exception path), [`wire`] (packet
//! views and representations), [`ip`] (ARP, IPv4, ICMP, fragments), [`udp`], [`tcp`], [`time`]
//! (clocks and the timer wheel) and [`rss`] (Toeplitz hashing).

pub mod app;
pub mod buf;
pub mod config;
pub mod dev;
pub mod ip;
pub mod kernel;
pub mod rss;
pub mod runtime;
pub mod tcp;
pub mod testing;
pub mod time;
pub mod udp;
pub mod user;
pub mod wire;
pub mod worker;

pub use app::{Accepted, Conn, Cx, Listen, Service};
pub use bytes::Bytes;
