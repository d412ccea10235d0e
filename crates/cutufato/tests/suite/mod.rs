mod log_util;

mod attribution;
mod log_cli;
mod log_errors;
mod log_events;
mod log_go;
mod log_lifecycle;
mod log_sessions;
mod log_tamper;
mod mcp;
