mod log_util;

mod log_cli;
mod log_go;
mod log_tamper;
