//! fs-httpd: FerroStack's nginx-compatible static HTTP server, a [`netstack::Service`].

pub mod autoindex;
pub mod config;
pub mod files;
pub mod fuzzing;
pub mod handler;
pub mod log;
pub mod request;
pub mod response;
pub mod service;
pub mod uri;
pub mod vars;
